"""The guardian: a process that outlives its runner by exactly one clean-up.

The first time a runner starts a server, a container, a namespace or a fault, it starts its guardian
(``python -m chaos.guardian``), in a session of its own, reading a pipe only the runner holds. What the
runner makes, it names on that pipe, one JSON line each: a run directory, a fault ledger, a Docker run, a
Kubernetes namespace. Every process the runner starts carries the runner's mark in its environment
(``OWNER_VARIABLE``: its pid and kernel start time), and so does whatever those processes start.

The pipe ends when the runner ends, however it ends: it returned, it was interrupted, it ran out of its
grace after an interrupt, it was killed with SIGKILL. The guardian then waits for the runner to be gone
and, in this order: reverts the faults the runner left in its ledgers (a partition needs the Toxiproxy the
next step stops), kills every process that carries the runner's mark, and removes the run directories,
Docker containers, networks and volumes, and Kubernetes namespaces it was named. Only those: what it
removes is what this runner said it made, never what a label or a name merely matches. A runner that
cleaned up after itself leaves the guardian nothing to do; it then exits and removes its log. When it
did something, its log stays, at ``log_path(pid)``, saying what.

Nothing the guardian does holds the caller's terminal or pipes: its standard streams are /dev/null and
its log.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from chaos.servers.procfs import pid_alive, process_start_ticks

__all__ = ["OWNER_VARIABLE", "child_environment", "log_path", "marked_by", "owner_mark", "watch"]

OWNER_VARIABLE = "CHAOS_DRILL_OWNER"
IN_GUARDIAN = "CHAOS_DRILL_GUARDIAN"  # set in the guardian itself: it starts no guardian of its own
KILL_TIMEOUT_S = 10.0  # how long the guardian keeps killing marked processes (a dying one may start another)
OWNER_EXIT_TIMEOUT_S = 60.0  # the pipe ended but the runner still runs (it exec'd another program): leave it


def owner_mark(pid: int | None = None) -> str:
    """``pid:start-ticks`` of this process (or ``pid``): what its children carry in ``OWNER_VARIABLE``."""
    pid = os.getpid() if pid is None else pid
    return f"{pid}:{process_start_ticks(pid)}"


def log_path(pid: int) -> Path:
    """Where the guardian of runner ``pid`` writes what it had to clean up."""
    return Path(tempfile.gettempdir()) / "chaos-drill-guardian" / f"{pid}.log"


class _Link:
    """The runner's end of the pipe to its guardian; a new guardian hears everything named so far.

    Spawned with posix_spawn, not subprocess: no Popen object outlives the runner to warn that its child
    still runs, which is the guardian's purpose; its standard input is the pipe, its output the log.
    """

    def __init__(self, told: list[dict[str, Any]]) -> None:
        self.mark = owner_mark()
        log = log_path(os.getpid())
        log.parent.mkdir(parents=True, exist_ok=True)
        root = str(Path(__file__).resolve().parent.parent)  # where `chaos` is found, installed or not
        env = {key: value for key, value in os.environ.items() if key != OWNER_VARIABLE}
        env |= {IN_GUARDIAN: "1", "PYTHONPATH": os.pathsep.join(filter(None, (root, env.get("PYTHONPATH"))))}
        reading, self._writing = os.pipe()  # both close on exec: the runner's other children never hold them
        output = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        try:
            self.pid = os.posix_spawn(
                sys.executable, [sys.executable, "-m", "chaos.guardian", "--owner", self.mark], env,
                file_actions=[(os.POSIX_SPAWN_DUP2, reading, 0), (os.POSIX_SPAWN_DUP2, output, 1),
                              (os.POSIX_SPAWN_DUP2, output, 2)],
                setsid=True,  # a Ctrl-C at the terminal reaches the runner, not its guardian
            )  # fmt: skip
        finally:
            os.close(reading)
            os.close(output)
        for item in told:
            self.send(item)

    def alive(self) -> bool:
        try:
            return os.waitpid(self.pid, os.WNOHANG) == (0, 0)
        except ChildProcessError:
            return False

    def send(self, item: dict[str, Any]) -> None:
        data = json.dumps(item, sort_keys=True).encode() + b"\n"
        while data:
            data = data[os.write(self._writing, data) :]


_told: list[dict[str, Any]] = []  # everything this runner named, for a guardian started again
_link: _Link | None = None
_lock = threading.Lock()


def _forget_after_fork() -> None:
    """A forked child is a runner of its own: what its parent made is its parent's guardian's."""
    global _link, _told
    if _link is not None:
        with contextlib.suppress(OSError):
            os.close(_link._writing)  # the parent's guardian must see its pipe end when the parent ends
    _link, _told = None, []


os.register_at_fork(after_in_child=_forget_after_fork)


def _current() -> _Link | None:
    """The live link, started on first use or again when its guardian died; None in the guardian itself."""
    global _link
    if os.environ.get(IN_GUARDIAN):
        return None
    if _link is None or not _link.alive():
        _link = _Link(_told)
    return _link


def child_environment() -> dict[str, str]:
    """What a process this runner starts adds to its environment: the runner's mark (its guardian started)."""
    with _lock:
        link = _current()
    return {OWNER_VARIABLE: owner_mark() if link is None else link.mark}


