"""The data the dispatcher works on: operations, their executions, events.

Operations are validated once, at the door, so everything behind the door
can trust them. Times are always timezone-aware UTC: a naive datetime is
read as UTC, an aware one is converted.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from datetime import datetime, timezone
from enum import Enum
from typing import Any

import pydantic
from pydantic import BaseModel, ConfigDict, Field, field_validator

from . import _limits as limits
from ._errors import ValidationError

_now, _UTC = datetime.now, timezone.utc  # looked up once: utcnow runs several times per life cycle


def utcnow() -> datetime:
    return _now(_UTC)


def _as_utc(value: datetime | None, field: str) -> datetime | None:
    if value is None:
        return None
    value = value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
    if not limits.EARLIEST_DATE <= value < limits.LATEST_DATE:
        raise ValueError(
            f"{field} {value.isoformat()} is out of range "
            f"[{limits.EARLIEST_DATE.date()}, {limits.LATEST_DATE.date()})"
        )
    return value


class OperationState(str, Enum):
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    PAUSED = "PAUSED"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATES

    @property
    def is_active(self) -> bool:
        return self in (OperationState.RUNNING, OperationState.PAUSED)


TERMINAL_STATES = frozenset({OperationState.COMPLETED, OperationState.FAILED, OperationState.CANCELLED})


class EventType(str, Enum):
    """Exactly the seed's 19 event names."""

    OPERATION_DISPATCHER_STARTED = "OPERATION_DISPATCHER_STARTED"
    OPERATION_DISPATCHER_STOPPED = "OPERATION_DISPATCHER_STOPPED"
    OPERATION_DISPATCHER_PAUSED = "OPERATION_DISPATCHER_PAUSED"
    OPERATION_DISPATCHER_RESUMED = "OPERATION_DISPATCHER_RESUMED"
    OPERATION_START_REQUESTED = "OPERATION_START_REQUESTED"
    OPERATION_START_DENIED = "OPERATION_START_DENIED"
    OPERATION_CANCEL_REQUESTED = "OPERATION_CANCEL_REQUESTED"
    OPERATION_CANCEL_DENIED = "OPERATION_CANCEL_DENIED"
    OPERATION_PAUSE_REQUESTED = "OPERATION_PAUSE_REQUESTED"
    OPERATION_PAUSE_DENIED = "OPERATION_PAUSE_DENIED"
    OPERATION_RESUME_REQUESTED = "OPERATION_RESUME_REQUESTED"
    OPERATION_RESUME_DENIED = "OPERATION_RESUME_DENIED"
    OPERATION_ADDED = "OPERATION_ADDED"
    OPERATION_STARTED = "OPERATION_STARTED"
    OPERATION_COMPLETED = "OPERATION_COMPLETED"
    OPERATION_FAILED = "OPERATION_FAILED"
    OPERATION_PAUSED = "OPERATION_PAUSED"
    OPERATION_RESUMED = "OPERATION_RESUMED"
    OPERATION_CANCELLED = "OPERATION_CANCELLED"

    def __str__(self) -> str:
        return self.value

    @property
    def is_request(self) -> bool:
        return self.value.endswith("_REQUESTED")

    @property
    def is_denial(self) -> bool:
        return self.value.endswith("_DENIED")

    @property
    def is_dispatcher_event(self) -> bool:
        return self.value.startswith("OPERATION_DISPATCHER_")


class DependencyType(str, Enum):
    FINISH_TO_START = "finish_to_start"
    """The dependent may start once the predecessor COMPLETED."""
    START_TO_START = "start_to_start"
    """The dependent may start once the predecessor has started."""


class Dependency(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    operation_id: str = Field(min_length=1, max_length=limits.MAX_ID_LENGTH)
    type: DependencyType = DependencyType.FINISH_TO_START


_COMPACT_JSON = json.JSONEncoder(allow_nan=False, separators=(",", ":"))  # one encoder: json.dumps builds one per call
_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@-]*$"
RESERVED_IDS = frozenset({"add", "current", "history"})  # REST paths /operations/<these> mean something else
_DATE_RANGE = f"UTC, within [{limits.EARLIEST_DATE.date()}, {limits.LATEST_DATE.date()})"


