"""The coverage matrix of a run: each part of the plan, the scenarios that proved it, their verdicts
and figures, and the evidence; the parts no scenario of the run proved, each with the reason."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chaos.measure.verdict import Verdict, worst
from chaos.plan.model import slug
from chaos.plan.trace import COMMUNICATION_PARTS, TAG_PREFIX, objective_budget

if TYPE_CHECKING:
    from chaos.config import Budgets
    from chaos.plan.model import Plan
    from chaos.plan.trace import Coverage

__all__ = ["coverage_matrix", "scenario_parts"]

MEASURED_STEP = {"team": "team_notified", "status": "status_updated"}


def scenario_parts(scenario: dict[str, Any]) -> set[str]:
    """The parts of the plan one scenario of a run proved: its tags, the objectives it judged, and the
    communication steps it carried out."""
    parts = {tag.removeprefix(TAG_PREFIX) for tag in scenario.get("tags", []) if tag.startswith(TAG_PREFIX)}
    rto = scenario.get("rto") or {}
    if rto.get("budget_s") is not None and rto.get("component"):
        parts.add(f"rto/{rto['component'].replace('_', '-')}")
    parts |= {f"rpo/{name.replace('_', '-')}" for name in scenario.get("rpo", {})}
    parts |= {f"checklist/{slug(item['checklist'])}" for item in scenario.get("checklists", [])}
    channels = (scenario.get("communication") or {}).get("channels", {})
    parts |= {part for part, channel in COMMUNICATION_PARTS.items() if channels.get(channel)}
    return parts


def _figure(part: str, scenario: dict[str, Any]) -> str:
    rto, rpo = scenario.get("rto") or {}, scenario.get("rpo") or {}
    kind, _, name = part.partition("/")
    if kind == "rpo" and name.replace("-", "_") in rpo:
        loss = rpo[name.replace("-", "_")]
        lost = f"{loss['lost']} of {loss['acked']} lost"
        return f"data-loss window {loss['window_s']:.2f}s of {loss['budget_s']:g}s ({lost})"
    if kind == "checklist":
        items = [item for item in scenario.get("checklists", []) if slug(item["checklist"]) == name]
        if items:
            return f"{sum(item['ticked'] for item in items)} of {len(items)} items ticked by evidence"
    if kind == "communication":
        channel = COMMUNICATION_PARTS[part]
        communication = scenario.get("communication") or {}
        step = MEASURED_STEP.get(channel)
        measured = (communication.get("measured_s") or {}).get(step) if step else None
        sent = communication.get("channels", {}).get(channel, {})
        shown = f"{sent.get('ok', 0)} of {sent.get('sent', 0)} messages delivered"
        if measured is not None:
            shown += f", {measured:.2f}s after detection (budget {communication['budget_s'][step]:g}s)"
        return shown
    if rto.get("measured_s") is not None:
        return f"RTO {rto['component']} {rto['measured_s']:.2f}s of {rto['budget_s']:g}s"
    if rto.get("budget_s") is not None:
        return f"RTO {rto['component']}: not back within {rto['budget_s']:g}s"
    judgements = scenario.get("judgements") or []
    return judgements[0]["reason"][:120] if judgements else ""


def _verdict(part: str, scenario: dict[str, Any]) -> str:
    """The scenario's verdict; for a communication step, the verdict of that step alone."""
    if scenario["verdict"] == "unsupported" or not part.startswith("communication/"):
        return str(scenario["verdict"])
    channel = COMMUNICATION_PARTS[part]
    step = MEASURED_STEP.get(channel, "")
    judged = [j["verdict"] for j in scenario.get("judgements", []) if j["name"].startswith(f"communication: {step}")]
    if step and judged:
        return str(judged[0])
    sent = (scenario.get("communication") or {}).get("channels", {}).get(channel, {})
    return "passed" if sent.get("ok") == sent.get("sent") else "failed"


def coverage_matrix(plan: Plan, coverage: Coverage, scenarios: list[dict[str, Any]], *, target: str,
                    notifications: bool, budgets: Budgets | None = None) -> list[dict[str, Any]]:  # fmt: skip
    """One row per part of the plan, in the plan's order. An objective drilled against ``budgets`` whose
    figure is not the plan's says so (``judged_against``): its verdict is the profile's, not the plan's."""
    rows = []
    proved = [(scenario, scenario_parts(scenario)) for scenario in scenarios]
    for section in plan.sections:
        proving = [s for s, parts in proved if section.id in parts]
        run = [s for s in proving if s["verdict"] != "unsupported"]
        row: dict[str, Any] = {
            "part": section.id, "kind": section.kind, "title": section.title, "line": section.line,
            "scenarios": [{"name": s["name"], "verdict": _verdict(section.id, s), "figure": _figure(section.id, s),
                           "evidence_dir": s.get("evidence_dir", "")} for s in proving],
        }  # fmt: skip
        if run:
            row["status"] = "drilled"
            row["verdict"] = worst(Verdict(_verdict(section.id, s)) for s in run).value
            if budgets is not None and (judged := objective_budget(section, budgets)):
                row["judged_against"] = judged
        elif section.id in coverage.untested:
            row["status"], row["reason"] = "untested", coverage.untested[section.id]
        elif proving:
            row["status"], row["reason"] = "not drilled", f"its drills are unsupported on {target}"
        elif section.id in COMMUNICATION_PARTS and not notifications:
            row["status"], row["reason"] = "not drilled", f"notifications are off for target {target}"
        else:
            row["status"], row["reason"] = "not drilled", "no scenario of this run proves it (not selected)"
        rows.append(row)
    return rows
