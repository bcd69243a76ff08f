"""A drill in Allure: labels, figures, attachments, and the run's environment and categories.

Per scenario: epic (the disaster type) and severity labels; the figures as
parameters and as a table of measured against budget; the timeline picture;
the ack-log summary per data class; the recovery steps with their durations;
the drill record and the evidence files; and, when the scenario did not pass,
the tail of every component's log. Everything textual passes the redactor.
"""

from __future__ import annotations

import html
import json
from typing import TYPE_CHECKING

import allure

from chaos.report.redact import Redactor
from chaos.report.summary import users_view

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from chaos.report.record import DrillRecord

__all__ = ["CATEGORIES", "SEVERITY", "attach_record", "write_run_files"]

# How bad each disaster is: everything down; data or all service lost; degraded; nothing down.
SEVERITY = {
    "complete_system_failure": "blocker",
    "database_failure": "critical",
    "data_corruption": "critical",
    "application_failure": "critical",
    "redis_failure": "normal",
    "network_failure": "normal",
    "backup_testing": "minor",
}

# Allure sorts failed and broken results into the first of these whose patterns match.
CATEGORIES = [
    {"name": "Aborted", "matchedStatuses": ["broken", "failed", "skipped"],
     "messageRegex": r"(?s).*(KeyboardInterrupt|Interrupted|aborted).*"},
    {"name": "Fault did not land", "matchedStatuses": ["failed", "broken"],
     "messageRegex": r"(?s).*(fault did not land|verdict unknown|never saw the fault|never looked broken).*"},
    {"name": "Infrastructure error", "matchedStatuses": ["broken", "failed"],
     "messageRegex": r"(?s).*(StartupError|ToolNotFoundError|ComponentError|ToxiproxyError|not found \(looked at|"
                     r"exited with code|did not become ready).*"},
    {"name": "Recovery procedure failed", "matchedStatuses": ["failed", "broken"],
     "messageRegex": r"(?s).*(BackupError|BackupVerificationError|integrity check failed|refusing to recover).*"},
    {"name": "Budget breached", "matchedStatuses": ["failed"], "messageRegex": r"(?s).*\(budget [^)]*\).*"},
]  # fmt: skip


def _figures(record: DrillRecord) -> list[tuple[str, str, str, str]]:
    """(figure, measured, budget, verdict) rows."""
    rows = []
    if record.rto is not None:
        rto = record.rto
        resolution = rto.resolution_s or 0.0
        measured = "not recovered" if rto.measured_s is None else f"{rto.measured_s:.2f}s ± {resolution:.2f}s"
        rows.append((f"RTO {rto.component}", measured, f"{rto.budget_s:g}s", rto.verdict.value))
    for name, loss in record.rpo.items():
        rows.append((f"RPO {name}", f"window {loss.window_s:.2f}s ({loss.lost} of {loss.acked} acked writes lost)",
                     f"{loss.budget_s:g}s", loss.verdict.value))  # fmt: skip
    for judgement in record.judgements:
        rows.append((judgement.name, judgement.reason, "", judgement.verdict.value))
    if view := users_view(record.load):
        rows.append(("users' view (locust)", view, "", ""))
    return rows


def _table(headers: Sequence[str], rows: Sequence[tuple[str, ...]]) -> str:
    cells = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    style = "table{border-collapse:collapse;font-family:sans-serif;font-size:13px}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}"  # noqa: E501
    return f"<html><head><style>{style}</style></head><body><table><tr>{cells}</tr>{body}</table></body></html>"


ACK_COLUMNS = ("attempted", "acked", "lost", "recovered", "unexpected", "duplicated", "corrupted")


def _ack_summary(record: DrillRecord) -> list[tuple[str, ...]]:
    rows = []
    for name, loss in record.rpo.items():
        data = loss.to_json()
        rows.append((name, *(str(data.get(key, "")) for key in ACK_COLUMNS)))
    return rows


def _disaster(record: DrillRecord) -> str | None:
    return next((tag for tag in record.tags if tag in SEVERITY), None)


def attach_record(record: DrillRecord, evidence_files: list[Path], log_tails: dict[str, str] | None = None) -> None:
    """Label the scenario and attach what it measured; ``log_tails`` only when it did not pass."""
    redact = Redactor()
    allure.dynamic.epic(record.feature)  # type: ignore[no-untyped-call]
    disaster = _disaster(record)
    if disaster is not None:
        allure.dynamic.severity(allure.severity_level(SEVERITY[disaster]))  # type: ignore[no-untyped-call]
    figures = _figures(record)
    allure.dynamic.parameter("verdict", record.verdict.value, excluded=True)
    allure.dynamic.parameter("budget profile", record.budget_profile, excluded=True)
    for name, measured, budget, verdict in figures:
        shown = f"{measured} (budget {budget}) {verdict}" if budget else f"{measured} {verdict}"
        allure.dynamic.parameter(name, redact(shown), excluded=True)
    allure.attach(redact(_table(["figure", "measured", "budget", "verdict"], figures)), name="figures",
                  attachment_type=allure.attachment_type.HTML)  # fmt: skip
    for picture, title in (("timeline.png", "timeline"), ("load.png", "what the users saw")):
        if (record.evidence_dir / picture).is_file():
            allure.attach.file(str(record.evidence_dir / picture), name=title,  # type: ignore[no-untyped-call]
                               attachment_type=allure.attachment_type.PNG)  # fmt: skip
    if record.rpo:
        allure.attach(_table(["data class", *ACK_COLUMNS], _ack_summary(record)), name="ack-log summary",
                      attachment_type=allure.attachment_type.HTML)  # fmt: skip
    if record.recovery_steps:
        steps = [(step.name, f"{step.duration_s:.3f}s", "ok" if step.ok else "FAILED", step.detail)
                 for step in record.recovery_steps]  # fmt: skip
        allure.attach(redact(_table(["recovery step", "duration", "result", "detail"], steps)),
                      name="recovery steps", attachment_type=allure.attachment_type.HTML)  # fmt: skip
    allure.attach(redact(json.dumps(record.to_json(), indent=2)), name="drill record",
                  attachment_type=allure.attachment_type.JSON)  # fmt: skip
    for path in evidence_files:
        if path.is_file() and path.suffix in (".json", ".jsonl", ".txt", ".csv", ".log"):
            kind = {".json": allure.attachment_type.JSON, ".csv": allure.attachment_type.CSV}.get(
                path.suffix, allure.attachment_type.TEXT)  # fmt: skip
            allure.attach(redact(path.read_text(errors="replace")), name=path.name, attachment_type=kind)
    for component, tail in (log_tails or {}).items():
        allure.attach(redact(tail), name=f"log tail: {component}", attachment_type=allure.attachment_type.TEXT)


def write_run_files(results_dir: Path, environment: dict[str, str]) -> None:
    """Allure's environment.properties and categories.json for the whole run."""
    redact = Redactor()
    results_dir.mkdir(parents=True, exist_ok=True)
    lines = [f"{key.replace(' ', '.')}={redact(value)}" for key, value in environment.items()]
    (results_dir / "environment.properties").write_text("\n".join(lines) + "\n")
    (results_dir / "categories.json").write_text(json.dumps(CATEGORIES, indent=2))
