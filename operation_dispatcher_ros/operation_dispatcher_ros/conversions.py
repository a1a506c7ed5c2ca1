"""The one place where ROS messages become core models and back.

Incoming messages are turned into plain data and validated by the core
(``parse_operation``), so a bad field gets the same error, naming the same
field, whichever door it came through. Zero / empty message fields mean
"unset" (see Operation.msg). Nothing here needs a running ROS graph.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from typing import Any

from builtin_interfaces.msg import Time

from operation_dispatcher import (
    ERROR_TABLE,
    Decision,
    Dependency,
    DependencyType,
    DispatcherError,
    DispatcherSnapshot,
    DispatchEvent,
    EventType,
    Operation,
    OperationExecution,
    OperationRecord,
    OperationState,
    ValidationError,
    parse_operation,
)
from operation_dispatcher_interfaces import msg
from operation_dispatcher_interfaces.srv import AddOperations

_INT32_MAX = 2**31 - 1

# One numbering for every srv and action (the constants are the same in each),
# read from the srv by the names of the core's ERROR_TABLE (test_conversions checks they agree).
ERROR_CODES: dict[str, int] = {code: getattr(AddOperations.Response, code) for code in ERROR_TABLE}

STATE_CONSTANTS: dict[OperationState, int] = {
    OperationState.QUEUED: msg.OperationStatus.QUEUED,
    OperationState.RUNNING: msg.OperationStatus.RUNNING,
    OperationState.PAUSED: msg.OperationStatus.PAUSED,
    OperationState.COMPLETED: msg.OperationStatus.COMPLETED,
    OperationState.FAILED: msg.OperationStatus.FAILED,
    OperationState.CANCELLED: msg.OperationStatus.CANCELLED,
}

STATUS_CONSTANTS: dict[str, int] = {
    "STOPPED": msg.DispatcherState.STOPPED,
    "RUNNING": msg.DispatcherState.RUNNING,
    "PAUSED": msg.DispatcherState.PAUSED,
}

DEPENDENCY_CONSTANTS: dict[DependencyType, int] = {
    DependencyType.FINISH_TO_START: msg.Dependency.FINISH_TO_START,
    DependencyType.START_TO_START: msg.Dependency.START_TO_START,
}
_DEPENDENCY_TYPES = {v: k for k, v in DEPENDENCY_CONSTANTS.items()}


def error_code(exc: BaseException) -> int:
    """The srv error_code for an exception: the core's code, INTERNAL for anything unexpected."""
    if isinstance(exc, DispatcherError):
        return ERROR_CODES.get(exc.code, ERROR_CODES["INTERNAL"])
    return ERROR_CODES["INTERNAL"]


def error_message(exc: BaseException) -> str:
    if isinstance(exc, DispatcherError):
        return exc.message
    return f"internal error: {type(exc).__name__}: {exc}"


# ---------------------------------------------------------------- time

_NANOSEC_PER_SEC = 1_000_000_000


def time_to_datetime(stamp: Time, field: str = "stamp") -> datetime | None:
    """builtin_interfaces/Time -> aware UTC datetime; zero -> None ("unset").

    ``nanosec`` of a second or more is a ValidationError naming
    ``field``.nanosec, not carried into ``sec``: a peer that sends it has a
    bug, and silently moving its date would hide it."""
    if stamp.nanosec >= _NANOSEC_PER_SEC:
        raise ValidationError(
            f"{field}.nanosec: must be below {_NANOSEC_PER_SEC}; got {stamp.nanosec}", field=f"{field}.nanosec"
        )
    if stamp.sec == 0 and stamp.nanosec == 0:
        return None
    return datetime.fromtimestamp(stamp.sec + stamp.nanosec / 1e9, tz=timezone.utc)


def datetime_to_time(value: datetime | None) -> Time:
    """Aware (or UTC-naive) datetime -> Time; None -> zero. Dates past 2038
    (int32 seconds) are clamped to the largest Time."""
    if value is None:
        return Time()
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    delta = value - datetime(1970, 1, 1, tzinfo=timezone.utc)
    sec = delta.days * 86400 + delta.seconds
    if sec > _INT32_MAX:
        return Time(sec=_INT32_MAX, nanosec=999_999_999)
    if sec < -_INT32_MAX - 1:
        return Time(sec=-_INT32_MAX - 1, nanosec=0)
    return Time(sec=sec, nanosec=delta.microseconds * 1000)


# ---------------------------------------------------------------- JSON

