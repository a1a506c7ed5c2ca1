"""The dispatcher's health as one ``diagnostic_msgs/DiagnosticStatus`` per dispatcher.

Published on ``/diagnostics`` (absolute, where diagnostic aggregators and
``rqt_robot_monitor`` look), one status per dispatcher named after its
node, ``hardware_id`` the resource. The level says whether someone should
look, by these documented rules:

- ERROR: the store refuses writes (``store`` says why), or the dispatcher
  paused itself after a streak of denied starts or failed operations (it
  stays paused until ``dispatcher/resume``).
- WARN: :data:`DENIAL_STREAK_WARN` or more starts denied in a row,
  :data:`FAILURE_STREAK_WARN` or more operations failed in a row, more than
  one business logic serving the start handshake (the dispatcher decides
  nothing then), the business logic did not answer the last handshake, or
  it answered slower than half the handshake timeout (the next slow answer
  may be a timeout), or recovery set store rows aside (they are in the file,
  not in the queue, until someone repairs them: docs/durability.md).
- OK otherwise, again as soon as the cause is gone.

:func:`dispatcher_status` is a pure function of what the node knows, tested
without a graph; :class:`DiagnosticsPublisher` feeds it and publishes the
result once a second (:data:`PERIOD`) and at once on each level change.
"Paused itself" follows the OPERATION_DISPATCHER_PAUSED events' ``automatic``
flag (the core sets it for the pause after ``max_retries`` denials or
``max_consecutive_failures`` failures), and
after a restart the last one in the store.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

from operation_dispatcher import DispatcherSnapshot, DispatchEvent, EventType, OperationDispatcher

PERIOD = 1.0
"""Seconds between two /diagnostics messages when nothing changes."""
TOPIC = "/diagnostics"

DENIAL_STREAK_WARN = 2
"""Starts denied in a row from which the status is WARN (one denial is the business logic doing its job)."""
FAILURE_STREAK_WARN = 2
"""Operations failed in a row from which the status is WARN (one failure can be the world; two, the robot)."""

OK, WARN, ERROR = DiagnosticStatus.OK, DiagnosticStatus.WARN, DiagnosticStatus.ERROR  # one byte each: they order


@dataclass(frozen=True)
class Handshakes:
    """What the node saw of its business logic: the last handshake's round trip and whether it was answered."""

    answered: bool | None = None  # None: no handshake yet
    latency: float | None = None  # seconds, of the last answered one
    timeout: float = 2.0
    servers: int | None = None  # business logics serving the start handshake, as this node's graph shows them
    service: str = "handshake/start"


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
    if snapshot.consecutive_failures >= FAILURE_STREAK_WARN:
        problems.append((WARN, f"{snapshot.consecutive_failures} operations failed in a row"))
    if snapshot.recovery_skipped:
        problems.append((WARN, f"{snapshot.recovery_skipped} store row(s) set aside at recovery (named in the log)"))
    if handshakes.servers is not None and handshakes.servers > 1:
        problems.append((WARN, f"{handshakes.servers} business logics serve {handshakes.service}; only one may decide"))
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
        "consecutive_failures": str(snapshot.consecutive_failures),
        "paused_reason": snapshot.paused_reason or "",
        "store": snapshot.storage_error or "ok",
        "recovery_skipped": str(snapshot.recovery_skipped),
        "business_logic": {None: "not asked yet", True: "answering", False: "not answering"}[handshakes.answered],
        "handshake_latency_s": "" if handshakes.latency is None else f"{handshakes.latency:.3f}",
        "business_logic_servers": "" if handshakes.servers is None else str(handshakes.servers),
    }
    return DiagnosticStatus(
        level=level,
        name=name,
        message=message,
        hardware_id=snapshot.resource_id,
        values=[KeyValue(key=key, value=value) for key, value in values.items()],
    )


class DiagnosticsPublisher:
    """Publishes one dispatcher's status on :data:`TOPIC`: every :data:`PERIOD` and on each level change.

    ``handshakes`` is read on every status (the bridge's ``last_answered``,
    ``last_latency``, ``timeout`` and ``start_servers()``, a graph query). Thread-safe: the node calls
    :meth:`on_event` from the core's notifier thread and :meth:`publish`
    from its timer.
    """

    def __init__(self, node: Any, dispatcher: OperationDispatcher, handshakes: Any, callback_group: Any = None) -> None:
        self._node = node
        self._dispatcher = dispatcher
        self._handshakes = handshakes
        self._lock = threading.Lock()
        self._level: bytes | None = None
        self._paused_automatically = _last_pause_automatic(dispatcher)
        self._publisher = node.create_publisher(DiagnosticArray, TOPIC, 10)
        self._timer = node.create_timer(PERIOD, self.publish, callback_group=callback_group)

    def on_event(self, event: DispatchEvent) -> None:
        """Follow the pauses, and publish at once if the level changed."""
        if event.event_type is EventType.OPERATION_ADDED:
            return  # an add never changes the level, and adds come in thousands
        if event.event_type is EventType.OPERATION_DISPATCHER_PAUSED:
            self._paused_automatically = bool(event.metadata.get("automatic"))
        elif event.event_type is EventType.OPERATION_DISPATCHER_RESUMED:
            self._paused_automatically = False
        self.publish(only_on_change=True)

    def status(self) -> DiagnosticStatus:
        current = self._dispatcher.current()
        h = self._handshakes
        return dispatcher_status(
            self._node.get_fully_qualified_name(),
            self._dispatcher.snapshot(),
            Handshakes(h.last_answered, h.last_latency, h.timeout, h.start_servers(), h.start_service),
            paused_automatically=self._paused_automatically,
            current_started_at=current.execution.started_at if current is not None else None,
            now=datetime.now(timezone.utc),
        )

    def publish(self, only_on_change: bool = False) -> None:
        with self._lock:
            status = self.status()
            if only_on_change and status.level == self._level:
                return
            self._level = status.level
            message = DiagnosticArray(status=[status])
            message.header.stamp = self._node.get_clock().now().to_msg()
            self._publisher.publish(message)


def _last_pause_automatic(dispatcher: OperationDispatcher) -> bool:
    """Whether a dispatcher recovered paused had paused itself (its last PAUSED event says)."""
    if not dispatcher.snapshot().paused:
        return False
    for event in reversed(dispatcher.events()):
        if event.event_type is EventType.OPERATION_DISPATCHER_PAUSED:
            return bool(event.metadata.get("automatic"))
    return False
