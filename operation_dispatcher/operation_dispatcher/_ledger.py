"""The dispatcher's books: what it keeps about every operation, kept as plain rows.

Pydantic models are for the doors: they validate what comes in and shape
what goes out. Behind the door the :class:`Ledger` keeps every operation as
a row, a plain tuple of strings, numbers and datetimes, and builds
:class:`Operation`, :class:`OperationExecution`, :class:`OperationRecord`
and :class:`DispatchEvent` only when someone reads them.

Why rows: a dispatcher keeps every operation it ever queued or ran, and
Python's cyclic garbage collector walks every container object that stays
alive, on every full pass. A plain tuple holding only such plain values
(or more such tuples) is dropped from the collector's lists after its first
look, so a queued or finished operation costs the collector nothing. As
objects (pydantic models, or even one slotted object per operation) they
were walked again and again, and at 100,000 queued operations those walks
cost more than dispatching itself. ``bench/core_throughput.py`` shows the
difference in its "cyclic GC paused" column.

So a row never holds a model, an enum member or a dict: the state is kept
as its string value, and the payload and the event log live in their own
tables beside the rows. Rows are immutable; :meth:`Ledger.update` writes a
new one and returns it as a fresh :class:`Entry`.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import datetime
from typing import Any, NamedTuple

from ._models import (
    Dependency,
    DependencyType,
    DispatchEvent,
    EventType,
    Operation,
    OperationExecution,
    OperationRecord,
    OperationState,
    built,
    utcnow,
)

EventRow = tuple[Any, ...]
"""(id, event type, operation id, execution id, created_at, sequence, key, value, key, value, ...): flat.

``sequence`` is the event's number in the dispatcher's event log (see
``_journal.py``); None for a start request sent unrecorded (``_repeats.py``).

Flat because the collector drops a tuple from its lists only once every
tuple inside it has been dropped, and it looks at nested tuples in an order
that needs one more pass per level; passes over older objects are rare, so
a nested row (metadata as pairs) stayed tracked for good.
"""

_SEQUENCE = 5
_METADATA = 6  # where the key/value pairs of an EventRow begin

_STATES = {state.value: state for state in OperationState}
_EVENT_TYPES = {event_type.value: event_type for event_type in EventType}  # a dict lookup; EventType(value) is ~10x slower


def event_row(
    event_id: str,
    event_type: EventType,
    operation_id: str | None,
    execution_id: str | None,
    metadata: dict[str, Any],
    at: datetime | None = None,
    sequence: int | None = None,
) -> EventRow:
    """An event as kept, created ``at`` (default now): None values of ``metadata`` are left out."""
    row: EventRow = (event_id, event_type._value_, operation_id, execution_id, at or utcnow(), sequence)
    for pair in metadata.items():
        if pair[1] is not None:
            row += pair
    return row


def recorded_as(unrecorded: EventRow, row: EventRow) -> EventRow:
    """An ``unrecorded`` request recorded after all, under ``row``'s id and number: it keeps its own
    time and facts (those the business logic was asked with)."""
    return (row[0], *unrecorded[1:_SEQUENCE], row[_SEQUENCE], *unrecorded[_METADATA:])


def event_sequence(row: EventRow) -> int:
    """A recorded event's number in the event log."""
    return row[_SEQUENCE]


def row_of(event: DispatchEvent, sequence: int) -> EventRow:
    """A stored event back into the books (recovery), numbered ``sequence``."""
    row: list[Any] = [event.id, event.event_type.value, event.operation_id, event.execution_id, event.created_at, sequence]
    for pair in event.metadata.items():
        row += pair
    return tuple(row)


def event_model(row: EventRow, resource_id: str) -> DispatchEvent:
    """An event row as a model, not validated: the dispatcher made the row from checked values."""
    return built(
        DispatchEvent,
        {
            "id": row[0],
            "event_type": _EVENT_TYPES[row[1]],
            "resource_id": resource_id,
            "operation_id": row[2],
            "execution_id": row[3],
            "created_at": row[4],
            "sequence": row[_SEQUENCE],
            "metadata": dict(zip(row[_METADATA::2], row[_METADATA + 1 :: 2], strict=True)),
        },
    )


class Entry(NamedTuple):
    """One operation and the facts of its execution, as read from the books.

    A snapshot: after an await, read the entry again from the ledger. It
    reads like an Operation where the queue needs one (id, priority, dates,
    dependencies) and like an OperationExecution for the model built from it.
    """

    id: str
    resource_id: str
    priority: int
    release_date: datetime | None
    planned_duration: float | None
    due_date: datetime | None
    dependencies: tuple[Dependency, ...]  # empty for most operations; only theirs keep a tracked row
    created_at: datetime
    execution_id: str
    sequence: int
    state_value: str  # the OperationState's value: an enum member would keep the row tracked
    outcome: str | None
    termination_reason: str | None
    retry_count: int
    attempts: int
    progress: float
    not_before: datetime | None
    queued_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @property
    def state(self) -> OperationState:
        return _STATES[self.state_value]

    @property
    def operation_id(self) -> str:  # the name OperationExecution reads
        return self.id

    def execution(self) -> OperationExecution:
        return OperationExecution.model_validate(self, from_attributes=True)


_FIELD_INDEX = {name: i for i, name in enumerate(Entry._fields)}
_STATE, _EXECUTION_ID = _FIELD_INDEX["state_value"], _FIELD_INDEX["execution_id"]
_FIELD_INDEX["state"] = _STATE  # facts name the state as an OperationState; the row keeps its value
_view = tuple.__new__  # a stored row read as an Entry, without copying field by field


