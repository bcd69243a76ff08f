"""Who made an object on a shared engine or cluster, proved rather than presumed.

Before a run creates its first container, network, volume or namespace, it writes a *claim*
into the local ledger (``<ledger>/owners/<run id>.json``, 0600): the run id, a random secret
token, the prefix every object's name starts with, and the runner's identity — the machine id,
the boot id, the pid namespace, the pid and its kernel start time. Each object carries the run
id and a digest of the token as labels; the token itself never leaves this machine.

A sweep removes an object only when every link of the chain holds: its run id names a claim
this ledger holds and can read, the digest matches that claim's token, its name starts with the
claim's prefix, and the claim's runner is provably gone — on this machine, either since
restarted (another boot id) or in this pid namespace with its pid dead or reused. Anything
else is left alone and said so: no claim (another machine's run, or an object someone labelled
by hand), a claim that cannot be read, a token that does not match, a runner in another pid
namespace (a runner in another container sharing the engine) whose life cannot be checked.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import re
import secrets
import socket
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal, NamedTuple

from chaos.faults.ledger import DEFAULT_LEDGER
from chaos.servers.process import pid_alive, process_start_ticks

__all__ = ["DEFAULT_OWNERS", "LABEL_TOKEN", "RUN_ID", "Claim", "Judgement", "Owners", "Runner", "Sweep", "this_runner"]

DEFAULT_OWNERS = DEFAULT_LEDGER / "owners"
LABEL_TOKEN = "chaos-drill/token"  # a digest of the claim's token: a label value, at most 63 characters
RUN_ID = re.compile(r"[0-9]{8}-[0-9]{6}-[0-9a-f]{6}")  # what a target's run id looks like; nothing else is a file name


def _read_first(*paths: str) -> str:
    for path in paths:
        with contextlib.suppress(OSError):
            text = Path(path).read_text().strip()
            if text:
                return text
    return ""


class Runner(NamedTuple):
    host: str  # the machine id
    boot: str  # the boot id: another after each restart
    pidns: str  # the pid namespace: pids mean something only within it
    pid: int
    ticks: int | None  # the kernel's start time of pid: a reused pid has another


def this_runner() -> Runner:
    """This process as a claim records it: machine, boot, pid namespace, pid and start time."""
    pid = os.getpid()
    pidns = ""
    with contextlib.suppress(OSError):
        pidns = os.readlink("/proc/self/ns/pid")
    host = _read_first("/etc/machine-id", "/var/lib/dbus/machine-id") or f"hostname:{socket.gethostname()}"
    return Runner(host, _read_first("/proc/sys/kernel/random/boot_id"), pidns, pid, process_start_ticks(pid))


@dataclass(frozen=True)
class Claim:
    run_id: str
    kind: str  # docker, kubernetes
    prefix: str  # every object of the run is named so
    token: str
    host: str
    boot: str
    pidns: str
    pid: int
    ticks: int | None
    created: float

    @property
    def digest(self) -> str:
        return token_digest(self.token)

    def runner_gone(self) -> tuple[bool | None, str]:
        """(True, why) if the runner has provably ended, (False, why) if it runs, (None, why) if it cannot be told."""
        here = this_runner()
        if self.host != here.host:
            return None, f"its runner was on another machine ({self.host[:12]})"
        if self.boot != here.boot:
            return True, "this machine has restarted since its runner started"
        if self.pidns != here.pidns:
            return None, f"its runner is in another pid namespace ({self.pidns}): its life cannot be checked from here"
        if pid_alive(self.pid, self.ticks):
            return False, f"its runner, pid {self.pid}, still runs"
        return True, f"its runner, pid {self.pid}, has ended"


def token_digest(token: str) -> str:
    return hashlib.sha256(f"chaos-drill owner {token}".encode()).hexdigest()[:40]


@dataclass
class Sweep:
    """What a sweep removed, and what it found with the tool's label and left alone, with why."""

    removed: list[str] = field(default_factory=list)
    left: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Judgement:
    verdict: Literal["remove", "live", "foreign"]
    reason: str


class Owners:
    """The claims of this machine's runs, in one directory of the ledger."""

    def __init__(self, directory: Path = DEFAULT_OWNERS) -> None:
        self.directory = directory

    def _path(self, run_id: str) -> Path:
        if not RUN_ID.fullmatch(run_id):
            raise ValueError(f"{run_id!r} is not a run id")
        return self.directory / f"{run_id}.json"

    def claim(self, run_id: str, kind: str, prefix: str) -> Claim:
        """Record that this runner is about to make objects named ``prefix...`` for ``run_id``: before the first."""
        claim = Claim(run_id, kind, prefix, secrets.token_hex(16), *this_runner(), created=time.time())
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self._path(run_id)
        tmp = path.with_suffix(".tmp")
        handle = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(handle, "w") as out:
            json.dump(asdict(claim), out, indent=1)
        os.replace(tmp, path)
        return claim

    def release(self, run_id: str) -> None:
        """The run removed its objects itself: its claim goes."""
        with contextlib.suppress(FileNotFoundError, ValueError):
            self._path(run_id).unlink()

    def read(self, run_id: str) -> Claim | None:
        """The claim of ``run_id``, None if this ledger holds none; ValueError if it cannot be read."""
        try:
            raw = self._path(run_id).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise ValueError(f"its claim cannot be read: {exc}") from None
        try:
            data = json.loads(raw)
            claim = Claim(**data)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"its claim {self._path(run_id)} is not a claim: {exc}") from None
        kinds = {"run_id": str, "kind": str, "prefix": str, "token": str, "host": str, "boot": str, "pidns": str,
                 "pid": int}  # fmt: skip
        if any(not isinstance(getattr(claim, key), kind) for key, kind in kinds.items()) or claim.run_id != run_id:
            raise ValueError(f"its claim {self._path(run_id)} is not a claim: a field is missing or of the wrong type")
        if not claim.prefix or len(claim.token) < 32:
            raise ValueError(f"its claim {self._path(run_id)} has no prefix or a short token")
        return claim

    def judge(self, run_id: object, digest: object, name: str) -> Judgement:
        """Whether the object ``name`` labelled with ``run_id`` and ``digest`` may be removed by a sweep."""
        if not isinstance(run_id, str) or not RUN_ID.fullmatch(run_id):
            return Judgement("foreign", f"its run label {run_id!r} is not a run id")
        try:
            claim = self.read(run_id)
        except ValueError as exc:
            return Judgement("foreign", str(exc))
        if claim is None:
            return Judgement("foreign", f"no run {run_id} in {self.directory} (another machine's, or not a run's)")
        if not isinstance(digest, str) or not hmac.compare_digest(digest, claim.digest):
            return Judgement("foreign", f"its token does not match run {run_id}'s claim")
        if not name.startswith(claim.prefix):
            return Judgement("foreign", f"its name is not under run {run_id}'s prefix {claim.prefix!r}")
        gone, why = claim.runner_gone()
        if gone is None:
            return Judgement("foreign", why)
        return Judgement("remove" if gone else "live", why)

    def runs(self) -> list[str]:
        """The run ids this ledger holds claims for."""
        if not self.directory.is_dir():
            return []
        return sorted(path.stem for path in self.directory.glob("*.json") if RUN_ID.fullmatch(path.stem))
