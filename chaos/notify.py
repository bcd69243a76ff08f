"""Messages to the people the DR plan's communication plan names, through Apprise.

Four channels, one per function of the plan: ``team`` (notify_team: the on-call
chat and email), ``status`` (update_status: the status page and stakeholders),
``users`` (notify_users) and ``support`` (update_support_team). Each channel is a
list of Apprise URLs. The first form of each is tested against local servers:

- Slack-compatible chat webhook: ``mmost://chat.example.com/${CHAT_TOKEN}``
  (Mattermost, posts to ``/hooks/<token>``; ``mmost://host:8065/...`` for another port,
  ``mmosts://`` over TLS). Slack itself: ``slack://${SLACK_A}/${SLACK_B}/${SLACK_C}/#incidents``.
- email to a relay that speaks neither TLS nor auth:
  ``mailto://relay.internal:25?from=drill@example.com&to=oncall@example.com&mode=insecure``;
  with STARTTLS and login: ``mailtos://${SMTP_USER}:${SMTP_PASSWORD}@smtp.example.com?to=oncall@example.com``.
- a status page or any HTTP receiver: ``json://status.example.com/api/incidents`` (a JSON POST
  of version, title, message and type; ``jsons://`` over TLS).

``${NAME}`` stands for the value of the environment variable NAME, read when a
message is sent and put into the URL as it is (percent-encode a password's ``@``
or ``/`` in the variable). Secrets never sit in the targets file, nor reach a
report: a destination is shown as scheme and host (in a repr too), and every
value a URL was given is masked in failure texts and in what Apprise and urllib3
log (at DEBUG they print whole webhook URLs).

A URL that holds a secret written as it is, not as a ``${VARIABLE}``, is refused:
a password in ``user:password@``; the value of a query parameter whose name says
it is secret (``token``, ``key``, ``password``, ``secret``, ``sig``, ``auth``...);
or a user, host, path segment, query value or fragment with a run of 20 or more
letters, digits and ``-_~+=%`` that mixes letters and digits (what webhook
tokens look like; a word such as ``calendar-assistant-notifications`` is not).

``timeout`` bounds each destination: that long to connect, that long for each
read (Apprise's ``cto`` and ``rto``, replacing any written in the URL), and
Apprise stops waiting for it after twice that in all.

Sending never raises: a destination that refuses, times out or cannot be
reached gives a failed :class:`Delivery` with the reason, and a warning in the
log. Every title and body is marked as a drill.
"""

from __future__ import annotations

import difflib
import logging
import os
import re
import threading
import time
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import apprise
from apprise.manager_plugins import NotificationManager

with warnings.catch_warnings():
    # Apprise's email plugin imports its PGP support on first use, which imports imghdr, deprecated since
    # Python 3.11: imported here once, quietly, rather than raised as an error in the middle of a drill.
    warnings.filterwarnings("ignore", message="'imghdr' is deprecated", category=DeprecationWarning)
    import apprise.utils.pgp

from chaos.config import parse_duration
from chaos.errors import ConfigError
from chaos.report.redact import Redactor

if TYPE_CHECKING:
    from collections.abc import Iterable

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
SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")
STAND_IN = "x"  # what a ${VARIABLE} is while a URL is checked: the secret is not read for that
# What a secret written in a URL looks like (see the module's docstring).
TOKEN_RUN = re.compile(r"[A-Za-z0-9_~+=%-]{20,}")
SECRET_PARAMETER = re.compile(r"pass|pwd|secret|token|key|sig|credential|private|auth", re.IGNORECASE)
DEFAULT_TIMEOUT_S = 10.0
MAX_TIMEOUT_S = 120.0
# The loggers that print what a URL holds: Apprise's plugins (the webhook URL, at DEBUG) and urllib3 (the path).
SENDING_LOGGERS = ("apprise", "urllib3.connectionpool", "urllib3.util.retry")


@dataclass(frozen=True, repr=False)
class NotificationSettings:
    channels: dict[str, tuple[str, ...]] = field(default_factory=dict)  # channel -> URL templates, as written
    timeout_s: float = DEFAULT_TIMEOUT_S  # connect timeout, and read timeout, of each destination

    @property
    def enabled(self) -> bool:
        return any(self.channels.values())

    def __repr__(self) -> str:
        # Reports print reprs (Allure's step parameters show the TargetConfig): destinations as scheme and host.
        shown = {channel: tuple(map(redacted, urls)) for channel, urls in self.channels.items()}
        return f"{type(self).__name__}(channels={shown!r}, timeout_s={self.timeout_s!r})"


