"""The plan's review_procedures: the last runs, part by part, as Markdown for the quarterly review.

For each part of the plan: how many of the runs drilled it, its verdict in each run (oldest
first), the worst RTO and data-loss window measured against their budgets, and what needs
attention — parts never drilled, drilled only by unsupported or skipped scenarios, or with a
verdict other than passed. Everything comes from the run history (``history.jsonl``); a run
recorded before the history held plan parts is counted as such, never as a pass.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from chaos.measure.verdict import Verdict, worst

if TYPE_CHECKING:
    from chaos.plan.model import Plan
    from chaos.plan.trace import Coverage

__all__ = ["LETTERS", "review"]

LETTERS = {"passed": "P", "failed": "F", "unknown": "U", "unsupported": "S", None: "-"}


def _verdict_in(entry: dict[str, Any], part: str) -> tuple[str | None, list[tuple[str, dict[str, Any]]]]:
    """The worst verdict of the run's scenarios that proved ``part``, and those scenarios."""
    proving = [(name, figures) for name, figures in entry.get("scenarios", {}).items()
               if part in figures.get("plan", [])]  # fmt: skip
    judged = [figures["verdict"] for _, figures in proving if figures["verdict"] in ("passed", "failed", "unknown")]
    if judged:
        return worst(Verdict(value) for value in judged).value, proving
    return ("unsupported" if proving else None), proving


def _worst_figure(rows: list[tuple[str, str, dict[str, Any]]], part: str) -> tuple[str, str]:
    """(worst RTO against budget, worst data-loss window against budget) over every proving scenario."""
    rto = [(figures["rto_s"], figures.get("rto_budget_s"), name, run) for run, name, figures in rows
           if figures.get("rto_s") is not None]  # fmt: skip
    kind, _, name = part.partition("/")
    windows = []
    for run, scenario, figures in rows:
        for data_class, window in (figures.get("rpo_s") or {}).items():
            if window is not None and (kind != "rpo" or data_class == name.replace("-", "_")):
                budget = (figures.get("rpo_budget_s") or {}).get(data_class)
                windows.append((window, budget, f"{scenario} / {data_class}", run))

    def shown(found: list[tuple[float, float | None, str, str]]) -> str:
        if not found:
            return "—"
        value, budget, scenario, run = max(found, key=lambda item: item[0] / item[1] if item[1] else item[0])
        of = f" of {budget:g}s" if budget else ""
        return f"{value:.2f}s{of} ({scenario}, run {run})"

    return shown(rto), shown(windows)


def review(history: list[dict[str, Any]], plan: Plan, coverage: Coverage, *, runs: int) -> str:
    """Markdown: the last ``runs`` runs of the history, per part of the plan."""
    recent = history[-runs:]
    out = [f"# DR plan review: the last {len(recent)} run(s)", ""]
    if not recent:
        return "\n".join([*out, "No run is recorded in the history: nothing to review.", ""])
    first, last = recent[0], recent[-1]
    out += [f"Plan: `{plan.source}` (SHA-256 `{plan.sha256[:16]}…`). Runs from {_when(first)} (`{first['run_id']}`) "
            f"to {_when(last)} (`{last['run_id']}`), budget profiles: "
            f"{', '.join(sorted({str(e.get('profile')) for e in recent}))}.", ""]  # fmt: skip
    untraced = [e["run_id"] for e in recent if not any("plan" in f for f in e.get("scenarios", {}).values())]
    if untraced:
        out += [f"{len(untraced)} run(s) were recorded before the history named plan parts and show as not "
                f"drilled: {', '.join(untraced)}.", ""]  # fmt: skip
    out += ["Verdicts per run, oldest first: P passed, F failed, U unknown, S unsupported, - not drilled.", "",
            "| part of the plan | drilled | verdicts | worst RTO (budget) | worst data-loss window (budget) |",
            "|---|---|---|---|---|"]  # fmt: skip
    attention: list[str] = []
    for section in plan.sections:
        letters, rows = [], []
        for entry in recent:
            verdict, proving = _verdict_in(entry, section.id)
            letters.append(LETTERS[verdict])
            rows += [(entry["run_id"], name, figures) for name, figures in proving]
        drilled = sum(letter in "PFU" for letter in letters)
        rto, rpo = _worst_figure(rows, section.id)
        title = f"{section.title} (`{section.id}`)"
        out.append(f"| {title} | {drilled} of {len(recent)} | {' '.join(letters)} | {rto} | {rpo} |")
        if section.id in coverage.untested:
            continue
        if drilled == 0:
            why = "only unsupported or skipped" if "S" in letters else "never drilled"
            attention.append(f"- {title}: {why} in these runs")
        elif any(letter in "FU" for letter in letters):
            attention.append(f"- {title}: {letters.count('F')} failed, {letters.count('U')} unknown of {drilled}")
    out += ["", "## Needs attention", "", *(attention or ["Nothing: every part drilled passed in every run."]), ""]
    out += ["## Deliberately untested", "", f"From `{coverage.source}`:", ""]
    out += [f"- `{part}`: {reason}" for part, reason in coverage.untested.items()]
    return "\n".join([*out, ""])


def _when(entry: dict[str, Any]) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(float(entry.get("at", 0)))) + " UTC"
