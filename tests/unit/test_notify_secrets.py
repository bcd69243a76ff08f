"""A secret written plainly in a notification URL is refused; a repr never shows a destination's secrets (issue 23).

The targets file may hold a destination's scheme, host and plain path; every password, token or key
in it is a ``${VARIABLE}``. A refusal names the file and the key, and shows none of what it refused.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from chaos.errors import ConfigError
from chaos.faults.process import BlastRadius
from chaos.notify import NotificationSettings, parse_notifications
from chaos.targets.config import TargetConfig, load_target

WHERE = "targets.yaml: targets.prod"
HOOK = "3aqyxtmzgbdmdkgzgmkzkhz4ce"  # a Mattermost hook id: 26 letters and digits


@pytest.mark.parametrize(
    ("url", "what"),
    [
        ("mailtos://oncall:hunter2@smtp.example.com?to=oncall@example.com", "a password (in user:password@)"),
        ("mailtos://${SMTP_USER}:hunter2${X}@smtp.example.com", "a password (in user:password@)"),
        ("json://status.example.com/api?token=hunter2", "the query parameter 'token'"),
        ("json://status.example.com/api?+X-Api-Key=hunter2", "the query parameter '+X-Api-Key'"),
        ("mailtos://smtp.example.com?user=oncall&pass=hunter2", "the query parameter 'pass'"),
        (f"mmost://chat.example.com/{HOOK}", "what looks like a token (a path segment)"),
        ("slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ/#incidents", "what looks like a token (a path segment)"),
        (f"pover://{HOOK}@${{PUSHOVER_TOKEN}}", "what looks like a token (the user)"),
        (f"json://status.example.com/api?incident={HOOK}", "what looks like a token (a query value)"),
        (f"json://status.example.com/api#{HOOK}", "what looks like a token (the fragment)"),
        (f"json://{HOOK}.example.com/api", "what looks like a token (the host)"),
        (f"mmost://chat.example.com/${{CHAT}}-{HOOK}", "what looks like a token (a path segment)"),
    ],
)  # fmt: skip
def test_a_secret_written_in_a_url_is_refused_without_being_shown(url: str, what: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_notifications({"status": ["json://status.example.com/ok"], "team": [url]}, WHERE)
    message = str(error.value)
    assert message.startswith(f"{WHERE}.notifications.team[0]: ")
    assert what in message
    assert "write ${NAME} in its place" in message
    for secret in ("hunter2", HOOK, "TIiajkdnlazkcOXrIdevi7FQ"):
        assert secret not in message


@pytest.mark.parametrize(
    "url",
    [
        "mmosts://chat.example.com/${CHAT_WEBHOOK_TOKEN}",
        "mailtos://${SMTP_USER}:${SMTP_PASSWORD}@smtp.example.com?to=oncall@example.com",
        "mailto://relay.internal:25?from=drill@example.com&to=oncall@example.com&mode=insecure",
        "mailtos://oncall@smtp.example.com?to=oncall@example.com&pass=${SMTP_PASSWORD}",
        "slack://${SLACK_A}/${SLACK_B}/${SLACK_C}/#incidents",
        "json://status.example.com/api/incidents",
        "json://status.example.com:8443/calendar-assistant-notifications/v2",  # long, but a word: no digit
        "json://status.example.com/api/12345678901234567890",  # an id, all digits
    ],
)
def test_the_documented_forms_and_plain_paths_are_accepted(url: str) -> None:
    assert parse_notifications({"team": [url]}, WHERE).channels == {"team": (url,)}


def test_the_targets_file_error_names_the_file_and_the_key(tmp_path: Path) -> None:
    targets = tmp_path / "targets.yaml"
    targets.write_text("targets:\n  prod:\n    kind: local\n    drill_allowed: true\n    replicas: 1\n"
                       "    blast_radius: {max_replicas: 1}\n"
                       f"    notifications:\n      status: ['json://status.example.com/hooks/{HOOK}']\n")  # fmt: skip
    with pytest.raises(ConfigError) as error:
        load_target(targets, "prod")
    assert str(error.value).startswith(f"{targets}: targets.prod.notifications.status[0]: json://status.example.com ")
    assert HOOK not in str(error.value)


def test_a_repr_shows_each_destination_as_scheme_and_host_only() -> None:
    """Defence in depth: settings made in code, not parsed, still print no secret (Allure prints reprs)."""
    settings = NotificationSettings({"team": (f"mmost://oncall:hunter2@chat.example.com/{HOOK}?key=k3y#frag",),
                                     "status": ("slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ",)},
                                    timeout_s=3.0)  # fmt: skip
    config = TargetConfig("prod", "local", True, 1, BlastRadius(1, 1.0), Path("targets.yaml"),
                          notifications=settings)  # fmt: skip
    for shown in (repr(settings), str(settings), repr(config)):
        assert "mmost://chat.example.com" in shown
        assert "slack://..." in shown
        for secret in ("oncall", "hunter2", HOOK, "k3y", "frag", "T1JJ3T3L2", "TIiajkdnlazkcOXrIdevi7FQ"):
            assert secret not in shown
    assert "timeout_s=3.0" in repr(settings)
    assert settings.channels["team"][0].endswith("#frag")  # the URL itself is kept whole, to be sent
