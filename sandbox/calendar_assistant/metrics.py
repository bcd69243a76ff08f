"""Request, error and dependency metrics in the Prometheus text exposition format."""

from __future__ import annotations

import threading
from collections import defaultdict


class Metrics:
    def __init__(self, version: str = "1.0.0") -> None:
        self.version = version
        self._lock = threading.Lock()
        self._requests: dict[tuple[str, str, int], int] = defaultdict(int)
        self._seconds: dict[tuple[str, str], float] = defaultdict(float)
        self._dependencies: dict[str, int] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        with self._lock:
            self._requests[(method, route, status)] += 1
            self._seconds[(method, route)] += seconds

    def set_dependencies(self, status: dict[str, str]) -> None:
        with self._lock:
            self._dependencies = {name: int(value == "ok") for name, value in status.items()}

    def render(self) -> str:
        with self._lock:
            lines = [
                "# HELP calendar_build_info The release this replica runs.",
                "# TYPE calendar_build_info gauge",
                f'calendar_build_info{{version="{self.version}"}} 1',
                "# HELP calendar_requests_total HTTP requests served, by method, route and status.",
                "# TYPE calendar_requests_total counter",
            ]
            for (method, route, status), count in sorted(self._requests.items()):
                lines.append(f'calendar_requests_total{{method="{method}",route="{route}",status="{status}"}} {count}')
            lines += [
                "# HELP calendar_request_errors_total HTTP requests answered with a 5xx status, by route.",
                "# TYPE calendar_request_errors_total counter",
            ]
            errors: dict[str, int] = defaultdict(int)
            for (_, route, status), count in self._requests.items():
                if status >= 500:
                    errors[route] += count
            for route, count in sorted(errors.items()):
                lines.append(f'calendar_request_errors_total{{route="{route}"}} {count}')
            lines += [
                "# HELP calendar_request_duration_seconds_sum Time spent serving requests, by method and route.",
                "# TYPE calendar_request_duration_seconds_sum counter",
            ]
            for (method, route), seconds in sorted(self._seconds.items()):
                lines.append(
                    f'calendar_request_duration_seconds_sum{{method="{method}",route="{route}"}} {seconds:.6f}'
                )
            lines += [
                "# HELP calendar_dependency_up Whether a dependency answered its last health check (1) or not (0).",
                "# TYPE calendar_dependency_up gauge",
            ]
            for name, up in sorted(self._dependencies.items()):
                lines.append(f'calendar_dependency_up{{dependency="{name}"}} {up}')
            return "\n".join(lines) + "\n"
