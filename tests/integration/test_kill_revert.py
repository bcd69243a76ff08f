"""A killed data store restarted by its platform in place (a kubelet's restart) is waited for until it answers.

The platform reports the store's container running again before redis-server listens; a revert that looked
once, at that moment, called a store that was coming back "does not answer" (a Kubernetes drill's teardown
failed so). Here a real redis-server is killed by the fault and started again on the same port a second
later by a stand-in for the kubelet, while the stand-in's status says "running" throughout.
"""

from __future__ import annotations

import signal
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pytest

from chaos.errors import RevertError
from chaos.faults import process as process_faults
from chaos.faults.process import Kill
from chaos.servers import launch
from chaos.servers.process import ManagedProcess
from chaos.targets.base import Endpoints, ReplicaStatus
from chaos.wait import wait_for

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

RESTART_AFTER_S = 1.0  # the kubelet's restart: the process is back a second after the kill


@dataclass
class RestartingPlatform:
    """Runs one redis-server and, like a kubelet, starts it again on its own after it is killed."""

    root: Path
    port: int = field(default_factory=launch.free_port)
    restart_after: float | None = RESTART_AFTER_S
    started: list[ManagedProcess] = field(default_factory=list)
    restarter: threading.Timer | None = None
    description: str = "a platform that restarts redis in place"

    def __post_init__(self) -> None:
        url = f"redis://127.0.0.1:{self.port}/0"
        self.endpoints = Endpoints(apps=(), database="calendar", mongodb_uri="", mongodb_proxy_uri="", redis_url=url,
                                   redis_proxy_url="", toxiproxy_api="")  # fmt: skip
        self._start()

    def _start(self) -> None:
        spec = launch.redis_spec(f"redis-{len(self.started)}", self.port, self.root / "data",
                                 self.root / f"redis-{len(self.started)}.log")  # fmt: skip
        self.started.append(ManagedProcess(spec))

    def await_answer(self) -> None:
        url = self.endpoints.redis_url
        wait_for(lambda: launch.redis_ready(url), what="redis", timeout=10, not_yet=launch.NOT_READY)

    def status(self) -> list[ReplicaStatus]:
        return [ReplicaStatus("redis", "redis-0", self.started[-1].pid, running=True)]  # running, as the pod says

    def kill(self, component: str, replica: int | None = None, sig: int = signal.SIGKILL) -> list[int]:
        assert (component, replica) == ("redis", None)
        self.started[-1].send_signal(sig)
        if self.restart_after is not None:
            self.restarter = threading.Timer(self.restart_after, self._start)
            self.restarter.start()
        return [self.started[-1].pid]

    def start_component(self, component: str) -> None:
        raise AssertionError("the platform reported redis running: the revert must not start a second one")

    def locator(self) -> None:
        return None

    def close(self) -> None:
        if self.restarter is not None:
            self.restarter.join()
        for started in self.started:
            started.stop()


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[RestartingPlatform]:
    platform = RestartingPlatform(tmp_path)
    try:
        platform.await_answer()
        yield platform
    finally:
        platform.close()


def test_a_store_restarted_in_place_is_waited_for_until_it_answers(platform: RestartingPlatform) -> None:
    fault = Kill(platform, "redis")  # type: ignore[arg-type]  # the stand-in has what a kill uses of a target
    fault.inject()  # observed: the pid gone and nothing answering on the port
    assert not process_faults.answers(platform.endpoints, "redis")()
    fault.revert()  # before the restart: it waits for the answer, as a revert after a kubelet's restart must
    assert len(platform.started) == 2
    assert launch.redis_ready(platform.endpoints.redis_url)


def test_a_store_that_never_comes_back_fails_the_revert_naming_the_wait(
    platform: RestartingPlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(process_faults, "COME_BACK_TIMEOUT_S", 1.5)
    platform.restart_after = None  # the platform says "running" but never starts it again
    fault = Kill(platform, "redis")  # type: ignore[arg-type]
    fault.inject()
    with pytest.raises(RevertError, match=r"redis was started again but does not answer after 1\.5s"):
        fault.revert()
