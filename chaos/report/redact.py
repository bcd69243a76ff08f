"""Secrets kept out of every report artifact.

Two kinds are masked wherever text is written for a report: the password in a
connection URI (``scheme://user:password@host``), and the value of any
environment variable whose name says it holds a secret (``*PASSWORD*``,
``*SECRET*``, ``*TOKEN*``, ``*_KEY``, ``DRILL_BACKUP_KEY``...).
"""

from __future__ import annotations

import os
import re

__all__ = ["MASK", "Redactor"]

MASK = "***"
SECRET_NAME = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|CREDENTIAL|(^|_)KEY$|PRIVATE", re.IGNORECASE)
URI_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s\"']*:)(?P<password>[^@\s\"'/]+)(?=@)", re.IGNORECASE)
MIN_SECRET_LENGTH = 6  # shorter values ("1", "yes") would mask ordinary text


class Redactor:
    """Masks URI passwords and the values of secret-named environment variables."""

    def __init__(self, secrets: list[str] | None = None, *, environ: dict[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        found = [value for name, value in env.items() if SECRET_NAME.search(name) and len(value) >= MIN_SECRET_LENGTH]
        # Longest first, so a secret that contains another is masked whole.
        self.secrets = sorted({*found, *(secrets or [])}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        text = URI_PASSWORD.sub(lambda match: match.group("head") + MASK, text)
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        return text
