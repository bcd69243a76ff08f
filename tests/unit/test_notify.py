"""Notification settings and their errors, what a report may show of a destination, and sending.

Sending goes to an in-memory Apprise plugin (``drilltest://``, registered through Apprise's own
``@notify`` decorator): the whole Apprise path runs, no server does. Its host says how it answers.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import TYPE_CHECKING, Any

import apprise.decorators
import pytest
from apprise.manager_plugins import NotificationManager
from hypothesis import given
from hypothesis import strategies as st

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

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

WHERE = "targets.yaml: targets.prod"
TOKEN = "Tk-8f3a9c1e77d2"
FOOTER = "This is a disaster-recovery drill, not a real incident."


@pytest.fixture
def outbox() -> Iterator[list[dict[str, Any]]]:
    """Messages the drilltest:// plugin took: ``refuse.*`` answers False, ``crash.*`` raises, ``slow.*`` sleeps 2s."""
    sent: list[dict[str, Any]] = []

    @apprise.decorators.notify(on="drilltest", name="drill test outbox")
    def keep(body: str, title: str, notify_type: str, meta: dict[str, Any], *args: Any, **kwargs: Any) -> bool:
        host = meta.get("host", "")
        if host.startswith("slow."):
            time.sleep(2.0)
        sent.append({"title": title, "body": body, "url": meta["url"], "qsd": meta.get("qsd", {})})
        if host.startswith("crash."):
            raise RuntimeError(f"cannot post to {meta['url']}")
        return not host.startswith("refuse.")

    yield sent
    NotificationManager().remove("drilltest")


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
        ({"pager": []}, "notifications.pager: unknown key; expected team, status, users, support, timeout"),
        ({"team": "json://x"}, "targets.prod.notifications.team: expected a list of Apprise URLs, got str"),
        ({"users": None}, "targets.prod.notifications.users: expected a list of Apprise URLs, got NoneType"),
        ({"team": ["json://x", 7]}, "targets.prod.notifications.team[1]: expected an Apprise URL (a string), got int"),
        ({"team": [" "]}, "targets.prod.notifications.team[0]: expected an Apprise URL"),
        ({"status": ["nosuch://x.example/y"]}, "notifications.status[0]: Apprise cannot use nosuch://x.example: "),
        ({"team": ["slak://chat.example.com/t"]}, "team[0]: Apprise cannot use slak://chat.example.com: it knows no "
                                                  "scheme slak://; close: slack://"),
        ({"team": ["tgram://${TG_TOKEN}/${TG_CHAT}"]}, "team[0]: Apprise cannot use tgram://${TG_TOKEN}: its tgram:// "
                                                       "plugin refused the URL (checked with each ${VARIABLE} as 'x')"),
        ({"support": ["mmost://h/${token}"]}, "notifications.support[0]: ${token} is not a variable"),
        ({"team": ["mmost://h/${}"]}, "notifications.team[0]: ${} is not a variable"),
        ({"team": ["mmost://h/$TOKEN"]}, "notifications.team[0]: a '$' that does not start ${NAME}"),
        ({"team": ["mmost://h/${TOKEN"]}, "notifications.team[0]: a '$' that does not start ${NAME}"),
        ({"team": [], "timeout": "0s"}, "notifications.timeout: must be longer than 0s"),
        ({"team": [], "timeout": "10m"}, "notifications.timeout: must be longer than 0s and at most 120s"),
        ({"team": [], "timeout": "soon"}, "notifications.timeout:"),
    ],
)  # fmt: skip
def test_each_mistake_is_named_by_its_key(raw: object, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_notifications(raw, WHERE)
    assert message in str(error.value)
    assert str(error.value).startswith(WHERE)


@pytest.mark.parametrize(
    "raw",
    [
        {"team": ["nosuch://user:hunter2@host.example/tok3n?key=k3y"]},
        {"team": ["mmost://chat.example.com/tok3n-and-hunter2-k3y"], "status": "json://user:hunter2@h/tok3n?k3y"},
        {"team": [{"url": "mmost://user:hunter2@chat.example.com/tok3n?k3y"}]},
        {"team": ["mmost://${CHAT_HOST}/tok3n/$hunter2?k3y"]},
    ],
)
def test_a_config_error_shows_no_secret_written_in_the_file(raw: object) -> None:
    with pytest.raises(ConfigError) as error:
        parse_notifications(raw, WHERE)
    for secret in ("hunter2", "tok3n", "k3y"):
        assert secret not in str(error.value)


def test_parsing_reads_no_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """Placeholders are checked as placeholders: an unset or odd value does not matter until a message is sent."""
    monkeypatch.delenv("CHAT_TOKEN", raising=False)
    monkeypatch.setenv("CHAT_HOST", "not a host/?#")
    written = "mmost://${CHAT_HOST}/${CHAT_TOKEN}"
    settings = parse_notifications({"team": [written], "status": ["json://status.example.com/api/drill"]}, WHERE)
    assert settings.channels == {"team": (written,), "status": ("json://status.example.com/api/drill",)}


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("mmost://chat.example.com/${CHAT_TOKEN}", "mmost://chat.example.com"),
        ("mmost://${CHAT_HOST}/${CHAT_TOKEN}", "mmost://${CHAT_HOST}"),
        (
            "mailto://${SMTP_USER}:${SMTP_PASSWORD}@smtp.example.com?to=oncall@example.com",
            "mailto://smtp.example.com",
        ),
        ("mailto://user:hunter2@smtp.example.com:587/?to=a@b", "mailto://smtp.example.com"),
        ("mailto://user:p@ss/w?rd@smtp.example.com", "mailto://..."),
        ("json://${STATUS_HOST}/api", "json://${STATUS_HOST}"),
        ("json://status-${ENV}.example.com/api", "json://..."),
        ("json://hooks.example.com#tok3n", "json://hooks.example.com"),
        ("slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ", "slack://..."),  # tokens where the host goes
        ("https://hooks.slack.com/services/T1/B2/C3", "https://hooks.slack.com"),
        ("json://localhost:8080/x", "json://localhost"),
        ("json://[::1]:8080/x", "json://::1"),
        ("json://[::1/x", "?://..."),
        ("no scheme at all", "?://..."),
        ("tok3n with spaces://host.example/x", "?://host.example"),
        ("", "?://..."),
    ],
)
def test_a_destination_is_shown_as_scheme_and_host_only(url: str, shown: str) -> None:
    assert redacted(url) == shown


