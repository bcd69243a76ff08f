"""The ``drill`` command. Exit codes: 0 ok, 1 failure, failed verification or inconclusive, 2 usage or
configuration error; ``drill run`` adds 3 for an infrastructure error (see chaos.runner)."""

from __future__ import annotations

import argparse
import json
import re
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from chaos import inputs, sandbox_daemon
from chaos.cli_recovery import add_recovery_commands, run_recovery_command
from chaos.config import DEFAULT_BUDGETS, load_budgets
from chaos.errors import BackupVerificationError, ChaosError, ConfigError, SafetyError, ToolNotFoundError
from chaos.faults.cleanup import cleanup
from chaos.faults.ledger import DEFAULT_LEDGER, Ledger
from chaos.measure.probe import DEFAULT_TIMEOUT_S
from chaos.measure.verdict import Verdict
from chaos.measure.workload import workload_for
from chaos.plan.model import load_plan
from chaos.plan.review import review
from chaos.plan.trace import DEFAULT_COVERAGE, load_coverage
from chaos.report.compliance import verify_evidence
from chaos.report.environment import DEFAULT_PLAN
from chaos.report.history import load_history
from chaos.runner import run_drills
from chaos.targets.base import Endpoints
from chaos.targets.config import DEFAULT_TARGETS, load_target, target_names
from chaos.watch import watch

__all__ = ["main"]

DEFAULT_SANDBOX_DIR = Path(".drill") / "sandbox"
DEFAULT_RUNS = (Path(".drill") / "runs", DEFAULT_SANDBOX_DIR / "runs")
DEFAULT_TRACKED = "users, calendar events, settings, sessions"


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
        action.add_argument("--workdir", type=inputs.writable_dir, default=DEFAULT_SANDBOX_DIR,
                            help="state, data and logs; default: %(default)s")  # fmt: skip
        if name in ("up", "serve"):
            action.add_argument("--replicas", type=inputs.whole_number(1, 16), default=None,
                                help="app replicas, 1..16; default: 3, or what the running sandbox has")  # fmt: skip
            action.add_argument("--redis-password-env", metavar="VARIABLE",
                                help="run Redis with the password this environment variable holds")  # fmt: skip

    tidy = commands.add_parser(
        "cleanup", help="revert the faults a crashed run left (from the ledger), then stop its processes"
    )
    tidy.add_argument("--ledger-dir", type=inputs.writable_dir, default=DEFAULT_LEDGER, help="default: %(default)s")
    runs = ", ".join(map(str, DEFAULT_RUNS))
    tidy.add_argument("--workdir", type=inputs.writable_dir, action="append", default=None,
                      help=f"run directories to sweep (repeatable); default: {runs}")  # fmt: skip
    tidy.add_argument("--faults-only", action="store_true", help="revert faults, leave processes alone")
    tidy.add_argument("--targets", type=Path, default=DEFAULT_TARGETS,
                      help="the targets file whose engines and clusters are swept; default: %(default)s")  # fmt: skip
    tidy.add_argument("--target", action="append", default=None, metavar="NAME",
                      help="sweep only this target's engine or cluster (repeatable); default: every target "
                           "with drill_allowed: true")  # fmt: skip

    add_recovery_commands(commands)

    commands.add_parser("run", help="run drills through pytest (`drill run -m database_failure ...`); exit 0 all "
                                    "passed, 1 budget breached or drill failed, 2 usage error, 3 infrastructure error",
                        add_help=False)  # fmt: skip
    images = commands.add_parser("images", help="the Docker target's images")
    images_actions = images.add_subparsers(dest="action", required=True)
    images_actions.add_parser("build", help="build the local image set from a Debian base (skips what is built)")

    evidence = commands.add_parser("evidence", help="the evidence of a drill run")
    evidence_actions = evidence.add_subparsers(dest="action", required=True)
    check = evidence_actions.add_parser("verify", help="re-hash every evidence file of a run directory, offline; "
                                                       "exit 1 on any missing, changed or unlisted file")  # fmt: skip
    check.add_argument("run_dir", type=inputs.existing_dir,
                       help="a run directory: reports/<run-id> (or reports/latest)")  # fmt: skip
    check.add_argument("--manifest-sha256", metavar="SHA", type=inputs.sha256_hex,
                       help="the evidence manifest SHA-256 the run printed (kept in a CI log): any other is a "
                            "mismatch; without it the manifest is only checked against itself")  # fmt: skip

    look = commands.add_parser("review", help="the plan's review_procedures: the last runs per part of the plan, "
                                               "as Markdown")  # fmt: skip
    look.add_argument("--history", type=Path, default=Path("reports") / "history.jsonl",
                      help="the runs' history (drill run appends to it); default: %(default)s")  # fmt: skip
    look.add_argument("--runs", type=inputs.whole_number(1, 1000), default=13,
                      help="the last N runs, 1..1000; default: 13 (a quarter of weekly runs)")  # fmt: skip
    look.add_argument("--output", type=Path, default=None, help="write the review here; default: standard output")
    look.add_argument("--plan", type=Path, default=DEFAULT_PLAN, help="default: %(default)s")
    look.add_argument("--coverage", type=Path, default=DEFAULT_COVERAGE, help="default: %(default)s")

    spy = commands.add_parser(
        "watch", help="measure a recovery performed by hand: outages, RTO phases, data lost per data class"
    )
    spy.add_argument("--duration", type=inputs.seconds(0, 7 * 86400), required=True,
                     help="seconds to observe, at most a week (Ctrl-C ends early)")  # fmt: skip
    where = spy.add_argument_group("target (the running sandbox, or explicit endpoints)")
    where.add_argument("--sandbox-workdir", type=Path, default=DEFAULT_SANDBOX_DIR,
                       help="the sandbox started by `drill sandbox up`; default: %(default)s")  # fmt: skip
    where.add_argument("--app", action="append", default=[], type=inputs.http_url,
                       help="an app replica's base URL (repeat per replica)")  # fmt: skip
    where.add_argument("--mongodb-uri", type=inputs.mongodb_uri, help="MongoDB, read directly after the watch")
    where.add_argument("--redis-url", type=inputs.redis_url, help="Redis, read directly after the watch")
    where.add_argument("--database", type=inputs.database_name, default="calendar", help="default: %(default)s")
    spy.add_argument("--track", default=DEFAULT_TRACKED, help="data classes to write and account; default: %(default)s")
    spy.add_argument("--component", default="application", help="whose RTO budget applies; default: %(default)s")
    spy.add_argument("--budgets", type=Path, default=DEFAULT_BUDGETS, help="default: %(default)s")
    spy.add_argument("--budget-profile", default="sandbox", help="default: %(default)s")
    spy.add_argument("--consecutive", type=inputs.whole_number(1, 1000), default=5,
                     help="probes in a row that confirm recovery; default: 5")  # fmt: skip
    spy.add_argument("--probe-interval", type=inputs.seconds(0, 10), default=0.05,
                     help="seconds, in (0, 10]; default: %(default)s")  # fmt: skip
    spy.add_argument("--probe-timeout", type=inputs.seconds(0, 60), default=DEFAULT_TIMEOUT_S,
                     help="how long a probe waits for its answer, in (0, 60]; default: %(default)ss")  # fmt: skip
    spy.add_argument("--out", type=inputs.writable_dir,
                     help="keep the probe timeline, ack logs and classification here")  # fmt: skip
    return parser


