"""The weekly set's wall time on each target, from one run (issue 13).

Runs `drill run -m drill` on the sandbox and on Docker (local images), one after
the other, each into a report directory of its own, and prints the wall time of
each, the scenarios run, passed and reported unsupported, and the ratio of the
Docker run's time to the sandbox's (the baseline, measured in the same run).

Run: .venv/bin/python bench/weekly_set.py [-m drill]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(target: str, marker: str, report: Path) -> tuple[float, dict[str, int], int]:
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "chaos.cli", "run", "-m", marker, f"--target={target}",
                             f"--drill-report-dir={report}"], cwd=ROOT, capture_output=True, text=True)  # fmt: skip
    elapsed = time.monotonic() - started
    verdicts: dict[str, int] = {}
    if (report / "drill-report.json").exists():
        for scenario in json.loads((report / "drill-report.json").read_text())["scenarios"]:
            verdicts[scenario["verdict"]] = verdicts.get(scenario["verdict"], 0) + 1
    return elapsed, verdicts, result.returncode


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("-m", dest="marker", default="drill")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for target in ("sandbox", "docker"):
            rows.append((target, *run(target, args.marker, Path(scratch) / target)))
    baseline = rows[0][1]
    print(f"weekly set (-m {args.marker}), one run after the other on this machine:")
    for target, elapsed, verdicts, code in rows:
        counts = ", ".join(f"{count} {verdict}" for verdict, count in sorted(verdicts.items()))
        print(f"  {target:8} {elapsed:7.1f} s  ({elapsed / baseline:.2f}x the sandbox)  {counts}  exit {code}")
    return max(code for *_, code in rows)


if __name__ == "__main__":
    sys.exit(main())
