"""Budgets: the plan's tables load as written, and bad input is refused naming file, line and key."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chaos.config import DEFAULT_BUDGETS, format_duration, load_budgets, parse_duration
from chaos.errors import ConfigError

if TYPE_CHECKING:
    from pathlib import Path


def test_production_profile_is_the_plans_tables() -> None:
    budgets = load_budgets(DEFAULT_BUDGETS, "production")
    assert budgets.rto == {
        "application": 3600, "database": 7200, "monitoring": 1800,
        "analytics": 4 * 3600, "backup_systems": 6 * 3600, "development_environment": 24 * 3600,
    }  # fmt: skip
    assert budgets.rpo == {
        "user_data": 300, "calendar_events": 300, "system_configuration": 3600,
        "logs": 3600, "analytics": 4 * 3600, "development_data": 24 * 3600,
    }  # fmt: skip


def test_sandbox_profile_says_it_is_not_the_plan() -> None:
    budgets = load_budgets(DEFAULT_BUDGETS, "sandbox")
    assert "SANDBOX ONLY" in budgets.description
    assert set(budgets.rto) == set(load_budgets(DEFAULT_BUDGETS, "production").rto)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [(90, 90.0), ("90s", 90.0), ("5m", 300.0), ("1h30m", 5400.0), ("250ms", 0.25), ("2d", 172800.0), (0, 0.0)],
)
def test_parse_duration_accepts_units(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["-5s", -1, "five minutes", "", "5 parsecs", "5", True, None, "1h-30m"])
def test_parse_duration_rejects_nonsense(text: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


@given(st.integers(min_value=0, max_value=10**7))
def test_format_then_parse_round_trips_whole_seconds(seconds: int) -> None:
    assert parse_duration(format_duration(float(seconds))) == seconds


def _write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "budgets.yaml"
    path.write_text(body)
    return path


def test_unknown_component_names_file_line_and_key(tmp_path: Path) -> None:
    path = _write(tmp_path, "profiles:\n  p:\n    rto:\n      database: 1h\n      databse: 2h\n")
    with pytest.raises(ConfigError) as caught:
        load_budgets(path, "p")
    assert f"{path}:5: profiles.p.rto.databse: unknown name 'databse'" in str(caught.value)


def test_unknown_data_class_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, "profiles:\n  p:\n    rpo:\n      user_info: 5m\n")
    with pytest.raises(ConfigError, match=r"budgets.yaml:4: profiles.p.rpo.user_info: unknown name"):
        load_budgets(path, "p")


def test_negative_duration_names_the_key(tmp_path: Path) -> None:
    path = _write(tmp_path, "profiles:\n  p:\n    rpo:\n      user_data: -5m\n")
    with pytest.raises(ConfigError, match=r"budgets.yaml:4: profiles.p.rpo.user_data: '-5m' is not a duration"):
        load_budgets(path, "p")


def test_missing_profile_lists_the_ones_there(tmp_path: Path) -> None:
    path = _write(tmp_path, "profiles:\n  staging:\n    rto: {database: 1h}\n")
    with pytest.raises(ConfigError, match="no profile 'prod'; profiles here: staging"):
        load_budgets(path, "prod")


def test_unreadable_and_invalid_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read it"):
        load_budgets(tmp_path / "absent.yaml", "p")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_budgets(_write(tmp_path, "profiles: [unclosed\n"), "p")


def test_availability_budget_defaults_to_one_percent_in_ten_seconds(tmp_path: Path) -> None:
    budgets = load_budgets(_write(tmp_path, "profiles:\n  p:\n    rto: {database: 1h}\n"), "p")
    assert (budgets.availability.max_failed, budgets.availability.window_s) == (0.01, 10.0)
    assert load_budgets(DEFAULT_BUDGETS, "sandbox").availability == budgets.availability


@pytest.mark.parametrize(("text", "fraction"), [("1%", 0.01), ("0.5%", 0.005), (0.02, 0.02), (0, 0.0)])
def test_availability_budget_reads_percentages_and_fractions(tmp_path: Path, text: object, fraction: float) -> None:
    body = f"profiles:\n  p:\n    availability:\n      max_failed: {text}\n      window: 30s\n"
    budgets = load_budgets(_write(tmp_path, body), "p")
    assert budgets.availability.max_failed == pytest.approx(fraction)
    assert budgets.availability.window_s == 30.0


@pytest.mark.parametrize(
    ("line", "message"),
    [("max_failed: true", "not a fraction"), ("max_failed: 150%", "below 100%"), ("max_failed: 1.5", "below 100%"),
     ("window: 0s", "longer than 0s"), ("windw: 10s", "unknown key")],
)  # fmt: skip
def test_bad_availability_budget_names_line_and_key(tmp_path: Path, line: str, message: str) -> None:
    path = _write(tmp_path, f"profiles:\n  p:\n    availability:\n      {line}\n")
    key = line.split(":")[0]
    with pytest.raises(ConfigError, match=rf"budgets.yaml:4: profiles.p.availability.{key}: .*{message}"):
        load_budgets(path, "p")


def test_the_users_latency_budget_defaults_to_200ms_and_is_read_per_profile(tmp_path: Path) -> None:
    assert load_budgets(_write(tmp_path, "profiles:\n  p:\n    rto: {database: 1h}\n"), "p").users == {
        "p95_latency": 0.2
    }
    assert load_budgets(DEFAULT_BUDGETS, "production").users == {"p95_latency": 0.2}
    assert load_budgets(DEFAULT_BUDGETS, "sandbox").users == {"p95_latency": 1.0}
    path = _write(tmp_path, "profiles:\n  p:\n    users:\n      p95_latency: 350ms\n")
    assert load_budgets(path, "p").users["p95_latency"] == pytest.approx(0.35)


@pytest.mark.parametrize(
    ("line", "message"),
    [("p95_latency: 0ms", "longer than 0s"), ("p95_latency: fast", "not a duration"), ("p99_latency: 1s", "unknown")],
)
def test_a_bad_users_budget_names_line_and_key(tmp_path: Path, line: str, message: str) -> None:
    path = _write(tmp_path, f"profiles:\n  p:\n    users:\n      {line}\n")
    key = line.split(":")[0]
    with pytest.raises(ConfigError, match=rf"budgets.yaml:4: profiles.p.users.{key}: .*{message}"):
        load_budgets(path, "p")
