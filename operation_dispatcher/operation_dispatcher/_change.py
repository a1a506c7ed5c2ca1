"""One change of the dispatcher's books: built first, written to the store, then applied.

Every change of state (an add, a start, a denial, a completion...) is built
as a :class:`Change` while nothing moves: new operations, the facts it sets
on existing ones, its events, what it does to the queue and the
dispatcher's own state. Only once the store has taken it (or there is no
store) is it applied to memory, in one step under the state lock. A write
that fails therefore leaves memory exactly as it was, and the caller gets
the store's StorageError: nothing is ever in memory that is not on disk.

Nearly every change records an event (an add, a request, a start...); a
repeated denial that is only counted (see ``_repeats.py``) sets a fact and
records none. One that does neither changed nothing on disk and is not
written (its ``then`` steps, the dispatcher's own bookkeeping, still run).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._ledger import Entry, EventRow, Ledger
from ._models import DispatchEvent, Operation


class Change:
    __slots__ = ("events", "models", "new", "paused", "then", "updates")

    def __init__(self) -> None:
        self.new: list[tuple[Entry, Operation]] = []  # operations to queue, as drafted entries
        self.updates: dict[str, dict[str, Any]] = {}  # operation id -> facts to set
        self.events: list[EventRow] = []
        self.then: list[Callable[[], None]] = []  # queue and dispatcher-state steps, run after rows and events
        self.paused: tuple[bool, str | None] | None = None  # the dispatcher's pause, when it changes
        self.models: list[DispatchEvent] | None = None  # the events as models, once built for the store or subscribers

    def set(self, entry: Entry, facts: dict[str, Any]) -> None:
        """Set ``facts`` (field name -> value; the change may keep the dict) on the operation."""
        pending = self.updates.get(entry.id)
        if pending is None:
            self.updates[entry.id] = facts
        else:
            pending.update(facts)

    def entry(self, entry: Entry) -> Entry:
        """``entry`` as this change leaves it."""
        facts = self.updates.get(entry.id)
        return entry if facts is None else Ledger.staged(entry, facts)

    def executions(self, ledger: Ledger) -> list[Any]:
        """The executions this change writes, as the store keeps them."""
        staged = [Ledger.staged(entry, self.updates.get(entry.id, {})) for entry, _ in self.new]
        new_ids = {entry.id for entry, _ in self.new}
        staged += [Ledger.staged(ledger[op_id], facts) for op_id, facts in self.updates.items() if op_id not in new_ids]
        return [entry.execution() for entry in staged]
