"""The weekly set's wall time, against a baseline measured in the same run (issues 13 and 22).

Two ways to compare, each run after run on this machine, each drill run into a report directory of its own:

- ``--against REF``: the set on one target at commit REF (a git worktree of it, using this checkout's
  virtualenv and tools) and in this checkout, alternating for ``--rounds`` rounds; prints each time and
  the ratio of this checkout's to REF's, and whether this checkout's stays within ``--goal`` seconds
  (issue 22: 180 s on the sandbox).
- without it: the set on the sandbox and on Docker (local images), and the ratio of Docker's time to the
  sandbox's.

Each line also says how many scenarios passed, failed or were unknown or unsupported, and the exit code:
a faster run that drills less is no faster.

Run: .venv/bin/python bench/weekly_set.py [-m drill] [--against HEAD~1 [--target sandbox] [--rounds 2]]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

ROOT = Path(__file__).resolve().parent.parent


def run(checkout: Path, target: str, marker: str, scratch: Path) -> tuple[float, dict[str, int], int]:
    """One `drill run` in ``checkout``: its wall time, its verdicts counted, its exit code."""
    report = scratch / "report"
    started = time.monotonic()
    result = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "python"), "-m", "chaos.cli", "run", "-m", marker, f"--target={target}",
         f"--drill-report-dir={report}", f"--drill-history={scratch / 'history.jsonl'}",
         f"--workdir={scratch / 'runs'}", f"--ledger-dir={scratch / 'ledger'}"],
        cwd=checkout, capture_output=True, text=True,
    )  # fmt: skip
    elapsed = time.monotonic() - started
    verdicts: dict[str, int] = {}
    if (report / "drill-report.json").exists():
        for scenario in json.loads((report / "drill-report.json").read_text())["scenarios"]:
            verdicts[scenario["verdict"]] = verdicts.get(scenario["verdict"], 0) + 1
    return elapsed, verdicts, result.returncode


@contextlib.contextmanager
def worktree(ref: str) -> Iterator[Path]:
    """A checkout of ``ref`` beside this one, with this checkout's virtualenv and tools."""
    with tempfile.TemporaryDirectory(prefix="weekly-set-") as parent:
        path = Path(parent) / "baseline"
        subprocess.run(["git", "worktree", "add", "--detach", "--quiet", str(path), ref], cwd=ROOT, check=True)
        try:
            for shared in (".venv", ".tools"):
                (path / shared).symlink_to(ROOT / shared)
            yield path
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(path)], cwd=ROOT, check=False)


def line(name: str, elapsed: float, verdicts: dict[str, int], code: int, baseline: float, of: str) -> str:
    counts = ", ".join(f"{count} {verdict}" for verdict, count in sorted(verdicts.items()))
    return f"  {name:22} {elapsed:7.1f} s  ({elapsed / baseline:.2f}x {of})  {counts}  exit {code}"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("-m", dest="marker", default="drill")
    parser.add_argument("--against", metavar="REF", help="compare with the set at this commit (e.g. HEAD~1)")
    parser.add_argument("--target", default="sandbox", help="with --against: the target; default: %(default)s")
    parser.add_argument("--rounds", type=int, default=1, help="with --against: runs of each, alternating")
    parser.add_argument("--goal", type=float, default=180.0, help="with --against: seconds this checkout's set "
                        "should stay within; default: %(default)s")  # fmt: skip
    args = parser.parse_args()
    codes = []
    with tempfile.TemporaryDirectory() as scratch:
        if args.against is None:
            targets = ("sandbox", "docker")
            rows = [(target, *run(ROOT, target, args.marker, Path(scratch) / target)) for target in targets]
            print(f"weekly set (-m {args.marker}), one run after the other on this machine:")
            for target, elapsed, verdicts, code in rows:
                print(line(target, elapsed, verdicts, code, rows[0][1], "the sandbox"))
                codes.append(code)
            return max(codes)
        with worktree(args.against) as baseline_checkout:
            rows = []
            for number in range(args.rounds):
                for name, checkout in ((args.against, baseline_checkout), ("this checkout", ROOT)):
                    rows.append((name, *run(checkout, args.target, args.marker, Path(scratch) / f"{number}-{name}")))
    print(f"weekly set (-m {args.marker}) on {args.target}, {args.rounds} round(s), alternating on this machine:")
    baseline = min(elapsed for name, elapsed, *_ in rows if name == args.against)
    for name, elapsed, verdicts, code in rows:
        print(line(name, elapsed, verdicts, code, baseline, f"{args.against}'s best"))
        codes.append(code)
    best = min(elapsed for name, elapsed, *_ in rows if name == "this checkout")
    print(f"  this checkout's best: {best:.1f} s, {'within' if best <= args.goal else 'over'} the {args.goal:g} s goal")
    return max(codes)


if __name__ == "__main__":
    sys.exit(main())
