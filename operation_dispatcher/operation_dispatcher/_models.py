"""The data the dispatcher works on: operations, their executions, events.

Operations are validated once, at the door, so everything behind the door
can trust them. Times are always timezone-aware UTC: a naive datetime is
read as UTC, an aware one is converted.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Iterable
from datetime import datetime, timezone
from enum import Enum
from typing import Any, TypeVar

import pydantic
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from . import _limits as limits
from ._errors import ValidationError

_now, _UTC = datetime.now, timezone.utc  # looked up once: utcnow runs several times per life cycle


def utcnow() -> datetime:
    return _now(_UTC)


_new, _set = object.__new__, object.__setattr__
M = TypeVar("M", bound=BaseModel)


def built(model: type[M], fields: dict[str, Any]) -> M:
    """A ``model`` holding ``fields`` (every field of it, values already checked), not validated.

    For models built behind the door from values the door validated (the
    ledger's rows, an add's results): several per life cycle, so at the cost
    of a plain object (~0.8 µs) instead of ``model_construct`` (~2.6 µs) or
    ``model_copy(update=...)`` (~2.9 µs), which fill in and copy what is
    replaced anyway.
    """
    instance = _new(model)
    _set(instance, "__dict__", fields)
    _set(instance, "__pydantic_fields_set__", set(fields))
    _set(instance, "__pydantic_extra__", None)
    _set(instance, "__pydantic_private__", None)
    return instance


def _as_utc(value: datetime | None, field: str) -> datetime | None:
    if value is None:
        return None
    try:
        utc = value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
    except OverflowError:  # 0001-01-01T00:00+01:00 is in year 0 in UTC, 9999-12-31T23:59-01:00 in year 10000
        utc = None
    if utc is None or not limits.EARLIEST_DATE <= utc < limits.LATEST_DATE:
        raise ValueError(
            f"{field} {value.isoformat()} is out of range "
            f"[{limits.EARLIEST_DATE.date()}, {limits.LATEST_DATE.date()})"
        )
    return utc


_COMPACT_JSON = json.JSONEncoder(allow_nan=False, ensure_ascii=False, separators=(",", ":"))
_c_make_encoder = getattr(json.encoder, "c_make_encoder", None)  # CPython's C encoder (absent on some builds)
_encode_compact = (
    # JSONEncoder.encode builds its C encoder anew on every call; this one is built once (no
    # circular-reference markers: the depth walk below stops on a cycle before encoding).
    _c_make_encoder(None, _COMPACT_JSON.default, json.encoder.encode_basestring, None, ":", ",", False, False, False)
    if _c_make_encoder is not None
    else lambda value, _: [_COMPACT_JSON.encode(value)]
)
_JSON_CONTAINERS = (dict, list, tuple)  # what the encoder nests (a tuple is an array)


def check_json(value: dict[str, Any], field: str) -> dict[str, Any]:
    """Refuse (ValueError naming ``field``) a JSON object that could not be stored and served back.

    The one check of free JSON that callers put into the store: an
    operation's payload and a decision's data. At most
    ``limits.MAX_JSON_DEPTH`` levels, string keys, no NaN / infinity, valid
    Unicode (a Python str may hold a lone surrogate, UTF-8 cannot), at most
    ``limits.MAX_PAYLOAD_BYTES`` as compact UTF-8 JSON. The depth is walked
    with a list, not recursion, and the walk stops one level past the
    limit: a value nested 10,000 deep costs 33 steps and no stack.
    """
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        node, depth = pending.pop()
        if depth > limits.MAX_JSON_DEPTH:
            raise ValueError(f"{field} is nested more than {limits.MAX_JSON_DEPTH} levels deep (a flat object is 1)")
        if isinstance(node, dict):
            for key, child in node.items():
                if not isinstance(key, str):
                    raise ValueError(f"{field} has a {type(key).__name__} key; JSON keys are strings")
                if isinstance(child, _JSON_CONTAINERS):
                    pending.append((child, depth + 1))
        else:
            pending.extend((child, depth + 1) for child in node if isinstance(child, _JSON_CONTAINERS))
    try:
        size = len("".join(_encode_compact(value, 0)).encode())
    except UnicodeEncodeError:
        raise ValueError(f"{field} holds text that is not valid Unicode (a lone surrogate)") from None
    except ValueError as exc:  # NaN or infinity (allow_nan=False), or an integer of over 4300 digits
        if "Out of range float" in str(exc):  # 1e999 parses as infinity: named, as "not JSON" alone puzzles its sender
            raise ValueError(f"{field} is not JSON: it holds NaN or an infinite number (1e999 reads as infinity)") from None
        raise ValueError(f"{field} is not JSON: {exc}") from None
    except TypeError as exc:
        raise ValueError(f"{field} must be JSON-serialisable: {exc}") from None
    if size > limits.MAX_PAYLOAD_BYTES:
        raise ValueError(f"{field} is {size} bytes encoded; the limit is {limits.MAX_PAYLOAD_BYTES}")
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
    """The seed's 19 event names, and OPERATION_START_DEFERRED: the business logic
    was not ready to decide a start (not a denial: nothing counted, nothing paused)."""

    OPERATION_DISPATCHER_STARTED = "OPERATION_DISPATCHER_STARTED"
    OPERATION_DISPATCHER_STOPPED = "OPERATION_DISPATCHER_STOPPED"
    OPERATION_DISPATCHER_PAUSED = "OPERATION_DISPATCHER_PAUSED"
    OPERATION_DISPATCHER_RESUMED = "OPERATION_DISPATCHER_RESUMED"
    OPERATION_START_REQUESTED = "OPERATION_START_REQUESTED"
    OPERATION_START_DENIED = "OPERATION_START_DENIED"
    OPERATION_START_DEFERRED = "OPERATION_START_DEFERRED"
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


_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@-]*$"
RESERVED_IDS = frozenset({"add", "current", "history"})  # REST paths /operations/<these> mean something else
_DATE_RANGE = f"UTC, within [{limits.EARLIEST_DATE.date()}, {limits.LATEST_DATE.date()})"
_JSON_BOUNDS = f"{limits.MAX_PAYLOAD_BYTES // 1024} KiB as UTF-8 JSON, nested at most {limits.MAX_JSON_DEPTH} deep"


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
        default_factory=dict,
        description=f"Free-form JSON object for the executor (at most {_JSON_BOUNDS}).",
    )
    # Numbers are strict (no "5", no true, no 5.0 for an int) so that every door refuses the same inputs.
    priority: int = Field(
        default=0, strict=True, ge=limits.PRIORITY_MIN, le=limits.PRIORITY_MAX, description="Higher first."
    )
    release_date: datetime | None = Field(default=None, description=f"Not before this time; {_DATE_RANGE}.")
    planned_duration: float | None = Field(
        default=None,
        strict=True,  # an int is still a number of seconds; a string or a bool is not
        ge=0,
        le=limits.MAX_DURATION_SECONDS,
        allow_inf_nan=False,
        description="Expected duration in seconds.",
    )
    due_date: datetime | None = Field(
        default=None, description=f"Should be done by this time, not before release_date; {_DATE_RANGE}."
    )  # declared after release_date: its validator reads the validated release_date
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

    @field_validator("release_date", "created_at")
    @classmethod
    def _utc(cls, value: datetime | None, info: pydantic.ValidationInfo) -> datetime | None:
        return _as_utc(value, info.field_name or "date")

    @field_validator("due_date")
    @classmethod
    def _due_after_release(cls, value: datetime | None, info: pydantic.ValidationInfo) -> datetime | None:
        due = _as_utc(value, "due_date")
        release = info.data.get("release_date")
        if due is not None and release is not None and due < release:
            raise ValueError(f"due_date {due.isoformat()} is before release_date {release.isoformat()}")
        return due

    @field_validator("payload")
    @classmethod
    def _json_payload(cls, value: dict[str, Any]) -> dict[str, Any]:
        return check_json(value, "payload") if value else value

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
    sequence: int | None = Field(
        default=None,
        description="The event's number in the dispatcher's event log: 1 for the first event ever recorded, "
        "one more for each next one, kept across restarts with a store. A reader that sees a number skipped "
        "missed an event: read the log after the last number it has (events_after). None for a start request "
        "sent to the business logic unrecorded (a repeat).",
    )


MAX_RETRY_AFTER_SECONDS = 60.0
"""The longest "ask again in" a not-ready answer may ask for; a longer one is shortened to it."""


class Decision(BaseModel):
    """A business-logic answer to a ``*_REQUESTED`` event: approve, deny, or not ready.

    Whatever a callback answers becomes one through :meth:`coerce`. Its data
    goes into the denial, deferral or STARTED event, so it is bounded like a
    payload. ``not_ready`` (build it with :meth:`later`) means "I cannot
    decide yet, ask again": a start stays queued and is asked again after
    ``retry_after`` seconds (None: the dispatcher's not-ready back-off),
    counted as no denial; a cancel, pause or resume is refused with
    UnavailableError. A not-ready answer is never an approval.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)  # frozen: the approval below is shared

    approved: bool = Field(strict=True)
    reason: str | None = Field(
        default=None, description=f"Why; a longer one is cut to {limits.MAX_STRING_LENGTH} characters, ending in a truncation marker."
    )
    data: dict[str, Any] = Field(default_factory=dict, description=f"Free-form JSON object ({_JSON_BOUNDS}).")
    not_ready: bool = Field(default=False, strict=True, description="Cannot decide yet: ask again later (never approved).")
    retry_after: float | None = Field(
        default=None,
        description=f"Seconds until the not-ready request is asked again (> 0, at most {MAX_RETRY_AFTER_SECONDS:g}); "
        "None: the dispatcher's back-off.",
    )

    @model_validator(mode="before")
    @classmethod
    def _not_ready_is_not_approved(cls, value: Any) -> Any:
        # {"not_ready": true, "reason": ...} needs no "approved": not ready is never an approval.
        if isinstance(value, dict) and value.get("not_ready") is True and "approved" not in value:
            return {**value, "approved": False}
        return value

    @field_validator("reason")
    @classmethod
    def _storable_reason(cls, value: str | None) -> str | None:
        # A lone surrogate (a Python str may hold one, UTF-8 cannot) would make its event unstorable:
        # shown escaped instead, as the reason of an approval must not turn it into a denial. A reason
        # longer than a client's may be is cut (saying so), not refused: it is stored with every denial.
        if value is None:
            return None
        if not value.isascii():
            value = value.encode("utf-8", "backslashreplace").decode()
        return limits.shorten(value)

    @field_validator("data")
    @classmethod
    def _json_data(cls, value: dict[str, Any]) -> dict[str, Any]:
        return check_json(value, "data") if value else value

    @field_validator("retry_after", mode="before")
    @classmethod
    def _seconds(cls, value: Any) -> float | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
            raise ValueError(f"retry_after must be a finite number of seconds > 0 (or None); got {value!r}")
        return min(float(value), MAX_RETRY_AFTER_SECONDS)

    @model_validator(mode="after")
    def _consistent(self) -> Decision:
        if self.not_ready and self.approved:
            raise ValueError("a decision cannot be both approved and not ready")
        if self.retry_after is not None and not self.not_ready:
            raise ValueError("retry_after belongs to a not-ready decision (not_ready=True)")
        return self

    @classmethod
    def later(cls, reason: str | None = None, retry_after: float | None = None, data: dict[str, Any] | None = None) -> Decision:
        """Not ready: ask again in ``retry_after`` seconds (None: the dispatcher's back-off).

        Raises our ValidationError for a ``retry_after`` that is not a finite number > 0."""
        try:
            return cls(approved=False, not_ready=True, reason=reason, retry_after=retry_after, data=data or {})
        except pydantic.ValidationError as exc:
            raise validation_error_from(exc) from None

    @classmethod
    def coerce(cls, answer: Any, default: bool) -> Decision:
        """The one place a business-logic answer becomes a Decision; it never raises.

        - ``True``: approved (one shared instance: the hot path builds nothing);
        - ``False``: denied, "denied by business logic";
        - ``None``: no opinion, ``default`` applies (data ``{"default": true}``);
        - a Decision: itself, once its data is checked again (a dict may change after it was built);
          :meth:`later` builds the not-ready one;
        - a dict (the fields of a Decision; ``{"not_ready": true}`` needs no ``approved``) or a
          2-tuple ``(approved, reason)``: validated as a Decision.

        Anything else, and any of these that does not validate (a reason 5, data
        "x", an unknown key, data nested too deep, a retry_after of -1, approved
        and not ready at once), is a denial whose reason says what was wrong: a
        bug in the business logic stops the robot, not the loop.
        """
        if answer is True:
            return _APPROVED
        if answer is False:
            return cls(approved=False, reason="denied by business logic")
        if answer is None:
            reason = None if default else "no business logic decision; default is deny"
            return cls(approved=default, reason=reason, data={"default": True})
        try:
            if isinstance(answer, Decision):
                if answer.data:
                    check_json(answer.data, "data")
                return answer
            if isinstance(answer, tuple) and len(answer) == 2:
                return cls.model_validate({"approved": answer[0], "reason": answer[1]})
            if isinstance(answer, dict):
                return cls.model_validate(answer)
        except ValueError as exc:  # pydantic's ValidationError is a ValueError too
            problem = validation_error_from(exc).message if isinstance(exc, pydantic.ValidationError) else str(exc)
            return cls(approved=False, reason=f"business logic answered with an invalid decision: {problem}", data={"error": True})
        return cls(
            approved=False,
            reason=f"business logic answered with a {type(answer).__name__}; "
            "expected True, False, None, a Decision, a dict of its fields or (approved, reason)",
            data={"error": True},
        )


