"""Which drill proves which part of the plan, which parts no drill proves and why, and whether the
production budgets still say what the plan says (the plan's verify_documentation).

A scenario names the parts it proves with tags, ``@plan:scenario/database-failure``; the
objectives it judges follow from its steps ("... within the database RTO" proves
``rto/database``; tracked writes judged against their RPO prove ``rpo/<class>``). The
communication plan's parts are carried out by every drill of a target with notifications on
(chaos.communication). What no drill proves is listed, each with its reason, in the coverage
file (config/plan-coverage.yaml). The Appendix A checklists are ticked from a drill's evidence
by rules (chaos.report.checklist) that name their checklist and items as the plan does; a
checklist or item renamed on one side only is drift too.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from chaos.config import format_duration
from chaos.errors import ConfigError
from chaos.report.checklist import checklist_drift
from chaos.yamlfile import load_file

if TYPE_CHECKING:
    from chaos.config import Budgets
    from chaos.plan.model import Plan, Section

__all__ = [
    "COMMUNICATION_PARTS",
    "DEFAULT_COVERAGE",
    "TAG_PREFIX",
    "Coverage",
    "ScenarioTrace",
    "budget_drift",
    "budgets_caveat",
    "check_tags",
    "derived_parts",
    "load_coverage",
    "objective_budget",
    "read_features",
    "summary_line",
    "verify_plan",
]

ROOT = Path(__file__).resolve().parent.parent.parent
DEFAULT_COVERAGE = ROOT / "config" / "plan-coverage.yaml"
DEFAULT_FEATURES = ROOT / "features"
TAG_PREFIX = "plan:"
# The plan's communication steps, each carried out by chaos.communication in a drill with notifications on.
COMMUNICATION_PARTS = {
    "communication/team-notification": "team",
    "communication/status-updates": "status",
    "communication/user-notification": "users",
    "communication/customer-support": "support",
}
RTO_STEP = re.compile(r"within the (?P<component>[a-z ]+?) RTO\b")
RPO_STEP = re.compile(r"\bRPO\b")
WRITERS_STEP = re.compile(r"writers track (?P<nouns>.+) through the app")
DATA_CLASSES = {"users": "user-data", "calendar events": "calendar-events", "settings": "system-configuration",
                "sessions": "sessions"}  # fmt: skip


@dataclass(frozen=True)
class ScenarioTrace:
    feature: Path
    line: int
    name: str
    tags: tuple[str, ...]  # every tag, without its @
    steps: tuple[str, ...]

    @property
    def plan_tags(self) -> list[str]:
        return [tag.removeprefix(TAG_PREFIX) for tag in self.tags if tag.startswith(TAG_PREFIX)]

    @property
    def where(self) -> str:
        return f"{self.feature}:{self.line}"


def derived_parts(steps: tuple[str, ...] | list[str]) -> set[str]:
    """The objectives a scenario's steps judge: RTO components, and the RPO of the classes it tracks."""
    parts = {f"rto/{match.group('component').replace(' ', '-')}" for step in steps if (match := RTO_STEP.search(step))}
    if any(RPO_STEP.search(step) for step in steps):
        for step in steps:
            match = WRITERS_STEP.search(step)
            if match:
                nouns = re.split(r",\s*|\s+and\s+", match.group("nouns"))
                parts |= {f"rpo/{DATA_CLASSES[noun.strip()]}" for noun in nouns if noun.strip() in DATA_CLASSES}
    return parts


def read_features(directory: Path = DEFAULT_FEATURES) -> list[ScenarioTrace]:
    """Every scenario of the feature files as pytest-bdd reads them: its tags with the feature's, its steps
    with the background's. A file Gherkin cannot read is a ConfigError naming its line."""
    from pytest_bdd.exceptions import GherkinParseError
    from pytest_bdd.parser import FeatureParser

    scenarios = []
    for path in sorted(directory.glob("*.feature")):
        try:
            feature = FeatureParser(str(path.parent), path.name).parse()
        except GherkinParseError as exc:
            raise ConfigError(f"{path}:{exc.line}: {exc.message}") from None
        scenarios += [ScenarioTrace(path, template.line_number, template.name,
                                    tuple(sorted(feature.tags | template.tags)),
                                    tuple(step.name for step in template.steps))
                      for template in feature.scenarios.values()]  # fmt: skip
    return scenarios


@dataclass(frozen=True)
class Coverage:
    source: Path
    untested: dict[str, str] = field(default_factory=dict)  # part id -> why no drill proves it
    lines: dict[str, int] = field(default_factory=dict)


def load_coverage(path: Path, plan: Plan) -> Coverage:
    """The parts of the plan deliberately left untested, each with its reason; ids checked against the plan."""
    data = load_file(path, "plan coverage file")
    if not isinstance(data, dict) or set(data) != {"untested"} or not isinstance(data["untested"], dict):
        raise ConfigError(f"{path}: expected one key, 'untested', mapping a part of the plan to the reason no "
                          "drill proves it")  # fmt: skip
    text = path.read_text().splitlines()
    lines = {}
    for part, reason in data["untested"].items():
        line = next((n for n, row in enumerate(text, start=1) if row.strip().startswith(f"{part}:")), 0)
        lines[part] = line
        if plan.get(str(part)) is None:
            raise ConfigError(f"{path}:{line}: {part!r} is not a part of the plan {plan.source}{_suggest(part, plan)}")
        if not isinstance(reason, str) or len(reason.strip()) < 10:
            raise ConfigError(f"{path}:{line}: {part}: give the reason no drill proves it (a sentence)")
    return Coverage(path, {str(k): str(v) for k, v in data["untested"].items()}, lines)


