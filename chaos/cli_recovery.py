"""The plan's scripts as ``drill`` subcommands, keeping the plan's flags (``--output``, ``--backup-dir``).

scripts/backup_mongodb.py         drill backup mongodb --output DIR
scripts/verify_mongodb_backup.py  drill verify mongodb-backup --backup-dir DIR
scripts/restore_mongodb.py        drill restore mongodb --backup-dir DIR [--into DATABASE]
scripts/verify_mongodb_data.py    drill verify mongodb-data [--backup-dir DIR]
scripts/backup_redis.py           drill backup redis --output DIR
scripts/verify_redis_backup.py    drill verify redis-backup --backup-dir DIR
scripts/restore_redis.py          drill restore redis --backup-dir DIR
scripts/verify_redis_data.py      drill verify redis-data [--backup-dir DIR]
scripts/backup_config.py          drill backup config --output DIR
scripts/verify_config.py          drill verify config --backup-dir DIR
scripts/verify_data_integrity.py  drill verify data-integrity
scripts/test_connectivity.py      drill test connectivity
scripts/backup_all.py             drill backup all --output DIR
(the drills' backup store)        drill backup unseal --backup-dir SEALED --output DIR
scripts/verify_backups.py         drill verify backups --backup-dir DIR
scripts/recover_all.py            drill recover all --backup-dir DIR
scripts/verify_recovery.py        drill verify recovery [--backup-dir DIR]
scripts/test_*_backup.py          drill test mongodb-backup|redis-backup --backup-dir DIR
scripts/test_*_restore.py         drill test mongodb-restore|redis-restore --backup-dir DIR
scripts/test_backups.py           drill test backups --backup-dir DIR
scripts/verify_documentation.py   drill verify plan [--plan FILE] [--budgets FILE] [--coverage FILE]
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import redis

from chaos import inputs, sandbox_daemon
from chaos.config import DEFAULT_BUDGETS, load_budgets
from chaos.errors import ConfigError
from chaos.measure.timeline import Timeline
from chaos.plan.model import load_plan
from chaos.plan.trace import DEFAULT_COVERAGE, load_coverage, read_features, summary_line, verify_plan
from chaos.recovery import procedures
from chaos.recovery.config_backup import KEY_VARIABLE, backup_config, new_key, verify_config
from chaos.recovery.connectivity import check_connectivity
from chaos.recovery.integrity import verify_data_integrity
from chaos.recovery.mongo import BackupManifest, backup_mongodb, require_database, verify_backup
from chaos.recovery.mongo_restore import restore_mongodb
from chaos.recovery.redis import backup_redis, restore_redis, verify_redis_backup
from chaos.recovery.store import unseal
from chaos.report.environment import DEFAULT_PLAN
from chaos.targets.base import Endpoints

if TYPE_CHECKING:
    import argparse

    from chaos.targets.control import SandboxClient

__all__ = ["add_recovery_commands", "run_recovery_command"]

DEFAULT_SANDBOX_DIR = Path(".drill") / "sandbox"
COMMANDS = {
    "backup": ("mongodb", "redis", "config", "all", "keygen", "unseal"),
    "verify": ("mongodb-backup", "mongodb-data", "redis-backup", "redis-data", "config", "data-integrity",
               "backups", "recovery", "plan"),
    "restore": ("mongodb", "redis"),
    "recover": ("all",),
    "test": ("connectivity", "mongodb-backup", "redis-backup", "mongodb-restore", "redis-restore", "backups"),
}  # fmt: skip
NEEDS_BACKUP_DIR = {("verify", "mongodb-backup"), ("verify", "redis-backup"), ("verify", "config"),
                    ("verify", "backups"), ("restore", "mongodb"), ("restore", "redis"), ("recover", "all"),
                    ("test", "mongodb-backup"), ("test", "redis-backup"), ("test", "mongodb-restore"),
                    ("test", "redis-restore"), ("test", "backups")}  # fmt: skip


def add_recovery_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    helps = {"backup": "take a backup (the plan's backup_* scripts)", "verify": "verify a backup or live data",
             "restore": "restore from a verified backup", "recover": "the plan's whole recovery sequence",
             "test": "prove backups restore, and links answer"}  # fmt: skip
    for verb, objects in COMMANDS.items():
        parser = commands.add_parser(verb, help=helps[verb])
        parser.add_argument("what", choices=objects)
        parser.add_argument("--output", type=inputs.new_dir, help="new, empty directory for the backup")
        parser.add_argument("--backup-dir", type=inputs.existing_dir, help="a backup directory")
        parser.add_argument("--replicas", type=inputs.whole_number(1, 16), default=3,
                            help="app replicas after recover, 1..16; default: 3")  # fmt: skip
        if verb == "verify":
            plan = parser.add_argument_group("verify plan (the plan's verify_documentation)")
            plan.add_argument("--plan", type=Path, default=DEFAULT_PLAN, help="the DR plan; default: %(default)s")
            plan.add_argument("--budgets", type=Path, default=DEFAULT_BUDGETS,
                              help="its production budget profile is compared; default: %(default)s")  # fmt: skip
            plan.add_argument("--coverage", type=Path, default=DEFAULT_COVERAGE,
                              help="the parts no drill proves, with reasons; default: %(default)s")  # fmt: skip
        if verb == "restore":
            parser.add_argument("--into", type=inputs.database_name,
                                help="restore mongodb into this other database instead of the live one")  # fmt: skip
            parser.add_argument("--replace-with-empty-backup", action="store_true",
                                help="allow a backup that holds nothing to replace live data")  # fmt: skip
            parser.add_argument("--restore-from-other-database", action="store_true",
                                help="allow a backup of another database to replace live data")  # fmt: skip
        where = parser.add_argument_group("target (the running sandbox, or explicit endpoints)")
        where.add_argument("--sandbox-workdir", type=Path, default=DEFAULT_SANDBOX_DIR, help="default: %(default)s")
        where.add_argument("--mongodb-uri", type=inputs.mongodb_uri)
        where.add_argument("--redis-url", type=inputs.redis_url)
        where.add_argument("--database", type=inputs.database_name,
                           help="the live database; default: the sandbox's, or calendar")  # fmt: skip


def _endpoints(args: argparse.Namespace) -> Endpoints:
    if args.mongodb_uri or args.redis_url:
        return Endpoints((), args.database or "calendar", args.mongodb_uri or "", args.mongodb_uri or "",
                         args.redis_url or "", args.redis_url or "", "")  # fmt: skip
    endpoints = _sandbox(args).endpoints
    return dataclasses.replace(endpoints, database=args.database) if args.database else endpoints


def _sandbox(args: argparse.Namespace) -> SandboxClient:
    return sandbox_daemon.connect(args.sandbox_workdir.resolve())


def _verify_plan(args: argparse.Namespace) -> int:
    """Exit 1 naming each disagreement between the plan, the production budgets, the drills and the coverage file."""
    plan = load_plan(args.plan)
    coverage = load_coverage(args.coverage, plan)
    scenarios = read_features()
    problems = verify_plan(plan, load_budgets(args.budgets, "production"), coverage, scenarios)
    for line in problems:
        print(f"PROBLEM: {line}")
    if problems:
        print(f"{len(problems)} problem(s): the plan, the budgets and the drills disagree")
        return 1
    print(summary_line(plan, coverage, scenarios))
    return 0


def _report(check: procedures.Check) -> int:
    for line in check.findings:
        print(line)
    for line in check.problems:
        print(f"PROBLEM: {line}")
    return 0 if check.ok else 1


def run_recovery_command(args: argparse.Namespace) -> int:
    key = (args.command, args.what)
    if key == ("verify", "plan"):
        return _verify_plan(args)
    if key == ("backup", "keygen"):
        print(new_key())
        return 0
    if key == ("backup", "unseal"):
        return _unseal(args)
    if args.command == "backup" and args.output is None:
        raise ConfigError(f"drill backup {args.what}: --output DIR is required")
    if key in NEEDS_BACKUP_DIR and args.backup_dir is None:
        raise ConfigError(f"drill {args.command} {args.what}: --backup-dir DIR is required")
    return _dispatch(args)


def _dispatch(args: argparse.Namespace) -> int:
    command, what, backup_dir = args.command, args.what, args.backup_dir
    if command == "backup":
        endpoints = _endpoints(args)
        if what in ("mongodb", "all") and (args.database or args.mongodb_uri):  # a name the user typed
            require_database(endpoints.mongodb_uri, endpoints.database)
        if what == "mongodb":
            manifest = backup_mongodb(endpoints.mongodb_uri, endpoints.database, args.output)
            print(f"mongodb backup in {args.output}: " + ", ".join(
                f"{name} {entry['count']}" for name, entry in manifest.collections.items()))  # fmt: skip
        elif what == "redis":
            print(f"redis backup in {args.output}: {backup_redis(endpoints.redis_url, args.output).keys} keys")
        elif what == "config":
            manifest_ = backup_config(endpoints, args.output)
            print(f"config backup in {args.output}: {len(manifest_['secrets'])} secrets encrypted")
        else:
            print(f"backup in {args.output}: {procedures.backup_all(endpoints, args.output)}")
        return 0
    if command == "verify":
        if what == "mongodb-backup":
            manifest = verify_backup(backup_dir)
            print(f"{backup_dir}: verified, a backup of database {manifest.database}: " + ", ".join(
                f"{name} {entry['count']}" for name, entry in manifest.collections.items()))  # fmt: skip
            return 0
        if what == "redis-backup":
            print(f"{backup_dir}: verified, {verify_redis_backup(backup_dir).keys} keys")
            return 0
        if what == "config":
            print(f"{backup_dir}: verified, {len(verify_config(backup_dir)['secrets'])} secrets decrypt")
            return 0
        if what == "backups":
            return _report(procedures.verify_backups(backup_dir))
        endpoints = _endpoints(args)
        if what in ("mongodb-data", "data-integrity"):
            expected: BackupManifest | None = None
            if backup_dir is not None:  # a backup-all directory or a MongoDB backup directory
                part = backup_dir / "mongodb"
                expected = verify_backup(part if part.is_dir() else backup_dir)
            report = verify_data_integrity(endpoints.mongodb_uri, endpoints.database, expected)
            return _report(procedures.Check([f"mongodb counts {report.counts}"], report.problems))
        if what == "redis-data":
            return _report(_redis_data(endpoints, backup_dir))
        return _report(procedures.verify_recovery(endpoints, backup_dir))
    if command == "restore":
        if what == "mongodb":
            endpoints = _endpoints(args)
            if args.into == endpoints.database:
                raise ConfigError(f"--into {args.into}: that is the live database; to restore it in place, leave "
                                  "--into out")  # fmt: skip
            restored = restore_mongodb(backup_dir, endpoints.mongodb_uri, args.into or endpoints.database,
                                       replace_with_empty=args.replace_with_empty_backup,
                                       replace_from_other=args.restore_from_other_database)  # fmt: skip
            print(f"restored {backup_dir} (a backup of {restored.manifest.database}) into {restored.database}: "
                  + ", ".join(f"{name} {entry['count']}" for name, entry in restored.collections.items()))  # fmt: skip
            if restored.leftovers:
                print(f"note: {restored.database} holds collections an interrupted restore left: "
                      f"{', '.join(restored.leftovers)}")  # fmt: skip
            return 0
        backup = restore_redis(backup_dir, _sandbox(args), replace_with_empty=args.replace_with_empty_backup)
        print(f"restored {backup_dir}: {backup.keys} keys")
        return 0
    if command == "recover":
        timeline = Timeline()
        steps = procedures.recover_all(_sandbox(args), backup_dir, replicas=args.replicas, timeline=timeline)
        for step in steps:
            print(f"{'ok  ' if step.ok else 'FAIL'} {step.name:40} {step.duration_s:7.2f}s  {step.detail}")
        return _report(procedures.verify_recovery(_endpoints(args), backup_dir))
    if what == "connectivity":
        links = check_connectivity(_endpoints(args))
        for link in links:
            print(link.line())
        return 0 if all(link.ok for link in links) else 1
    checks = {
        "mongodb-backup": lambda: procedures.Check([f"verified {verify_backup(backup_dir).collections}"]),
        "redis-backup": lambda: procedures.Check([f"verified, {verify_redis_backup(backup_dir).keys} keys"]),
        "mongodb-restore": lambda: procedures.test_mongodb_restore(backup_dir, _endpoints(args).mongodb_uri),
        "redis-restore": lambda: procedures.test_redis_restore(backup_dir),
    }
    if what == "backups":
        combined = procedures.verify_backups(backup_dir)
        for part in (procedures.test_mongodb_restore(backup_dir / "mongodb", _endpoints(args).mongodb_uri),
                     procedures.test_redis_restore(backup_dir / "redis")):  # fmt: skip
            combined.findings += part.findings
            combined.problems += part.problems
        return _report(combined)
    return _report(checks[what]())


def _unseal(args: argparse.Namespace) -> int:
    """A backup the drills sealed in their store, decrypted into a new directory a restore can read."""
    if args.backup_dir is None or args.output is None:
        raise ConfigError("drill backup unseal: --backup-dir SEALED and --output DIR are both required")
    key = os.environ.get(KEY_VARIABLE)
    if not key:
        raise ConfigError(f"drill backup unseal: {KEY_VARIABLE} is not set; it must hold the key the backups were "
                          "sealed with")  # fmt: skip
    try:
        count = unseal(key, args.backup_dir, args.output)
    except BaseException:
        shutil.rmtree(args.output, ignore_errors=True)  # nothing half-decrypted stays behind
        raise
    print(f"{args.backup_dir}: {count} files decrypted into {args.output} (owner-only)")
    return 0


def _redis_data(endpoints: Endpoints, backup_dir: Path | None) -> procedures.Check:
    client = redis.Redis.from_url(endpoints.redis_url, socket_timeout=5)
    try:
        keys = int(client.dbsize())
    finally:
        client.close()
    check = procedures.Check([f"redis answers, {keys} keys"])
    if backup_dir is not None:
        backup = verify_redis_backup(backup_dir / "redis" if (backup_dir / "redis").is_dir() else backup_dir)
        if keys < backup.keys - backup.expires:
            check.problems.append(f"redis holds {keys} keys, the backup in {backup_dir} had {backup.keys}")
    return check
