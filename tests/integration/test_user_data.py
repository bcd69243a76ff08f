"""Users' data stays in the backup store: no report, evidence file, Allure result or rendered page holds it.

Customer records carrying a random marker are in the stores before the drills
start (tests/drill_cases/customers.py); drills that back up and restore run on
them; then every file the run wrote outside the backup store is searched for the
marker, as text and inside gzip. The store itself must hold it — the scan would
find it there — and be its owner's alone.
"""

from __future__ import annotations

import gzip
import json
import os
import secrets
import stat
import subprocess
import sys
import zlib
from pathlib import Path

from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[2]
ALLURE = ROOT / ".tools" / "node" / "node_modules" / ".bin" / "allure"


def _holds(path: Path, marker: bytes) -> bool:
    data = path.read_bytes()
    if marker in data:
        return True
    if data[:2] == b"\x1f\x8b":
        try:
            return marker in gzip.decompress(data)
        except (OSError, EOFError, zlib.error):
            return False
    return False


def test_customer_data_never_leaves_the_backup_store(tmp_path: Path) -> None:
    marker = f"CUSTOMER{secrets.token_hex(16)}"
    store, report, allure, html = tmp_path / "store", tmp_path / "report", tmp_path / "allure", tmp_path / "html"
    targets = tmp_path / "targets.yaml"
    targets.write_text("targets:\n  sandbox:\n    kind: local\n    drill_allowed: true\n    replicas: 3\n"
                       f"    blast_radius: {{max_replicas: 3}}\n    backup_dir: {store}\n")  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.drill_cases.customers", "-p", "no:cacheprovider",
         "-m", "database_failure or backup_testing or complete_system_failure",
         "-k", "killed_and_restored or verifies or rebuilt", f"--targets={targets}", f"--alluredir={allure}",
         f"--drill-report-dir={report}", f"--workdir={tmp_path / 'runs'}", f"--ledger-dir={tmp_path / 'ledger'}"],
        cwd=ROOT, capture_output=True, text=True, timeout=600, env=os.environ | {"CHAOS_CUSTOMER_MARKER": marker},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:]
    assert "3 passed" in result.stdout
    rendered = subprocess.run([str(ALLURE), "awesome", str(allure), "--single-file", "--output", str(html)],
                              capture_output=True, text=True, timeout=300)  # fmt: skip
    assert rendered.returncode == 0, rendered.stderr
    written = [path for base in (report, allure, html) for path in base.rglob("*") if path.is_file()]
    assert any(path.name == "backups.json" for path in written)  # each backup recorded by its manifest
    assert any(path.suffix == ".html" for path in html.rglob("*"))
    leaks = [str(path) for path in written if _holds(path, marker.encode())]
    assert not leaks, f"customer data outside the backup store: {leaks}"

    kept = [path for path in store.rglob("*") if path.is_file()]
    assert any(_holds(path, marker.encode()) for path in kept), "the backups should hold the customers"
    assert all(stat.S_IMODE(path.stat().st_mode) == 0o600 for path in kept)
    assert all(stat.S_IMODE(path.stat().st_mode) == 0o700 for path in [store, *store.rglob("*")] if path.is_dir())

    # Kept after the run, the full backup opens in a new process without DRILL_BACKUP_KEY: the run's key
    # is in the store beside it, and the evidence says so.
    full = next(path for path in store.rglob("backup-all") if "rebuilt" in path.parent.name)
    notes = {json.loads(path.read_text())["configuration key"] for path in written if path.name == "backups.json"}
    assert any("stored beside its backups" in note for note in notes), notes
    env = {name: value for name, value in os.environ.items() if name != "DRILL_BACKUP_KEY"}
    verified = subprocess.run([sys.executable, "-m", "chaos.cli", "verify", "backups", "--backup-dir", str(full)],
                              cwd=ROOT, capture_output=True, text=True, timeout=120, env=env)  # fmt: skip
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "config: backup verified" in verified.stdout, verified.stdout


def test_with_a_key_the_store_holds_only_ciphertext_and_unseal_gives_a_backup_that_verifies(tmp_path: Path) -> None:
    marker = f"CUSTOMER{secrets.token_hex(16)}"
    key = subprocess.run([sys.executable, "-m", "chaos.cli", "backup", "keygen"], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout.strip()  # fmt: skip
    store = tmp_path / "store"
    targets = tmp_path / "targets.yaml"
    targets.write_text("targets:\n  sandbox:\n    kind: local\n    drill_allowed: true\n    replicas: 3\n"
                       f"    blast_radius: {{max_replicas: 3}}\n    backup_dir: {store}\n")  # fmt: skip
    env = os.environ | {"CHAOS_CUSTOMER_MARKER": marker, "DRILL_BACKUP_KEY": key}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.drill_cases.customers", "-p", "no:cacheprovider",
         "-m", "backup_testing", f"--targets={targets}", f"--drill-report-dir={tmp_path / 'report'}",
         f"--workdir={tmp_path / 'runs'}", f"--ledger-dir={tmp_path / 'ledger'}"],
        cwd=ROOT, capture_output=True, text=True, timeout=600, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:]
    kept = [path for path in store.rglob("*") if path.is_file()]
    markers = {path.name for path in kept if not path.name.endswith(".enc")}
    assert markers == {".chaos-drill-store", ".chaos-drill-run"}, markers  # the store's and the run's, no data
    kept = [path for path in kept if path.name.endswith(".enc")]
    assert kept
    assert not any(_holds(path, marker.encode()) for path in kept)

    sealed = next(path.parent for path in kept if path.name == "manifest.json.enc" and path.parent.name == "mongodb")
    unsealed = tmp_path / "unsealed"
    drill = [sys.executable, "-m", "chaos.cli"]
    opened = subprocess.run([*drill, "backup", "unseal", "--backup-dir", str(sealed), "--output", str(unsealed)],
                            cwd=ROOT, capture_output=True, text=True, env=env)  # fmt: skip
    assert opened.returncode == 0, opened.stderr
    assert any(_holds(path, marker.encode()) for path in unsealed.rglob("*") if path.is_file())
    verified = subprocess.run([*drill, "verify", "mongodb-backup", "--backup-dir", str(unsealed)], cwd=ROOT,
                              capture_output=True, text=True)  # fmt: skip
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "verified" in verified.stdout

    wrong = subprocess.run([*drill, "backup", "unseal", "--backup-dir", str(sealed), "--output", str(tmp_path / "x")],
                           cwd=ROOT, capture_output=True, text=True,
                           env=env | {"DRILL_BACKUP_KEY": Fernet.generate_key().decode()})  # fmt: skip
    assert wrong.returncode != 0
    assert "does not decrypt" in wrong.stderr, wrong.stderr
    assert not (tmp_path / "x").exists()