SECRET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_~!*%"
SECRET_PART = st.text(SECRET + ".", min_size=1, max_size=12).map(lambda s: f"S3{s}")
TOKEN_PART = st.text(SECRET, min_size=1, max_size=12).map(lambda s: f"S3{s}")  # no dot: a token, not a domain


@given(
    scheme=st.sampled_from(["mmost", "mailto", "mailtos", "json", "jsons", "slack"]),
    host=st.from_regex(r"[a-z]{1,8}(\.[a-z]{2,6}){1,2}", fullmatch=True),
    user=SECRET_PART,
    password=SECRET_PART,
    path=SECRET_PART,
    query=SECRET_PART,
    token=TOKEN_PART,
)
def test_no_user_password_path_query_or_token_is_ever_shown(
    scheme: str, host: str, user: str, password: str, path: str, query: str, token: str
) -> None:
    """Secrets start with S3 here and hosts are letters only: an "s3" in what is shown is a leak."""
    for url in (f"{scheme}://{user}:{password}@{host}/{path}?to={query}", f"{scheme}://{host}:25/{path}/{query}",
                f"{scheme}://{user}@{host}?{query}#{path}", f"{scheme}://{token}/{path}"):  # fmt: skip
        assert "s3" not in redacted(url).lower()


@given(st.text())
def test_any_text_is_shown_without_raising(url: str) -> None:
    assert "://" in redacted(url)