def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_json_object(text: str, field: str) -> dict[str, Any]:
    """The text of one JSON object -> dict; "" -> {}. Anything else
    (bad JSON, NaN / Infinity, an array, a number) is a ValidationError naming ``field``."""
    if not isinstance(text, str):  # only possible in-process: the wire enforces the type
        raise ValidationError(f"{field}: must be a string holding a JSON object, got {type(text).__name__}", field=field)
    if not text.strip():
        return {}
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except ValueError as exc:
        raise ValidationError(f"{field}: not valid JSON ({exc})", field=field) from None
    except RecursionError:  # Python's JSON reader stops near 1000 levels; the core then refuses past 32
        raise ValidationError(f"{field}: nested too deep to read", field=field) from None
    if not isinstance(value, dict):
        raise ValidationError(f"{field}: must be a JSON object, got {_json_kind(value)}", field=field)
    return value


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    return "a number"


def dump_json(value: dict[str, Any]) -> str:
    """dict -> compact JSON text ("" when empty); anything not JSON-native is shown as text."""
    if not value:
        return ""
    return json.dumps(value, separators=(",", ":"), default=str)


# ---------------------------------------------------------------- operations

def dependency_from_msg(dep: msg.Dependency, field: str) -> dict[str, Any]:
    if dep.type not in _DEPENDENCY_TYPES:
        raise ValidationError(
            f"{field}.type: {dep.type} is not a Dependency constant (0 FINISH_TO_START, 1 START_TO_START)",
            field=f"{field}.type",
        )
    return {"operation_id": dep.operation_id, "type": _DEPENDENCY_TYPES[dep.type]}


def dependency_to_msg(dep: Dependency) -> msg.Dependency:
    return msg.Dependency(operation_id=dep.operation_id, type=DEPENDENCY_CONSTANTS[dep.type])


def operation_from_msg(message: msg.Operation, default_resource_id: str, field: str = "operation") -> Operation:
    """Operation message -> validated core Operation (ValidationError names ``field``.<name>)."""
    data: dict[str, Any] = {
        "resource_id": message.resource_id or default_resource_id,
        "payload": parse_json_object(message.payload_json, f"{field}.payload_json"),
        "priority": message.priority,
        "dependencies": [dependency_from_msg(d, f"{field}.dependencies[{i}]") for i, d in enumerate(message.dependencies)],
    }
    if message.id:
        data["id"] = message.id
    duration = message.planned_duration
    if isinstance(duration, bool) or not isinstance(duration, (int, float)) or not math.isfinite(duration):
        raise ValidationError(f"{field}.planned_duration: must be a finite number of seconds", field=f"{field}.planned_duration")
    if duration != 0.0:
        data["planned_duration"] = duration
    for name in ("release_date", "due_date", "created_at"):
        value = time_to_datetime(getattr(message, name), f"{field}.{name}")
        if value is not None:
            data[name] = value
    return parse_operation(data, field)


def operations_from_msgs(messages: Sequence[msg.Operation], default_resource_id: str) -> list[Operation]:
    """AddOperations.operations -> core Operations (all validated before anything is added)."""
    if not messages:
        raise ValidationError("operations: must not be empty", field="operations")
    return [operation_from_msg(m, default_resource_id, f"operations[{i}]") for i, m in enumerate(messages)]


def operation_to_msg(op: Operation) -> msg.Operation:
    return msg.Operation(
        id=op.id,
        resource_id=op.resource_id,
        payload_json=dump_json(op.payload),
        priority=op.priority,
        release_date=datetime_to_time(op.release_date),
        due_date=datetime_to_time(op.due_date),
        planned_duration=float(op.planned_duration or 0.0),
        dependencies=[dependency_to_msg(d) for d in op.dependencies],
        created_at=datetime_to_time(op.created_at),
    )


def record_to_status(record: OperationRecord) -> msg.OperationStatus:
    ex = record.execution
    return msg.OperationStatus(
        operation=operation_to_msg(record.operation),
        state=STATE_CONSTANTS[ex.state],
        state_name=ex.state.value,
        outcome=ex.outcome or "",
        termination_reason=ex.termination_reason or "",
        retry_count=ex.retry_count,
        attempts=ex.attempts,
        progress=float(ex.progress),
        started_at=datetime_to_time(ex.started_at),
        finished_at=datetime_to_time(ex.finished_at),
        execution_id=ex.execution_id,
    )


def record_from_status(status: msg.OperationStatus) -> OperationRecord:
    """OperationStatus -> the core's record (what a door of many dispatchers serves as one of them would)."""
    op = operation_from_msg(status.operation, status.operation.resource_id, "status.operation")
    return OperationRecord(
        operation=op,
        execution=OperationExecution(
            operation_id=op.id,
            execution_id=status.execution_id or op.id,
            state=OperationState(status.state_name),
            outcome=status.outcome or None,
            termination_reason=status.termination_reason or None,
            retry_count=status.retry_count,
            attempts=status.attempts,
            progress=min(max(float(status.progress), 0.0), 1.0),
            started_at=time_to_datetime(status.started_at, "status.started_at"),
            finished_at=time_to_datetime(status.finished_at, "status.finished_at"),
        ),
    )


