"""A configuration backup a drill keeps can be opened later, in another process, without DRILL_BACKUP_KEY;
a check that fails names the cause: no key, another key, or an altered secret."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

from chaos.recovery.config_backup import backup_config
from chaos.recovery.store import KEY_FILE, BackupStore, key_id
from chaos.targets.base import Endpoints

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "s3cret-password-of-the-release"
SECRET = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "calendar-redis"},
          "data": {"password": base64.b64encode(PASSWORD.encode()).decode()}}  # fmt: skip
ENDPOINTS = Endpoints(apps=("http://127.0.0.1:1",), database="calendar", mongodb_uri="mongodb://127.0.0.1:1",
                      mongodb_proxy_uri="mongodb://u:pw@127.0.0.1:2", redis_url="redis://127.0.0.1:3",
                      redis_proxy_url="redis://:pw@127.0.0.1:4", toxiproxy_api="")  # fmt: skip
LOAD = """
import json, sys
from pathlib import Path
from chaos.recovery.config_backup import load_resources
objects = load_resources(Path(sys.argv[1]))
print(json.dumps([obj["data"] for obj in objects if obj["kind"] == "Secret"]))
"""


def _run(*args: str, key: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {name: value for name, value in os.environ.items() if name != "DRILL_BACKUP_KEY"}
    if key:
        env["DRILL_BACKUP_KEY"] = key
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=120, env=env)


def _kept(tmp_path: Path) -> tuple[BackupStore, Path]:
    store = BackupStore(tmp_path / "store", run_id="run-1")  # a drill's store without DRILL_BACKUP_KEY
    output = store.new("run-1", "complete-system-failure", "backup-all") / "config"
    output.parent.mkdir()
    resources = [SECRET, {"kind": "ConfigMap", "metadata": {"name": "app"}}]
    backup_config(ENDPOINTS, output, key=store.config_key(), resources=resources)
    store.seal(output.parent)
    return store, output


def test_a_kept_backup_opens_in_a_new_process_with_the_key_the_store_kept(tmp_path: Path) -> None:
    store, output = _kept(tmp_path)
    written = "".join(path.read_text() for path in output.iterdir())
    assert PASSWORD not in written
    assert SECRET["data"]["password"] not in written
    assert json.loads((output / "manifest.json").read_text())["key id"] == key_id(store.config_key())
    verified = _run("-m", "chaos.cli", "verify", "config", "--backup-dir", str(output))
    assert verified.returncode == 0, verified.stderr
    assert "secrets decrypt" in verified.stdout
    loaded = _run("-c", LOAD, str(output))
    assert loaded.returncode == 0, loaded.stderr
    assert json.loads(loaded.stdout) == [SECRET["data"]]


def test_a_failed_check_names_its_cause(tmp_path: Path) -> None:
    store, output = _kept(tmp_path)
    other = _run("-m", "chaos.cli", "backup", "keygen").stdout.strip()
    # Another DRILL_BACKUP_KEY in the shell does not hide the key the store kept for this backup...
    aside = _run("-m", "chaos.cli", "verify", "config", "--backup-dir", str(output), key=other)
    assert aside.returncode == 0, aside.stderr
    # ...but without that key, the check says the key is another one, naming both.
    kept = store.root / "run-1" / KEY_FILE
    moved = kept.rename(tmp_path / "elsewhere.key")
    wrong = _run("-m", "chaos.cli", "verify", "config", "--backup-dir", str(output), key=other)
    assert wrong.returncode == 1
    assert f"sealed with key id {key_id(moved.read_text().strip())}" in wrong.stderr, wrong.stderr
    assert f"DRILL_BACKUP_KEY is another key (id {key_id(other)})" in wrong.stderr
    moved.rename(kept)

    environment = output / "environment.json"
    sealed = json.loads(environment.read_text())
    token = sealed["app"]["redis_url"]["encrypted"]
    sealed["app"]["redis_url"]["encrypted"] = token[:-8] + ("A" if token[-8] != "A" else "B") + token[-7:]
    environment.write_text(json.dumps(sealed, indent=2))
    manifest = json.loads((output / "manifest.json").read_text())
    altered = _run("-m", "chaos.cli", "verify", "config", "--backup-dir", str(output))
    assert altered.returncode == 1
    assert "SHA-256 differs from the manifest" in altered.stderr, altered.stderr
    manifest["files"]["environment.json"] = hashlib.sha256(environment.read_bytes()).hexdigest()
    (output / "manifest.json").write_text(json.dumps(manifest))  # the forger fixed the hash too
    forged = _run("-m", "chaos.cli", "verify", "config", "--backup-dir", str(output))
    assert forged.returncode == 1
    assert "does not decrypt with" in forged.stderr, forged.stderr
    assert "it was altered" in forged.stderr

    kept.unlink()
    keyless = _run("-m", "chaos.cli", "verify", "config", "--backup-dir", str(output))
    assert keyless.returncode == 1
    assert "DRILL_BACKUP_KEY is not set and no config.key is stored" in keyless.stderr, keyless.stderr
