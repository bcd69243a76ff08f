"""The compliance report of a run, and its evidence manifest that anyone can re-check offline.

``compliance.json`` and ``compliance.html`` (one self-contained file: styles and
pictures inline) state the drill id, time, environment and plan version, each
scenario's figures against its budgets and its verdict, the Appendix A
checklists, the trends, and every evidence file of the run with its SHA-256.
``evidence-manifest.json``, written last, lists every file of the run directory
with its SHA-256 — the compliance report's two files included, since they are
what an auditor reads. The manifest's own SHA-256 (over its canonical JSON) is
printed at the end of a run, so a copy of it kept elsewhere — a CI log — pins
the whole evidence set, the verdicts with it. ``verify_evidence`` re-hashes
every file the manifest lists and reports what is missing, changed or not listed.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from chaos.recovery.files import sha256_file
from chaos.report.redact import Redactor
from chaos.report.summary import users_view

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["COMPLIANCE_FILES", "MANIFEST", "EvidenceCheck", "manifest_sha256", "verify_evidence", "write_compliance"]

COMPLIANCE_FILES = ("compliance.json", "compliance.html")
MANIFEST = "evidence-manifest.json"


def _evidence_paths(run_dir: Path, *, leave_out: tuple[str, ...]) -> list[str]:
    """Every file of the run directory but those named in ``leave_out``, relative and sorted."""
    paths = (path for path in sorted(run_dir.rglob("*")) if path.is_file() and not path.is_symlink())
    return [relative for path in paths if (relative := path.relative_to(run_dir).as_posix()) not in leave_out]


def _evidence(run_dir: Path, *, leave_out: tuple[str, ...]) -> list[dict[str, Any]]:
    return [{"path": relative, "sha256": sha256_file(run_dir / relative), "size": (run_dir / relative).stat().st_size}
            for relative in _evidence_paths(run_dir, leave_out=leave_out)]  # fmt: skip


def manifest_sha256(files: list[dict[str, Any]]) -> str:
    canonical = json.dumps(files, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _scenario(scenario: dict[str, Any]) -> dict[str, Any]:
    items = scenario.get("checklists", [])
    return {
        "name": scenario["name"], "feature": scenario["feature"], "tags": scenario["tags"],
        "verdict": scenario["verdict"], "evidence_dir": scenario.get("evidence_dir", ""),
        "rto": {key: scenario["rto"].get(key) for key in ("component", "measured_s", "resolution_s", "budget_s",
                                                           "verdict", "reason")},
        "rpo": {name: {key: loss.get(key) for key in ("window_s", "budget_s", "lost", "acked", "verdict")}
                for name, loss in scenario["rpo"].items()},
        "judgements": scenario.get("judgements", []),
        "load": scenario.get("load") or {},
        "communication": scenario.get("communication") or {},
        "checklist": {"ticked": sum(1 for item in items if item["ticked"]), "items": len(items), "detail": items},
    }  # fmt: skip


def write_compliance(
    run_dir: Path, *, run_id: str, started_at: float, environment: dict[str, str], summary: dict[str, Any],
    trends: dict[str, Any], pictures: dict[str, Path], coverage: dict[str, Any] | None = None, caveat: str = "",
) -> str:  # fmt: skip
    """Write compliance.json and compliance.html into ``run_dir``, then the evidence manifest over every file of
    it, the report's included; returns the manifest's SHA-256, the figure to keep elsewhere. ``caveat``: what
    the verdicts judge when it is not the plan's objectives (a sandbox profile), shown first in both."""
    redact = Redactor()
    files = _evidence(run_dir, leave_out=(*COMPLIANCE_FILES, MANIFEST))
    scenarios = [_scenario(scenario) for scenario in summary["scenarios"]]
    counts = {verdict: sum(1 for s in scenarios if s["verdict"] == verdict)
              for verdict in ("passed", "failed", "unknown", "unsupported")}  # fmt: skip
    document = {
        "drill_id": run_id,
        "started_at": started_at,
        "generated_at": time.time(),
        "environment": environment,
        "plan": {"path": environment.get("dr plan", ""), "sha256": environment.get("dr plan sha256", "")},
        "budgets": {"profile": environment.get("budgets profile", ""), "plan_objectives": not caveat, "caveat": caveat},
        "verdicts": counts,
        "scenarios": scenarios,
        "coverage": coverage or {"parts": []},
        "trends": trends,
        "evidence": {"files": files, "manifest": MANIFEST},
    }
    (run_dir / "compliance.json").write_text(redact(json.dumps(document, indent=2)))
    (run_dir / "compliance.html").write_text(redact(_html(document, pictures)))
    pinned = _evidence(run_dir, leave_out=(MANIFEST,))
    (run_dir / MANIFEST).write_text(json.dumps({"drill_id": run_id, "files": pinned}, indent=2))
    return manifest_sha256(pinned)


STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1200px}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em}table{border-collapse:collapse;margin:.5em 0}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;font-size:13px;vertical-align:top}
.passed{color:#1e7b3a;font-weight:bold}.failed{color:#b3261e;font-weight:bold}.unknown{color:#8a6d00;font-weight:bold}
.unsupported{color:#555;font-weight:bold}
code{font-size:12px}img{max-width:100%;border:1px solid #eee}.small{font-size:12px;color:#555}
"""


def _cell(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _verdict(value: str) -> str:
    return f'<span class="{_cell(value)}">{_cell(value)}</span>'


def _image(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img alt="{_cell(path.name)}" src="data:image/png;base64,{data}">'


def _coverage_html(coverage: dict[str, Any]) -> list[str]:
    """The plan's parts against this run's scenarios: what was proven, by what, and what was not, and why."""
    out = ["<h2>Plan coverage</h2>"]
    if coverage.get("error"):
        return [*out, f"<p class='failed'>The plan could not be read: {_cell(coverage['error'])}</p>"]
    parts = coverage.get("parts", [])
    counts = {status: sum(1 for row in parts if row["status"] == status)
              for status in ("drilled", "untested", "not drilled")}  # fmt: skip
    out.append(f"<p>{_cell(coverage.get('plan', ''))} (SHA-256 <code>{_cell(coverage.get('plan_sha256', ''))}</code>): "
               f"{len(parts)} parts; {counts['drilled']} drilled in this run, {counts['untested']} deliberately "
               f"untested ({_cell(coverage.get('coverage_file', ''))}), {counts['not drilled']} not drilled in "
               "this run.</p>")  # fmt: skip
    out.append("<table><tr><th>part of the plan</th><th>status</th><th>scenarios: verdict, figure</th>"
               "<th>evidence</th></tr>")  # fmt: skip
    for row in parts:
        status = _verdict(row["verdict"]) if row["status"] == "drilled" else _cell(row["status"])
        if row.get("judged_against"):
            status += f"<br><span class='small'><b>{_cell(row['judged_against'])}</b></span>"
        if row.get("reason"):
            status += f"<br><span class='small'>{_cell(row['reason'])}</span>"
        proving = "<br>".join(f"{_cell(s['name'])}: {_verdict(s['verdict'])} {_cell(s['figure'])}"
                              for s in row["scenarios"]) or "—"  # fmt: skip
        evidence = "<br>".join(f"<code>{_cell(s['evidence_dir'])}/</code>" for s in row["scenarios"]
                               if s["verdict"] != "unsupported") or "—"  # fmt: skip
        out.append(f"<tr><td><b>{_cell(row['title'])}</b><br><span class='small'>{_cell(row['part'])}, plan line "
                   f"{row['line']}</span></td><td>{status}</td><td>{proving}</td><td>{evidence}</td></tr>")  # fmt: skip
    out.append("</table>")
    return out


def _html(document: dict[str, Any], pictures: dict[str, Path]) -> str:
    out = [f"<!doctype html><html><head><meta charset='utf-8'><title>Compliance report {_cell(document['drill_id'])}"
           f"</title><style>{STYLE}</style></head><body>",
           f"<h1>Disaster-recovery drill {_cell(document['drill_id'])}</h1>",
           f"<p>Started {_cell(time.strftime('%Y-%m-%d %H:%M:%S %Z', time.localtime(document['started_at'])))}. "
           + ", ".join(f"{count} {_verdict(name)}" for name, count in document["verdicts"].items())
           + ".</p>"]  # fmt: skip
    if document["budgets"]["caveat"]:
        out.append(f"<p class='unknown'>Every verdict below is {_cell(document['budgets']['caveat'])}</p>")
    out.append("<h2>Environment</h2><table>")
    out += [f"<tr><th>{_cell(key)}</th><td><code>{_cell(value)}</code></td></tr>"
            for key, value in document["environment"].items()]  # fmt: skip
    out.append("</table><h2>Scenarios</h2><table><tr><th>scenario</th><th>verdict</th><th>measured</th>"
               "<th>budget</th><th>checklist</th></tr>")  # fmt: skip
    for scenario in document["scenarios"]:
        rows = []
        rto = scenario["rto"]
        if rto.get("budget_s") is not None:
            measured = ("not recovered" if rto["measured_s"] is None
                        else f"{rto['measured_s']:.2f}s ± {rto.get('resolution_s') or 0:.2f}s")  # fmt: skip
            rows.append((f"RTO {rto.get('component') or ''}", measured, f"{rto['budget_s']:g}s", rto["verdict"]))
        for name, loss in scenario["rpo"].items():
            rows.append((f"RPO {name}", f"window {loss['window_s']:.2f}s, {loss['lost']} of {loss['acked']} lost",
                         f"{loss['budget_s']:g}s", loss["verdict"]))  # fmt: skip
        for judgement in scenario["judgements"]:
            rows.append((judgement["name"], judgement["reason"], "", judgement["verdict"]))
        if view := users_view(scenario.get("load") or {}):
            rows.append(("users' view (locust)", view, "", ""))
        checklist = scenario["checklist"]
        figures = "<br>".join(f"{_cell(name)}: {_cell(measured)} {_verdict(verdict)}" for name, measured, _, verdict
                              in rows) or "nothing measured"  # fmt: skip
        budgets = "<br>".join(_cell(budget) for _, _, budget, _ in rows)
        out.append(f"<tr><td><b>{_cell(scenario['name'])}</b><br><span class='small'>{_cell(scenario['feature'])}"
                   f"</span></td><td>{_verdict(scenario['verdict'])}</td><td>{figures}</td><td>{budgets}</td>"
                   f"<td>{checklist['ticked']} of {checklist['items']} items ticked</td></tr>")  # fmt: skip
    out.append("</table>")
    out += _coverage_html(document["coverage"])
    regressions = document["trends"].get("regressions", [])
    out.append(f"<h2>Trends</h2><p>{document['trends'].get('runs', 0)} runs in the history. "
               + ("No regression." if not regressions else "<b>Regressions:</b>") + "</p>")  # fmt: skip
    out += [f"<p class='failed'>{_cell(item['message'])}</p>" for item in regressions]
    for name in ("rto-trend.png", "rpo-trend.png"):
        if name in pictures:
            out.append(_image(pictures[name]))
    out.append("<h2>Timelines</h2>")
    for scenario in document["scenarios"]:
        drawn = [pictures[key] for name in ("timeline.png", "load.png")
                 if (key := f"{scenario['evidence_dir']}/{name}") in pictures]  # fmt: skip
        if drawn:
            out.append(f"<h3>{_cell(scenario['name'])}</h3>" + "".join(_image(picture) for picture in drawn))
    evidence = document["evidence"]
    out.append(
        f"<h2>Evidence</h2><p>{len(evidence['files'])} files, listed below; <code>{evidence['manifest']}</code> "
        "lists them with this report's two files, and its SHA-256, printed at the end of the run, pins them all. "
        "Re-check offline with <code>drill evidence verify DIR --manifest-sha256 SHA</code>.</p>"
        "<table><tr><th>file</th><th>bytes</th><th>SHA-256</th></tr>"
    )
    out += [f"<tr><td><code>{_cell(item['path'])}</code></td><td>{item['size']}</td><td><code>{item['sha256']}"
            f"</code></td></tr>" for item in evidence["files"]]  # fmt: skip
    out.append("</table></body></html>")
    return "\n".join(out)


@dataclass
class EvidenceCheck:
    checked: int = 0
    manifest_sha256: str = ""
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_evidence(run_dir: Path, expected_sha256: str | None = None) -> EvidenceCheck:
    """Re-hash every file the evidence manifest lists; report missing, changed and unlisted files, a report not
    pinned by it, and a manifest whose SHA-256 is not ``expected_sha256`` (the one the run printed)."""
    check = EvidenceCheck()
    path = run_dir / MANIFEST
    try:
        files = json.loads(path.read_text())["files"]
        listed = {item["path"]: item["sha256"] for item in files}
    except FileNotFoundError:
        check.problems.append(f"{path}: missing; not a drill run directory, or a run's evidence never pinned")
        return check
    except (ValueError, KeyError, TypeError) as exc:
        check.problems.append(f"{path}: unreadable: {type(exc).__name__}: {exc}")
        return check
    check.manifest_sha256 = manifest_sha256(files)
    if expected_sha256 is not None and check.manifest_sha256 != expected_sha256.lower():
        check.problems.append(f"{path}: its SHA-256 is {check.manifest_sha256}, not the {expected_sha256} given: "
                              "the evidence list was changed after the run")  # fmt: skip
    check.problems += [f"{run_dir / name}: not in the evidence manifest: the report is not pinned"
                       for name in COMPLIANCE_FILES if name not in listed]  # fmt: skip
    for relative, recorded in listed.items():
        file = run_dir / relative
        if not file.is_file():
            check.problems.append(f"{file}: missing")
            continue
        check.checked += 1
        digest = sha256_file(file)
        if digest != recorded:
            check.problems.append(f"{file}: SHA-256 {digest} differs from the recorded {recorded}")
    for relative in _evidence_paths(run_dir, leave_out=(MANIFEST,)):  # listed files were hashed above
        if relative not in listed:
            check.problems.append(f"{run_dir / relative}: not in the evidence list (added after the run)")
    return check
