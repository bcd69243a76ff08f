"""The DR plan as written (docs/dr-plan.md), read into the parts drills prove.

Parts, each with an id a drill names in a tag (``@plan:<id>``):

- ``rto/<component>``, ``rpo/<data class>``: the rows of the Recovery Objectives lists;
- ``scenario/<name>``: each ``###`` of Disaster Scenarios, with its numbered recovery steps;
- ``backup/<name>``, ``recovery/<name>``, ``testing/<name>``, ``communication/<name>``,
  ``maintenance/<name>``: each numbered procedure under the ``###`` groups of Backup, Recovery,
  Testing and Maintenance Procedures and of the Communication Plan;
- ``checklist/<name>``: each numbered checklist of Appendix A, with its items.

Parsing goes by the plan's headings and lists, outside code blocks. A plan a person edited —
a heading renamed, a section dropped, an objective no longer a duration — gives a
:class:`PlanError` naming the file and line, never a crash or a silently missing part.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from chaos.errors import ConfigError

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["KINDS", "REQUIRED", "Plan", "PlanError", "Section", "load_plan", "slug"]

# Each ## section the model reads, and the kind of part each of its procedures is.
REQUIRED = {
    "Recovery Objectives": "",
    "Disaster Scenarios": "scenario",
    "Backup Procedures": "backup",
    "Recovery Procedures": "recovery",
    "Testing Procedures": "testing",
    "Communication Plan": "communication",
    "Maintenance Procedures": "maintenance",
    "Appendix": "checklist",
}
OBJECTIVES = {"Recovery Time Objectives (RTO)": "rto", "Recovery Point Objectives (RPO)": "rpo"}
CHECKLISTS = "A. Recovery Checklists"
KINDS = ("rto", "rpo", "scenario", "backup", "recovery", "testing", "communication", "maintenance", "checklist")
UNITS = {"minute": 60.0, "minutes": 60.0, "hour": 3600.0, "hours": 3600.0, "day": 86400.0, "days": 86400.0}

HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*$")
NUMBERED = re.compile(r"^(\d+)\.\s+(.+?)\s*$")
BULLET = re.compile(r"^-\s+(.+?)\s*$")
OBJECTIVE = re.compile(r"^(?P<name>[A-Za-z][A-Za-z ]*?):\s*(?P<number>\d+(?:\.\d+)?)\s+(?P<unit>[a-z]+)$")


class PlanError(ConfigError):
    """The plan does not read as the model expects; the message names the file and line."""


@dataclass(frozen=True)
class Section:
    id: str  # "scenario/database-failure"
    kind: str
    title: str  # as written: "Database Failure"
    line: int
    value: str = ""  # an objective as written: "2 hours"
    seconds: float | None = None  # an objective in seconds
    steps: tuple[str, ...] = ()  # a scenario's recovery steps, a checklist's items

    @property
    def key(self) -> str:
        """An objective's name in the budgets file: "Backup Systems" -> "backup_systems"."""
        return self.title.lower().replace(" ", "_")


@dataclass(frozen=True)
class Plan:
    source: Path
    sha256: str
    sections: tuple[Section, ...] = field(default=())

    def get(self, section_id: str) -> Section | None:
        return next((section for section in self.sections if section.id == section_id), None)

    def of_kind(self, kind: str) -> list[Section]:
        return [section for section in self.sections if section.kind == kind]

    def ids(self) -> list[str]:
        return [section.id for section in self.sections]


def slug(text: str) -> str:
    """ "3. Application Failure" -> "application-failure"."""
    text = re.sub(r"^[0-9A-Z]\.\s+", "", text.strip())
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


@dataclass
class _Block:
    level: int
    title: str
    line: int
    lines: list[tuple[int, str]] = field(default_factory=list)  # the text under it, outside code blocks
    children: list[_Block] = field(default_factory=list)


def _outline(text: str, source: Path) -> _Block:
    root = _Block(0, "", 0)
    stack = [root]
    fenced_at = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if line.lstrip().startswith("```"):
            fenced_at = 0 if fenced_at else number
            continue
        if fenced_at:
            continue
        match = HEADING.match(line)
        if match and len(match.group(1)) <= 3:
            block = _Block(len(match.group(1)), match.group(2), number)
            while stack[-1].level >= block.level:
                stack.pop()
            stack[-1].children.append(block)
            stack.append(block)
        else:
            stack[-1].lines.append((number, line))
    if fenced_at:
        raise PlanError(f"{source}:{fenced_at}: a code block opened here is never closed")
    return root