def _sandbox(args: argparse.Namespace) -> int:
    workdir = args.workdir.resolve()
    if args.action == "serve":
        sandbox_daemon.serve(workdir, args.replicas or 3, args.redis_password_env)
        return 0
    if args.action == "up":
        print(json.dumps(_shown(sandbox_daemon.sandbox_up(workdir, args.replicas, args.redis_password_env)), indent=2))
        return 0
    if args.action == "status":
        status = sandbox_daemon.sandbox_status(workdir)
        print(json.dumps({**status, "endpoints": _shown(status["endpoints"])} if "endpoints" in status else status,
                         indent=2))  # fmt: skip
        healthy = (
            status["running"]
            and all(status[name] == "ok" for name in ("mongodb", "redis", "toxiproxy"))
            and status["prometheus"] in ("ok", "not run")
            and all(value == "ok" for value in status["apps"].values())
        )
        return 0 if healthy else 1
    stopped = sandbox_daemon.sandbox_down(workdir)
    print("sandbox stopped" if stopped else "no sandbox was running", file=sys.stderr)
    return 0


def _shown(endpoints: dict[str, Any]) -> dict[str, Any]:
    """Endpoints as printed: without the stores' passwords, which only the 0600 state file holds."""
    data = {**endpoints, "apps": tuple(endpoints["apps"]), "scrape_targets": tuple(endpoints.get("scrape_targets", ()))}
    return Endpoints(**data).without_secrets().to_json()


