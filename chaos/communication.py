"""The plan's communication plan, carried out during a drill and timed.

When a drill starts, the team hears that a drill is starting. When the fault is
*detected* — the first probe that failed after it, or the fault's own observed
effect, whichever came first — the plan's four steps run in its order:
notify_team (chat and email), update_status (status page: investigating),
notify_users and update_support_team (with the RTO budget as the ETA). When the
drill's figures are final, a breached budget is announced to the team, then the
drill's end to everyone (status page: resolved), with the measured figures.

Every message is marked as a drill (chaos.notify.DRILL_MARK). A failed delivery
is logged and reported and never stops the drill; it does count against the
communication budget, since the people the plan names were not told.

Measured: from detection to the moment the last destination of the team
channel accepted the message (``team_notified``), and the same for the status
page (``status_updated``), judged against the budget profile's
``communication`` figures.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from chaos.config import format_duration
from chaos.measure.evidence import write_jsonl
from chaos.measure.verdict import Verdict, worst
from chaos.report.record import Judgement

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from chaos.config import Budgets
    from chaos.measure.probe import Prober
    from chaos.notify import Delivery, Notifier
    from chaos.report.record import DrillRecord

__all__ = ["POLL_S", "DrillCommunication"]

POLL_S = 0.05  # how often the watcher looks for the fault's detection: detection is timed from the evidence,
# but the messages go out up to this much later, and that delay is part of the measured figure

MEASURED = {"team_notified": "team", "status_updated": "status"}


class DrillCommunication:
    """Sends one drill's messages and times them; ``start`` and ``finish`` bracket the scenario."""

    def __init__(self, notifier: Notifier, record: DrillRecord, budgets: Budgets, *, incident: str,
                 eta_s: Callable[[], float | None]) -> None:  # fmt: skip
        self.notifier = notifier
        self.record = record
        self.budgets = budgets
        self.incident = incident  # e.g. the disaster type: "database failure"
        self.eta_s = eta_s  # the RTO budget the drill is judged against, once known
        self._probers: list[Prober] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.detected_mono: float | None = None
        self.detected_by = ""
        self.done: dict[str, float | None] = {}  # measured step -> seconds from detection, None: not delivered
        self._finished = False

    # -- the drill's life -------------------------------------------------------------------------
    def start(self) -> DrillCommunication:
        self._record(self.notifier.notify_team(
            "drill_started", f"{self.incident} drill starting",
            f"{self.record.name} (target {self.record.target}, {self.record.budget_profile} budgets)"))  # fmt: skip
        self._thread = threading.Thread(target=self._watch, name="drill-communication", daemon=True)
        self._thread.start()
        return self

    def watch(self, prober: Prober) -> None:
        """Count the prober's failures as detection."""
        with self._lock:
            self._probers.append(prober)

    def finish(self) -> None:
        """Stop watching; announce breached budgets, then the end; judge the measured steps. Once."""
        if self._finished:
            return
        self._finished = True
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=120)  # an incident announcement still on its way is waited for
        record = self.record
        figures = _figures(record)
        for line in [line for line, verdict in figures if verdict == Verdict.FAILED.value]:
            self._record(self.notifier.notify_team("budget_breached", f"{self.incident}: budget breached",
                                                   f"{record.name}\n{line}"))  # fmt: skip
        verdict = worst(Verdict(value) for _, value in figures).value  # the figures measured so far
        details = "\n".join([record.name, f"Verdict: {verdict}", *(line for line, _ in figures)])
        self._record(self.notifier.notify_team("drill_finished", f"{self.incident} drill finished", details))
        if self.detected_mono is not None:
            self._record(self.notifier.update_status("drill_finished", "resolved", f"{self.incident} drill over"))
            self._record(self.notifier.notify_users("drill_finished", self.incident, "resolved", "now"))
            self._record(self.notifier.update_support_team("drill_finished", self.incident, "resolved", "now"))
        self._judge()

    # -- detection and the incident messages ------------------------------------------------------
    def _watch(self) -> None:
        while True:
            stopping = self._stop.wait(POLL_S)
            found = self._detection()  # once more after the stop: a fault detected just before is announced
            if found is not None:
                self.detected_mono, self.detected_by = found
                self.record.timeline.mark("fault_detected", mono=found[0], by=found[1])
                self._announce()
                return
            if stopping:
                return

    def _detection(self) -> tuple[float, str] | None:
        fault = self.record.timeline.first("fault_injected")
        if fault is None:
            return None
        candidates = []
        observed = self.record.timeline.first("fault_observed")
        if observed is not None:
            candidates.append((observed.mono, "the fault's observed effect"))
        with self._lock:
            probers = list(self._probers)
        for prober in probers:
            failed = next((s for s in prober.samples() if s.mono >= fault.mono and not s.ok), None)
            if failed is not None:
                candidates.append((failed.mono + failed.latency_s, f"a failed probe ({failed.failure})"))
        return min(candidates) if candidates else None

    def _announce(self) -> None:
        assert self.detected_mono is not None
        eta = self.eta_s()
        shown_eta = "unknown" if eta is None else f"within {format_duration(eta)} (the RTO budget)"
        details = f"{self.record.name}\nDetected by {self.detected_by}"
        event = "incident_detected"
        self._timed("team_notified", self._record(self.notifier.notify_team(event, self.incident, details)))
        self._timed("status_updated", self._record(self.notifier.update_status(event, "investigating", details)))
        self._record(self.notifier.notify_users(event, self.incident, "investigating", shown_eta))
        self._record(self.notifier.update_support_team(event, self.incident, "investigating", shown_eta))

    def _timed(self, step: str, deliveries: list[Delivery]) -> None:
        if not deliveries:
            return  # no destination for this channel: nothing to time
        assert self.detected_mono is not None
        if all(delivery.ok for delivery in deliveries):
            # Wall clock: each delivery's start plus its duration, brought to the timeline's monotonic clock.
            last = max(delivery.started_at + delivery.seconds for delivery in deliveries)
            moment = self.record.timeline.mark(step, wall=last)
            self.done[step] = moment.mono - self.detected_mono
        else:
            self.done[step] = None

    def _record(self, deliveries: list[Delivery]) -> list[Delivery]:
        """Note each failed delivery in the drill's record; the notifier keeps every delivery."""
        for delivery in deliveries:
            if not delivery.ok:
                self.record.notes.append(f"notification failed: {delivery.event} to {delivery.channel} "
                                         f"({delivery.destination}): {delivery.error}")  # fmt: skip
        return deliveries

    def _judge(self) -> None:
        for step, channel in MEASURED.items():
            if step not in self.done:
                continue
            budget = self.budgets.communication[step]
            seconds = self.done[step]
            name = f"communication: {step.replace('_', ' ')} within {format_duration(budget)} of detection"
            if seconds is None:
                failed = [d for d in self.deliveries() if d.channel == channel and not d.ok]
                reason = "; ".join(f"{d.destination}: {d.error}" for d in failed)
                self.record.judgements.append(Judgement(name, Verdict.FAILED, f"not delivered: {reason}"))
                continue
            verdict = Verdict.PASSED if seconds <= budget else Verdict.FAILED
            reason = (f"{seconds:.2f}s from detection ({self.detected_by}) to the last {channel} destination "
                      f"accepting the message (the watcher looks every {POLL_S:g}s)")  # fmt: skip
            self.record.judgements.append(Judgement(name, verdict, reason))

    # -- evidence ---------------------------------------------------------------------------------
    def deliveries(self) -> list[Delivery]:
        return self.notifier.deliveries()  # one notifier per drill: its deliveries are this drill's

    def save(self, path: Path) -> Path:
        return write_jsonl(path, (delivery.to_json() for delivery in self.deliveries()))

    def to_json(self) -> dict[str, Any]:
        deliveries = self.deliveries()
        return {"detected_by": self.detected_by or None,
                "measured_s": {step: None if value is None else round(value, 3) for step, value in self.done.items()},
                "budget_s": {step: self.budgets.communication[step] for step in self.done},
                "deliveries": len(deliveries),
                "channels": {channel: {"sent": sum(d.channel == channel for d in deliveries),
                                       "ok": sum(d.channel == channel and d.ok for d in deliveries)}
                             for channel in sorted({d.channel for d in deliveries})},
                "failed": sum(not delivery.ok for delivery in deliveries)}  # fmt: skip


def _figures(record: DrillRecord) -> list[tuple[str, str]]:
    """(line, verdict) per measured figure, for the messages."""
    lines = []
    if record.rto is not None:
        rto = record.rto
        measured = "not recovered" if rto.measured_s is None else f"{rto.measured_s:.2f}s"
        lines.append((f"RTO {rto.component}: {measured} (budget {format_duration(rto.budget_s)})", rto.verdict.value))
    for name, loss in record.rpo.items():
        lines.append((f"RPO {name}: {loss.lost} of {loss.acked} acknowledged writes lost, window {loss.window_s:.2f}s "
                      f"(budget {format_duration(loss.budget_s)})", loss.verdict.value))  # fmt: skip
    for judgement in record.judgements:
        lines.append((f"{judgement.name}: {judgement.verdict.value}", judgement.verdict.value))
    return lines
