"""Messages to the people the DR plan's communication plan names, through Apprise.

Four channels, one per step of the plan: ``team`` (notify_team: the on-call
chat and email), ``status`` (update_status: the status page), ``users``
(notify_users) and ``support`` (update_support_team). Each channel is a list of
Apprise URLs, for example:

- a Slack-compatible incoming webhook: ``mmost://chat.example.com/${CHAT_TOKEN}``
  (Mattermost; ``mmosts://`` over TLS) or ``slack://${SLACK_TOKENS}``;
- email: ``mailtos://${SMTP_USER}:${SMTP_PASSWORD}@smtp.example.com?to=oncall@example.com``,
  or ``mailto://relay.internal:25?from=drill@example.com&to=oncall@example.com&mode=insecure``
  for a relay without TLS;
- a status page or any HTTP receiver: ``json://status.example.com/api/incidents`` (a JSON POST
  with title and message).

``${NAME}`` stands for the value of the environment variable NAME, read when a
message is sent: tokens and passwords never sit in the targets file, and never
reach a report — a destination is shown as its scheme and host only, and a
failure's text has every expanded value taken out.

Sending never raises: a destination that refuses, times out or cannot be
reached gives a failed :class:`Delivery` with the reason, and a warning in the
log. Every title and body is marked as a drill.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
import warnings
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import apprise

with warnings.catch_warnings():
    # Apprise's email plugin loads its PGP support on first use, which imports imghdr, deprecated since
    # Python 3.11: imported here once, quietly, rather than as an error in the middle of a drill.
    warnings.simplefilter("ignore", DeprecationWarning)
    import apprise.utils.pgp

from chaos.config import parse_duration
from chaos.errors import ConfigError
from chaos.report.redact import Redactor

__all__ = [
    "CHANNELS",
    "DRILL_MARK",
    "Delivery",
    "NotificationSettings",
    "Notifier",
    "missing_variables",
    "parse_notifications",
    "redacted",
]

CHANNELS = ("team", "status", "users", "support")
DRILL_MARK = "[DRILL]"
DRILL_FOOTER = "This is a disaster-recovery drill, not a real incident."
PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")
VARIABLE = re.compile(r"[A-Z_][A-Z0-9_]*")
DEFAULT_TIMEOUT_S = 10.0
MAX_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class NotificationSettings:
    channels: dict[str, tuple[str, ...]] = field(default_factory=dict)  # channel -> URL templates, as written
    timeout_s: float = DEFAULT_TIMEOUT_S  # connect and read timeout of each destination

    @property
    def enabled(self) -> bool:
        return any(self.channels.values())


def _variables(template: str) -> list[str]:
    return PLACEHOLDER.findall(template)


def parse_notifications(raw: object, where: str) -> NotificationSettings:
    """A target's ``notifications`` mapping; ``None``: off. Errors name the key."""
    if raw is None:
        return NotificationSettings()
    here = f"{where}.notifications"
    if not isinstance(raw, dict):
        raise ConfigError(f"{here}: expected a mapping of {', '.join(CHANNELS)} (lists of Apprise URLs) and timeout")
    channels: dict[str, tuple[str, ...]] = {}
    timeout = DEFAULT_TIMEOUT_S
    for key, value in raw.items():
        if key == "timeout":
            try:
                timeout = parse_duration(value)
            except ValueError as exc:
                raise ConfigError(f"{here}.timeout: {exc}") from None
            if not 0 < timeout <= MAX_TIMEOUT_S:
                raise ConfigError(f"{here}.timeout: must be longer than 0s and at most {MAX_TIMEOUT_S:g}s")
            continue
        if key not in CHANNELS:
            raise ConfigError(f"{here}.{key}: unknown key; expected {', '.join(CHANNELS)}, timeout")
        if not isinstance(value, list):
            raise ConfigError(f"{here}.{key}: expected a list of Apprise URLs, got {value!r}")
        for index, url in enumerate(value):
            _check_url(url, f"{here}.{key}[{index}]")
        channels[key] = tuple(value)
    return NotificationSettings(channels, timeout)


def _check_url(url: object, where: str) -> None:
    if not isinstance(url, str) or not url.strip():
        raise ConfigError(f"{where}: expected an Apprise URL (a string), got {url!r}")
    for name in _variables(url):
        if not VARIABLE.fullmatch(name):
            raise ConfigError(f"{where}: ${{{name}}} is not a variable: write ${{NAME}}, NAME in capitals, digits "
                              "and '_'")  # fmt: skip
    if re.search(r"\$(?!\{)", url):
        raise ConfigError(f"{where}: a '$' that does not start ${{NAME}}: secrets come from ${{VARIABLES}}")
    # Check the form without the secrets: every variable as a harmless stand-in.
    probe = PLACEHOLDER.sub("x", url)
    if apprise.Apprise.instantiate(probe, suppress_exceptions=True) is None:
        scheme = url.split("://", 1)[0] if "://" in url else ""
        known = "" if not scheme else f" (is {scheme}:// a scheme Apprise knows?)"
        raise ConfigError(f"{where}: Apprise cannot use {redacted(url)}{known}; for example mmost://host/TOKEN "
                          "(Slack-compatible webhook), mailto://host?to=ADDRESS (email), json://host/path "
                          "(HTTP receiver)")  # fmt: skip