def _watch_endpoints(args: argparse.Namespace) -> Endpoints:
    if args.app:
        missing = [flag for flag, value in (("--mongodb-uri", args.mongodb_uri), ("--redis-url", args.redis_url))
                   if not value]  # fmt: skip
        if missing:
            raise ConfigError(f"with --app, also give {' and '.join(missing)}: the final read goes to the stores")
        return Endpoints(tuple(args.app), args.database, args.mongodb_uri, args.mongodb_uri, args.redis_url,
                         args.redis_url, "")  # fmt: skip
    state = sandbox_daemon.sandbox_status(args.sandbox_workdir.resolve())
    if not state["running"]:
        raise ConfigError(
            f"no sandbox is running in {args.sandbox_workdir} (start one with `drill sandbox up`), "
            "or give the target with --app, --mongodb-uri and --redis-url"
        )
    data = dict(state["endpoints"])
    data["apps"] = tuple(data["apps"])
    return Endpoints(**data)


def _watch(args: argparse.Namespace) -> int:
    try:
        workloads = [workload_for(noun) for noun in re.split(r",\s*|\s+and\s+", args.track) if noun.strip()]
    except ValueError as exc:
        raise ConfigError(f"--track: {exc}") from None
    budgets = load_budgets(args.budgets, args.budget_profile)
    endpoints = _watch_endpoints(args)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda signum, frame: stop.set())
    print(f"watching {len(endpoints.apps)} replicas for {args.duration:g}s; break and repair the system now",
          file=sys.stderr)  # fmt: skip
    report = watch(
        endpoints, duration_s=args.duration, workloads=workloads, budgets=budgets, component=args.component,
        consecutive=args.consecutive, interval=args.probe_interval, timeout=args.probe_timeout, out=args.out,
        stop=stop,
    )  # fmt: skip
    print("\n".join(report.lines()))
    if args.out is not None:
        print(f"evidence: {args.out}", file=sys.stderr)
    return 0 if report.verdict is Verdict.PASSED else 1


def _cleanup(args: argparse.Namespace) -> int:
    bases = [path.resolve() for path in (args.workdir or DEFAULT_RUNS)]
    targets = []
    if not args.faults_only:  # every target read first: a bad file or name stops it before anything is touched
        names = args.target or target_names(args.targets)
        targets = [load_target(args.targets, name, secrets=False) for name in names]
    report = cleanup(Ledger(args.ledger_dir.resolve()), bases, processes=not args.faults_only, targets=targets)
    print("\n".join(report.lines()))
    return 0 if report.ok else 1


def _images(args: argparse.Namespace) -> int:
    from chaos.targets.docker import docker_client
    from chaos.targets.images import build_local_images

    client = docker_client()
    try:
        built, dropped = build_local_images(client)
    finally:
        client.close()
    print("\n".join(f"built {tag}" for tag in built) or "every local image is built already")
    if dropped:
        print("\n".join(f"dropped {tag} (an earlier build)" for tag in dropped))
    return 0


def _review(args: argparse.Namespace) -> int:
    if not args.history.is_file():
        raise ConfigError(f"--history {args.history}: no such file (drill run writes it next to the run directories)")
    plan = load_plan(args.plan)
    text = review(load_history(args.history), plan, load_coverage(args.coverage, plan), runs=args.runs)
    if args.output is None:
        print(text, end="")
    else:
        args.output.write_text(text)
        print(f"review of the last {args.runs} run(s) written to {args.output}")
    return 0


def _evidence(args: argparse.Namespace) -> int:
    check = verify_evidence(args.run_dir, args.manifest_sha256)
    for problem in check.problems:
        print(f"MISMATCH {problem}")
    if check.ok:
        pinned = "the one given" if args.manifest_sha256 else "compare it with the one the run printed"
        print(f"ok: {check.checked} evidence files match; manifest SHA-256 {check.manifest_sha256} ({pinned})")
    return 0 if check.ok else 1


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["run"]:  # everything after `run` belongs to pytest, -m included
        return run_drills(argv[1:])
    args = _parser().parse_args(argv)
    commands = {
        "watch": _watch,
        "cleanup": _cleanup,
        "sandbox": _sandbox,
        "evidence": _evidence,
        "images": _images,
        "review": _review,
    }
    try:
        return commands.get(args.command, run_recovery_command)(args)
    except (ConfigError, SafetyError, ToolNotFoundError) as exc:  # refused before anything was changed
        print(f"drill: error: {exc}", file=sys.stderr)
        return 2
    except BackupVerificationError as exc:
        print(f"drill: verification failed: {exc}", file=sys.stderr)
        return 1
    except ChaosError as exc:
        print(f"drill: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
