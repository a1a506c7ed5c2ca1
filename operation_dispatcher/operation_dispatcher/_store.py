"""Where the dispatcher keeps what must survive it.

The dispatcher writes through a Store on every change (one call, one
transaction) and reads it back once, when it is created. Without a store
it keeps everything in its own memory only.

A write is all or nothing: it stores the whole change, or raises
:class:`StorageError` (the store's own message as ``cause``) and leaves the
store as it was, so the dispatcher can keep its memory unchanged too.

A read is row by row: a row that cannot be read back (written by an older
version before a limit existed, damaged by hand, of a state this version
does not know) is reported in :attr:`StoredState.skipped` and left where it
is, never changed nor deleted, so one bad row cannot keep the dispatcher
from coming up, and a later version may still read it.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

from ._models import DispatchEvent, Operation, OperationExecution, OperationRecord


class SkippedRow(NamedTuple):
    """A stored row recovery could not load, left in the store as it was."""

    table: str
    """Where it is: ``operations`` (an operation with its execution), or ``events``."""
    row_id: str
    """Its key there: the operation id, or an event's ``seq`` (or its id, when it was read but its operation was not)."""
    reason: str
    """Why it could not be loaded, in one line."""
    operation_id: str | None = None
    """The operation it belongs to, when known."""
    events: int = 0
    """For a skipped operation: how many of its events were left in the store with it."""


@dataclass
class StoredState:
    """Everything a dispatcher needs to pick up where another left off.

    ``records`` and ``events`` are read once, in order, records first: a
    store may hand them over as it reads them (lists do as well), so that
    recovery turns each row into the dispatcher's books before the next is
    read and never holds the whole store as models at once. Such a store adds
    to ``skipped`` as it reads: it is complete once both have been read.
    """

    records: Iterable[OperationRecord] = field(default_factory=list)  # in insertion (sequence) order
    events: Iterable[DispatchEvent] = field(default_factory=list)  # in emission order
    paused: bool = False
    paused_reason: str | None = None
    skipped: list[SkippedRow] = field(default_factory=list)  # rows that could not be read (left in the store)


class Store(ABC):
    """Persistence boundary of the core. Implementations must be thread-safe."""

    @abstractmethod
    def load(self, resource_id: str) -> StoredState:
        """Everything stored for ``resource_id``, each row that cannot be read in ``skipped`` instead
        (records and events may be handed over as they are read: see :class:`StoredState`);
        StorageError if the store itself cannot be read."""

    @abstractmethod
    def write(
        self,
        *,
        operations: Iterable[Operation] = (),
        executions: Iterable[OperationExecution] = (),
        events: Iterable[DispatchEvent] = (),
        paused: tuple[bool, str | None] | None = None,
    ) -> None:
        """Persist one change atomically (new operations, updated executions, new events), or raise StorageError having stored none of it."""

    def close(self) -> None:  # noqa: B027 - an optional hook, not abstract
        """Release resources; the default has none."""


class MemoryStore(Store):
    """Keeps copies in this process: a new dispatcher over the same store recovers.

    It never fails: a write only puts references into dicts and a list,
    so it is all or nothing without a transaction.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._operations: dict[str, Operation] = {}
        self._executions: dict[str, OperationExecution] = {}
        self._events: list[DispatchEvent] = []
        self._paused: tuple[bool, str | None] = (False, None)

    def load(self, resource_id: str) -> StoredState:
        with self._lock:
            records = [
                OperationRecord(operation=op, execution=self._executions[op_id].model_copy())
                for op_id, op in self._operations.items()
                if op.resource_id == resource_id
            ]
            records.sort(key=lambda r: r.execution.sequence)
            events = [e for e in self._events if e.resource_id == resource_id]
            return StoredState(records, events, *self._paused)

    def write(
        self,
        *,
        operations: Iterable[Operation] = (),
        executions: Iterable[OperationExecution] = (),
        events: Iterable[DispatchEvent] = (),
        paused: tuple[bool, str | None] | None = None,
    ) -> None:
        with self._lock:
            for op in operations:
                self._operations[op.id] = op
            for ex in executions:
                self._executions[ex.operation_id] = ex.model_copy()
            self._events.extend(events)
            if paused is not None:
                self._paused = paused