_APPROVED = Decision(approved=True)  # never changed (frozen, no data): the answer of every plain True


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
    consecutive_failures: int = Field(
        default=0, description="Operations failed in a row (none completed since, no resume): at max_failures the dispatcher pauses itself."
    )
    cooldown_until: datetime | None = None
    storage_error: str | None = Field(
        default=None, description="Why the last write to the store failed, while the loop retries it; None once one succeeds."
    )
    recovery_skipped: int = Field(
        default=0,
        description="Store rows this dispatcher's recovery could not load and left in the store as they were "
        "(OperationDispatcher.skipped_rows names them); 0 when everything was loaded.",
    )
    stamp: datetime = Field(default_factory=utcnow)


class EventLogPage(BaseModel):
    """A page of the event log (``events_after``): the events numbered above the ``after`` asked for."""

    events: list[DispatchEvent]
    next_after: int = Field(description="The ``after`` of the next page: the last event's number here (or the ``after`` asked for, if none).")
    last_sequence: int = Field(description="The number of the newest event recorded so far (0: none yet); read on while next_after is below it.")


class OperationPage(BaseModel):
    """A page of a listing (``page_operations``, ``history_page``): read on with ``cursor=next_cursor``
    until it is None. Every operation that stays in the listing's state while it is read is on
    exactly one page; one added or finished meanwhile may or may not be."""

    operations: list[OperationRecord]
    next_cursor: str | None = Field(description="Opaque; the cursor of the next page, None on the last one.")
    total: int = Field(description="Operations in this listing (its state, or all) now, on every page.")
    counts: dict[OperationState, int] = Field(description="Operations per state now: the whole at a glance.")


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


