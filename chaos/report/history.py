"""Every run's figures appended to one history, and regressions flagged against the runs before.

A run's line holds, per scenario, its verdict, its RTO and its data-loss
window per data class. A figure regresses when it is more than ``threshold``
above the median of the same scenario's figure over the last ``window`` runs
judged against the same budget profile, and above it by more than a noise
floor (a 2-core machine moves an RTO by tenths of a second on its own). At
least ``minimum`` earlier runs are needed before anything is flagged.

A verdict is flagged too: a scenario that passed the run before and does not
now, and one whose verdict changed twice or more over its last ``window`` runs
and this one (passed, unknown, passed: a drill whose outcome turns on timing
proves little either way). Unsupported runs are left out.
"""

from __future__ import annotations

import itertools
import json
import statistics
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chaos.plan.coverage import scenario_parts

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["Regression", "VerdictChange", "append_run", "load_history", "regressions", "run_entry", "verdict_changes"]

NOISE_FLOOR_S = 0.25


@dataclass(frozen=True)
class Regression:
    scenario: str
    figure: str  # "RTO" or "RPO <data class>"
    value_s: float
    median_s: float
    runs: int

    def line(self) -> str:
        return (f"{self.scenario}: {self.figure} {self.value_s:.2f}s is {self.value_s / self.median_s - 1:.0%} "
                f"above the median {self.median_s:.2f}s of the last {self.runs} runs")  # fmt: skip

    def to_json(self) -> dict[str, Any]:
        return {"scenario": self.scenario, "figure": self.figure, "value_s": round(self.value_s, 3),
                "median_s": round(self.median_s, 3), "runs": self.runs, "message": self.line()}  # fmt: skip


@dataclass(frozen=True)
class VerdictChange:
    scenario: str
    verdicts: tuple[str, ...]  # oldest first, this run's last

    def line(self) -> str:
        seen = f"last {len(self.verdicts)} runs: {', '.join(self.verdicts)}"
        if self.verdicts[-2] == "passed" and self.verdicts[-1] != "passed":
            return f"{self.scenario}: {self.verdicts[-1]} after passing the run before ({seen})"
        return f"{self.scenario}: the verdict flaps, {seen}"

    def to_json(self) -> dict[str, Any]:
        return {"scenario": self.scenario, "figure": "verdict", "verdicts": list(self.verdicts),
                "message": self.line()}  # fmt: skip


def run_entry(run_id: str, at: float, profile: str, scenarios: list[dict[str, Any]]) -> dict[str, Any]:
    """One history line from the run summary's scenarios."""
    figures = {}
    for scenario in scenarios:
        figures[scenario["name"]] = {
            "verdict": scenario["verdict"],
            "rto_s": scenario["rto"].get("measured_s"),
            "rpo_s": {name: loss.get("window_s") for name, loss in scenario["rpo"].items()},
            # for the plan's review (drill review): what it proved, and against which budgets
            "plan": sorted(scenario_parts(scenario)),
            "rto_budget_s": scenario["rto"].get("budget_s"),
            "rpo_budget_s": {name: loss.get("budget_s") for name, loss in scenario["rpo"].items()},
        }
    return {"run_id": run_id, "at": at, "profile": profile, "scenarios": figures}


def load_history(path: Path) -> list[dict[str, Any]]:
    """Every run recorded so far, oldest first; a damaged line is skipped, not fatal."""
    if not path.is_file():
        return []
    runs = []
    for line in path.read_text().splitlines():
        try:
            runs.append(json.loads(line))
        except ValueError:
            continue
    return runs


def append_run(path: Path, entry: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as out:
        out.write(json.dumps(entry, sort_keys=True) + "\n")


def _figures(entry: dict[str, Any], scenario: str) -> dict[str, float]:
    data = entry.get("scenarios", {}).get(scenario)
    if not data:
        return {}
    found = {"RTO": data.get("rto_s")} | {f"RPO {name}": value for name, value in (data.get("rpo_s") or {}).items()}
    return {name: float(value) for name, value in found.items() if value is not None}


def regressions(
    earlier: list[dict[str, Any]], current: dict[str, Any], *, window: int = 4, threshold: float = 0.2,
    minimum: int = 2,
) -> list[Regression]:  # fmt: skip
    """The current run's figures that regressed against the last ``window`` comparable runs."""
    comparable = [entry for entry in earlier if entry.get("profile") == current.get("profile")]
    found = []
    for scenario in current.get("scenarios", {}):
        for figure, value in _figures(current, scenario).items():
            past = [f[figure] for entry in comparable if figure in (f := _figures(entry, scenario))][-window:]
            if len(past) < minimum:
                continue
            median = statistics.median(past)
            if value > median * (1 + threshold) and value - median > NOISE_FLOOR_S:
                found.append(Regression(scenario, figure, value, median, len(past)))
    return found


def verdict_changes(earlier: list[dict[str, Any]], current: dict[str, Any], *, window: int = 4) -> list[VerdictChange]:
    """The current run's scenarios that stopped passing, or whose verdict keeps changing, against the last
    ``window`` comparable runs in which they ran."""
    comparable = [entry for entry in earlier if entry.get("profile") == current.get("profile")]
    found = []
    for scenario, data in current.get("scenarios", {}).items():
        verdict = data.get("verdict")
        if verdict in (None, "unsupported"):
            continue
        past = [v for entry in comparable if (v := entry.get("scenarios", {}).get(scenario, {}).get("verdict"))
                not in (None, "unsupported")][-window:]  # fmt: skip
        if not past:
            continue
        verdicts = (*past, verdict)
        changes = sum(1 for before, after in itertools.pairwise(verdicts) if before != after)
        if (past[-1] == "passed" and verdict != "passed") or changes >= 2:
            found.append(VerdictChange(scenario, verdicts))
    return found
