"""No secret reaches any report artifact: drill record, evidence, compliance report, Allure results.

Known secrets are seeded where real ones live: a Redis password in the
connection URIs every component uses (and the app logs at start-up), the
backup key and an API token in the environment. A drill is made to fail, so
that the tails of the component logs are kept too; then every file written is
searched for each secret, as text and in the encodings a report might use.
"""

from __future__ import annotations

import base64
import os
import secrets
import subprocess
import sys
import urllib.parse
from pathlib import Path

from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[2]


def test_seeded_secrets_are_in_no_report_file(tmp_path: Path) -> None:
    password, token = f"pw-{secrets.token_hex(12)}", f"tok-{secrets.token_hex(12)}"
    backup_key = Fernet.generate_key().decode()
    targets = tmp_path / "targets.yaml"
    targets.write_text("targets:\n  sandbox:\n    kind: local\n    drill_allowed: true\n    replicas: 2\n"
                       "    blast_radius: {max_replicas: 2}\n"
                       "    redis_password_env: DRILL_TEST_REDIS_PASSWORD\n")  # fmt: skip
    budgets = tmp_path / "budgets.yaml"
    budgets.write_text("profiles:\n  impossible:\n    description: a budget no recovery meets, so the drill fails\n"
                       "    rto: {database: 1ms}\n    rpo: {sessions: 10s}\n")  # fmt: skip
    report, allure, workdir = tmp_path / "report", tmp_path / "allure", tmp_path / "runs"
    env = os.environ | {"DRILL_TEST_REDIS_PASSWORD": password, "CALENDAR_API_TOKEN": token,
                        "DRILL_BACKUP_KEY": backup_key}  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-m", "redis_failure or backup_testing", "-k", "aof or backup",
         "-p", "no:cacheprovider", f"--targets={targets}", f"--budgets={budgets}", "--budget-profile=impossible",
         f"--drill-report-dir={report}", f"--alluredir={allure}", f"--workdir={workdir}", "--keep-workdir",
         f"--ledger-dir={tmp_path / 'ledger'}"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    # The Redis drill fails its impossible budget; backup testing passes: both ran against the passworded Redis.
    assert "FAILED   Redis is killed under load with aof persistence" in result.stdout, result.stdout[-3000:]
    assert "PASSED   Every backup verifies" in result.stdout, result.stdout[-3000:]
    auth = list(workdir.glob("run-*/redis-auth.conf"))
    assert auth, "no sandbox ran with a Redis password"
    assert all(password in path.read_text() for path in auth)  # the sandboxes really used the seeded password

    written = [path for base in (report, allure) for path in base.rglob("*") if path.is_file()]
    assert any(path.name.startswith("app-") and path.parent.name == "component-logs" for path in written)
    assert any(":***@" in path.read_text(errors="replace") for path in written if "component-logs" in path.parts), (
        "the app logs its Redis URL at start-up; the kept log tails should show it masked"
    )
    forms = {secret: {secret, urllib.parse.quote(secret), base64.b64encode(secret.encode()).decode()}
             for secret in (password, token, backup_key)}  # fmt: skip
    leaks = [f"{path}: {secret[:6]}…" for path in written for secret, variants in forms.items()
             if any(variant.encode() in path.read_bytes() for variant in variants)]  # fmt: skip
    assert not leaks, f"secrets found in report files: {leaks}"
