"""Attach a drill's figures and evidence to its Allure test result."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import allure

if TYPE_CHECKING:
    from pathlib import Path

    from chaos.report.record import DrillRecord

__all__ = ["attach_record"]


def _figures(record: DrillRecord) -> dict[str, str]:
    figures = {"verdict": record.verdict.value, "budget profile": record.budget_profile}
    if record.rto is not None:
        measured = "not recovered" if record.rto.measured_s is None else f"{record.rto.measured_s:.2f}s"
        figures[f"RTO {record.rto.component}"] = (
            f"{measured} (budget {record.rto.budget_s:g}s) {record.rto.verdict.value}"
        )
    for name, loss in record.rpo.items():
        figures[f"RPO {name}"] = (
            f"{loss.lost} of {loss.acked} acked writes lost, window {loss.window_s:.2f}s "
            f"(budget {loss.budget_s:g}s) {loss.verdict.value}"
        )
    return figures


def attach_record(record: DrillRecord, evidence_files: list[Path]) -> None:
    """The figures as parameters (shown on the overview, not part of the test's identity), then the evidence."""
    for name, value in _figures(record).items():
        allure.dynamic.parameter(name, value, excluded=True)
    allure.attach(
        json.dumps(record.to_json(), indent=2), name="drill record", attachment_type=allure.attachment_type.JSON
    )
    for path in evidence_files:
        if path.is_file():
            kind = allure.attachment_type.JSON if path.suffix == ".json" else allure.attachment_type.TEXT
            allure.attach.file(str(path), name=path.name, attachment_type=kind)  # type: ignore[no-untyped-call]
