"""Command-line values checked where they are parsed: before anything starts, one message naming the flag.

Each function here is an ``argparse`` type (for ``drill`` and for the pytest
options): it returns the parsed value or raises ``ArgumentTypeError``, which
both turn into a usage error naming the flag. Nothing is created, started or
changed while checking.
"""

from __future__ import annotations

import argparse
import math
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pymongo.errors
import redis
from pymongo import uri_parser

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "database_name",
    "existing_dir",
    "http_url",
    "mongodb_uri",
    "new_dir",
    "redis_url",
    "seconds",
    "sha256_hex",
    "whole_number",
    "writable_dir",
]

SYSTEM_TREES = (Path("/proc"), Path("/sys"), Path("/dev"))
_DATABASE_FORBIDDEN = re.compile(r'[/\\. "$\x00]')


def seconds(low: float, high: float, *, low_inclusive: bool = False) -> Callable[[str], float]:
    """A finite number of seconds in (low, high] (or [low, high])."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
        above = value >= low if low_inclusive else value > low
        if not math.isfinite(value) or not above or value > high:
            bound = "[" if low_inclusive else "("
            raise argparse.ArgumentTypeError(f"{text!r} must be a finite number of seconds in "
                                             f"{bound}{low:g}, {high:g}]")  # fmt: skip
        return value

    return parse


def whole_number(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is outside {low}..{high}")
        return value

    return parse


def http_url(text: str) -> str:
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise argparse.ArgumentTypeError(f"{text!r} is not an http:// or https:// URL with a host")
    try:
        parts.port  # noqa: B018  # raises on a port that is not a number
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: {exc}") from None
    return text.rstrip("/")


def mongodb_uri(text: str) -> str:
    if not text.startswith(("mongodb://", "mongodb+srv://")):
        raise argparse.ArgumentTypeError(f"{_shown(text)} is not a mongodb:// or mongodb+srv:// URI")
    try:  # warn=False: an invalid option (directConnection=maybe) is an error, not a warning
        uri_parser.parse_uri(text, warn=False, connect_timeout=5)
    except (pymongo.errors.InvalidURI, pymongo.errors.ConfigurationError, ValueError) as exc:
        raise argparse.ArgumentTypeError(f"{_shown(text)}: {exc}") from None
    return text


def redis_url(text: str) -> str:
    if not text.startswith(("redis://", "rediss://", "unix://")):
        raise argparse.ArgumentTypeError(f"{_shown(text)} is not a redis://, rediss:// or unix:// URL")
    try:
        redis.connection.parse_url(text)  # type: ignore[no-untyped-call]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{_shown(text)}: {exc}") from None
    return text


def _shown(uri: str) -> str:
    """A URI as an error message may show it: without its password."""
    scheme, sep, rest = uri.partition("://")
    return repr(f"{scheme}{sep}{rest.split('@', 1)[-1]}" if "@" in rest else uri)


def sha256_hex(text: str) -> str:
    if not re.fullmatch(r"[0-9a-fA-F]{64}", text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a SHA-256 (64 hexadecimal digits)")
    return text.lower()


def database_name(text: str) -> str:
    if not text or len(text.encode()) > 63 or _DATABASE_FORBIDDEN.search(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a MongoDB database name (1-63 bytes, none of / \\ . \" $ "
                                         "or a space)")  # fmt: skip
    return text


def _system(path: Path) -> bool:
    resolved = path.resolve()
    return any(resolved == tree or tree in resolved.parents for tree in SYSTEM_TREES)


def _nearest_existing(path: Path) -> Path:
    current = path.resolve()
    while not current.exists():
        current = current.parent
    return current


def writable_dir(text: str) -> Path:
    """A directory to write into: existing or to be created, never a file, never under /proc, /sys or /dev."""
    path = Path(text)
    if not text:
        raise argparse.ArgumentTypeError("an empty path")
    if _system(path):
        raise argparse.ArgumentTypeError(f"{text}: under a system directory (/proc, /sys, /dev); choose another")
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text}: exists and is not a directory")
    ancestor = _nearest_existing(path)
    if not ancestor.is_dir() or not os.access(ancestor, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"{text}: cannot create or write it ({ancestor} is not a writable directory)")
    return path


def new_dir(text: str) -> Path:
    """A directory for a new backup: absent, or empty."""
    path = writable_dir(text)
    if path.is_dir() and any(path.iterdir()):
        raise argparse.ArgumentTypeError(f"{text}: not empty; a backup goes into a new, empty directory")
    return path


def existing_dir(text: str) -> Path:
    path = Path(text)
    if not path.exists():
        raise argparse.ArgumentTypeError(f"{text}: no such directory")
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text}: not a directory")
    return path