class Ledger:
    """Every operation the dispatcher knows: rows, payloads and event logs by operation id,
    and how many operations are in each state (so a snapshot is O(1))."""

    def __init__(self) -> None:
        self._rows: dict[str, tuple[Any, ...]] = {}
        self._payloads: dict[str, dict[str, Any]] = {}
        self._events: dict[str, tuple[EventRow, ...]] = {}
        self._counts = dict.fromkeys(_STATES, 0)

    @staticmethod
    def draft(operation: Operation, execution_id: str, sequence: int, queued_at: datetime) -> Entry:
        """The entry a newly queued operation will have (nothing is stored: see :meth:`add`)."""
        op = operation
        return _view(Entry, (
            op.id, op.resource_id, op.priority, op.release_date, op.planned_duration, op.due_date, op.dependencies, op.created_at,
            execution_id, sequence, "QUEUED", None, None, 0, 0, 0.0, None, queued_at, None, None,
        ))  # fmt: skip

    def add(self, operation: Operation, execution_id: str, sequence: int, queued_at: datetime) -> Entry:
        return self.insert(self.draft(operation, execution_id, sequence, queued_at), operation.payload)

    def insert(self, entry: Entry, payload: dict[str, Any]) -> Entry:
        """Store a drafted entry (a QUEUED operation) with its payload."""
        self._rows[entry.id] = tuple(entry)
        self._payloads[entry.id] = payload
        self._events[entry.id] = ()
        self._counts[entry.state_value] += 1
        return entry

    def restore(self, record: OperationRecord) -> Entry:
        """A stored record back into the books (recovery): its row built at once, in :class:`Entry`'s order."""
        op, ex = record.operation, record.execution
        return self.insert(_view(Entry, (
            op.id, op.resource_id, op.priority, op.release_date, op.planned_duration, op.due_date, op.dependencies, op.created_at,
            ex.execution_id, ex.sequence, ex.state._value_, ex.outcome, ex.termination_reason, ex.retry_count, ex.attempts,
            ex.progress, ex.not_before, ex.queued_at, ex.started_at, ex.finished_at,
        )), op.payload)  # fmt: skip

    def update(self, operation_id: str, facts: dict[str, Any]) -> Entry:
        """Write ``facts`` to the operation's row (``state`` as an OperationState) and return the new entry."""
        row = list(self._rows[operation_id])
        for name, value in facts.items():
            if name == "state":
                value = value._value_
                self._counts[row[_STATE]] -= 1
                self._counts[value] += 1
            row[_FIELD_INDEX[name]] = value
        self._rows[operation_id] = stored = tuple(row)
        return _view(Entry, stored)

    @staticmethod
    def staged(entry: Entry, facts: dict[str, Any]) -> Entry:
        """``entry`` with ``facts`` applied, stored nowhere (a change not yet written)."""
        row = list(entry)
        for name, value in facts.items():
            row[_FIELD_INDEX[name]] = value._value_ if name == "state" else value
        return _view(Entry, tuple(row))

    def lost(self, dependency: Dependency) -> OperationState | None:
        """The state that makes ``dependency`` impossible to meet (its predecessor FAILED or
        CANCELLED, and for start-to-start never started), else None."""
        row = self._rows.get(dependency.operation_id)
        if row is None or row[_STATE] not in ("FAILED", "CANCELLED"):
            return None
        if dependency.type is DependencyType.START_TO_START and row[_FIELD_INDEX["attempts"]]:
            return None
        return _STATES[row[_STATE]]

    def count(self, state: OperationState) -> int:
        return self._counts[state.value]

    def __getitem__(self, operation_id: str) -> Entry:
        return _view(Entry, self._rows[operation_id])

    def get(self, operation_id: str) -> Entry | None:
        row = self._rows.get(operation_id)
        return None if row is None else _view(Entry, row)

    def __contains__(self, operation_id: object) -> bool:
        return operation_id in self._rows

    def __iter__(self) -> Iterator[Entry]:
        for row in self._rows.values():
            yield _view(Entry, row)

    # -- events ---------------------------------------------------------------

    def execution_id(self, operation_id: str) -> str:
        return self._rows[operation_id][_EXECUTION_ID]

    def file_events(self, rows: list[EventRow], dispatcher_log: list[EventRow]) -> None:
        """Append each event to its operation's log, or to ``dispatcher_log`` (no operation).

        A log is a tuple grown by copy: logs are short, and a tuple of flat
        rows is dropped by the collector.
        """
        logs = self._events
        for row in rows:
            operation_id = row[2]
            if operation_id is None:
                dispatcher_log.append(row)
            else:
                logs[operation_id] += (row,)

    def events(self, operation_id: str) -> tuple[EventRow, ...]:
        return self._events[operation_id]

    def restore_events(self, operation_id: str, events: list[EventRow]) -> None:
        self._events[operation_id] = tuple(events)

    # -- models, built on read ---------------------------------------------------

    def operation(self, entry: Entry, copy_payload: bool = False) -> Operation:
        """The operation as a model (built, not validated again: its fields were validated at the door).

        ``copy_payload`` gives a reader a payload it may change freely; the
        runner gets the kept one.
        """
        payload = self._payloads[entry.id]
        return built(
            Operation,
            {
                "id": entry.id,
                "resource_id": entry.resource_id,
                "payload": copy.deepcopy(payload) if copy_payload else payload,
                "priority": entry.priority,
                "release_date": entry.release_date,
                "planned_duration": entry.planned_duration,
                "due_date": entry.due_date,
                "dependencies": entry.dependencies,
                "created_at": entry.created_at,
            },
        )

    def record(self, entry: Entry) -> OperationRecord:
        """The entry as a model for a reader (with its own copy of the payload)."""
        return OperationRecord(operation=self.operation(entry, copy_payload=True), execution=entry.execution())