def _variables(template: str) -> list[str]:
    return PLACEHOLDER.findall(template)


def parse_notifications(raw: object, where: str) -> NotificationSettings:
    """A target's ``notifications`` mapping; ``None``: off. Errors name the key; no variable is read."""
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
            raise ConfigError(f"{here}.{key}: expected a list of Apprise URLs, got {type(value).__name__}")
        for index, url in enumerate(value):
            _check_url(url, f"{here}.{key}[{index}]")
        channels[key] = tuple(value)
    return NotificationSettings(channels, timeout)


def _check_url(url: object, where: str) -> None:
    if not isinstance(url, str) or not url.strip():
        raise ConfigError(f"{where}: expected an Apprise URL (a string), got {type(url).__name__}")
    for name in _variables(url):
        if not VARIABLE.fullmatch(name):
            raise ConfigError(f"{where}: ${{{name}}} is not a variable: write ${{NAME}}, NAME in capitals, digits "
                              "and '_'")  # fmt: skip
    if "$" in PLACEHOLDER.sub("", url):
        raise ConfigError(f"{where}: a '$' that does not start ${{NAME}}: secrets come from ${{VARIABLES}}")
    written = _written_secret(url)
    if written:
        raise ConfigError(
            f"{where}: {redacted(url)} holds {written} written as it is: put it in an environment "
            "variable and write ${NAME} in its place (secrets never sit in the targets file)"
        )
    if apprise.Apprise.instantiate(PLACEHOLDER.sub(STAND_IN, url), suppress_exceptions=True) is not None:
        return
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    schemes: list[str] = NotificationManager().schemas()  # type: ignore[no-untyped-call]
    if scheme not in schemes and scheme not in ("http", "https"):
        close = [f"{known}://" for known in difflib.get_close_matches(scheme, schemes, n=3)]
        hint = f"close: {', '.join(close)}" if close else "for chat mmost://, email mailto://, a webhook json://"
        raise ConfigError(f"{where}: Apprise cannot use {redacted(url)}: it knows no scheme {scheme}://; {hint}")
    raise ConfigError(f"{where}: Apprise cannot use {redacted(url)}: its {scheme}:// plugin refused the URL (checked "
                      f"with each ${{VARIABLE}} as {STAND_IN!r}); see Apprise's page for {scheme}://")  # fmt: skip


def _written_secret(url: str) -> str:
    """Which secret ``url`` holds as it is, not as a ``${VARIABLE}`` ("a password", ...); "" when none."""
    rest = url.split("://", 1)[-1]
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    path, _, fragment = rest[len(authority) :].partition("#")
    path, _, query = path.partition("?")
    userinfo, _, host = authority.rpartition("@")
    user, colon, password = userinfo.partition(":")
    if colon and PLACEHOLDER.sub("", password):
        return "a password (in user:password@)"
    parameters = [pair.partition("=") for pair in query.split("&") if pair]
    for name, _, value in parameters:
        if SECRET_PARAMETER.search(name) and PLACEHOLDER.sub("", value):
            return f"a secret (the value of the query parameter {name!r})"
    parts = {"the user": [user], "the host": [host], "a path segment": path.split("/"),
             "a query value": [value for _, _, value in parameters], "the fragment": [fragment]}  # fmt: skip
    for where, texts in parts.items():
        if any(_token_like(PLACEHOLDER.sub(" ", text)) for text in texts):
            return f"what looks like a token ({where})"
    return ""


