"""How far the measured outage is from the truth, and how often one is seen that did not happen (issue 12).

On the real sandbox with a drill's load (3 app replicas, writers for three data
classes), a Toxiproxy proxy in front of each replica is cut for a known time,
several times: connections are refused from the cut to the heal, with no
reconnect tail, so the truth for each replica is when its proxy's API calls
were made (the time before and after each call bounds it). The prober measures each
outage (sustained failure of any of its 6 streams, confirmed by 5 probes) and
the RTO a drill would report; a quiet stretch with no fault counts the outages
seen that were not there, and the probes that failed. All of it at 0, 1 and 2
busy cores (processes spinning, started and stopped here), for the prober as it
is (a 2 s timeout per probe, probes sent on schedule) and, as the baseline from
the same run, a probe timeout of 0.9 x the interval (the earlier default).
Errors are in probe intervals (50 ms).

Run: .venv/bin/python bench/outage_truth.py [--outages 3] [--quiet 20] [--check]
With --check, exits 1 if the prober as it is misses an outage bound by more than
2 intervals or sees an outage that did not happen, at any load.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chaos.measure.probe import DEFAULT_TIMEOUT_S, Prober
from chaos.measure.rto import incidents, measure_rto, sustained_outages
from chaos.measure.workload import WORKLOADS, Writer
from chaos.servers.launch import free_port
from chaos.targets.local import LocalTarget

if TYPE_CHECKING:
    from collections.abc import Iterator

INTERVAL = 0.05
CONFIRM = 5
CUT_S = 1.5


@dataclass
class Row:
    setting: str
    cores: int
    start_errors: list[float]
    duration_errors: list[float]
    rto_errors: list[float]
    missed: int
    false_outages: int
    false_failures: int
    quiet_probes: int
    kinds: Counter[str] = field(default_factory=Counter)  # how the quiet stretch's probes failed


@contextlib.contextmanager
def busy(cores: int) -> Iterator[None]:
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(cores)]
    try:
        time.sleep(0.5 if cores else 0.0)
        yield
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()


def _switch(target: LocalTarget, links: list[str], enabled: bool) -> list[tuple[float, float]]:
    """Each link cut or healed in turn; when each call began and returned: the truth lies between."""
    moments = []
    for link in links:
        before = time.monotonic()
        target.toxiproxy.set_enabled(link, enabled)
        moments.append((before, time.monotonic()))
    return moments


def _off(value: float, bounds: tuple[float, float]) -> float:
    """How far ``value`` lies outside ``bounds``, in probe intervals; 0 inside."""
    low, high = bounds
    return max(low - value, value - high, 0.0) / INTERVAL


def measure(target: LocalTarget, urls: list[str], links: list[str], setting: str, timeout: float, cores: int,
            outages: int, quiet_s: float) -> Row:  # fmt: skip
    row = Row(setting, cores, [], [], [], 0, 0, 0, 0)
    writers = [Writer(target.endpoints.apps, WORKLOADS[name], run_id=f"load-{cores}-{timeout}").start()
               for name in ("user_data", "calendar_events", "system_configuration")]  # fmt: skip
    with busy(cores):
        for _ in range(outages):
            prober = Prober(urls, interval=INTERVAL, timeout=timeout, run_id="truth").start()
            try:
                time.sleep(1.0)
                cuts = _switch(target, links, False)
                time.sleep(CUT_S)
                heals = _switch(target, links, True)
                time.sleep(1.0)
            finally:
                prober.stop()
            samples = prober.samples()
            windows = sustained_outages(samples, consecutive=CONFIRM)
            for url, cut, heal in zip(urls, cuts, heals, strict=True):
                own = [w for w in windows if w.stream.endswith(url) and w.end is not None and abs(w.start - cut[0]) < 1]
                if len(own) != 2:  # the health and the data stream of this replica, one outage each
                    row.missed += 1
                    continue
                for window in own:
                    row.start_errors.append(_off(window.start, cut))
                    row.duration_errors.append(_off(window.duration_s or 0.0, (heal[0] - cut[1], heal[1] - cut[0])))
            rto = measure_rto(samples, streams=prober.streams, fault_at=cuts[0][0], consecutive=CONFIRM, budget_s=60,
                              component="app")  # fmt: skip
            if rto.back_at is None:
                row.missed += 1
            else:
                row.rto_errors.append(_off(rto.back_at, (heals[-1][0], heals[-1][1])))
        prober = Prober(urls, interval=INTERVAL, timeout=timeout, run_id="quiet").start()
        try:
            time.sleep(quiet_s)
        finally:
            prober.stop()
            for writer in writers:
                writer.stop()
        samples = prober.samples()
        row.false_outages = len(incidents(sustained_outages(samples, consecutive=CONFIRM)))
        row.false_failures = sum(not sample.ok for sample in samples)
        row.quiet_probes = len(samples)
        row.kinds = Counter(sample.failure for sample in samples if not sample.ok)
    return row


def _stat(values: list[float]) -> str:
    if not values:
        return "    -       -"
    return f"{statistics.median(values):5.2f}  {max(values):5.2f}"


def _interrupted(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")  # unwind through target.close(): no orphaned servers


def main() -> int:
    signal.signal(signal.SIGTERM, _interrupted)
    parser = argparse.ArgumentParser()
    parser.add_argument("--outages", type=int, default=3, help="cut outages per setting and load")
    parser.add_argument("--quiet", type=float, default=20.0, help="seconds of no fault per setting and load")
    parser.add_argument("--check", action="store_true", help="exit 1 if the prober as it is breaks its bounds")
    args = parser.parse_args()
    settings = [("as it is (timeout 2 s)", DEFAULT_TIMEOUT_S), ("baseline (timeout 0.9 x interval)", 0.9 * INTERVAL)]
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as workdir:
        target = LocalTarget(Path(workdir), replicas=3, monitoring=False)
        target.start()
        try:
            urls, links = [], []
            for index, app in enumerate(target.endpoints.apps):
                port = free_port()
                target.toxiproxy.create_proxy(f"ingress-{index}", f"127.0.0.1:{port}", app.split("//")[1])
                urls.append(f"http://127.0.0.1:{port}")
                links.append(f"ingress-{index}")
            for setting, timeout in settings:
                for cores in (0, 1, 2):
                    rows.append(measure(target, urls, links, setting, timeout, cores, args.outages, args.quiet))
        finally:
            target.close()
    print(f"outage truth: 3 replicas, 6 probe streams, 3 writers; {args.outages} cuts of {CUT_S:g}s per row, "
          f"confirmed by {CONFIRM} probes at {1 / INTERVAL:.0f} Hz; errors per stream (start, duration) and of the "
          f"service's return (RTO), in probe intervals ({INTERVAL * 1000:.0f} ms) outside the truth's bounds, "
          f"median and max; then {args.quiet:g}s with no fault")  # fmt: skip
    print(f"  {'prober':34} {'busy':>4}  {'start err':>12}  {'duration err':>12}  {'RTO err':>12}  {'missed':>6}  "
          f"{'false outages':>13}  {'false failed probes':>19}")  # fmt: skip
    for row in rows:
        print(f"  {row.setting:34} {row.cores:4d}  {_stat(row.start_errors):>12}  {_stat(row.duration_errors):>12}  "
              f"{_stat(row.rto_errors):>12}  {row.missed:6d}  {row.false_outages:13d}  "
              f"{row.false_failures:9d} of {row.quiet_probes:<6d} "
              f"{', '.join(f'{n} {kind}' for kind, n in sorted(row.kinds.items()))}")  # fmt: skip
    ours = [row for row in rows if row.setting == settings[0][0]]
    baseline = [row for row in rows if row.setting == settings[1][0]]
    for mine, theirs in zip(ours, baseline, strict=True):
        print(f"  {mine.cores} busy: false failed probes {mine.false_failures} against the baseline's "
              f"{theirs.false_failures} (ratio {mine.false_failures / max(theirs.false_failures, 1):.3f})")  # fmt: skip
    broken = [row for row in ours if row.missed or row.false_outages
              or max(row.start_errors + row.duration_errors + row.rto_errors, default=0) > 2]  # fmt: skip
    if args.check and broken:
        print(f"CHECK FAILED: {', '.join(f'{row.cores} busy' for row in broken)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
