"""The sandbox's monitoring: a Prometheus server scraping every app replica's ``/metrics``.

Replicas are found through a file (Prometheus ``file_sd_configs``) that the
target rewrites whenever it scales, as Kubernetes service discovery would.
Prometheus hands discovered targets to its scrapers at most every 5 seconds,
so a restarted server scrapes nothing for its first few seconds: part of what
the monitoring RTO measures.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["JOB", "SCRAPE_INTERVAL_S", "ScrapeTarget", "scrape_targets", "write_config", "write_targets"]

JOB = "calendar-assistant"
SCRAPE_INTERVAL_S = 1.0


def write_config(path: Path, targets_file: Path, *, scrape_interval: float = SCRAPE_INTERVAL_S) -> None:
    """A configuration with one job that scrapes whatever ``targets_file`` lists."""
    interval_ms = round(scrape_interval * 1000)
    config = {
        "global": {"scrape_interval": f"{interval_ms}ms", "scrape_timeout": f"{round(interval_ms * 0.9)}ms"},
        "scrape_configs": [
            {"job_name": JOB, "file_sd_configs": [{"files": [str(targets_file)], "refresh_interval": "5s"}]}
        ],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config, indent=2))  # JSON is YAML


def write_targets(path: Path, replicas: dict[str, str]) -> None:
    """List ``replicas`` (name -> host:port) for discovery; replaced atomically so no half file is read."""
    groups = [{"targets": [address], "labels": {"replica": name}} for name, address in replicas.items()]
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".tmp")
    partial.write_text(json.dumps(groups, indent=2))
    os.replace(partial, path)


@dataclass(frozen=True)
class ScrapeTarget:
    """One scraped endpoint as the server last saw it."""

    address: str
    replica: str
    health: str  # "up", "down" or "unknown" (not scraped yet)
    last_scrape_wall: float | None  # when the last scrape started, by the server's clock
    last_scrape_duration_s: float
    last_error: str

    @property
    def up(self) -> bool:
        return self.health == "up"


_RFC3339 = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)")


def _wall(timestamp: str) -> float | None:
    """An RFC 3339 time from the API (up to nanosecond digits) as epoch seconds; None for Go's zero time."""
    match = _RFC3339.fullmatch(timestamp)
    if match is None or timestamp.startswith("0001-"):
        return None
    seconds, fraction, zone = match.groups()
    base = datetime.fromisoformat(seconds + ("+00:00" if zone == "Z" else zone)).timestamp()
    return base + float(f"0.{fraction}") if fraction else base


def scrape_targets(api: str, *, timeout: float = 1.0, client: httpx.Client | None = None) -> list[ScrapeTarget]:
    """The active targets of the ``calendar-assistant`` job; raises ``httpx.HTTPError`` if the API does not answer."""
    http = client or httpx
    response = http.get(f"{api}/api/v1/targets", params={"state": "active"}, timeout=timeout)
    response.raise_for_status()
    targets = []
    for entry in response.json()["data"]["activeTargets"]:
        labels = entry.get("labels", {})
        if labels.get("job") != JOB:
            continue
        targets.append(ScrapeTarget(
            address=str(labels.get("instance", "")), replica=str(labels.get("replica", "")),
            health=str(entry.get("health", "unknown")), last_scrape_wall=_wall(str(entry.get("lastScrape", ""))),
            last_scrape_duration_s=float(entry.get("lastScrapeDuration") or 0.0),
            last_error=str(entry.get("lastError", "")),
        ))  # fmt: skip
    return targets
