"""Recovery: the books rebuilt from a store when a dispatcher is created.

Everything is read back as it was written. What cannot simply carry on is
handed back to the dispatcher, which settles it through ordinary changes
(so it is written and published like any other): operations found RUNNING
or PAUSED (their executor is gone with the old process), and queued
operations whose dependency can no longer be met.

No row can stop a recovery. A row the store could not read comes in
``StoredState.skipped``; an event of an operation that is not in the books
joins it here. Both stay in the store untouched and are reported
(``Recovered.skipped``). The events of a skipped operation stay with it
(counted in its row). An operation that depends on a skipped one is stranded
like one whose dependency failed, unless it had already started: then the
dependency was met, and what it waited for (a completion, or only a start)
counts as met for the others too.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from ._ledger import Entry, EventRow, Ledger, event_sequence, row_of
from ._models import TERMINAL_STATES, DependencyType, OperationState
from ._queue import DispatchQueue
from ._store import SkippedRow, StoredState


@dataclass
class Recovered:
    history: list[str] = field(default_factory=list)  # terminal operation ids, oldest first
    log: list[EventRow] = field(default_factory=list)  # every event loaded, by number
    dispatcher_rows: list[EventRow] = field(default_factory=list)
    next_sequence: int = 0
    paused: bool = False
    paused_reason: str | None = None
    interrupted: list[Entry] = field(default_factory=list)  # found RUNNING or PAUSED
    stranded: list[tuple[str, str]] = field(default_factory=list)  # (queued operation, the dependency it can never have)
    skipped: list[SkippedRow] = field(default_factory=list)  # rows left in the store, not loaded


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
    _met_by_started_dependents(ledger, queue)
    out.log, out.dispatcher_rows, out.skipped = _file_events(state, ledger)
    for entry in ledger:
        if entry.state is OperationState.QUEUED:
            queue.push(entry, not_before=entry.not_before, sequence=entry.sequence)
            lost = next((dep.operation_id for dep in entry.dependencies if ledger.lost(dep)), None)
            if lost is None:
                unmet = queue.waiting_for(entry.id)
                lost = next((d.operation_id for d in entry.dependencies if d.operation_id in unmet and d.operation_id not in ledger), None)
            if lost is not None:
                out.stranded.append((entry.id, lost))
    finished.sort(key=lambda e: (e.finished_at or e.queued_at, e.sequence))
    out.history = [e.id for e in finished]
    out.next_sequence = last_sequence + 1
    return out


def _met_by_started_dependents(ledger: Ledger, queue: DispatchQueue[Entry]) -> None:
    """A dependency on an operation that is not in the books (skipped) was met if its dependent
    started: finish-to-start, it completed; start-to-start, it started. Tell the queue so."""
    for entry in ledger:
        if entry.attempts:
            for dep in entry.dependencies:
                if dep.operation_id not in ledger:
                    if dep.type is DependencyType.FINISH_TO_START:
                        queue.mark_completed(dep.operation_id)
                    else:
                        queue.mark_started(dep.operation_id)


def _file_events(state: StoredState, ledger: Ledger) -> tuple[list[EventRow], list[EventRow], list[SkippedRow]]:
    """Each event into its operation's log (or the dispatcher's), and all of them into the event log
    (both returned); those of operations not in the books are left out: counted on their skipped
    operation, or skipped themselves. An event stored without a number (written before events had
    one) is numbered after the one before it, as it was written."""
    log: list[EventRow] = []
    dispatcher_rows: list[EventRow] = []
    per_operation: dict[str, list[EventRow]] = {}
    set_aside = {row.operation_id for row in state.skipped if row.table == "operations"}
    left_with: Counter[str] = Counter()
    orphans: list[SkippedRow] = []
    sequence = 0
    for event in state.events:
        sequence = event.sequence if event.sequence is not None else sequence + 1
        op_id = event.operation_id
        if op_id is None:
            dispatcher_rows.append(row := row_of(event, sequence))
            log.append(row)
        elif op_id in ledger:
            per_operation.setdefault(op_id, []).append(row := row_of(event, sequence))
            log.append(row)
        elif op_id in set_aside:
            left_with[op_id] += 1
        else:
            reason = f"event {event.event_type.value} of operation {op_id!r}, which is not in the store"
            orphans.append(SkippedRow("events", event.id, reason, operation_id=op_id))
    for op_id, rows in per_operation.items():
        ledger.restore_events(op_id, rows)
    skipped = [
        row._replace(events=left_with[row.operation_id]) if row.table == "operations" and row.operation_id else row
        for row in state.skipped
    ]
    log.sort(key=event_sequence)  # as written, unless a store of one's own returns them otherwise
    return log, dispatcher_rows, skipped + orphans
