"""The reference Calendar Assistant's API on real MongoDB and Redis."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from chaos.targets.local import LocalTarget


def test_users_events_and_sessions_round_trip(sandbox: LocalTarget) -> None:
    app = sandbox.endpoints.apps[0]
    with httpx.Client(base_url=app, timeout=5) as http:
        assert http.post("/users", json={"id": "u1", "name": "Ada", "email": "ada@example.org"}).status_code == 201
        assert http.put("/users/u1", json={"name": "Ada L."}).json()["name"] == "Ada L."
        assert http.put("/users/nobody", json={"name": "x"}).status_code == 404
        event = {"id": "e1", "user_id": "u1", "title": "review", "start": "10:00", "end": "11:00"}
        assert http.post("/events", json=event).status_code == 201
        assert http.get("/events/e1").json()["cached"] is False
        assert http.get("/events/e1").json()["cached"] is True
        assert http.put("/events/e1", json={"title": "design review"}).status_code == 200
        updated = http.get("/events/e1").json()
        assert updated["title"] == "design review"  # the update invalidated the cached copy
        assert updated["cached"] is False
        assert [doc["_id"] for doc in http.get("/users/u1/events").json()] == ["e1"]
        token = http.post("/sessions", json={"user_id": "u1"}).json()["token"]
        assert http.get(f"/sessions/{token}").json() == {"user_id": "u1"}
        assert http.delete("/events/e1").status_code == 204
        assert http.get("/events/e1").status_code == 404
        assert http.delete("/users/u1").status_code == 204


def test_bad_requests_are_refused_with_a_reason(sandbox: LocalTarget) -> None:
    app = sandbox.endpoints.apps[0]
    with httpx.Client(base_url=app, timeout=5) as http:
        assert http.post("/users", json={"name": "no id"}).status_code == 400
        missing = http.post("/users", json={"id": "u2", "name": "B"})
        assert missing.status_code == 400
        assert "email" in missing.json()["error"]
        orphan = {"id": "e2", "user_id": "ghost", "title": "t", "start": "s", "end": "e"}
        assert "does not exist" in http.post("/events", json=orphan).json()["error"]
        assert (
            http.post("/events", content=b"{not json", headers={"Content-Type": "application/json"}).status_code == 400
        )
        assert http.get("/nowhere").status_code == 404


def _metric(text: str, series: str, *, absent: float | None = None) -> float:
    """The value of one series; a counter not yet incremented may be ``absent``, a gauge may not."""
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.rsplit(" ", 1)[1])
    assert absent is not None, f"{series} missing from /metrics"
    return absent


def test_metrics_count_requests_and_errors(sandbox: LocalTarget) -> None:
    app = sandbox.endpoints.apps[2]
    ok = 'calendar_requests_total{method="GET",route="/health",status="200"}'
    unavailable = 'calendar_requests_total{method="GET",route="/health",status="503"}'
    errors = 'calendar_request_errors_total{route="/health"}'
    before = httpx.get(f"{app}/metrics", timeout=5).text
    httpx.get(f"{app}/health", timeout=5)
    sandbox.toxiproxy.set_enabled("redis", False)
    assert httpx.get(f"{app}/health", timeout=5).json()["failed"] == ["redis"]
    after = httpx.get(f"{app}/metrics", timeout=5).text
    sandbox.toxiproxy.set_enabled("redis", True)
    assert _metric(after, ok) - _metric(before, ok, absent=0) == 1
    assert _metric(after, unavailable) - _metric(before, unavailable, absent=0) == 1
    assert _metric(after, errors) - _metric(before, errors, absent=0) == 1
    assert _metric(after, 'calendar_dependency_up{dependency="redis"}') == 0
    assert _metric(after, 'calendar_dependency_up{dependency="mongodb"}') == 1
