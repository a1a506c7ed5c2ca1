"""DispatchQueue: which operation may go next, in O(log n).

Three places hold a queued operation, and each operation is in exactly one:

* ``_pending``: a heap on the release gate (``release_date`` or a retry
  back-off). The gate is a departure gate: once it has passed, the
  operation competes on the sort rules like any other, so a released
  operation never waits behind an unreleased one.
* ready: released, ordered by the sort rules (default: priority
  descending, then created_at ascending, then insertion order).
* ``_blocked``: operations whose dependencies are not yet satisfied, each
  with its unmet (predecessor, type) pairs: every pair must hold, so an
  operation that waits for both the start and the finish of another waits
  for the finish. They move on when the last one is met. A predecessor that
  ends without completing strands its waiting dependents for good:
  :meth:`stranded_by` names them, for the owner to end.

``_line`` holds every queued operation in dispatch order (a sorted list of
its place: ready ones by the sort rules, then gated ones by gate, then
blocked ones by insertion): its head is the next to go, and a page of the
listing starts anywhere in O(log n) (:meth:`page`), so a reader paging
through 100,000 queued operations costs what it costs at 100. Removal from
the gate heap is lazy: its stale entry is dropped when it reaches the top.

Per operation the queue keeps only plain tuples (its gate, its place in
line), which the garbage collector stops looking at after one pass; the
operations themselves it keeps in a dict, or finds through ``lookup`` when
its owner keeps them (the dispatcher's ledger), so a queued operation is
held once.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any, Generic, NamedTuple, Protocol, TypeVar

from sortedcontainers import SortedList

from ._errors import InvalidStateError, ValidationError
from ._models import Dependency, DependencyType, utcnow


class Queueable(Protocol):
    """What the queue reads of an operation: an Operation, or anything shaped like one
    (the dispatcher queues its own lean entries). Sort rules read their fields too."""

    @property
    def id(self) -> str: ...
    @property
    def resource_id(self) -> str: ...
    @property
    def priority(self) -> int: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def release_date(self) -> datetime | None: ...
    @property
    def dependencies(self) -> Sequence[Dependency]: ...


Q = TypeVar("Q", bound=Queueable)

_MISSING = float("inf")

READY, GATED, BLOCKED = 0, 1, 2
"""The first field of a place in line: released operations go before gated ones, gated ones
before those waiting for dependencies."""
Place = tuple[Any, ...]
"""(READY, *sort key, sequence, id) | (GATED, gate timestamp, sequence, id) | (BLOCKED, sequence, id)"""


class SortRule(NamedTuple):
    """Order released operations by ``field`` (an Operation attribute)."""

    field: str
    descending: bool = False


DEFAULT_SORT_RULES: tuple[SortRule, ...] = (SortRule("priority", descending=True), SortRule("created_at"))
SORTABLE_FIELDS = ("priority", "created_at", "release_date", "due_date", "planned_duration")


def _key_builder(rules: tuple[SortRule, ...]) -> Callable[[Queueable], tuple[Any, ...]]:
    for rule in rules:
        if rule.field not in SORTABLE_FIELDS:
            raise ValidationError(f"cannot sort on {rule.field!r}; choose from {', '.join(SORTABLE_FIELDS)}", field="sort_rules")

    if rules == DEFAULT_SORT_RULES:  # on every add: the usual order without the general loop

        def usual(op: Queueable) -> tuple[Any, ...]:
            return (-float(op.priority), op.created_at.timestamp())

        return usual

    def key(op: Queueable) -> tuple[Any, ...]:
        parts: list[Any] = []
        for field, descending in rules:
            value = getattr(op, field)
            if value is None:
                parts.append(_MISSING)  # unset values go last in either direction
                continue
            number = value.timestamp() if isinstance(value, datetime) else float(value)
            parts.append(-number if descending else number)
        return tuple(parts)

    return key


class DispatchQueue(Generic[Q]):
    """Priority queue of operations for one resource, with gates and dependencies.

    ``lookup`` finds a queued operation by id when the caller keeps the
    operations itself; without it the queue keeps them.
    """

    def __init__(
        self,
        resource_id: str,
        sort_rules: tuple[SortRule, ...] | list[SortRule] | None = None,
        *,
        lookup: Callable[[str], Q] | None = None,
    ) -> None:
        self.resource_id = resource_id
        self.sort_rules = tuple(SortRule(*r) for r in (sort_rules or DEFAULT_SORT_RULES))
        self._key = _key_builder(self.sort_rules)
        self._own: dict[str, Q] | None = None
        if lookup is None:
            own: dict[str, Q] = {}
            self._own, lookup = own, own.__getitem__
        self._lookup = lookup
        self._entries: dict[str, tuple[datetime | None, int, int]] = {}  # id -> (gate, sequence, token)
        self._blocked: dict[str, set[tuple[str, DependencyType]]] = {}  # id -> unmet (predecessor, type) pairs
        self._pending: list[tuple[float, int, int, str]] = []
        self._line: SortedList = SortedList()  # every queued operation's Place, in dispatch order
        self._places: dict[str, Place] = {}
        self._waiters: dict[str, list[tuple[str, DependencyType]]] = {}
        self._started: set[str] = set()
        self._completed: set[str] = set()
        self._counter = itertools.count()
        self._tokens = itertools.count()

    # -- adding and removing -------------------------------------------------

    def check(self, operation: Q, known: Callable[[str], bool] | None = None) -> None:
        """Raise ValidationError if ``operation`` cannot join this queue; change nothing."""
        if operation.resource_id != self.resource_id:
            raise ValidationError(
                f"operation {operation.id!r} is for resource {operation.resource_id!r}, "
                f"this queue serves {self.resource_id!r}",
                field="resource_id",
            )
        if operation.id in self._entries:
            raise InvalidStateError(f"operation {operation.id!r} is already queued", operation_id=operation.id)
        is_known = known or self._knows
        for dep in operation.dependencies:
            if not is_known(dep.operation_id):
                raise ValidationError(
                    f"operation {operation.id!r} depends on unknown operation {dep.operation_id!r}",
                    field="dependencies",
                )

    def _knows(self, operation_id: str) -> bool:
        return operation_id in self._entries or operation_id in self._started or operation_id in self._completed

    def add(self, operation: Q, not_before: datetime | None = None, sequence: int | None = None) -> None:
        """Queue ``operation``; ``not_before`` adds a gate on top of its release date."""
        self.check(operation)
        self.push(operation, not_before, sequence)

    def push(self, operation: Q, not_before: datetime | None = None, sequence: int | None = None) -> None:
        """Queue an operation already checked by the caller (the dispatcher checks whole batches first)."""
        op_id = operation.id
        gate = operation.release_date
        if not_before is not None and (gate is None or not_before > gate):
            gate = not_before
        seq = next(self._counter) if sequence is None else sequence
        place = (gate, seq, next(self._tokens))
        self._entries[op_id] = place
        if self._own is not None:
            self._own[op_id] = operation
        dependencies = operation.dependencies
        waiting = dependencies and {(d.operation_id, d.type) for d in dependencies if not self._dependency_met(d.operation_id, d.type)}
        if waiting:
            self._blocked[op_id] = waiting
            for dep_id, kind in waiting:
                self._waiters.setdefault(dep_id, []).append((op_id, kind))
            self._place(op_id, (BLOCKED, seq, op_id))
        else:
            self._schedule(op_id, place, operation)

    def remove(self, operation_id: str) -> Q:
        """Take an operation out wherever it waits (lazy for the heaps)."""
        if operation_id not in self._entries:
            raise InvalidStateError(f"operation {operation_id!r} is not queued", operation_id=operation_id)
        operation = self._lookup(operation_id)
        self._forget(operation_id)
        return operation

    def _forget(self, operation_id: str) -> None:
        del self._entries[operation_id]
        self._line.remove(self._places.pop(operation_id))
        self._blocked.pop(operation_id, None)
        if self._own is not None:
            del self._own[operation_id]

    # -- what goes next ---------------------------------------------------------

    def peek(self, now: datetime | None = None) -> Q | None:
        """The operation that would go next at ``now``, without removing it."""
        op_id = self._next_id(now or utcnow())
        return None if op_id is None else self._lookup(op_id)

    def pop(self, now: datetime | None = None) -> Q | None:
        op_id = self._next_id(now or utcnow())
        if op_id is None:
            return None
        operation = self._lookup(op_id)
        self._forget(op_id)
        return operation

    def _next_id(self, now: datetime) -> str | None:
        self._release(now)
        line = self._line
        return line[0][-1] if line and line[0][0] == READY else None

    def next_release(self) -> datetime | None:
        """When the earliest gated operation opens, or None if none is gated."""
        pending = self._pending
        while pending:
            _, _, token, op_id = pending[0]
            place = self._entries.get(op_id)
            if place is not None and place[2] == token and self._places[op_id][0] == GATED:
                return place[0]
            heapq.heappop(pending)
        return None

    # -- dependency bookkeeping ---------------------------------------------------

    def mark_started(self, operation_id: str) -> None:
        """Record that ``operation_id`` started; start-to-start dependents may go."""
        self._started.add(operation_id)
        self._satisfy(operation_id, completed=False)

    def mark_completed(self, operation_id: str) -> None:
        """Record that ``operation_id`` completed; every dependent may go."""
        self._started.add(operation_id)
        self._completed.add(operation_id)
        self._satisfy(operation_id, completed=True)

    def mark_ended(self, operation_id: str) -> None:
        """Record that ``operation_id`` ended without completing; its stranded dependents are the owner's to end."""
        self._waiters.pop(operation_id, None)

    def stranded_by(self, operation_id: str) -> list[tuple[str, str]]:
        """(dependent, the predecessor it waits for) of every queued operation that can never start
        once ``operation_id`` ends without completing, transitively, nearest first."""
        stranded: list[tuple[str, str]] = []
        seen, todo = {operation_id}, [operation_id]
        while todo:
            predecessor = todo.pop(0)
            for op_id, kind in self._waiters.get(predecessor, ()):
                if op_id not in seen and (predecessor, kind) in self._blocked.get(op_id, ()):
                    seen.add(op_id)
                    stranded.append((op_id, predecessor))
                    todo.append(op_id)
        return stranded

    def waiting_for(self, operation_id: str) -> set[str]:
        """Ids of the unmet dependencies of a queued operation."""
        return {dep_id for dep_id, _ in self._blocked.get(operation_id, ())}

    # -- inspection -------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, operation_id: object) -> bool:
        return operation_id in self._entries

    def __iter__(self) -> Iterator[Q]:
        return iter(self.ordered())

    def ordered(self, now: datetime | None = None) -> list[Q]:
        """Every queued operation in dispatch order: released ones by the sort rules, then gated
        ones by gate, then those still waiting for dependencies."""
        self._release(now or utcnow())
        return [self._lookup(place[-1]) for place in self._line]

    def page(self, after: Place | None, limit: int, now: datetime | None = None) -> tuple[list[Q], Place | None]:
        """Up to ``limit`` queued operations in dispatch order, from the one after the place
        ``after`` (None: from the head), and the place of the last one (None when none follow).

        Places are keys, not positions: operations added or removed between two pages do not
        shift the next one (an operation added before ``after`` is not seen by this reader)."""
        self._release(now or utcnow())
        line = self._line
        start = 0 if after is None else line.bisect_right(after)
        places = list(line.islice(start, start + limit))
        more = start + len(places) < len(line)
        return [self._lookup(place[-1]) for place in places], places[-1] if places and more else None

    def place(self, operation_id: str) -> Place:
        """Where a queued operation stands in line (a cursor for :meth:`page`)."""
        return self._places[operation_id]

    # -- internals ----------------------------------------------------------------------

    def _dependency_met(self, operation_id: str, kind: DependencyType) -> bool:
        if kind is DependencyType.START_TO_START:
            return operation_id in self._started
        return operation_id in self._completed

    def _schedule(self, op_id: str, place: tuple[datetime | None, int, int], operation: Q) -> None:
        gate, sequence, token = place
        if gate is None:
            self._make_ready(op_id, sequence, operation)
        else:
            heapq.heappush(self._pending, (gate.timestamp(), sequence, token, op_id))
            self._place(op_id, (GATED, gate.timestamp(), sequence, op_id))

    def _make_ready(self, op_id: str, sequence: int, operation: Q) -> None:
        self._place(op_id, (READY, *self._key(operation), sequence, op_id))

    def _place(self, op_id: str, place: Place) -> None:
        old = self._places.get(op_id)
        if old is not None:
            self._line.remove(old)
        self._places[op_id] = place
        self._line.add(place)

    def _release(self, now: datetime) -> None:
        pending = self._pending
        if not pending:
            return
        limit = now.timestamp()
        while pending and pending[0][0] <= limit:
            _, sequence, token, op_id = heapq.heappop(pending)
            place = self._entries.get(op_id)
            if place is not None and place[2] == token and self._places[op_id][0] == GATED:
                self._make_ready(op_id, sequence, self._lookup(op_id))

    def _satisfy(self, operation_id: str, completed: bool) -> None:
        waiters = self._waiters.get(operation_id)
        if not waiters:
            return
        still: list[tuple[str, DependencyType]] = []
        for op_id, kind in waiters:
            waiting = self._blocked.get(op_id)
            if waiting is None:  # gone, or already scheduled
                continue
            if kind is DependencyType.FINISH_TO_START and not completed:
                still.append((op_id, kind))
                continue
            waiting.discard((operation_id, kind))
            if not waiting:
                del self._blocked[op_id]
                self._schedule(op_id, self._entries[op_id], self._lookup(op_id))
        if still:
            self._waiters[operation_id] = still
        else:
            del self._waiters[operation_id]