def _suggest(part: str, plan: Plan) -> str:
    close = difflib.get_close_matches(part, plan.ids(), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def check_tags(scenarios: list[ScenarioTrace], plan: Plan) -> list[str]:
    """A tag naming no part of the plan, as "file:line: ..."."""
    problems = []
    for scenario in scenarios:
        for part in scenario.plan_tags:
            if plan.get(part) is None:
                problems.append(f"{scenario.where}: @plan:{part} names no part of the plan {plan.source}"
                                f"{_suggest(part, plan)}")  # fmt: skip
    return problems


def traced(scenarios: list[ScenarioTrace]) -> dict[str, list[ScenarioTrace]]:
    """Part id -> the scenarios that prove it (by tag, or by the objectives their steps judge)."""
    parts: dict[str, list[ScenarioTrace]] = {}
    for scenario in scenarios:
        for part in {*scenario.plan_tags, *derived_parts(scenario.steps)}:
            parts.setdefault(part, []).append(scenario)
    return parts


def _meets(budget: float, objective: Section) -> bool:
    """The budget is the objective's figure (an objective the plan states no figure for has none to differ)."""
    return objective.seconds is None or abs(budget - objective.seconds) <= 1e-6


def budget_drift(plan: Plan, budgets: Budgets) -> list[str]:
    """Where the budget profile and the plan's objectives disagree, each difference named."""
    problems = []
    where = f"{budgets.source}, profile {budgets.profile}"
    for kind, table in (("rto", budgets.rto), ("rpo", budgets.rpo)):
        objectives = plan.of_kind(kind)
        for objective in objectives:
            label = f"{objective.title} {kind.upper()}: plan {objective.value} ({plan.source}:{objective.line})"
            budget = table.get(objective.key)
            if budget is None:
                problems.append(f"{label}, budgets: none ({where})")
            elif not _meets(budget, objective):
                problems.append(f"{label}, budgets {format_duration(budget)} ({where})")
        known = {objective.key for objective in objectives}
        problems += [f"{name} {kind.upper()}: budgets {format_duration(value)} ({where}), the plan has no such "
                     "objective" for name, value in sorted(table.items()) if name not in known]  # fmt: skip
    return problems


def budgets_caveat(plan: Plan, budgets: Budgets) -> str:
    """What a reader of a run's reports must know of its budgets: empty when the profile's RTO and RPO
    budgets are the plan's objectives; else that the verdicts judge the profile, not the plan."""
    drift = budget_drift(plan, budgets)
    if not drift:
        return ""
    note = f" {budgets.description.strip()}" if budgets.description.strip() else ""
    return (f"judged against the budget profile '{budgets.profile}', NOT the plan's objectives: {len(drift)} of "
            f"its budgets differ from {plan.source.name} (first: {drift[0]}).{note}")  # fmt: skip


def objective_budget(section: Section, budgets: Budgets) -> str:
    """For an RTO or RPO objective of the plan, the profile's own figure when it is not the plan's."""
    table = {"rto": budgets.rto, "rpo": budgets.rpo}.get(section.kind)
    if table is None:
        return ""
    budget = table.get(section.key)
    if budget is not None and _meets(budget, section):
        return ""
    shown = "none" if budget is None else format_duration(budget)
    return f"judged against the {budgets.profile} profile's {shown}, not the plan's {section.value}"


def verify_plan(plan: Plan, budgets: Budgets, coverage: Coverage, scenarios: list[ScenarioTrace]) -> list[str]:
    """Every disagreement between plan, budgets, drills and coverage file; empty: they agree."""
    problems = budget_drift(plan, budgets) + checklist_drift(plan) + check_tags(scenarios, plan)
    proven = traced(scenarios)
    for section in plan.sections:
        drilled = section.id in proven or section.id in COMMUNICATION_PARTS
        reason = coverage.untested.get(section.id)
        if not drilled and reason is None:
            problems.append(f"{plan.source}:{section.line}: {section.kind} '{section.title}' ({section.id}) has no "
                            f"drill and is not listed as untested, with a reason, in {coverage.source}")  # fmt: skip
        elif drilled and reason is not None:
            names = ", ".join(sorted({s.name for s in proven.get(section.id, [])})) or "every drill with notifications"
            problems.append(f"{coverage.source}:{coverage.lines.get(section.id, 0)}: {section.id} is listed as "
                            f"untested, but {names} proves it: take it out of the list")  # fmt: skip
    return problems


def summary_line(plan: Plan, coverage: Coverage, scenarios: list[ScenarioTrace]) -> str:
    proven = traced(scenarios)
    drilled = [s for s in plan.sections if s.id in proven or s.id in COMMUNICATION_PARTS]
    objectives = len(plan.of_kind("rto")) + len(plan.of_kind("rpo"))
    return (f"ok: {plan.source} (sha256 {plan.sha256[:12]}): {len(plan.sections)} parts, {len(drilled)} drilled by "
            f"{len(scenarios)} scenarios, {len(coverage.untested)} untested with reasons ({coverage.source}); the "
            f"production budgets match its {objectives} objectives, the evidence rules its "
            f"{len(plan.of_kind('checklist'))} checklists")  # fmt: skip