class Operation(BaseModel):
    """A unit of work for one resource, waiting in the queue until it may start."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(
        default_factory=lambda: uuid.uuid4().hex,
        min_length=1,
        max_length=limits.MAX_ID_LENGTH,
        pattern=_ID_PATTERN,
        description="Unique id; letters, digits and ._:@- (it appears in URLs); not add, current or history.",
    )
    resource_id: str = Field(min_length=1, max_length=limits.MAX_ID_LENGTH)
    payload: dict[str, Any] = Field(
        default_factory=dict, description="Free-form JSON object for the executor (at most 64 KiB)."
    )
    priority: int = Field(default=0, ge=limits.PRIORITY_MIN, le=limits.PRIORITY_MAX, description="Higher first.")
    release_date: datetime | None = Field(default=None, description=f"Not before this time; {_DATE_RANGE}.")
    planned_duration: float | None = Field(
        default=None, ge=0, le=limits.MAX_DURATION_SECONDS, allow_inf_nan=False, description="Expected duration in seconds."
    )
    due_date: datetime | None = Field(default=None, description=f"Should be done by this time; {_DATE_RANGE}.")
    dependencies: tuple[Dependency, ...] = Field(
        default=(), max_length=limits.MAX_DEPENDENCIES, description="Operations this one waits for (a list in JSON)."
    )  # declared after id: its validator reads the validated id
    created_at: datetime = Field(default_factory=utcnow, description=f"When it was created; {_DATE_RANGE}.")

    @field_validator("id")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value in RESERVED_IDS:
            raise ValueError(f"id {value!r} is reserved (it names a REST path)")
        return value

    @field_validator("release_date", "due_date", "created_at")
    @classmethod
    def _utc(cls, value: datetime | None, info: pydantic.ValidationInfo) -> datetime | None:
        return _as_utc(value, info.field_name or "date")

    @field_validator("payload")
    @classmethod
    def _json_payload(cls, value: dict[str, Any]) -> dict[str, Any]:
        if not value:
            return value
        try:
            encoded = _COMPACT_JSON.encode(value)
        except ValueError as exc:
            raise ValueError("payload must not contain NaN or infinity") from exc
        except TypeError as exc:
            raise ValueError(f"payload must be JSON-serialisable: {exc}") from exc
        size = len(encoded.encode())
        if size > limits.MAX_PAYLOAD_BYTES:
            raise ValueError(f"payload is {size} bytes encoded; the limit is {limits.MAX_PAYLOAD_BYTES}")
        return value

    @field_validator("dependencies")
    @classmethod
    def _no_self_dependency(cls, value: tuple[Dependency, ...], info: pydantic.ValidationInfo) -> tuple[Dependency, ...]:
        # A field validator, not a model one: it runs only for operations that have dependencies.
        if any(d.operation_id == info.data.get("id") for d in value):
            raise ValueError("an operation cannot depend on itself")
        return value


class OperationExecution(BaseModel):
    """What happened to one operation: its state and the facts of its run."""

    model_config = ConfigDict(extra="forbid")

    operation_id: str
    execution_id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    state: OperationState = OperationState.QUEUED
    outcome: str | None = None
    termination_reason: str | None = None
    retry_count: int = Field(default=0, description="Start requests denied so far.")
    attempts: int = Field(default=0, description="Times the operation was started.")
    progress: float = Field(default=0.0, ge=0.0, le=1.0)
    not_before: datetime | None = Field(default=None, description="Back-off gate after a retried failure.")
    queued_at: datetime = Field(default_factory=utcnow)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    sequence: int = Field(default=0, description="Insertion order, the last tie-breaker of the queue.")


class OperationRecord(BaseModel):
    """An operation together with its execution, as every query returns it."""

    operation: Operation
    execution: OperationExecution


class DispatchEvent(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    event_type: EventType
    resource_id: str
    operation_id: str | None = None
    execution_id: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    metadata: dict[str, Any] = Field(default_factory=dict)


class Decision(BaseModel):
    """A business-logic answer to a ``*_REQUESTED`` event."""

    approved: bool
    reason: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)


class DispatcherStatus(str, Enum):
    STOPPED = "STOPPED"
    RUNNING = "RUNNING"
    PAUSED = "PAUSED"


class DispatcherSnapshot(BaseModel):
    """The dispatcher's state at one instant."""

    resource_id: str
    status: DispatcherStatus
    running: bool
    paused: bool
    paused_reason: str | None = None
    current_operation_id: str | None = None
    queue_length: int
    counts: dict[OperationState, int]
    consecutive_denials: int
    cooldown_until: datetime | None = None
    stamp: datetime = Field(default_factory=utcnow)


class AddResult(BaseModel):
    operation_id: str
    added: bool = Field(description="False when an operation with this id was already present.")
    state: OperationState


def _field_path(loc: tuple[Any, ...], prefix: str) -> str:
    path = prefix
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def validation_error_from(exc: pydantic.ValidationError, prefix: str = "") -> ValidationError:
    """Turn pydantic's error into ours, naming the first offending field."""
    first = exc.errors()[0]
    field = _field_path(tuple(first["loc"]), prefix)
    message = first["msg"].removeprefix("Value error, ")
    return ValidationError(f"{field}: {message}" if field else message, field=field or None, errors=len(exc.errors()))


def parse_operation(data: Operation | dict[str, Any], prefix: str = "") -> Operation:
    """Validate one operation given as a model or a mapping; raise our ValidationError."""
    if isinstance(data, Operation):
        return data
    if not isinstance(data, dict):
        raise ValidationError(f"{prefix or 'operation'} must be an object, got {type(data).__name__}", field=prefix or None)
    try:
        return Operation.model_validate(data)
    except pydantic.ValidationError as exc:
        raise validation_error_from(exc, prefix) from None


def parse_operations(items: Iterable[Operation | dict[str, Any]]) -> list[Operation]:
    """Validate a batch for ``add``: non-empty, bounded, each item valid."""
    if isinstance(items, (str, bytes)) or not isinstance(items, Iterable):
        raise ValidationError("operations must be a list", field="operations")
    operations = [parse_operation(item, f"operations[{i}]") for i, item in enumerate(items)]
    if not operations:
        raise ValidationError("operations must not be empty", field="operations")
    if len(operations) > limits.MAX_OPERATIONS_PER_ADD:
        raise ValidationError(
            f"{len(operations)} operations in one add; the limit is {limits.MAX_OPERATIONS_PER_ADD}", field="operations"
        )
    return operations
