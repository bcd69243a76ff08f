"""Monitoring's RTO on a real Prometheus: polls many times a second, scrapes once a second."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from chaos.measure.monitoring import MonitoringWatcher, measure_monitoring_rto
from chaos.servers.prometheus import SCRAPE_INTERVAL_S
from chaos.wait import wait_for

if TYPE_CHECKING:
    from chaos.targets.local import LocalTarget


def test_scrapes_are_counted_once_however_often_they_are_polled(sandbox: LocalTarget) -> None:
    expected = set(sandbox.endpoints.monitored)
    watcher = MonitoringWatcher(sandbox.endpoints.prometheus_api, expected, interval=0.02).start()
    try:
        wait_for(lambda: (latest := watcher.latest()) is not None and latest.working(expected),
                 what="every replica scraped", timeout=30)  # fmt: skip
        fault_at, fault_wall = time.monotonic(), time.time()
        # Every replica frozen for three scrape intervals, so at least two scrapes time out whatever their
        # phase. A kill would not do: the supervisor restarts a replica within about a second, and a scrape
        # can fall on either side of so short an outage and never see it.
        sandbox.pause("app")
        try:
            time.sleep(3 * SCRAPE_INTERVAL_S)
            wait_for(lambda: (latest := watcher.latest()) is not None and not latest.working(expected),
                     what="a failed scrape", timeout=10)  # fmt: skip
        finally:
            sandbox.unpause("app")
        time.sleep(5 * SCRAPE_INTERVAL_S)
    finally:
        watcher.stop()
    samples = watcher.samples()
    scrapes: dict[str, set[float]] = {address: set() for address in expected}
    for sample in samples:
        for target in sample.targets:
            if target.up and target.last_scrape_wall is not None and target.last_scrape_wall >= fault_wall:
                scrapes[target.address].add(target.last_scrape_wall)
    fewest = min(len(found) for found in scrapes.values())
    assert 1 <= fewest <= 6  # about one a second, however many of the ~300 polls saw each

    def confirmed_after(count: int) -> bool:
        rto = measure_monitoring_rto(samples, expected=expected, fault_at=fault_at, fault_wall=fault_wall,
                                     budget_s=30, scrape_interval=SCRAPE_INTERVAL_S, scrapes=count)  # fmt: skip
        return rto.stable_at is not None

    assert confirmed_after(fewest)
    assert not confirmed_after(fewest + 1)  # a scrape polled many times is still one scrape
