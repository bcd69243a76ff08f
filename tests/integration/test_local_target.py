"""The local target on real processes: start, kill, restart, scale, and nothing left behind."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import httpx
import pytest

from chaos.errors import ComponentError, ToolNotFoundError
from chaos.servers import launch
from chaos.servers.process import pid_alive
from chaos.servers.prometheus import scrape_targets
from chaos.targets.local import LocalTarget
from chaos.wait import wait_for

if TYPE_CHECKING:
    from pathlib import Path


def health(url: str) -> httpx.Response:
    return httpx.get(f"{url}/health", timeout=3)


def app_pids(target: LocalTarget) -> dict[str, int | None]:
    return {row.name: row.pid for row in target.status() if row.component == "app"}


def test_stack_serves_through_its_proxies(sandbox: LocalTarget) -> None:
    endpoints = sandbox.endpoints
    assert len(endpoints.apps) == 3
    for url in endpoints.apps:
        assert health(url).json()["status"] == "ok"
    proxies = sandbox.toxiproxy.proxies()
    assert proxies["mongodb"].upstream == endpoints.proxies["mongodb"]["upstream"]
    app = endpoints.apps[0]
    user = {"id": "u-1", "name": "Ada", "email": "ada@example.org"}
    assert httpx.post(f"{app}/users", json=user).status_code == 201
    event = {"id": "e-1", "user_id": "u-1", "title": "standup", "start": "09:00", "end": "09:15"}
    assert httpx.post(f"{app}/events", json=event).status_code == 201
    assert httpx.post(f"{app}/events", json=event).status_code == 409
    other = endpoints.apps[1]
    assert httpx.get(f"{other}/events/e-1").json()["cached"] is False
    assert httpx.get(f"{other}/events/e-1").json()["cached"] is True
    assert 'calendar_dependency_up{dependency="mongodb"} 1' in httpx.get(f"{app}/metrics").text


def test_cutting_the_mongodb_link_fails_health_naming_mongodb(sandbox: LocalTarget) -> None:
    url = sandbox.endpoints.apps[0]
    sandbox.toxiproxy.set_enabled("mongodb", False)
    response = health(url)
    assert response.status_code == 503
    assert response.json()["failed"] == ["mongodb"]
    sandbox.toxiproxy.set_enabled("mongodb", True)
    wait_for(lambda: health(url).status_code == 200, what="health back after the link returns", timeout=15)


def test_killed_replica_is_restarted_with_a_new_pid(sandbox: LocalTarget) -> None:
    before = app_pids(sandbox)
    [killed] = sandbox.kill("app", replica=1)
    assert killed == before["app-1"]
    assert not pid_alive(killed)
    wait_for(lambda: app_pids(sandbox)["app-1"] != killed, what="app-1 restarted", timeout=10)
    wait_for(lambda: health(sandbox.endpoints.apps[1]).status_code == 200, what="app-1 healthy", timeout=10,
             not_yet=(httpx.HTTPError,))  # fmt: skip
    restarts = {row.name: row.restarts for row in sandbox.status()}
    assert restarts["app-1"] == 1
    assert app_pids(sandbox)["app-0"] == before["app-0"]


def test_scale_down_stops_processes_and_scale_up_serves_again(sandbox: LocalTarget) -> None:
    before = app_pids(sandbox)
    sandbox.scale("app", 1)
    assert len(sandbox.endpoints.apps) == 1
    assert not pid_alive(before["app-1"])
    assert not pid_alive(before["app-2"])
    sandbox.scale("app", 3)
    assert [health(url).status_code for url in sandbox.endpoints.apps] == [200, 200, 200]
    with pytest.raises(ComponentError, match="allowed range"):
        sandbox.scale("app", 99)


def test_killed_database_stays_down_until_started_on_fresh_data(sandbox: LocalTarget) -> None:
    app = sandbox.endpoints.apps[0]
    httpx.post(f"{app}/users", json={"id": "u-2", "name": "B", "email": "b@example.org"})
    [pid] = sandbox.kill("mongodb")
    assert not pid_alive(pid)
    assert health(app).status_code == 503
    with pytest.raises(ComponentError, match="no running process"):
        sandbox.kill("mongodb")
    sandbox.start_component("mongodb", fresh_data=True)
    wait_for(lambda: health(app).status_code == 200, what="health after restart", timeout=15)
    assert httpx.get(f"{app}/users/u-2").status_code == 404  # the data directory really is new


def test_close_leaves_no_process_and_no_run_directory(tmp_path: Path) -> None:
    target = LocalTarget(tmp_path / "runs", replicas=2)
    target.start()
    pids = [row.pid for row in target.status()]
    assert len(pids) == 6  # MongoDB, Redis, Toxiproxy, Prometheus and two replicas
    assert all(pid_alive(pid) for pid in pids)
    target.close()
    assert not any(pid_alive(pid) for pid in pids)  # type: ignore[arg-type]
    assert not target.run_dir.exists()


def test_missing_binary_is_named_before_anything_starts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHAOS_TOXIPROXY_SERVER", str(tmp_path / "no-such-toxiproxy"))
    target = LocalTarget(tmp_path / "runs")
    with pytest.raises(ToolNotFoundError, match=r"CHAOS_TOXIPROXY_SERVER=.*no-such-toxiproxy"):
        target.start()
    assert not (tmp_path / "runs").exists()


def test_unknown_component_is_refused(sandbox: LocalTarget) -> None:
    with pytest.raises(ComponentError, match="unknown component 'postgres'"):
        sandbox.kill("postgres")


def test_graceful_stop_and_start_of_a_data_store(sandbox: LocalTarget) -> None:
    app = sandbox.endpoints.apps[0]
    [redis_row] = [row for row in sandbox.status() if row.name == "redis"]
    sandbox.stop("redis")
    assert not pid_alive(redis_row.pid)  # type: ignore[arg-type]
    assert health(app).json()["failed"] == ["redis"]
    with pytest.raises(ComponentError, match="stop redis: not running"):
        sandbox.stop("redis")
    sandbox.start_component("redis")
    wait_for(lambda: health(app).status_code == 200, what="health after redis restart", timeout=15)


def scraped_up(target: LocalTarget) -> dict[str, str]:
    """Replica name -> address of every target Prometheus scraped successfully last time."""
    return {t.replica: t.address for t in scrape_targets(target.endpoints.prometheus_api) if t.up}


def test_prometheus_scrapes_every_replica_and_follows_a_scale(sandbox: LocalTarget) -> None:
    expected = {f"app-{index}": url.removeprefix("http://") for index, url in enumerate(sandbox.endpoints.apps)}
    wait_for(lambda: scraped_up(sandbox) == expected, what="Prometheus scraping the 3 replicas", timeout=30,
             not_yet=(httpx.HTTPError,))  # fmt: skip
    sandbox.scale("app", 2)
    del expected["app-2"]
    wait_for(lambda: scraped_up(sandbox) == expected, what="Prometheus dropping app-2 after the scale", timeout=30)
    query = httpx.get(f"{sandbox.endpoints.prometheus_api}/api/v1/query",
                      params={"query": 'calendar_build_info{job="calendar-assistant"}'}, timeout=5).json()  # fmt: skip
    assert {series["metric"]["replica"] for series in query["data"]["result"]} >= {"app-0", "app-1"}


def test_a_restarted_toxiproxy_has_its_proxies_again(sandbox: LocalTarget) -> None:
    app = sandbox.endpoints.apps[0]
    before = sandbox.toxiproxy.proxies()
    sandbox.kill("toxiproxy")
    assert health(app).json()["failed"] == ["mongodb", "redis"]
    sandbox.start_component("toxiproxy")
    assert sandbox.toxiproxy.proxies() == before
    wait_for(lambda: health(app).status_code == 200, what="health through the recreated proxies", timeout=15)


def test_kill_all_takes_everything_down_and_nothing_restarts_on_its_own(sandbox: LocalTarget) -> None:
    endpoints = sandbox.endpoints
    killed = sandbox.kill_all()
    assert sorted(killed) == ["app", "mongodb", "prometheus", "redis", "toxiproxy"]
    assert len(killed["app"]) == 3
    pids = [pid for group in killed.values() for pid in group]
    assert not any(pid_alive(pid) for pid in pids)
    checks = [lambda: launch.mongo_ready(endpoints.mongodb_uri), lambda: launch.redis_ready(endpoints.redis_url),
              lambda: launch.toxiproxy_ready(endpoints.toxiproxy_api),
              lambda: launch.prometheus_ready(endpoints.prometheus_api),
              *(lambda url=url: launch.http_answers(f"{url}/health") for url in endpoints.apps)]  # fmt: skip
    for check in checks:
        with pytest.raises(launch.NOT_READY):
            check()
    time.sleep(1.5)  # past the supervisor's first back-off: a lost cluster restarts nothing
    assert not any(row.running for row in sandbox.status())
    for component in sandbox.singletons:
        sandbox.start_component(component)
    sandbox.scale("app", 3)
    wait_for(lambda: all(health(url).status_code == 200 for url in sandbox.endpoints.apps),
             what="every replica healthy after the stack was started again", timeout=30)  # fmt: skip
