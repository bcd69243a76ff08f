"""The machine-readable run summary and the terminal table."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from chaos.report.redact import Redactor

if TYPE_CHECKING:
    from pathlib import Path

    from chaos.report.record import DrillRecord

__all__ = ["format_table", "write_summary"]


def write_summary(records: list[DrillRecord], path: Path, *, caveat: str = "") -> dict[str, Any]:
    """Write the run summary (secrets masked) to ``path``; returns what was written. ``caveat``: what the
    verdicts judge when it is not the plan's objectives."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"generated_at": time.time(), "budgets_caveat": caveat,
            "scenarios": [record.to_json() for record in records]}  # fmt: skip
    tmp = path.with_suffix(".tmp")
    tmp.write_text(Redactor()(json.dumps(data, indent=2)))
    tmp.replace(path)
    return data


def _seconds(value: Any) -> str:
    return "-" if value is None else f"{value:.2f}s"


def _probe_lines(probes: dict[str, dict[str, dict[str, Any]]]) -> list[str]:
    """What counted as down while the fault lasted, and the worst replica's health p95 per phase."""
    lines = []
    down: dict[str, int] = {}
    for phases in probes.values():
        for kind, count in phases.get("during", {}).get("failures", {}).items():
            down[kind] = down.get(kind, 0) + count
    if down:
        lines.append("         failed probes while the fault lasted: "
                     + ", ".join(f"{count} {kind}" for kind, count in sorted(down.items())))  # fmt: skip
    names = list(next(iter(probes.values()), {}))
    worst = {phase: max((p95 for phases in probes.values()
                         if (p95 := phases.get(phase, {}).get("health_ms", {}).get("p95")) is not None), default=None)
             for phase in names}  # fmt: skip
    if any(value is not None for value in worst.values()):
        lines.append("         health p95, worst replica: " + ", ".join(
            f"{phase} {'-' if value is None else f'{value:.1f} ms'}" for phase, value in worst.items()))  # fmt: skip
    return lines


def users_view(load: dict[str, Any]) -> str:
    """The simulated users' experience in one line, beside the prober's RTO; empty when no crowd ran."""
    if not load:
        return ""
    outage = load.get("user_outage")
    if outage:
        seen = (f"their outage {outage['seconds']:.2f}s from +{outage['from_fault_s']:.2f}s after the fault "
                f"({outage['failed_requests']} failed requests)")  # fmt: skip
    elif "user_outage" in load:
        seen = "no failed request after the fault"
    else:
        seen = "no fault"
    kinds = ", ".join(f"{count} {kind}" for kind, count in (load.get("failures") or {}).items())
    if kinds:
        seen += f" [{kinds}]"
    rto = load.get("prober_rto_s")
    prober = f"; the prober's RTO {rto:.2f}s" if rto is not None else ""
    return f"{load['users']} users, {load['requests']} requests, {load['failed']} failed; {seen}{prober}"


def format_table(scenarios: list[dict[str, Any]]) -> list[str]:
    """One block per scenario: verdict, RTO against budget, and data loss per data class."""
    lines = []
    for scenario in scenarios:
        rto = scenario["rto"]
        lines.append(f"{scenario['verdict'].upper():8} {scenario['name']}  [{scenario['budget_profile']} budgets]")
        if scenario["verdict"] == "unsupported":
            lines += [f"         {note}" for note in scenario.get("notes", [])]
            continue
        if rto["budget_s"] is not None:
            lines.append(
                f"         RTO {_seconds(rto['measured_s'])} ± {_seconds(rto.get('resolution_s'))} "
                f"(budget {_seconds(rto['budget_s'])}) {rto['verdict']}"
            )
        items = scenario.get("checklists", [])
        if items:
            ticked = sum(1 for item in items if item["ticked"])
            lines.append(f"         Appendix A checklists: {ticked} of {len(items)} items ticked by evidence")
        for judgement in scenario.get("judgements", []):
            lines.append(f"         {judgement['name']}: {judgement['reason']} {judgement['verdict']}")
        lines += _probe_lines(scenario.get("probes") or {})
        if view := users_view(scenario.get("load") or {}):
            lines.append(f"         users' view: {view}")
        phases = rto.get("phases") or {}
        if phases:
            seen = ", ".join(f"{name} +{value:.2f}s" for name, value in phases.items() if value is not None)
            lines.append(f"         phases after the fault: {seen}")
        for data_class, rpo in scenario["rpo"].items():
            others = ", ".join(
                f"{rpo[name]} {name}" for name in ("recovered", "unexpected", "duplicated", "corrupted") if rpo[name]
            )
            lines.append(
                f"         {data_class}: {rpo['lost']} of {rpo['acked']} acknowledged writes lost"
                f"{f' ({others})' if others else ''}, window {_seconds(rpo['window_s'])} "
                f"(budget {_seconds(rpo['budget_s'])}) {rpo['verdict']}"
            )
    return lines
