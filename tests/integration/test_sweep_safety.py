"""Sweeps touch only what a run of this ledger made: against a fake Kubernetes API on loopback, never a real cluster.

The fake lists namespaces as a cluster shared with others would: a forged ``kube-system``, a production
namespace labelled like ours, another machine's run (no claim here), a live run of ours, and one dead run of
ours with its claim. Only the last may go, only on a target that allows drills, and only once the run's
input has been checked.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from dataclasses import asdict, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlparse

import pytest

from chaos.ownership import LABEL_TOKEN, Owners
from chaos.targets.kubernetes import LABEL_RUN, LABEL_TOOL, TOOL

if TYPE_CHECKING:
    from collections.abc import Iterator

ROOT = Path(__file__).resolve().parents[2]
DEAD, LIVE, OTHER = "20261204-090000-dead00", "20261204-090000-11fe00", "20261204-090000-07e250"


class FakeCluster:
    """A Kubernetes API that lists namespaces and records every request; anything else is 404."""

    def __init__(self, namespaces: dict[str, dict[str, str]]) -> None:
        self.namespaces = namespaces  # name -> labels
        self.requests: list[tuple[str, str]] = []
        cluster = self

        class Api(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _answer(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _handle(self) -> None:
                cluster.requests.append((self.command, self.path))
                url = urlparse(self.path)
                if self.command == "GET" and url.path == "/api/v1/namespaces":
                    selector = parse_qs(url.query).get("labelSelector", [""])[0]
                    wanted = dict(part.split("=", 1) for part in selector.split(",") if part)
                    items = [{"metadata": {"name": name, "labels": labels}}
                             for name, labels in cluster.namespaces.items()
                             if all(labels.get(key) == value for key, value in wanted.items())]  # fmt: skip
                    self._answer(200, {"kind": "NamespaceList", "apiVersion": "v1", "metadata": {}, "items": items})
                elif self.command == "DELETE" and url.path.startswith("/api/v1/namespaces/"):
                    cluster.namespaces.pop(url.path.rsplit("/", 1)[1], None)
                    self._answer(200, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"})
                else:
                    self._answer(404, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                                       "reason": "NotFound", "code": 404})  # fmt: skip

            do_GET = do_DELETE = do_POST = do_PUT = do_PATCH = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Api)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def deleted(self) -> list[str]:
        return [urlparse(path).path.rsplit("/", 1)[1] for method, path in self.requests if method == "DELETE"]


def _dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)  # fmt: skip
    return int(done.stdout)


@pytest.fixture
def setting(tmp_path: Path) -> Iterator[tuple[FakeCluster, Path, Owners]]:
    """The fake cluster, a ledger holding claims of a dead and a live run, and the owners directory."""
    owners = Owners(tmp_path / "ledger" / "owners")
    dead = owners.claim(DEAD, "kubernetes", f"chaos-drill-{DEAD}")
    (owners.directory / f"{DEAD}.json").write_text(json.dumps(asdict(replace(dead, pid=_dead_pid()))))
    live = owners.claim(LIVE, "kubernetes", f"chaos-drill-{LIVE}")  # this process: alive
    ours = {LABEL_TOOL: TOOL}
    cluster = FakeCluster({
        "kube-system": dict(ours),  # labelled by someone: no run, no token
        "payments-prod": {**ours, LABEL_RUN: DEAD, LABEL_TOKEN: dead.digest},  # a copied label, outside the prefix
        f"chaos-drill-{OTHER}": {**ours, LABEL_RUN: OTHER, LABEL_TOKEN: "f" * 40},  # another machine's run
        f"chaos-drill-{LIVE}": {**ours, LABEL_RUN: LIVE, LABEL_TOKEN: live.digest},
        f"chaos-drill-{DEAD}": {**ours, LABEL_RUN: DEAD, LABEL_TOKEN: dead.digest},
        "default": {},
    })  # fmt: skip
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "fake",
        "clusters": [{"name": "fake", "cluster": {"server": cluster.url}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "u"}}],
    }))  # fmt: skip
    try:
        yield cluster, kubeconfig, owners
    finally:
        cluster.server.shutdown()
        cluster.server.server_close()


def _targets(tmp_path: Path, kubeconfig: Path, *, allowed: bool) -> Path:
    path = tmp_path / "targets.yaml"
    path.write_text(
        "targets:\n"
        "  shared:\n"
        "    kind: kubernetes\n"
        f"    drill_allowed: {'true' if allowed else 'false'}\n"
        "    replicas: 1\n"
        "    blast_radius: {max_replicas: 1}\n"
        f"    kubeconfig: {kubeconfig}\n"
        "    context: fake\n"
        "    namespace: chaos-drill\n"
        "    redis_password_env: SWEEP_TEST_UNSET_PASSWORD\n"  # not needed to sweep, never read for it
    )
    return path


def _drill(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != "SWEEP_TEST_UNSET_PASSWORD"}
    return subprocess.run([sys.executable, "-m", "chaos.cli", *args, f"--ledger-dir={tmp_path / 'ledger'}",
                           f"--workdir={tmp_path / 'runs'}"], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env=env)  # fmt: skip


def test_cleanup_removes_only_the_dead_run_it_holds_a_claim_for(
    tmp_path: Path, setting: tuple[FakeCluster, Path, Owners]
) -> None:
    cluster, kubeconfig, owners = setting
    done = _drill("cleanup", "--targets", str(_targets(tmp_path, kubeconfig, allowed=True)), tmp_path=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert cluster.deleted() == [f"chaos-drill-{DEAD}"]
    assert f"stopped namespace chaos-drill-{DEAD}" in done.stdout
    assert f"left alone namespace chaos-drill-{OTHER}: no run {OTHER} in" in done.stdout
    assert "kube-system" not in done.stdout  # outside the target's prefix: not even looked at
    assert f"chaos-drill-{LIVE}" not in done.stdout
    assert owners.runs() == [LIVE]  # the dead run's claim went with its namespace


def test_cleanup_leaves_a_cluster_that_does_not_allow_drills_untouched(
    tmp_path: Path, setting: tuple[FakeCluster, Path, Owners]
) -> None:
    cluster, kubeconfig, owners = setting
    done = _drill("cleanup", "--targets", str(_targets(tmp_path, kubeconfig, allowed=False)), tmp_path=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert cluster.requests == []
    assert owners.runs() == sorted([DEAD, LIVE])


def test_cleanup_with_a_bad_targets_file_stops_before_any_sweep(
    tmp_path: Path, setting: tuple[FakeCluster, Path, Owners]
) -> None:
    cluster, kubeconfig, _ = setting
    targets = _targets(tmp_path, kubeconfig, allowed=True)
    targets.write_text(targets.read_text() + "    replicaz: 2\n")
    done = _drill("cleanup", "--targets", str(targets), tmp_path=tmp_path)
    assert done.returncode == 2
    assert f"{targets}: targets.shared.replicaz: unknown key" in done.stderr
    assert cluster.requests == []


@pytest.mark.parametrize(("allowed", "marker"), [(True, "nosuch"), (False, "database_failure")])
def test_a_run_refused_for_its_input_sweeps_nothing(
    tmp_path: Path, setting: tuple[FakeCluster, Path, Owners], allowed: bool, marker: str
) -> None:
    """A marker that selects nothing, or drills on a target that does not allow them: exit 2, no request made."""
    cluster, kubeconfig, owners = setting
    targets = _targets(tmp_path, kubeconfig, allowed=allowed)
    done = _drill("run", "-m", marker, f"--targets={targets}", "--target=shared", "-p", "no:randomly",
                  tmp_path=tmp_path)  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    assert cluster.requests == []
    assert owners.runs() == sorted([DEAD, LIVE])


def test_a_run_whose_input_holds_sweeps_its_own_target_before_it_starts(
    tmp_path: Path, setting: tuple[FakeCluster, Path, Owners]
) -> None:
    """The same run with valid input: the dead run's namespace goes first (then the fake cannot be drilled)."""
    cluster, kubeconfig, owners = setting
    targets = _targets(tmp_path, kubeconfig, allowed=True)
    targets.write_text(targets.read_text().replace("    redis_password_env: SWEEP_TEST_UNSET_PASSWORD\n", ""))
    done = _drill("run", "-m", "database_failure", f"--targets={targets}", "--target=shared", "-p", "no:randomly",
                  "-x", tmp_path=tmp_path)  # fmt: skip
    assert done.returncode == 3, done.stdout + done.stderr  # the fake has no nodes, no Helm: an infrastructure error
    assert cluster.deleted()[:1] == [f"chaos-drill-{DEAD}"]
    assert f"cleanup of an earlier crashed run: stopped namespace chaos-drill-{DEAD}" in done.stdout
    assert owners.runs() == [LIVE]
