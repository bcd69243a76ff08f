"""Attach a drill's figures and evidence to its Allure test result."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import allure

if TYPE_CHECKING:
    from pathlib import Path

    from chaos.report.record import DrillRecord

__all__ = ["attach_record"]


def attach_record(record: DrillRecord, evidence_files: list[Path]) -> None:
    allure.attach(
        json.dumps(record.to_json(), indent=2), name="drill record", attachment_type=allure.attachment_type.JSON
    )
    for path in evidence_files:
        if path.is_file():
            kind = allure.attachment_type.JSON if path.suffix == ".json" else allure.attachment_type.TEXT
            allure.attach.file(str(path), name=path.name, attachment_type=kind)  # type: ignore[no-untyped-call]
