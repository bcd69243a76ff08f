"""Drills that must fail or be inconclusive, run only by the framework's own tests (never collected by default)."""

from pathlib import Path

from pytest_bdd import scenarios

# Absolute: a relative path would resolve against bdd_features_base_dir (features/).
scenarios(str(Path(__file__).resolve().parent / "unobserved.feature"))
