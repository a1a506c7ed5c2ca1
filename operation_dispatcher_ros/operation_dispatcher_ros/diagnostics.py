"""The dispatcher's health as one ``diagnostic_msgs/DiagnosticStatus`` per dispatcher.

Published on ``/diagnostics`` (absolute, where diagnostic aggregators and
``rqt_robot_monitor`` look), one status per dispatcher named after its
node, ``hardware_id`` the resource. The level says whether someone should
look, by these documented rules:

- ERROR: the store refuses writes (``store`` says why), or the dispatcher
  paused itself after a streak of denied starts (it stays paused until
  ``dispatcher/resume``).
- WARN: :data:`DENIAL_STREAK_WARN` or more starts denied in a row, the
  business logic did not answer the last handshake, or it answered slower
  than half the handshake timeout (the next slow answer may be a timeout).
- OK otherwise, again as soon as the cause is gone.

Pure functions of what the node knows: tested without a graph, published
by the node on a timer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from diagnostic_msgs.msg import DiagnosticStatus, KeyValue

from operation_dispatcher import DispatcherSnapshot

DENIAL_STREAK_WARN = 2
"""Starts denied in a row from which the status is WARN (one denial is the business logic doing its job)."""

OK, WARN, ERROR = DiagnosticStatus.OK, DiagnosticStatus.WARN, DiagnosticStatus.ERROR  # one byte each: they order


@dataclass(frozen=True)
class Handshakes:
    """What the node saw of its business logic: the last handshake's round trip and whether it was answered."""

    answered: bool | None = None  # None: no handshake yet
    latency: float | None = None  # seconds, of the last answered one
    timeout: float = 2.0


def dispatcher_status(
    name: str,
    snapshot: DispatcherSnapshot,
    handshakes: Handshakes,
    *,
    paused_automatically: bool,
    current_started_at: datetime | None,
    now: datetime,
) -> DiagnosticStatus:
    """The status of one dispatcher (see the module's docstring for the levels)."""
    problems: list[tuple[bytes, str]] = []
    if snapshot.storage_error:
        problems.append((ERROR, f"store refuses writes: {snapshot.storage_error}"))
    if snapshot.paused and paused_automatically:
        problems.append((ERROR, f"paused itself: {snapshot.paused_reason}"))
    if snapshot.consecutive_denials >= DENIAL_STREAK_WARN:
        problems.append((WARN, f"{snapshot.consecutive_denials} starts denied in a row"))
    if handshakes.answered is False:
        problems.append((WARN, "business logic did not answer the last handshake"))
    elif handshakes.latency is not None and handshakes.latency > handshakes.timeout / 2:
        problems.append((WARN, f"business logic answers slowly ({handshakes.latency:.2f} s of {handshakes.timeout:g} s)"))

    level = max((lvl for lvl, _ in problems), default=OK)
    message = "; ".join(text for _, text in problems) or snapshot.status.value.lower()
    age = (now - current_started_at).total_seconds() if current_started_at is not None else None
    values = {
        "status": snapshot.status.value,
        "queue_length": str(snapshot.queue_length),
        "current_operation": snapshot.current_operation_id or "",
        "current_operation_age_s": "" if age is None else f"{age:.1f}",
        "consecutive_denials": str(snapshot.consecutive_denials),
        "paused_reason": snapshot.paused_reason or "",
        "store": snapshot.storage_error or "ok",
        "business_logic": {None: "not asked yet", True: "answering", False: "not answering"}[handshakes.answered],
        "handshake_latency_s": "" if handshakes.latency is None else f"{handshakes.latency:.3f}",
    }
    return DiagnosticStatus(
        level=level,
        name=name,
        message=message,
        hardware_id=snapshot.resource_id,
        values=[KeyValue(key=key, value=value) for key, value in values.items()],
    )