def missing_variables(settings: NotificationSettings) -> list[str]:
    """Every ``${NAME}`` the destinations use that the environment does not set, as "NAME (channel)"."""
    missing = []
    for channel, urls in settings.channels.items():
        for url in urls:
            missing += [f"{name} ({channel})" for name in _variables(url) if not os.environ.get(name)]
    return sorted(set(missing))


def redacted(url: str) -> str:
    """What a report may show of a destination: its scheme and host, a variable by its name only.

    Some schemes put a token where the host goes (``slack://TokenA/TokenB/TokenC``): a "host" that
    is neither a domain name, an address, nor ``localhost`` is shown as ``...``.
    """
    try:
        scheme, rest = url.split("://", 1) if "://" in url else ("?", url)
        authority = rest.split("/", 1)[0].split("?", 1)[0]
        host = authority.rsplit("@", 1)[-1]
        if PLACEHOLDER.fullmatch(host):
            return f"{scheme}://{host}"
        if PLACEHOLDER.search(host):
            return f"{scheme}://..."
        name = urlsplit(f"//{host}").hostname or ""
        return f"{scheme}://{name if '.' in name or ':' in name or name == 'localhost' else '...'}"
    except ValueError:
        return "?://?"


@dataclass(frozen=True)
class Delivery:
    event: str  # drill_started, incident_detected, budget_breached, drill_finished
    channel: str
    destination: str  # redacted: scheme and host
    title: str
    started_at: float  # wall clock
    seconds: float
    ok: bool
    error: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"event": self.event, "channel": self.channel, "destination": self.destination, "title": self.title,
                "started_at": self.started_at, "seconds": round(self.seconds, 3), "ok": self.ok,
                "error": self.error}  # fmt: skip


class _Collect(logging.Handler):
    """Apprise's own log lines while one message is sent: they say why it failed."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


class Notifier:
    """Sends a channel's message to each of its destinations, one by one; records every delivery."""

    def __init__(self, settings: NotificationSettings, *, log: logging.Logger | None = None) -> None:
        self.settings = settings
        self.log = log or logging.getLogger("chaos.notify")
        self._lock = threading.Lock()
        self._deliveries: list[Delivery] = []

    def deliveries(self) -> list[Delivery]:
        with self._lock:
            return list(self._deliveries)

    def send(self, event: str, channel: str, title: str, body: str) -> list[Delivery]:
        marked_title = f"{DRILL_MARK} {title}"
        marked_body = f"{DRILL_MARK} {body}\n\n{DRILL_FOOTER}"
        results = [self._one(event, channel, url, marked_title, marked_body)
                   for url in self.settings.channels.get(channel, ())]  # fmt: skip
        with self._lock:
            self._deliveries += results
        return results

    def _one(self, event: str, channel: str, template: str, title: str, body: str) -> Delivery:
        started, clock = time.time(), time.monotonic()
        destination = redacted(template)
        secrets = [value for name in _variables(template) if (value := os.environ.get(name))]
        ok, error = False, ""
        try:
            missing = [name for name in _variables(template) if not os.environ.get(name)]
            if missing:
                raise LookupError(f"environment variable {', '.join(missing)} not set")
            url = PLACEHOLDER.sub(lambda match: os.environ[match.group(1)], template)
            separator = "&" if "?" in url else "?"
            url += f"{separator}cto={self.settings.timeout_s:g}&rto={self.settings.timeout_s:g}"
            sender = apprise.Apprise()
            if not sender.add(url):
                raise ValueError("Apprise refused the URL")
            collect = _Collect()
            logger = logging.getLogger("apprise")
            logger.addHandler(collect)
            try:
                ok = bool(sender.notify(body=body, title=title))
            finally:
                logger.removeHandler(collect)
            if not ok:
                error = "; ".join(collect.lines[-3:]) or "not delivered"
        except Exception as exc:  # a notification never stops a drill
            ok, error = False, f"{type(exc).__name__}: {exc}"
        error = _scrub(error, secrets)
        delivery = Delivery(event, channel, destination, title, started, time.monotonic() - clock, ok, error)
        if not ok:
            self.log.warning("notification %s to %s (%s) failed: %s", event, channel, destination, error)
        return delivery

    # The plan's four steps (dr-plan.md, "Communication Plan"), with its arguments.
    def notify_team(self, event: str, incident_type: str, details: str) -> list[Delivery]:
        return self.send(event, "team", f"Incident: {incident_type}", f"Incident: {incident_type}\nDetails: {details}")

    def update_status(self, event: str, status: str, details: str) -> list[Delivery]:
        return self.send(event, "status", status, f"Status: {status}\nDetails: {details}")

    def notify_users(self, event: str, incident_type: str, status: str, eta: str) -> list[Delivery]:
        return self.send(event, "users", f"{incident_type}: {status}",
                         f"Incident: {incident_type}\nStatus: {status}\nETA: {eta}")  # fmt: skip

    def update_support_team(self, event: str, incident_type: str, status: str, eta: str) -> list[Delivery]:
        return self.send(event, "support", f"{incident_type}: {status}",
                         f"Incident: {incident_type}\nStatus: {status}\nETA: {eta}")  # fmt: skip


def _scrub(text: str, secrets: list[str]) -> str:
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, "***")
    return Redactor()(text)
