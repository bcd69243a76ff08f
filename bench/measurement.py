"""Benchmark of the measurement layer on the real sandbox (issue 3).

Prints, from one run on this machine:
- the prober's achieved sample rate per stream (health and data path of each of
  3 replicas) against its configured rate, with latency percentiles;
- the writer's acknowledged writes per second with the ack log and without it,
  interleaved A/B/A/B so drift affects both alike, and their ratio;
- two baselines from the same run that say where the writer's ceiling comes from:
  the MongoDB-wire server's own single-document insert rate (pymongo straight to
  the server, same number of threads, no app, no proxy), and the writer's own CPU
  cost per acknowledged write (process CPU time of this process, which holds
  nothing but the writer while it runs), i.e. the rate one core could drive.
Targets (issue 3): >= 20 Hz on every stream, >= 1,000 acknowledged writes/s,
ack-log overhead <= 10 %.

Run: .venv/bin/python bench/measurement.py [--seconds 5] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import signal
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import pymongo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chaos.measure.probe import Prober
from chaos.measure.workload import WORKLOADS, Writer
from chaos.targets.local import LocalTarget


def probe_rate(target: LocalTarget, seconds: float, interval: float) -> None:
    prober = Prober(target.endpoints.apps, interval=interval, run_id="bench").start()
    time.sleep(seconds)
    prober.stop()
    samples = prober.samples()
    print(f"prober: configured {1 / interval:.0f} Hz per stream, {len(prober.streams)} streams, {seconds:g}s")
    for stream in prober.streams:
        own = [s for s in samples if s.stream == stream]
        span = own[-1].mono - own[0].mono
        ok = sum(s.ok for s in own)
        latencies = sorted(s.latency_s for s in own)
        print(
            f"  {stream:34} {len(own) / span:6.1f} Hz  ok {ok}/{len(own)}  "
            f"p50 {latencies[len(own) // 2] * 1000:5.1f} ms  p99 {latencies[int(len(own) * 0.99)] * 1000:5.1f} ms"
        )


def probe_rate_under_load(target: LocalTarget, seconds: float, interval: float) -> None:
    """The drill's condition: three writers at their default rate while the prober runs."""
    writers = [Writer(target.endpoints.apps, WORKLOADS[name], run_id="load").start()
               for name in ("user_data", "calendar_events", "system_configuration")]  # fmt: skip
    try:
        print("with the drill's three writers running:")
        probe_rate(target, seconds, interval)
    finally:
        for writer in writers:
            writer.stop()


def writer_throughput(
    target: LocalTarget, seconds: float, concurrency: int, keep_log: bool, run: int
) -> tuple[float, float]:
    """Acknowledged writes/s, and this process's CPU seconds per acknowledged write."""
    writer = Writer(target.endpoints.apps, WORKLOADS["calendar_events"], run_id=f"bench{run}{int(keep_log)}",
                    rate=None, concurrency=concurrency, keep_log=keep_log).start()  # fmt: skip
    started, cpu, before = time.monotonic(), time.process_time(), writer.acked_count()
    time.sleep(seconds)
    acked, elapsed, cpu = writer.acked_count() - before, time.monotonic() - started, time.process_time() - cpu
    writer.stop()
    return acked / elapsed, cpu / max(acked, 1)


def raw_insert_rate(target: LocalTarget, seconds: float, concurrency: int) -> float:
    """The backend's own ceiling: single-document inserts straight to the MongoDB-wire server."""
    client: pymongo.MongoClient[dict[str, object]] = pymongo.MongoClient(target.endpoints.mongodb_uri)
    collection = client[target.endpoints.database]["bench_raw_insert"]
    counts = [0] * concurrency
    deadline = time.monotonic() + seconds

    def insert(slot: int) -> None:
        while time.monotonic() < deadline:
            collection.insert_one({"_id": f"raw-{slot}-{counts[slot]}", "title": "benchmark", "start": "", "end": ""})
            counts[slot] += 1

    started = time.monotonic()
    threads = [threading.Thread(target=insert, args=(slot,)) for slot in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    collection.drop()
    client.close()
    return sum(counts) / elapsed


def _interrupted(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")  # unwind through target.close(): no orphaned servers


def main() -> None:
    signal.signal(signal.SIGTERM, _interrupted)
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--interval", type=float, default=0.05)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        target = LocalTarget(Path(workdir), replicas=3)
        target.start()
        try:
            probe_rate(target, args.seconds, args.interval)
            probe_rate_under_load(target, args.seconds, args.interval)
            with_log, without_log, raw, cpu = [], [], [], []
            for run in range(args.rounds):
                rate, per_write = writer_throughput(target, args.seconds, args.concurrency, True, run)
                with_log.append(rate)
                cpu.append(per_write)
                without_log.append(writer_throughput(target, args.seconds, args.concurrency, False, run)[0])
                raw.append(raw_insert_rate(target, args.seconds, args.concurrency))
            a, b, r = statistics.median(with_log), statistics.median(without_log), statistics.median(raw)
            print(f"writer: {args.concurrency} threads, {args.rounds} rounds of {args.seconds:g}s each way")
            for label, median, runs in (
                ("with ack log   ", a, with_log),
                ("without ack log", b, without_log),
                ("raw insert     ", r, raw),
            ):
                listed = ", ".join(f"{x:.0f}" for x in runs)
                print(f"  {label} {median:8.1f} acknowledged writes/s  (runs: {listed})")
            print(f"  ratio with/without = {a / b:.3f}  (ack-log overhead {100 * (1 - a / b):+.1f} %)")
            print(f"  ratio writer/raw insert = {a / r:.3f}  (raw: pymongo insert_one straight to the server)")
            per_write = statistics.median(cpu)
            one_core = 1 / per_write
            print(f"  writer CPU per acknowledged write {per_write * 1e6:.0f} us; one core: {one_core:.0f}/s")
            bound = "the system under test" if one_core >= 2 * a else "the writer itself, at least in part"
            print(f"  what limits the acknowledged rate here: {bound}")
        finally:
            target.close()


if __name__ == "__main__":
    main()
