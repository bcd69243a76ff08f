"""The drills' command-line options, known to pytest before it reads its command line.

Installed as the ``pytest11`` entry point ``chaos.pytest_plugin`` (pyproject.toml), and listed by the
project's conftest.py under the same name for a checkout that is not installed, so it loads once.

pytest picks its root directory, and with it pyproject.toml's settings, from the command line before any
plugin can add an option: in ``pytest -m database_failure --budgets /etc/drill/budgets.yaml`` it takes the
file for a test path and roots itself at ``/etc/drill``, where no settings are. So when a value option is
written with a space and pytest rooted itself anywhere but this project, the plugin runs the same pytest
again with ``--budgets=/etc/drill/budgets.yaml``, before anything is collected or started — as
``drill run`` does for its own command line.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from chaos import inputs
from chaos.config import DEFAULT_BUDGETS
from chaos.faults.ledger import DEFAULT_LEDGER
from chaos.targets.config import DEFAULT_TARGETS

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["OPTIONS", "VALUE_OPTIONS", "drill_help", "joined"]

ROOT = Path(__file__).resolve().parent.parent
GROUP = ("drill", "disaster-recovery drills")
OPTIONS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("--target", {"metavar": "NAME", "default": "sandbox",
                  "help": "target of the targets file to drill; default: %(default)s"}),
    ("--targets", {"metavar": "FILE", "type": Path, "default": DEFAULT_TARGETS,
                   "help": "targets file (drill_allowed, blast radius); default: %(default)s"}),
    ("--budget-profile", {"metavar": "NAME", "default": "sandbox",
                          "help": "profile of the budgets file to judge drills against; default: %(default)s"}),
    ("--budgets", {"metavar": "FILE", "type": Path, "default": DEFAULT_BUDGETS,
                   "help": "budgets file (RTO/RPO per profile); default: %(default)s"}),
    ("--dry-run", {"action": "store_true",
                   "help": "print each drill's resolved plan and run nothing: nothing is injected"}),
    ("--drill-report-dir", {"metavar": "DIR", "type": inputs.writable_dir, "default": None,
                            "help": "where this run's evidence, drill-report.json and compliance report go; "
                                    "default: reports/<run-id>"}),
    ("--drill-history", {"metavar": "FILE", "type": Path, "default": None,
                         "help": "the history every run appends to (trends, regressions); default: history.jsonl "
                                 "next to the run's directory"}),
    ("--probe-interval", {"metavar": "SECONDS", "type": inputs.seconds(0, 10), "default": 0.05,
                          "help": "seconds between probes of each replica and check, in (0, 10]; default: "
                                  "%(default)s (20 Hz)"}),
    ("--probe-timeout", {"metavar": "SECONDS", "type": inputs.seconds(0, 60), "default": None,
                         "help": "how long one probe may wait for its answer, in (0, 60]; default: the target's "
                                 "probe_timeout (2s)"}),
    ("--workdir", {"metavar": "DIR", "type": inputs.writable_dir, "default": Path(".drill") / "runs",
                   "help": "where sandbox runs keep their data and logs; default: %(default)s"}),
    ("--keep-workdir", {"action": "store_true", "help": "keep each sandbox run's data and logs after it stops"}),
    ("--ledger-dir", {"metavar": "DIR", "type": inputs.writable_dir, "default": DEFAULT_LEDGER,
                      "help": "where faults in flight are recorded until reverted; default: %(default)s"}),
)  # fmt: skip
# The options that take a value, and pytest's own that drill run passes on (--alluredir: allure-pytest-bdd's).
VALUE_OPTIONS = (*(name for name, spec in OPTIONS if spec.get("action") != "store_true"), "--alluredir")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup(*GROUP)
    for name, spec in OPTIONS:
        group.addoption(name, **spec)


def joined(args: Sequence[str]) -> list[str]:
    """``--budgets FILE`` as ``--budgets=FILE``, for every option of ``VALUE_OPTIONS``."""
    out: list[str] = []
    pending: str | None = None
    for arg in args:
        if pending is not None:
            out.append(f"{pending}={arg}")
            pending = None
        elif arg in VALUE_OPTIONS:
            pending = arg
        else:
            out.append(arg)
    if pending is not None:
        out.append(pending)  # pytest names the missing value
    return out


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config, parser: pytest.Parser, args: list[str]) -> None:
    given = list(early_config.invocation_params.args)
    rewritten = joined(given)
    if rewritten == given or early_config.inipath == ROOT / "pyproject.toml":
        return
    if Path(early_config.invocation_params.dir).resolve() != ROOT or sys.argv[1:] != given:
        return  # not the project's command line, or pytest.main() called by another program with its own args
    capture = early_config.pluginmanager.getplugin("capturemanager")
    if capture is not None:  # give the next pytest the terminal, not the capture's files
        capture.stop_global_capturing()
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, "-m", "pytest", *rewritten])


def drill_help() -> str:
    """The drill options' help, as ``drill run --help`` shows it before pytest's own."""
    parser = argparse.ArgumentParser(
        prog="drill run", add_help=False,
        usage="drill run [-m MARKERS] [-k EXPRESSION] [drill options] [pytest options] [paths]",
        description="Run the drills (features/, marker 'drill' unless -m is given) through pytest. Exit codes: 0 "
                    "every selected drill passed; 1 a budget was breached, a drill failed or was inconclusive; 2 "
                    "usage or configuration error; 3 infrastructure error or interrupted; 4 every selected drill "
                    "was unsupported on the target (nothing drilled).",
    )  # fmt: skip
    group = parser.add_argument_group("drill options")
    for name, spec in OPTIONS:
        group.add_argument(name, **spec)
    return parser.format_help()
