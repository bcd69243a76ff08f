"""A sweep's judgement of one labelled object: removed only when a claim of this ledger proves a dead run's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict, replace
from typing import TYPE_CHECKING

import pytest

from chaos.faults.ledger import Ledger
from chaos.ownership import Claim, Owners, this_runner

if TYPE_CHECKING:
    from pathlib import Path

RUN = "20261204-101500-abc123"


def _dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)  # fmt: skip
    return int(done.stdout)


def _rewrite(owners: Owners, claim: Claim, **changes: object) -> Claim:
    changed = replace(claim, **changes)  # type: ignore[arg-type]
    (owners.directory / f"{claim.run_id}.json").write_text(json.dumps(asdict(changed)))
    return changed


@pytest.fixture
def owners(tmp_path: Path) -> Owners:
    return Owners(tmp_path / "owners")


def test_a_claim_is_private_and_its_token_never_on_the_object(owners: Owners) -> None:
    claim = owners.claim(RUN, "docker", f"chaos-{RUN}-")
    path = owners.directory / f"{RUN}.json"
    assert path.stat().st_mode & 0o777 == 0o600
    assert owners.directory.stat().st_mode & 0o077 == 0
    assert claim.token not in claim.digest
    assert len(claim.digest) <= 63  # a label value
    assert owners.read(RUN) == claim


def test_a_live_runner_keeps_its_objects_and_a_dead_one_loses_them(owners: Owners) -> None:
    claim = owners.claim(RUN, "docker", f"chaos-{RUN}-")
    judged = owners.judge(RUN, claim.digest, f"chaos-{RUN}-mongodb")
    assert (judged.verdict, judged.reason) == ("live", f"its runner, pid {os.getpid()}, still runs")
    _rewrite(owners, claim, pid=_dead_pid())
    assert owners.judge(RUN, claim.digest, f"chaos-{RUN}-mongodb").verdict == "remove"
    _rewrite(owners, claim, ticks=(claim.ticks or 0) + 1)  # this pid, another process: the runner's pid reused
    assert owners.judge(RUN, claim.digest, f"chaos-{RUN}-mongodb").verdict == "remove"


def test_a_restart_of_this_machine_proves_the_runner_gone(owners: Owners) -> None:
    claim = owners.claim(RUN, "docker", f"chaos-{RUN}-")
    _rewrite(owners, claim, boot="another-boot", pidns="pid:[1]")
    judged = owners.judge(RUN, claim.digest, f"chaos-{RUN}-redis")
    assert (judged.verdict, judged.reason) == ("remove", "this machine has restarted since its runner started")


@pytest.mark.parametrize(
    ("run_label", "digest", "name", "change", "reason"),
    [
        ("20261204-101500-ffffff", "ok", f"chaos-{RUN}-x", {}, "no run 20261204-101500-ffffff in"),
        (None, "ok", "kube-system", {}, "its run label None is not a run id"),
        ("../../etc/passwd", "ok", "x", {}, "is not a run id"),
        (RUN, "0" * 40, f"chaos-{RUN}-x", {}, f"its token does not match run {RUN}'s claim"),
        (RUN, None, f"chaos-{RUN}-x", {}, "its token does not match"),
        (RUN, "ok", "kube-system", {}, f"its name is not under run {RUN}'s prefix"),
        (RUN, "ok", f"chaos-{RUN}-x", {"host": "another-machine"}, "its runner was on another machine"),
        (RUN, "ok", f"chaos-{RUN}-x", {"pidns": "pid:[4026532999]"}, "its runner is in another pid namespace"),
    ],
)
def test_without_proof_an_object_is_left_alone_and_the_reason_said(
    owners: Owners, run_label: str | None, digest: str | None, name: str, change: dict[str, object], reason: str
) -> None:
    claim = owners.claim(RUN, "docker", f"chaos-{RUN}-")
    _rewrite(owners, claim, pid=_dead_pid(), **change)  # dead: only the missing link keeps it
    judged = owners.judge(run_label, claim.digest if digest == "ok" else digest, name)
    assert judged.verdict == "foreign"
    assert reason in judged.reason


@pytest.mark.parametrize("content", [b"", b"{", b'{"run_id": 1}', b"\xff\xfe", b"[]"])
def test_an_unreadable_claim_proves_nothing(owners: Owners, content: bytes) -> None:
    claim = owners.claim(RUN, "docker", f"chaos-{RUN}-")
    (owners.directory / f"{RUN}.json").write_bytes(content)
    judged = owners.judge(RUN, claim.digest, f"chaos-{RUN}-x")
    assert judged.verdict == "foreign"
    assert "claim" in judged.reason


def test_a_claim_names_this_runner(owners: Owners) -> None:
    claim = owners.claim(RUN, "kubernetes", f"chaos-drill-{RUN}")
    here = this_runner()
    assert (claim.host, claim.boot, claim.pidns, claim.pid, claim.ticks) == tuple(here)
    assert claim.host
    assert claim.boot
    assert claim.pidns.startswith("pid:[")
    owners.release(RUN)
    assert owners.read(RUN) is None


def test_a_ledger_entry_whose_id_is_a_path_is_never_followed(tmp_path: Path) -> None:
    """An entry's id names files when it is removed: one crafted to point outside the ledger is not an entry."""
    victim = tmp_path / "victim.json"
    victim.write_text("keep me")
    ledger_dir = tmp_path / "ledger"
    ledger_dir.mkdir()
    entry = {"id": "../victim", "kind": "kill", "spec": {}, "owner_pid": _dead_pid(), "owner_ticks": None,
             "created": 0.0}  # fmt: skip
    (ledger_dir / "kill-0123456789ab.json").write_text(json.dumps(entry))
    ledger = Ledger(ledger_dir)
    assert ledger.orphans() == []
    assert "not a fault id" in ledger.unreadable()[0]
    with pytest.raises(ValueError, match="not a fault id"):
        ledger.remove("../victim")
    assert victim.read_text() == "keep me"