def parse_operation(
    data: Operation | dict[str, Any], prefix: str = "", *, default_resource_id: str | None = None
) -> Operation:
    """Validate one operation given as a model or a mapping; raise our ValidationError.

    A mapping without a ``resource_id`` key gets ``default_resource_id`` (the
    dispatcher's own), when one is given.
    """
    if isinstance(data, Operation):
        return data
    if not isinstance(data, dict):
        raise ValidationError(f"{prefix or 'operation'} must be an object, got {type(data).__name__}", field=prefix or None)
    if default_resource_id is not None and "resource_id" not in data:
        data = {**data, "resource_id": default_resource_id}
    try:
        return Operation.model_validate(data)
    except pydantic.ValidationError as exc:
        raise validation_error_from(exc, prefix) from None


def parse_operations(
    items: Iterable[Operation | dict[str, Any]], *, default_resource_id: str | None = None
) -> list[Operation]:
    """Validate a batch for ``add``: non-empty, bounded, each item valid (see :func:`parse_operation`)."""
    if isinstance(items, (str, bytes)) or not isinstance(items, Iterable):
        raise ValidationError("operations must be a list", field="operations")
    operations = [
        parse_operation(item, f"operations[{i}]", default_resource_id=default_resource_id) for i, item in enumerate(items)
    ]
    if not operations:
        raise ValidationError("operations must not be empty", field="operations")
    if len(operations) > limits.MAX_OPERATIONS_PER_ADD:
        raise ValidationError(
            f"{len(operations)} operations in one add; the limit is {limits.MAX_OPERATIONS_PER_ADD}", field="operations"
        )
    return operations
