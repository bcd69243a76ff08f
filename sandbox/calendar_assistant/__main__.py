"""Run one replica: ``python -m sandbox.calendar_assistant --port 8080``."""

from __future__ import annotations

import argparse
import os
import re
import signal
import sys
import threading

from sandbox.calendar_assistant.http import make_server
from sandbox.calendar_assistant.store import Store

# ``scheme://user:password@``: up to the last "@", so a password with an "@" or a "/" in it is masked whole.
PASSWORD = re.compile(r"(?P<head>://[^:/?#@]*):.*@")


def masked(url: str) -> str:
    """``url`` as the log may show it: where the app connects, the password as ***."""
    return PASSWORD.sub(r"\g<head>:***@", url)


def main() -> None:
    parser = argparse.ArgumentParser(prog="calendar-assistant")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args()
    version = os.environ.get("CALENDAR_VERSION", "1.0.0")
    defect = os.environ.get("CALENDAR_DEFECT", "")
    if defect == "crash":  # a release that dies at start-up: its replicas crash-loop
        print(f"calendar-assistant {version}: fatal error during start-up (defect: crash)", file=sys.stderr)
        sys.exit(3)
    mongodb_uri = os.environ.get("CALENDAR_MONGODB_URI", "mongodb://127.0.0.1:27017/?directConnection=true")
    redis_url = os.environ.get("CALENDAR_REDIS_URL", "redis://127.0.0.1:6379/0")
    # It logs where it connects, never with which password: logs outlive the run and are read by others.
    print(f"calendar-assistant {version}: MongoDB {masked(mongodb_uri)}, Redis {masked(redis_url)}", file=sys.stderr,
          flush=True)  # fmt: skip
    database = os.environ.get("CALENDAR_DATABASE", "calendar")
    store = Store(mongodb_uri=mongodb_uri, redis_url=redis_url, database=database)
    server = make_server(args.host, args.port, store, replica=os.environ.get("CALENDAR_REPLICA", "app"),
                         version=version, failing=defect == "errors")  # fmt: skip

    def shut_down(signum: int, frame: object) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, shut_down)
    print(f"calendar-assistant listening on http://{args.host}:{args.port}", file=sys.stderr, flush=True)
    server.serve_forever(poll_interval=0.1)
    server.server_close()
    # Every write is acknowledged synchronously, so nothing is left to flush.
    # A normal interpreter exit would close pymongo (ending server sessions) and
    # join its monitor threads, each waiting out a timeout while MongoDB is down:
    # seconds of delay in exactly the outages the drills create.
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
