"""Notification settings, their errors, and what a report may show of a destination."""

from __future__ import annotations

import pytest

from chaos.config import DEFAULT_BUDGETS, load_budgets
from chaos.errors import ConfigError
from chaos.notify import (
    DRILL_MARK,
    Delivery,
    NotificationSettings,
    Notifier,
    missing_variables,
    parse_notifications,
    redacted,
)

WHERE = "targets.yaml: targets.prod"


def test_off_unless_a_channel_has_a_destination() -> None:
    assert not parse_notifications(None, WHERE).enabled
    assert not parse_notifications({"team": []}, WHERE).enabled
    settings = parse_notifications({"team": ["json://hooks.example.com/x"], "timeout": "3s"}, WHERE)
    assert settings.enabled
    assert settings.timeout_s == 3.0


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("json://x", "targets.prod.notifications: expected a mapping"),
        ({"pager": []}, "targets.prod.notifications.pager: unknown key; expected team, status, users, support"),
        ({"team": "json://x"}, "targets.prod.notifications.team: expected a list of Apprise URLs"),
        ({"team": ["json://x", 7]}, "targets.prod.notifications.team[1]: expected an Apprise URL"),
        ({"status": ["nosuch://x.example/y"]}, "notifications.status[0]: Apprise cannot use nosuch://x.example"),
        ({"team": ["mmost://h/${token}"]}, "notifications.team[0]: ${token} is not a variable"),
        ({"team": ["mmost://h/$TOKEN"]}, "notifications.team[0]: a '$' that does not start ${NAME}"),
        ({"team": [], "timeout": "0s"}, "notifications.timeout: must be longer than 0s"),
        ({"team": [], "timeout": "soon"}, "notifications.timeout:"),
    ],
)
def test_each_mistake_is_named_by_its_key(raw: object, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_notifications(raw, WHERE)
    assert message in str(error.value)


def test_a_rejected_url_is_shown_without_its_secret() -> None:
    with pytest.raises(ConfigError) as error:
        parse_notifications({"team": ["nosuch://user:hunter2@host.example/tok3n"]}, WHERE)
    assert "hunter2" not in str(error.value)
    assert "tok3n" not in str(error.value)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("mmost://chat.example.com/${CHAT_TOKEN}", "mmost://chat.example.com"),
        (
            "mailtos://${SMTP_USER}:${SMTP_PASSWORD}@smtp.example.com?to=oncall@example.com",
            "mailtos://smtp.example.com",
        ),
        ("mailto://user:hunter2@smtp.example.com:587/?to=a@b", "mailto://smtp.example.com"),
        ("json://${STATUS_HOST}/api", "json://${STATUS_HOST}"),
        ("json://status-${ENV}.example.com/api", "json://..."),
        ("slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ", "slack://..."),  # tokens where the host goes
        ("json://localhost:8080/x", "json://localhost"),
        ("json://[::1]:8080/x", "json://::1"),
        ("no scheme at all", "?://..."),
    ],
)
def test_a_destination_is_shown_as_scheme_and_host_only(url: str, shown: str) -> None:
    assert redacted(url) == shown


def test_unset_variables_are_listed_with_their_channel(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SET_ONE", "x")
    monkeypatch.delenv("UNSET_ONE", raising=False)
    settings = NotificationSettings({"team": ("mmost://h/${SET_ONE}",), "status": ("json://h/${UNSET_ONE}",)})
    assert missing_variables(settings) == ["UNSET_ONE (status)"]


def test_sending_with_an_unset_variable_fails_without_raising(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("UNSET_ONE", raising=False)
    notifier = Notifier(NotificationSettings({"team": ("json://127.0.0.1:9/${UNSET_ONE}",)}, timeout_s=1))
    (delivery,) = notifier.notify_team("drill_started", "database failure", "details")
    assert not delivery.ok
    assert "UNSET_ONE" in delivery.error
    assert delivery.title.startswith(DRILL_MARK)
    assert notifier.deliveries() == [delivery]


def test_a_delivery_record_holds_no_secret() -> None:
    delivery = Delivery("incident_detected", "team", redacted("mmost://h.example/${T}"), f"{DRILL_MARK} x", 1.0, 0.2,
                        ok=False, error="refused")  # fmt: skip
    assert delivery.to_json()["destination"] == "mmost://h.example"


def test_the_budget_profiles_time_the_communication_plan() -> None:
    assert load_budgets(DEFAULT_BUDGETS, "production").communication == {"team_notified": 300.0,
                                                                          "status_updated": 900.0}  # fmt: skip
    assert load_budgets(DEFAULT_BUDGETS, "sandbox").communication["team_notified"] == 10.0
