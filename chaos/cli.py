"""The ``drill`` command. Exit codes: 0 ok, 1 failure, 2 usage or configuration error."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from chaos import sandbox_daemon
from chaos.errors import ChaosError, ConfigError, ToolNotFoundError

__all__ = ["main"]

DEFAULT_SANDBOX_DIR = Path(".drill") / "sandbox"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="drill", description="Disaster-recovery drills for the Calendar Assistant.")
    commands = parser.add_subparsers(dest="command", required=True)
    sandbox = commands.add_parser("sandbox", help="the embedded sandbox, for use by hand")
    actions = sandbox.add_subparsers(dest="action", required=True)
    for name, text in [("up", "start the stack in the background and print its endpoints as JSON"),
                       ("status", "print what answers now, as JSON; exit 1 unless all is healthy"),
                       ("down", "stop the stack and every process it started"),
                       ("serve", argparse.SUPPRESS)]:  # fmt: skip
        action = actions.add_parser(name, help=text)
        action.add_argument(
            "--workdir", type=Path, default=DEFAULT_SANDBOX_DIR, help="state, data and logs; default: %(default)s"
        )
        if name in ("up", "serve"):
            action.add_argument("--replicas", type=int, default=3, help="app replicas; default: %(default)s")
    return parser


def _sandbox(args: argparse.Namespace) -> int:
    workdir = args.workdir.resolve()
    if args.action == "serve":
        sandbox_daemon.serve(workdir, args.replicas)
        return 0
    if args.action == "up":
        if not 1 <= args.replicas <= 16:
            raise ConfigError(f"--replicas {args.replicas}: allowed range is 1..16")
        print(json.dumps(sandbox_daemon.sandbox_up(workdir, args.replicas), indent=2))
        return 0
    if args.action == "status":
        status = sandbox_daemon.sandbox_status(workdir)
        print(json.dumps(status, indent=2))
        healthy = (
            status["running"]
            and all(status[name] == "ok" for name in ("mongodb", "redis", "toxiproxy"))
            and all(value == "ok" for value in status["apps"].values())
        )
        return 0 if healthy else 1
    stopped = sandbox_daemon.sandbox_down(workdir)
    print("sandbox stopped" if stopped else "no sandbox was running", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _sandbox(args)
    except (ConfigError, ToolNotFoundError) as exc:
        print(f"drill: error: {exc}", file=sys.stderr)
        return 2
    except ChaosError as exc:
        print(f"drill: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