def state_filter_from_msg(text: str) -> OperationState | None:
    """ListOperations.state -> state filter ("" = all; case-insensitive)."""
    if not text.strip():
        return None
    try:
        return OperationState(text.strip().upper())
    except ValueError:
        names = ", ".join(s.value for s in OperationState)
        raise ValidationError(f"state: must be one of {names} or empty; got {text!r}", field="state") from None


# ---------------------------------------------------------------- events and state

def event_to_msg(event: DispatchEvent) -> msg.DispatchEvent:
    return msg.DispatchEvent(
        id=event.id,
        event_type=event.event_type.value,
        resource_id=event.resource_id,
        operation_id=event.operation_id or "",
        execution_id=event.execution_id or "",
        stamp=datetime_to_time(event.created_at),
        metadata_json=dump_json(event.metadata),
        sequence=event.sequence or 0,
    )


def event_from_msg(message: msg.DispatchEvent) -> DispatchEvent:
    """DispatchEvent message -> core event (for business logic written against the core's types)."""
    try:
        event_type = EventType(message.event_type)
    except ValueError:
        raise ValidationError(f"event.event_type: unknown event type {message.event_type!r}", field="event.event_type") from None
    return DispatchEvent(
        id=message.id,
        event_type=event_type,
        resource_id=message.resource_id,
        operation_id=message.operation_id or None,
        execution_id=message.execution_id or None,
        created_at=time_to_datetime(message.stamp, "event.stamp") or datetime(1970, 1, 1, tzinfo=timezone.utc),
        metadata=parse_json_object(message.metadata_json, "event.metadata_json"),
        sequence=message.sequence or None,
    )


def snapshot_to_msg(snapshot: DispatcherSnapshot, current_progress: float = 0.0) -> msg.DispatcherState:
    """Snapshot -> DispatcherState; ``current_progress`` (0..1) of the current operation
    is not part of the snapshot (it changes without events), so the node passes it."""
    counts = snapshot.counts
    return msg.DispatcherState(
        resource_id=snapshot.resource_id,
        status=STATUS_CONSTANTS[snapshot.status.value],
        status_name=snapshot.status.value,
        current_operation_id=snapshot.current_operation_id or "",
        queue_length=snapshot.queue_length,
        queued_count=counts.get(OperationState.QUEUED, 0),
        running_count=counts.get(OperationState.RUNNING, 0),
        paused_count=counts.get(OperationState.PAUSED, 0),
        completed_count=counts.get(OperationState.COMPLETED, 0),
        failed_count=counts.get(OperationState.FAILED, 0),
        cancelled_count=counts.get(OperationState.CANCELLED, 0),
        consecutive_denials=snapshot.consecutive_denials,
        paused_reason=snapshot.paused_reason or "",
        current_progress=float(current_progress),
        stamp=datetime_to_time(snapshot.stamp),
    )


# ---------------------------------------------------------------- handshake

def decision_from_response(
    approved: bool, reason: str, data_json: str, not_ready: bool = False, retry_after: float = 0.0
) -> Decision:
    """Handshake response fields -> Decision, through ``Decision.coerce``. Bad
    data_json (not a JSON object, nested too deep, too big) is a denial saying
    so, not an exception: a business-logic bug must not crash the dispatcher.
    ``retry_after`` 0 means "unset" (the dispatcher's not-ready back-off); a
    negative or non-finite one, or approved with not_ready, is a denial saying so."""
    try:
        data = parse_json_object(data_json, "data_json")
    except ValidationError as exc:
        return Decision(approved=False, reason=f"business logic answered with bad data_json: {exc.message}", data={"error": True})
    fields: dict[str, Any] = {"approved": approved, "reason": reason or None, "data": data}
    if not_ready or retry_after != 0.0:  # only then: the approved path builds what it always did
        fields.update(not_ready=not_ready, retry_after=retry_after if retry_after != 0.0 else None)
    return Decision.coerce(fields, default=False)


def decision_to_response_fields(decision: Decision) -> dict[str, Any]:
    """Decision -> Handshake.Response keyword arguments (business-logic side)."""
    return {
        "approved": decision.approved,
        "reason": decision.reason or "",
        "data_json": dump_json(decision.data),
        "not_ready": decision.not_ready,
        "retry_after": decision.retry_after or 0.0,
    }


def records_to_statuses(records: Iterable[OperationRecord]) -> list[msg.OperationStatus]:
    return [record_to_status(r) for r in records]
