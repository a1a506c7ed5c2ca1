"""Recovery: the books rebuilt from a store when a dispatcher is created.

Everything is read back as it was written. What cannot simply carry on is
handed back to the dispatcher, which settles it through ordinary changes
(so it is written and published like any other): operations found RUNNING
or PAUSED (their executor is gone with the old process), and queued
operations whose dependency can no longer be met.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ._ledger import Entry, EventRow, Ledger, row_of
from ._models import TERMINAL_STATES, OperationState
from ._queue import DispatchQueue
from ._store import StoredState


@dataclass
class Recovered:
    history: list[str] = field(default_factory=list)  # terminal operation ids, oldest first
    dispatcher_rows: list[EventRow] = field(default_factory=list)
    next_sequence: int = 0
    paused: bool = False
    paused_reason: str | None = None
    interrupted: list[Entry] = field(default_factory=list)  # found RUNNING or PAUSED
    stranded: list[tuple[str, str]] = field(default_factory=list)  # (queued operation, the dependency it can never have)


def recover(state: StoredState, ledger: Ledger, queue: DispatchQueue[Entry]) -> Recovered:
    """Fill ``ledger`` and ``queue`` from ``state``; return what the dispatcher must settle."""
    out = Recovered(paused=state.paused, paused_reason=state.paused_reason)
    finished: list[Entry] = []
    last_sequence = -1
    for record in state.records:
        entry = ledger.restore(record)
        last_sequence = max(last_sequence, entry.sequence)
        if entry.attempts:
            queue.mark_started(entry.id)
        if entry.state is OperationState.COMPLETED:
            queue.mark_completed(entry.id)
        if entry.state in TERMINAL_STATES:
            finished.append(entry)
        elif entry.state.is_active:
            out.interrupted.append(entry)
    per_operation: dict[str, list[EventRow]] = {}
    for event in state.events:
        if event.operation_id is None:
            out.dispatcher_rows.append(row_of(event))
        else:
            per_operation.setdefault(event.operation_id, []).append(row_of(event))
    for operation_id, rows in per_operation.items():
        ledger.restore_events(operation_id, rows)
    for entry in ledger:
        if entry.state is OperationState.QUEUED:
            queue.push(entry, not_before=entry.not_before, sequence=entry.sequence)
            lost = next((dep.operation_id for dep in entry.dependencies if ledger.lost(dep)), None)
            if lost is not None:
                out.stranded.append((entry.id, lost))
    finished.sort(key=lambda e: (e.finished_at or e.queued_at, e.sequence))
    out.history = [e.id for e in finished]
    out.next_sequence = last_sequence + 1
    return out
