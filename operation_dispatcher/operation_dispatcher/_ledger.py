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
entry's tuple of them, cost the collector nothing afterwards; and an Entry
holds its operation's fields rather than the model. An operation, queued
or finished, leaves one tracked object: its Entry.
"""

from __future__ import annotations

import copy
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
        event_type=EventType(event_type),
        resource_id=resource_id,
        operation_id=operation_id,
        execution_id=execution_id,
        created_at=created_at,
        metadata=dict(metadata),
    )


class Entry:
    """One operation and the facts of its execution; the books' form of an OperationRecord.

    It holds the operation's validated fields itself rather than the
    Operation model: a retained pydantic model cost the collector ~7x an
    Entry on every full pass. It reads like an Operation where the queue
    needs one (id, priority, dates, dependencies), and :attr:`operation`
    builds the model for the runner and for readers.
    """

    __slots__ = (
        "attempts",
        "created_at",
        "dependencies",
        "due_date",
        "events",
        "execution_id",
        "finished_at",
        "id",
        "not_before",
        "outcome",
        "payload",
        "planned_duration",
        "priority",
        "progress",
        "queued_at",
        "release_date",
        "resource_id",
        "retry_count",
        "sequence",
        "started_at",
        "state",
        "termination_reason",
    )

    def __init__(self, operation: Operation, execution_id: str, sequence: int) -> None:
        self.id = operation.id
        self.resource_id = operation.resource_id
        self.payload = operation.payload
        self.priority = operation.priority
        self.release_date = operation.release_date
        self.planned_duration = operation.planned_duration
        self.due_date = operation.due_date
        self.dependencies = operation.dependencies
        self.created_at = operation.created_at
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
    def operation_id(self) -> str:  # the name OperationExecution reads
        return self.id

    @property
    def operation(self) -> Operation:
        """The operation as a model (built, not validated again: its fields were validated at the door)."""
        return self._operation(self.payload)

    def _operation(self, payload: dict[str, Any]) -> Operation:
        return Operation.model_construct(
            id=self.id,
            resource_id=self.resource_id,
            payload=payload,
            priority=self.priority,
            release_date=self.release_date,
            planned_duration=self.planned_duration,
            due_date=self.due_date,
            dependencies=self.dependencies,
            created_at=self.created_at,
        )

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
        """The entry as a model; ``copy_operation`` gives the reader a payload it may change freely."""
        operation = self._operation(copy.deepcopy(self.payload)) if copy_operation else self.operation
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
