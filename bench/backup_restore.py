"""Benchmark of MongoDB backup and restore (issue 5) against the backend's own raw operations.

For each size, in one run on the sandbox's MongoDB-wire server:
- raw cursor read (iterate every document) vs `backup_mongodb`, in documents/s;
- raw bulk insert (`insert_many`, batches of 1,000) vs `restore_mongodb`, in documents/s;
- the peak Python heap (tracemalloc) during backup and restore, which should not grow with size.
Target: restore >= 0.8x raw insert, linear in size, memory flat.

Run: .venv/bin/python bench/backup_restore.py [--sizes 10000,100000,1000000]
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pymongo

from chaos.recovery.mongo import backup_mongodb
from chaos.recovery.mongo_restore import restore_mongodb
from chaos.targets.local import LocalTarget

BATCH = 1000


def documents(start: int, count: int) -> list[dict[str, Any]]:
    return [{"_id": f"e{i:08d}", "user_id": f"u{i % 997}", "title": f"event number {i}", "start": "2026-12-01T09:00",
             "end": "2026-12-01T10:00", "attendees": [f"u{(i + k) % 997}" for k in range(3)]}
            for i in range(start, start + count)]  # fmt: skip


def timed(action: Any) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def peak_heap(action: Any) -> int:
    """Peak Python heap during ``action``, in a separate run: tracing would distort the timings."""
    tracemalloc.start()
    action()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


def run(uri: str, size: int, workdir: Path) -> None:
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(uri)
    client.drop_database("bench")
    db = client["bench"]

    def raw_insert() -> None:
        for start in range(0, size, BATCH):
            db.raw.insert_many(documents(start, min(BATCH, size - start)), ordered=False)

    insert_s = timed(raw_insert)
    db.raw.rename("events")
    read_s = timed(lambda: sum(1 for _ in db.events.find().batch_size(BATCH)))
    backup_s = timed(lambda: backup_mongodb(uri, "bench", workdir / f"backup-{size}"))
    backup_peak = peak_heap(lambda: backup_mongodb(uri, "bench", workdir / f"backup-{size}-again"))
    client.drop_database("bench")
    restore_s = timed(lambda: restore_mongodb(workdir / f"backup-{size}", uri, "bench"))
    restored = client["bench"].events.count_documents({})
    client.drop_database("bench")
    restore_peak = peak_heap(lambda: restore_mongodb(workdir / f"backup-{size}", uri, "bench"))
    client.drop_database("bench")
    client.close()
    assert restored == size, f"restored {restored} of {size}"
    rate = lambda seconds: size / seconds  # noqa: E731
    print(
        f"{size:>9,} docs | raw read {rate(read_s):9,.0f}/s  backup {rate(backup_s):9,.0f}/s  "
        f"ratio {read_s / backup_s:5.2f} | raw insert {rate(insert_s):9,.0f}/s  restore {rate(restore_s):9,.0f}/s  "
        f"ratio {insert_s / restore_s:5.2f} | peak heap backup {backup_peak / 2**20:5.1f} MiB  "
        f"restore {restore_peak / 2**20:5.1f} MiB"
    )


def _interrupted(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")  # unwind through target.close(): no orphaned servers


def main() -> None:
    signal.signal(signal.SIGTERM, _interrupted)
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,100000", help="comma-separated document counts")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        target = LocalTarget(Path(workdir) / "runs", replicas=1)
        target.start()
        try:
            for size in (int(text) for text in args.sizes.split(",")):
                run(target.endpoints.mongodb_uri, size, Path(workdir))
        finally:
            target.close()


if __name__ == "__main__":
    main()