def _find(parent: _Block, title: str, source: Path, what: str, expected: tuple[str, ...] = ()) -> _Block:
    for child in parent.children:
        if child.title == title:
            return child
    # A renamed heading is one the model does not know, near the expected title (never another expected one).
    unknown = [child.title for child in parent.children if child.title not in expected]
    close = [t for t in unknown if t.lower() in title.lower() or title.lower() in t.lower()]
    close += difflib.get_close_matches(title, unknown, n=1, cutoff=0.5)
    level = "#" * (parent.level + 1)
    if close:
        found = next(child for child in parent.children if child.title == close[0])
        raise PlanError(f"{source}:{found.line}: '{level} {close[0]}' where '{level} {title}' was expected "
                        f"({what}): renamed? The model reads the plan by its headings")  # fmt: skip
    where = f"under '{'#' * parent.level} {parent.title}' (line {parent.line})" if parent.level else "at the top level"
    others = "; ".join(f"line {c.line}: '{level} {c.title}'" for c in parent.children if c.title in unknown)
    others = f"; headings there the model does not know: {others}" if others else ""
    raise PlanError(f"{source}: no '{level} {title}' section {where} ({what}){others}")


def _objectives(block: _Block, kind: str, source: Path) -> list[Section]:
    sections = []
    for number, line in block.lines:
        bullet = BULLET.match(line)
        if not bullet:
            continue
        match = OBJECTIVE.match(bullet.group(1))
        if not match or match.group("unit") not in UNITS:
            raise PlanError(f"{source}:{number}: '{line.strip()}': an objective reads '- Name: <number> "
                            f"<minutes|hours|days>'")  # fmt: skip
        name = match.group("name").strip()
        seconds = float(match.group("number")) * UNITS[match.group("unit")]
        value = f"{match.group('number')} {match.group('unit')}"
        sections.append(Section(f"{kind}/{slug(name)}", kind, name, number, value, seconds))
    if not sections:
        raise PlanError(f"{source}:{block.line}: '### {block.title}' lists no objective ('- Name: 2 hours')")
    return sections


def _numbered(block: _Block) -> list[tuple[int, str, list[str]]]:
    """The numbered items directly under a heading, each with the bullets that follow it."""
    items: list[tuple[int, str, list[str]]] = []
    for number, line in block.lines:
        match = NUMBERED.match(line)
        if match:
            items.append((number, match.group(2), []))
            continue
        bullet = BULLET.match(line)
        if bullet and items:
            items[-1][2].append(re.sub(r"^\[[ xX]\]\s*", "", bullet.group(1)))
    return items


def _scenario(block: _Block, source: Path) -> Section:
    title = re.sub(r"^\d+\.\s+", "", block.title)
    steps = tuple(name for _, name, _ in _numbered(block))
    if not steps:
        raise PlanError(f"{source}:{block.line}: scenario '{title}' lists no recovery step ('1. Assess the situation')")
    return Section(f"scenario/{slug(title)}", "scenario", title, block.line, steps=steps)


def _procedures(block: _Block, kind: str, source: Path) -> list[Section]:
    items = _numbered(block)
    if not items:
        raise PlanError(f"{source}:{block.line}: '### {block.title}' lists no procedure ('1. MongoDB Backup')")
    return [
        Section(f"{kind}/{slug(name)}", kind, name, number, steps=tuple(bullets)) for number, name, bullets in items
    ]


def load_plan(path: Path) -> Plan:
    """Read the plan; a PlanError names the line of anything the model cannot place."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PlanError(f"{path}: cannot read the plan: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PlanError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    outline = _outline(text, path)
    tops = [child for child in outline.children if child.level == 1]
    top = tops[0] if tops else outline
    sections: list[Section] = []
    for title, kind in REQUIRED.items():
        block = _find(top, title, path, "a part of the plan drills trace", tuple(REQUIRED))
        if title == "Recovery Objectives":
            for heading, objective in OBJECTIVES.items():
                found = _find(block, heading, path, "objectives", tuple(OBJECTIVES))
                sections += _objectives(found, objective, path)
        elif kind == "scenario":
            if not block.children:
                raise PlanError(f"{path}:{block.line}: '## {title}' holds no '### <n>. <scenario>'")
            sections += [_scenario(child, path) for child in block.children]
        elif kind == "checklist":
            checklists = _find(block, CHECKLISTS, path, "the recovery checklists")
            sections += _procedures(checklists, kind, path)
        else:
            if not block.children:
                raise PlanError(f"{path}:{block.line}: '## {title}' holds no '### <n>. <group>' of procedures")
            for child in block.children:
                sections += _procedures(child, kind, path)
    seen: dict[str, Section] = {}
    for section in sections:
        if section.id in seen:
            raise PlanError(f"{path}:{section.line}: '{section.title}' has the same id {section.id!r} as line "
                            f"{seen[section.id].line}: give one of them another name")  # fmt: skip
        seen[section.id] = section
    return Plan(path, hashlib.sha256(data).hexdigest(), tuple(sections))