def _token_like(text: str) -> bool:
    """A run of 20 or more token characters that mixes letters and digits."""
    return any(re.search(r"[A-Za-z]", run) and re.search(r"[0-9]", run) for run in TOKEN_RUN.findall(text))


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
    is neither a domain name, an address, nor ``localhost``, or that holds what looks like a token,
    is shown as ``...``.
    """
    try:
        scheme, rest = url.split("://", 1) if "://" in url else ("?", url)
        scheme = scheme if PLACEHOLDER.fullmatch(scheme) or SCHEME.fullmatch(scheme) else "?"
        authority = rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
        host = authority.rsplit("@", 1)[-1]
        if PLACEHOLDER.fullmatch(host):
            return f"{scheme}://{host}"
        if PLACEHOLDER.search(host):
            return f"{scheme}://..."
        name = urlsplit(f"//{host}").hostname or ""
        named = ("." in name or ":" in name or name == "localhost") and not _token_like(name)
        return f"{scheme}://{name if named else '...'}"
    except Exception:  # odd input is shown as nothing rather than raised from a report
        return "?://..."


@dataclass(frozen=True)
class Delivery:
    event: str  # drill_started, incident_detected, budget_breached, drill_finished
    channel: str
    destination: str  # redacted: scheme and host
    title: str
    started_at: float  # wall clock
    seconds: float
    ok: bool
    error: str = ""  # redacted: no value a URL was given

    def to_json(self) -> dict[str, Any]:
        return {"event": self.event, "channel": self.channel, "destination": self.destination, "title": self.title,
                "started_at": self.started_at, "seconds": round(self.seconds, 3), "ok": self.ok,
                "error": self.error}  # fmt: skip


class _Scrubber(logging.Filter):
    """Masks every value a URL was given, in texts and in the records of the libraries that send.

    Process-wide, and values are never forgotten: a worker Apprise stopped waiting for may still log.
    """

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._values: set[str] = set()

    def learn(self, values: Iterable[str]) -> None:
        with self._lock:
            self._values.update(value for value in values if value)

    def __call__(self, text: str) -> str:
        with self._lock:
            values = list(self._values)
        return Redactor(values)(text)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is the logging module's to report
            return True
        scrubbed = self(message)
        if scrubbed != message:
            record.msg, record.args = scrubbed, None
        return True


_SCRUB = _Scrubber()


class Notifier:
    """Sends a channel's message to each of its destinations, one by one; records every delivery."""

    def __init__(self, settings: NotificationSettings, *, log: logging.Logger | None = None) -> None:
        self.settings = settings
        self.log = log or logging.getLogger("chaos.notify")
        self._lock = threading.Lock()
        self._deliveries: list[Delivery] = []
        for name in SENDING_LOGGERS:
            logging.getLogger(name).addFilter(_SCRUB)  # once: addFilter ignores a filter already there

    def deliveries(self) -> list[Delivery]:
        with self._lock:
            return list(self._deliveries)

    def send(self, event: str, channel: str, title: str, body: str) -> list[Delivery]:
        """One message to every destination of ``channel``, marked as a drill; never raises."""
        marked_title = f"{DRILL_MARK} {title}"
        marked_body = f"{DRILL_MARK} {body}\n\n{DRILL_FOOTER}"
        results = [self._one(event, channel, url, marked_title, marked_body)
                   for url in self.settings.channels.get(channel, ())]  # fmt: skip
        with self._lock:
            self._deliveries += results
        return results

    def _one(self, event: str, channel: str, template: str, title: str, body: str) -> Delivery:
        started, clock = time.time(), time.monotonic()
        _SCRUB.learn(os.environ.get(name, "") for name in _variables(template))
        try:
            ok, error = self._deliver(template, title, body)
        except Exception as exc:  # a notification never stops a drill, whatever Apprise raises
            ok, error = False, f"{type(exc).__name__}: {exc}"
        delivery = Delivery(event, channel, redacted(template), title, started, time.monotonic() - clock, ok,
                            _SCRUB(error))  # fmt: skip
        if not ok:
            self.log.warning("notification %s to %s (%s) failed after %.2fs: %s", event, channel,
                             delivery.destination, delivery.seconds, delivery.error)  # fmt: skip
        return delivery

    def _deliver(self, template: str, title: str, body: str) -> tuple[bool, str]:
        missing = [name for name in _variables(template) if not os.environ.get(name)]
        if missing:
            return False, f"environment variable {', '.join(missing)} not set"
        timeout = self.settings.timeout_s
        url = PLACEHOLDER.sub(lambda match: os.environ[match.group(1)], template)
        url += f"{'&' if '?' in url else '?'}cto={timeout:g}&rto={timeout:g}"  # the last of a repeated key wins
        sender = apprise.Apprise(asset=apprise.AppriseAsset(async_mode=False))
        if not sender.add(url):
            return False, "Apprise refused the URL once its variables were filled in"
        with sender.notify(body=body, title=title, timeout=2 * timeout) as result:
            # The call's status and the one destination's own: both must say it was accepted.
            services = list(result)
            if result and len(services) == 1 and services[0]:
                return True, ""
            reasons = [entry.message for entry in result.logs() if entry.level in ("WARNING", "ERROR", "CRITICAL")]
            return False, f"{result.status.name.lower()}: {'; '.join(reasons[-3:]) or 'Apprise gave no reason'}"

    # The plan's four functions (dr-plan.md, "Communication Plan"), with its arguments and an event.
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