def watch(kind: str, **details: str | int | bool) -> None:
    """Name something this runner made, for its guardian to remove if the runner ends without doing so.

    ``process`` (pid, ticks, name), ``run-dir`` (path, keep), ``ledger`` (path), ``docker`` (run, digest,
    owners, host), ``kubernetes`` (namespace, run, owners, kubeconfig, context); ``owners`` is the directory of
    the run's claim (chaos.ownership), which goes once what it covers has.
    """
    global _link
    item: dict[str, Any] = {"kind": kind, **details}
    with _lock:
        if item in _told:
            return
        _told.append(item)
        link = _current()
        if link is None:
            return
        try:
            link.send(item)
        except OSError:  # it died after the check: a new one hears everything
            _link = None
            _current()


# -- the guardian's side ---------------------------------------------------------------------------
def marked_by(mark: str) -> list[int]:
    """The live processes whose environment carries ``mark`` as their owner."""
    wanted = f"{OWNER_VARIABLE}={mark}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if wanted in environ and pid_alive(int(entry.name)):
            found.append(int(entry.name))
    return found


def _named(items: list[dict[str, Any]]) -> dict[int, str]:
    """The processes named to the guardian that still run (the same process: its start time matches)."""
    named = {}
    for item in items:
        pid, ticks = item.get("pid"), item.get("ticks")
        if item.get("kind") != "process" or not isinstance(pid, int) or not isinstance(ticks, int) or pid <= 1:
            continue
        if pid_alive(pid, ticks):
            named[pid] = str(item.get("name", ""))
    return named


def _kill(mark: str, items: list[dict[str, Any]]) -> list[str]:
    """Kill what the runner named and what carries its mark, until none is left (or KILL_TIMEOUT_S)."""
    killed: dict[int, str] = {}
    deadline = time.monotonic() + KILL_TIMEOUT_S
    while (found := {**dict.fromkeys(marked_by(mark), ""), **_named(items)}) and time.monotonic() < deadline:
        for pid, name in found.items():
            if pid not in killed:
                with contextlib.suppress(OSError):
                    name = name or Path(Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode()).name
                killed[pid] = name
            with contextlib.suppress(OSError):
                if os.getpgid(pid) == pid:
                    os.killpg(pid, signal.SIGKILL)  # a server's own forks go with it
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.1)
    return [f"process {pid} ({name})" for pid, name in sorted(killed.items())]


def _wait_gone(pid: int, ticks: int | None) -> bool:
    deadline = time.monotonic() + OWNER_EXIT_TIMEOUT_S
    try:
        handle = os.pidfd_open(pid)
    except OSError:
        handle = None
    try:
        while pid_alive(pid, ticks):
            if time.monotonic() >= deadline:
                return False
            if handle is not None:
                select.select([handle], [], [], 0.5)
            else:
                time.sleep(0.1)
    finally:
        if handle is not None:
            os.close(handle)
    return True


def _remove_docker_run(item: dict[str, Any]) -> list[str]:
    from chaos.targets.docker import remove_run

    if item.get("host"):
        os.environ["DOCKER_HOST"] = str(item["host"])
    return remove_run(str(item["run"]), str(item["digest"]))


def _release(item: dict[str, Any]) -> None:
    from chaos.ownership import Owners

    if item.get("owners") and item.get("run"):
        Owners(Path(str(item["owners"]))).release(str(item["run"]))


def _remove_namespace(namespace: str, kubeconfig: str, context: str) -> list[str]:
    from chaos.targets.kubernetes import remove_run_namespace

    return remove_run_namespace(namespace, Path(kubeconfig) if kubeconfig else None, context or None)


def sweep(mark: str, items: list[dict[str, Any]]) -> list[str]:
    """Everything ``items`` name that is still there, for the runner ``mark`` that is gone; a line for each."""
    from chaos.faults.cleanup import revert_faults_of
    from chaos.faults.ledger import Ledger

    pid_text, ticks_text = mark.split(":")
    owner = (int(pid_text), None if ticks_text == "None" else int(ticks_text))
    done: list[str] = []
    for item in items:
        if item.get("kind") == "ledger":
            report = revert_faults_of(Ledger(Path(str(item["path"]))), owner)
            if report.reverted or report.settled or report.failed:
                done += report.lines()
    done += [f"killed {line}" for line in _kill(mark, items)]
    for item in items:
        kind = item.get("kind")
        try:
            if kind == "run-dir" and not item.get("keep") and Path(str(item["path"])).exists():
                shutil.rmtree(str(item["path"]), ignore_errors=True)
                done.append(f"removed run directory {item['path']}")
            elif kind == "docker":
                done += [f"removed {line}" for line in _remove_docker_run(item)]
                _release(item)
            elif kind == "kubernetes":
                done += [f"removed {line}" for line in _remove_namespace(
                    str(item["namespace"]), str(item.get("kubeconfig", "")), str(item.get("context", "")))]  # fmt: skip
                _release(item)
        except Exception as exc:  # one failure must not keep the rest in place
            done.append(f"could not remove {kind} {item}: {type(exc).__name__}: {exc}")
    return done


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] != "--owner":
        print("usage: python -m chaos.guardian --owner PID:START-TICKS (started by a runner, not by hand)",
              file=sys.stderr)  # fmt: skip
        return 2
    mark = argv[1]
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # it ends by its pipe, not by a terminal's Ctrl-C
    items = [json.loads(line) for line in sys.stdin.buffer if line.strip()]
    pid_text, ticks_text = mark.split(":")
    if not _wait_gone(int(pid_text), None if ticks_text == "None" else int(ticks_text)):
        print(f"guardian: runner {mark} closed its pipe but still runs; nothing swept", flush=True)
        return 0
    done = sweep(mark, items)
    log = log_path(int(pid_text))
    if not done:
        with contextlib.suppress(OSError):
            log.unlink()
        return 0
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    print("\n".join(f"{stamp} guardian of runner {mark}: {line}" for line in done), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
