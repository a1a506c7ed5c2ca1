"""The dispatcher's books: what it keeps about every operation, kept lean.

Pydantic models are for the doors: they validate what comes in and shape
what goes out. Behind the door the dispatcher keeps one slotted
:class:`Entry` per operation and every event as a plain tuple of plain
values, and builds :class:`OperationExecution`, :class:`OperationRecord`
and :class:`DispatchEvent` only when someone reads them.

Why: a dispatcher keeps every operation it ever ran, and Python's cyclic
garbage collector walks every container that stays alive. As pydantic
models an operation left ~24 tracked containers behind (execution, record,
four events, each with its ``__dict__``, fields set and metadata), and the
collector's full passes over them cost more than dispatching itself. A
tuple holding only strings, numbers, datetimes and such tuples is
untracked by the collector after its first pass, so an event row, and an
entry's tuple of them, cost the collector nothing afterwards: a finished
operation leaves three tracked objects behind (its Entry, its Operation
and the Operation's fields set).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ._models import DispatchEvent, EventType, Operation, OperationExecution, OperationRecord, OperationState, utcnow

EventRow = tuple[str, str, "str | None", "str | None", datetime, tuple[tuple[str, Any], ...]]
"""(id, event type, operation id, execution id, created_at, metadata items)."""


def event_row(
    event_id: str, event_type: EventType, operation_id: str | None, execution_id: str | None, metadata: dict[str, Any]
) -> EventRow:
    """An event as kept: None values of ``metadata`` are left out."""
    items = tuple(metadata.items())
    if None in metadata.values():
        items = tuple(item for item in items if item[1] is not None)
    return (event_id, event_type._value_, operation_id, execution_id, utcnow(), items)


def row_of(event: DispatchEvent) -> EventRow:
    """A stored event back into the books (recovery)."""
    return (event.id, event.event_type.value, event.operation_id, event.execution_id, event.created_at, tuple(event.metadata.items()))


def event_model(row: EventRow, resource_id: str) -> DispatchEvent:
    event_id, event_type, operation_id, execution_id, created_at, metadata = row
    return DispatchEvent(
        id=event_id,
        event_type=event_type,
        resource_id=resource_id,
        operation_id=operation_id,
        execution_id=execution_id,
        created_at=created_at,
        metadata=dict(metadata),
    )


class Entry:
    """One operation and the facts of its execution; the books' form of an OperationRecord."""

    __slots__ = (
        "attempts",
        "events",
        "execution_id",
        "finished_at",
        "not_before",
        "operation",
        "outcome",
        "progress",
        "queued_at",
        "retry_count",
        "sequence",
        "started_at",
        "state",
        "termination_reason",
    )

    def __init__(self, operation: Operation, execution_id: str, sequence: int) -> None:
        self.operation = operation
        self.execution_id = execution_id
        self.sequence = sequence
        self.state = OperationState.QUEUED
        self.outcome: str | None = None
        self.termination_reason: str | None = None
        self.retry_count = 0
        self.attempts = 0
        self.progress = 0.0
        self.not_before: datetime | None = None
        self.queued_at = utcnow()
        self.started_at: datetime | None = None
        self.finished_at: datetime | None = None
        self.events: tuple[EventRow, ...] = ()  # grown by copy: a tuple of plain tuples is not tracked

    @property
    def id(self) -> str:
        return self.operation.id

    operation_id = id  # the name OperationExecution reads

    @classmethod
    def restore(cls, record: OperationRecord) -> Entry:
        """An entry from a stored record (recovery)."""
        ex = record.execution
        entry = cls(record.operation, ex.execution_id, ex.sequence)
        for name in _EXECUTION_FACTS:
            setattr(entry, name, getattr(ex, name))
        return entry

    def execution(self) -> OperationExecution:
        return OperationExecution.model_validate(self, from_attributes=True)

    def record(self, copy_operation: bool = False) -> OperationRecord:
        """The entry as a model; ``copy_operation`` hands out a deep copy the reader may change freely."""
        operation = self.operation.model_copy(deep=True) if copy_operation else self.operation
        return OperationRecord(operation=operation, execution=self.execution())


_EXECUTION_FACTS = (
    "state",
    "outcome",
    "termination_reason",
    "retry_count",
    "attempts",
    "progress",
    "not_before",
    "queued_at",
    "started_at",
    "finished_at",
)