def test_unset_variables_are_listed_with_their_channel(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SET_ONE", "x")
    monkeypatch.setenv("EMPTY_ONE", "")
    monkeypatch.delenv("UNSET_ONE", raising=False)
    settings = NotificationSettings({
        "team": ("mmost://h/${SET_ONE}", "json://h/${UNSET_ONE}/${UNSET_ONE}"),
        "status": ("json://h/${UNSET_ONE}",),
        "support": ("json://${EMPTY_ONE}/x",),
    })  # fmt: skip
    assert missing_variables(settings) == ["EMPTY_ONE (support)", "UNSET_ONE (status)", "UNSET_ONE (team)"]
    assert missing_variables(NotificationSettings()) == []


PLAN_STEPS: list[tuple[str, Callable[[Notifier], list[Delivery]], str, list[str]]] = [
    ("team", lambda n: n.notify_team("incident_detected", "database failure", "RTO 4.2s of 60s"),
     "Incident: database failure", ["Incident: database failure", "Details: RTO 4.2s of 60s"]),
    ("status", lambda n: n.update_status("incident_detected", "investigating", "restore running"),
     "investigating", ["Status: investigating", "Details: restore running"]),
    ("users", lambda n: n.notify_users("incident_detected", "database failure", "investigating", "within 60s"),
     "database failure: investigating", ["Incident: database failure", "Status: investigating", "ETA: within 60s"]),
    ("support", lambda n: n.update_support_team("drill_finished", "database failure", "resolved", "now"),
     "database failure: resolved", ["Incident: database failure", "Status: resolved", "ETA: now"]),
]  # fmt: skip


@pytest.mark.parametrize(("channel", "step", "title", "lines"), PLAN_STEPS, ids=[step[0] for step in PLAN_STEPS])
def test_each_plan_step_sends_a_marked_message_to_its_channel(
    outbox: list[dict[str, Any]],
    channel: str,
    step: Callable[[Notifier], list[Delivery]],
    title: str,
    lines: list[str],
) -> None:
    others = {other: (f"drilltest://{other}.example/",) for other in ("team", "status", "users", "support")}
    notifier = Notifier(NotificationSettings(others))
    (delivery,) = step(notifier)
    assert delivery.ok, delivery.error
    assert delivery.channel == channel
    (message,) = outbox
    assert message["url"].startswith(f"drilltest://{channel}.example/")
    assert message["title"] == delivery.title == f"{DRILL_MARK} {title}"
    body = message["body"].splitlines()
    assert body[0] == f"{DRILL_MARK} {lines[0]}"
    assert body[1 : len(lines)] == lines[1:]
    assert body[-1] == FOOTER


def test_each_destination_is_tried_and_one_failing_hides_no_other(
    outbox: list[dict[str, Any]], caplog: pytest.LogCaptureFixture
) -> None:
    notifier = Notifier(NotificationSettings({"team": (
        "drilltest://refuse.example/", "drilltest://crash.example/", "drilltest://ok.example/",
    )}))  # fmt: skip
    caplog.set_level(logging.WARNING, logger="chaos.notify")
    refused, crashed, delivered = notifier.notify_team("drill_started", "drill", "details")
    assert (refused.ok, crashed.ok, delivered.ok) == (False, False, True)
    assert refused.error == "failure: Failed to send drill test outbox notification."
    assert crashed.error.startswith("failure: An exception occured")  # Apprise's spelling
    assert delivered.error == ""
    assert len(outbox) == 3
    assert [r.getMessage().split(" failed")[0] for r in caplog.records if r.name == "chaos.notify"] == [
        "notification drill_started to team (drilltest://refuse.example)",
        "notification drill_started to team (drilltest://crash.example)",
    ]  # fmt: skip


def test_a_secret_reaches_the_destination_and_nothing_we_keep_or_log(
    outbox: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The crashing plugin puts the whole URL, token and all, into its exception, which Apprise logs at DEBUG."""
    monkeypatch.setenv("DRILL_HOOK", TOKEN)
    caplog.set_level(logging.DEBUG)
    notifier = Notifier(NotificationSettings({"team": (
        "drilltest://crash.example/${DRILL_HOOK}", "drilltest://ok.example/${DRILL_HOOK}",
    )}))  # fmt: skip
    deliveries = notifier.notify_team("incident_detected", "database failure", "RTO 4.2s")
    assert [message["url"].split("?")[0] for message in outbox] == [
        f"drilltest://crash.example/{TOKEN}", f"drilltest://ok.example/{TOKEN}",
    ]  # fmt: skip
    assert any("cannot post to drilltest://crash.example/***" in record.getMessage() for record in caplog.records)
    kept = json.dumps([d.to_json() for d in deliveries]) + repr(deliveries) + repr(notifier.deliveries())
    logged = caplog.text + "".join(record.getMessage() for record in caplog.records)
    assert TOKEN not in kept
    assert TOKEN not in logged


def test_an_unset_variable_fails_that_destination_and_sends_nothing(
    outbox: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("UNSET_ONE", raising=False)
    notifier = Notifier(NotificationSettings({"team": ("drilltest://ok.example/${UNSET_ONE}",)}))
    (delivery,) = notifier.notify_team("drill_started", "database failure", "details")
    assert not delivery.ok
    assert delivery.error == "environment variable UNSET_ONE not set"
    assert delivery.title.startswith(DRILL_MARK)
    assert outbox == []
    assert notifier.deliveries() == [delivery]


def test_a_channel_without_destinations_sends_nothing(outbox: list[dict[str, Any]]) -> None:
    notifier = Notifier(NotificationSettings({"team": ("drilltest://ok.example/",), "users": ()}))
    assert notifier.notify_users("drill_started", "drill", "investigating", "soon") == []
    assert notifier.update_status("drill_started", "investigating", "x") == []
    assert outbox == []


def test_the_timeout_goes_to_every_destination_as_connect_and_read_timeouts(outbox: list[dict[str, Any]]) -> None:
    notifier = Notifier(NotificationSettings({"team": ("drilltest://ok.example/?cto=60",)}, timeout_s=2.5))
    (delivery,) = notifier.notify_team("drill_started", "drill", "details")
    assert delivery.ok
    assert outbox[0]["qsd"]["cto"] == "2.5"  # the settings' timeout replaces the URL's own
    assert outbox[0]["qsd"]["rto"] == "2.5"


def test_a_destination_slower_than_twice_the_timeout_is_given_up(outbox: list[dict[str, Any]]) -> None:
    notifier = Notifier(NotificationSettings({"team": ("drilltest://slow.example/",)}, timeout_s=0.25))
    started = time.monotonic()
    (delivery,) = notifier.notify_team("drill_started", "drill", "details")
    assert not delivery.ok
    assert delivery.error.startswith("timeout")
    assert time.monotonic() - started < 1.5  # the plugin takes 2s; Apprise stops waiting after 0.5s


def test_sending_from_several_threads_keeps_every_delivery(outbox: list[dict[str, Any]]) -> None:
    notifier = Notifier(NotificationSettings({"team": ("drilltest://ok.example/",)}))
    returned: dict[int, list[Delivery]] = {}

    def sender(index: int) -> None:
        returned[index] = [notifier.notify_team(f"event-{index}-{n}", "drill", "details")[0] for n in range(5)]

    threads = [threading.Thread(target=sender, args=(index,)) for index in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    kept = notifier.deliveries()
    assert len(kept) == len(outbox) == 30
    assert all(delivery.ok for delivery in kept)
    for index, mine in returned.items():
        assert [delivery for delivery in kept if delivery.event.startswith(f"event-{index}-")] == mine


def test_a_delivery_record_holds_no_secret() -> None:
    delivery = Delivery("incident_detected", "team", redacted("mmost://h.example/${T}"), f"{DRILL_MARK} x", 1.0,
                        0.2, ok=False, error="refused")  # fmt: skip
    assert delivery.to_json() == {"event": "incident_detected", "channel": "team", "destination": "mmost://h.example",
                                  "title": f"{DRILL_MARK} x", "started_at": 1.0, "seconds": 0.2, "ok": False,
                                  "error": "refused"}  # fmt: skip


def test_the_budget_profiles_time_the_communication_plan() -> None:
    assert load_budgets(DEFAULT_BUDGETS, "production").communication == {"team_notified": 300.0,
                                                                          "status_updated": 900.0}  # fmt: skip
    assert load_budgets(DEFAULT_BUDGETS, "sandbox").communication["team_notified"] == 10.0
