"""Where the dispatcher keeps what must survive it.

The dispatcher writes through a Store on every change (one call, one
transaction) and reads it back once, when it is created. Without a store
it keeps everything in its own memory only.

A write is all or nothing: it stores the whole change, or raises
:class:`StorageError` (the store's own message as ``cause``) and leaves the
store as it was, so the dispatcher can keep its memory unchanged too.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, field

from ._models import DispatchEvent, Operation, OperationExecution, OperationRecord


@dataclass
class StoredState:
    """Everything a dispatcher needs to pick up where another left off."""

    records: list[OperationRecord] = field(default_factory=list)  # in insertion (sequence) order
    events: list[DispatchEvent] = field(default_factory=list)  # in emission order
    paused: bool = False
    paused_reason: str | None = None


class Store(ABC):
    """Persistence boundary of the core. Implementations must be thread-safe."""

    @abstractmethod
    def load(self, resource_id: str) -> StoredState:
        """Everything stored for ``resource_id``; StorageError if it cannot be read."""

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
