"""OperationDispatcher: the loop that asks, starts and tracks.

Concurrency: ``run()`` owns one asyncio loop. Sync methods (add, complete,
fail, report_progress, pause, resume, request_stop, queries) may be called
from any thread. The handshake methods (cancel, pause_operation,
resume_operation) are coroutines; awaited from another loop or thread they
hop onto the dispatcher's loop by themselves.

Every change is built, written to the store, then applied (``_change.py``),
under a write lock that serialises changes. Readers take only the state
lock, which is never held while the store writes, so a slow disk delays
changes, never reads. The loop itself never waits on the store: with a
store, its own changes are written from a worker thread. The executor is
told one thing at a time per dispatcher (the executor turn): a cancel,
pause or resume never overlaps the operation's start.

The loop never polls: it sleeps until an add, a state change, the next
release date, the end of a cooldown (after a denied or not-ready start) or
a storage retry.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any, NamedTuple, TypeVar, overload

from . import _limits as limits
from . import _listing as listing
from . import _transitions as transitions
from ._change import Change
from ._errors import DeniedError, InvalidStateError, NotFoundError, StorageError, UnavailableError, ValidationError
from ._handshake import RequestCallback, ask
from ._history import History
from ._journal import Journal
from ._ledger import Entry, EventRow, Ledger, event_row, event_sequence, recorded_as
from ._listing import check_state
from ._models import (
    AddResult,
    Decision,
    DispatcherSnapshot,
    DispatcherStatus,
    DispatchEvent,
    EventLogPage,
    EventType,
    Operation,
    OperationPage,
    OperationRecord,
    OperationState,
    built,
    parse_operations,
    utcnow,
)
from ._notify import NotificationCallback
from ._policies import DenialPolicy, FailureRetryPolicy, FailureStreakPolicy, NotReadyPolicy
from ._queue import DispatchQueue, SortRule
from ._recovery import recover
from ._repeats import AnswerRun
from ._runner import OperationRunner
from ._store import SkippedRow, Store

log = logging.getLogger("operation_dispatcher")
T = TypeVar("T")

INTERRUPTED_REQUEUE = "requeue"
INTERRUPTED_FAIL = "fail"
STRANDED_CANCEL = "cancel"
STRANDED_FAIL = "fail"

STORAGE_RETRY_FIRST = 0.1  # seconds before the loop retries a step the store refused; doubles up to the max
STORAGE_RETRY_MAX = 5.0
LOGGED_SKIPPED_ROWS = 20  # rows set aside at recovery that are logged (and named in DISPATCHER_STARTED) one by one

S, E = OperationState, EventType


def _describe(value: object) -> str:
    return f"{len(value)} characters" if isinstance(value, str) else f"a {type(value).__name__}"


def _check_int(value: object, field: str, low: int, high: int | None) -> None:
    """ValidationError naming ``field`` unless ``value`` is an int (not a bool) within [low, high]."""
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        within = f"within [{low}, {high}]" if high is not None else f"of at least {low}"
        raise ValidationError(f"{field} must be an integer {within}; got {value!r}", field=field)


def _check_text(value: str | None, field: str) -> None:
    """Free-text arguments (reasons, outcomes) are bounded like every other input, and storable."""
    if value is None:
        return
    if not isinstance(value, str) or len(value) > limits.MAX_STRING_LENGTH:
        raise ValidationError(f"{field} must be a string of at most {limits.MAX_STRING_LENGTH} characters", field=field)
    if not value.isascii():
        try:
            value.encode()
        except UnicodeEncodeError:
            raise ValidationError(f"{field} holds text that is not valid Unicode (a lone surrogate)", field=field) from None


class _Steer(NamedTuple):
    """What pausing or resuming an operation takes: from which state to which, with which events."""

    verb: str
    want: OperationState
    target: OperationState
    requested: EventType
    denied: EventType
    done: EventType


_PAUSE = _Steer("pause", S.RUNNING, S.PAUSED, E.OPERATION_PAUSE_REQUESTED, E.OPERATION_PAUSE_DENIED, E.OPERATION_PAUSED)
_RESUME = _Steer("resume", S.PAUSED, S.RUNNING, E.OPERATION_RESUME_REQUESTED, E.OPERATION_RESUME_DENIED, E.OPERATION_RESUMED)


class OperationDispatcher:
    """Queues, dispatches and supervises operations for one resource.

    Args:
        resource_id: the resource this dispatcher serves; operations for
            another resource are refused, operations without one get it.
        on_request_callback: decides ``*_REQUESTED`` events (sync or async);
            answers True, False, None (``default_decision`` applies) or a
            :class:`Decision`; ``Decision.later()`` = not ready, ask again
            (a start stays queued, a cancel / pause / resume is refused
            with UnavailableError; never a denial).
        on_notification_callback: receives every event (sync or async);
            more subscribers with :meth:`subscribe`.
        request_timeout: seconds to wait for a decision; a timeout is a denial.
        default_decision: what a None answer means (approve by default).
        denial_policy: cooldown after a denied start and how many denials
            in a row pause the dispatcher.
        failure_retry: opt-in re-queueing of failed operations with back-off.
        failure_streak: how many operations failing in a row pause the
            dispatcher (5 by default; a robot that rejects every goal would
            otherwise fail the whole queue in seconds).
        not_ready_policy: when a start answered "not ready" without a
            ``retry_after`` is asked again (0.1 s doubling to 0.5 s).
        runner: the executor to tell about approved starts, cancels, pauses
            and resumes.
        store: persistence; the dispatcher recovers from it on creation. A
            change the store cannot write raises StorageError and changes
            nothing.
        on_interrupted: what to do with an operation found RUNNING or PAUSED
            in the store ("requeue" or "fail").
        on_dependency_failed: what becomes of a queued operation whose
            dependency can never be met, because it was cancelled or failed
            ("cancel", the default, or "fail").
        sort_rules: order of released operations (default priority desc,
            created_at asc).
        sync_callbacks_in_thread: run sync request callbacks in a worker
            thread so the timeout bounds them too (slower).
    """

    def __init__(
        self,
        resource_id: str,
        on_request_callback: RequestCallback | None = None,
        on_notification_callback: NotificationCallback | None = None,
        *,
        request_timeout: float = 5.0,
        default_decision: bool = True,
        denial_policy: DenialPolicy | None = None,
        failure_retry: FailureRetryPolicy | None = None,
        failure_streak: FailureStreakPolicy | None = None,
        not_ready_policy: NotReadyPolicy | None = None,
        runner: OperationRunner | None = None,
        store: Store | None = None,
        on_interrupted: str = INTERRUPTED_REQUEUE,
        on_dependency_failed: str = STRANDED_CANCEL,
        sort_rules: Iterable[SortRule] | None = None,
        sync_callbacks_in_thread: bool = False,
    ) -> None:
        if not isinstance(resource_id, str) or not 1 <= len(resource_id) <= limits.MAX_ID_LENGTH:
            raise ValidationError("resource_id must be 1 to 128 characters", field="resource_id")
        if not 0 < request_timeout <= 3600:
            raise ValidationError("request_timeout must be within (0, 3600] seconds", field="request_timeout")
        if on_interrupted not in (INTERRUPTED_REQUEUE, INTERRUPTED_FAIL):
            raise ValidationError("on_interrupted must be 'requeue' or 'fail'", field="on_interrupted")
        if on_dependency_failed not in (STRANDED_CANCEL, STRANDED_FAIL):
            raise ValidationError("on_dependency_failed must be 'cancel' or 'fail'", field="on_dependency_failed")
        self.resource_id = resource_id
        self.request_timeout = request_timeout
        self.default_decision = default_decision
        self._denial_policy = denial_policy or DenialPolicy()
        self._denied_at: datetime | None = None  # when the cooldown running now began, if a denial began it
        self.failure_retry = failure_retry
        self.failure_streak = failure_streak or FailureStreakPolicy()
        self.not_ready_policy = not_ready_policy or NotReadyPolicy()
        self.on_interrupted = on_interrupted
        self.on_dependency_failed = on_dependency_failed
        self.sync_callbacks_in_thread = sync_callbacks_in_thread
        self._on_request = on_request_callback
        self._runner = runner or OperationRunner()
        self._store = store
        self._journal = Journal(resource_id)
        if on_notification_callback is not None:
            self._journal.subscribe(on_notification_callback)

        # Without a store nothing slow happens inside a change: one lock serves both roles.
        self._write_lock = threading.RLock()
        self._state_lock = self._write_lock if store is None else threading.RLock()
        self._writer = None if store is None else ThreadPoolExecutor(1, thread_name_prefix=f"store-{resource_id}")
        self._ledger = Ledger()
        self._queue: DispatchQueue[Entry] = DispatchQueue(
            resource_id, list(sort_rules) if sort_rules else None, lookup=self._ledger.__getitem__
        )
        self._history = History()  # terminal operation ids, in the order they finished
        self._next_sequence = 0
        self._active: str | None = None
        self._pending_requests: dict[str, EventType] = {}
        self._paused = False
        self._paused_reason: str | None = None
        self._consecutive_denials = 0
        self._consecutive_failures = 0
        self._answers: AnswerRun | None = None  # the answers in a row, alike, to one operation's starts (see _repeats.py)
        self._withheld: EventRow | None = None  # the start request in flight, sent unrecorded (a repeat)
        self._not_ready_streak = 0  # not-ready answers to starts in a row (never counted as denials)
        self._cooldown_until: datetime | None = None  # no start is asked before (after a denial or a not-ready answer)
        self._storage_error: str | None = None
        self._skipped: tuple[SkippedRow, ...] = ()  # store rows recovery could not load
        self._set_aside: dict[str, SkippedRow] = {}  # ... of them, the operations, by id

        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._wake: asyncio.Event | None = None
        self._turn: asyncio.Lock | None = None  # the executor turn of cancel / pause / resume, on run()'s loop
        self._starting = False  # a start is being told to the runner
        self._started_waiters: list[asyncio.Future[None]] = []  # cancel / pause / resume waiting for it to return
        self._running = False
        self._stop_requested = False

        if store is not None:
            self._recover(store)

    @property
    def denial_policy(self) -> DenialPolicy:
        return self._denial_policy

    @denial_policy.setter
    def denial_policy(self, policy: DenialPolicy) -> None:
        """A new policy applies to the cooldown already running too (a denial's, from when it began)."""
        with self._write_lock, self._state_lock:
            self._denial_policy = policy
            if self._denied_at is not None and self._cooldown_until is not None:
                self._cooldown_until = self._denied_at + timedelta(seconds=policy.waited)
        self._kick()

    # ----------------------------------------------------------------- changes

    def _change(self, build: Callable[..., T], *args: Any) -> T:
        """Build one change with ``build(change, *args)`` (write lock held), write it to the
        store, apply it, publish its events. A change records events or sets facts (a
        repeated denial only counts its retry); one that does neither is not written.

        On the hot path of every life cycle: kept to one call for all of it.
        """
        with self._write_lock:
            change = Change()
            result = build(change, *args)
            events = change.events
            if not events and not change.updates:
                if change.then:  # the dispatcher's own bookkeeping only (a repeated answer counted): nothing to write
                    with self._state_lock:
                        for step in change.then:
                            step()
                return result
            store, journal = self._store, self._journal
            publish = journal.notifier.subscribers
            if events and (store is not None or publish):
                change.models = models = [journal.model(row) for row in events]
            if store is None:
                self._apply(change)  # the write lock is the state lock
            else:
                self._write(store, change)
                with self._state_lock:
                    self._apply(change)
            if publish and events:
                journal.publish(models)  # inside the write lock: subscribers see changes in order
        return result

    def _write(self, store: Store, change: Change) -> None:
        try:
            store.write(
                operations=[op for _, op in change.new],
                executions=change.executions(self._ledger),
                events=change.models or (),
                paused=change.paused,
            )
        except StorageError:
            raise
        except Exception as exc:  # a Store of the user's own that does not say StorageError
            raise StorageError(f"the store could not write the change: {type(exc).__name__}: {exc}", cause=str(exc)) from exc

    def _apply(self, change: Change) -> None:
        """Apply a written change to memory (state lock held)."""
        ledger, journal = self._ledger, self._journal
        for entry, op in change.new:
            ledger.insert(entry, op.payload)
        for op_id, facts in change.updates.items():
            ledger.update(op_id, facts)
        ledger.file_events(change.events, journal.dispatcher_rows)
        journal.record(change.events)
        for step in change.then:
            step()

    async def _change_async(self, build: Callable[..., T], *args: Any) -> T:
        """:meth:`_change` from a coroutine: with a store it runs in the writer thread,
        so the loop never waits on the disk (nor on another writer)."""
        if self._writer is None:
            return self._change(build, *args)
        return await asyncio.get_running_loop().run_in_executor(self._writer, self._change, build, *args)

    def _event(
        self,
        change: Change,
        event_type: EventType,
        operation_id: str | None,
        metadata: dict[str, Any],
        at: datetime | None = None,
        execution_id: str | None = None,
    ) -> EventRow:
        """Add an event to ``change``. ``at`` is the time of the change it reports, when the change
        records one (queued_at, started_at, finished_at), so that both read the same."""
        if operation_id is not None and execution_id is None:
            execution_id = self._ledger.execution_id(operation_id)
        events, journal = change.events, self._journal
        sequence = journal.count + len(events) + 1
        row = event_row(journal.event_id(sequence), event_type, operation_id, execution_id, metadata, at, sequence)
        events.append(row)
        return row

    def _move(self, change: Change, entry: Entry, target: OperationState, why: str, **facts: Any) -> None:
        """Move an operation to ``target`` if the transition table allows it (else InvalidStateError)."""
        if target not in transitions.ALLOWED_BY_VALUE[entry.state_value]:
            transitions.refuse(entry.id, entry.state, why)
        facts["state"] = target
        change.set(entry, facts)

    # ------------------------------------------------------------------ adding

    @overload
    def add(self, operations: Operation | dict[str, Any]) -> AddResult: ...
    @overload
    def add(self, operations: Iterable[Operation | dict[str, Any]]) -> list[AddResult]: ...

    def add(self, operations: Any) -> AddResult | list[AddResult]:
        """Queue one operation or a batch (all or nothing).

        An operation whose id is already known is not added again; its
        result says ``added=False``. A mapping without ``resource_id`` is
        for this dispatcher's resource.
        """
        single = isinstance(operations, (Operation, dict))
        if isinstance(operations, Operation):
            batch = [operations]
        else:
            batch = parse_operations([operations] if single else operations, default_resource_id=self.resource_id)
        results = self._change(self._add, batch)
        self._kick()
        return results[0] if single else results

    def _add(self, change: Change, batch: list[Operation]) -> list[AddResult]:
        if self._set_aside:  # only after a recovery that set rows aside
            self._refuse_set_aside(batch)
        results, new = self._check_batch(batch)
        if not new:
            return results
        now = utcnow()
        sequence = self._next_sequence
        queue_length = len(self._queue)
        for op in new:
            entry = Ledger.draft(op, f"{self._journal.prefix}-x{sequence}", sequence, now)
            change.new.append((entry, op))
            queue_length += 1
            metadata = {"priority": op.priority, "queue_length": queue_length}
            self._event(change, E.OPERATION_ADDED, op.id, metadata, now, execution_id=entry.execution_id)
            sequence += 1

        entries = [entry for entry, _ in change.new]  # not the change itself: a closure on it would be a cycle

        def queue_them() -> None:
            self._next_sequence = sequence
            for entry in entries:
                self._queue.push(entry, sequence=entry.sequence)

        change.then.append(queue_them)
        return results

    def _check_batch(self, batch: list[Operation]) -> tuple[list[AddResult], list[Operation]]:
        results: list[AddResult] = []
        new: list[Operation] = []
        batch_ids: set[str] = set()
        for i, op in enumerate(batch):
            if op.id in batch_ids:
                raise ValidationError(f"operations[{i}].id: {op.id!r} appears twice in this add", field=f"operations[{i}].id")
            batch_ids.add(op.id)
            known = self._ledger.get(op.id)
            if known is not None:
                results.append(built(AddResult, {"operation_id": op.id, "added": False, "state": known.state}))
                continue
            if op.resource_id != self.resource_id:
                raise ValidationError(
                    f"operations[{i}].resource_id: {op.resource_id!r} is not this dispatcher's resource {self.resource_id!r}",
                    field=f"operations[{i}].resource_id",
                )
            for dep in op.dependencies:
                field = f"operations[{i}].dependencies"
                if dep.operation_id not in self._ledger and dep.operation_id not in batch_ids:
                    raise ValidationError(
                        f"{field}: unknown operation {dep.operation_id!r} (it must be added before, or earlier in the same add)",
                        field=field,
                    )
                lost = self._ledger.lost(dep)
                if lost is not None:
                    raise ValidationError(
                        f"{field}: operation {dep.operation_id!r} is {lost.value}, so this {dep.type.value} "
                        "dependency can never be met",
                        field=field,
                    )
            new.append(op)
            results.append(built(AddResult, {"operation_id": op.id, "added": True, "state": S.QUEUED}))
        return results, new

    # ---------------------------------------------------- executor reports

    def complete(self, operation_id: str | None = None, outcome: str | None = None) -> None:
        """Report that the active operation finished successfully.

        Returns nothing: this is the executor's report on every life cycle's
        hot path; read the finished record with :meth:`get` when needed.
        Raises StorageError (nothing changed) when the store cannot record
        it: report again.
        """
        _check_text(outcome, "outcome")
        self._change(self._complete, operation_id, outcome)
        self._kick()

    def _complete(self, change: Change, operation_id: str | None, outcome: str | None) -> None:
        entry = self._active_entry(operation_id, "complete")
        now = utcnow()
        self._move(change, entry, S.COMPLETED, "complete", outcome=outcome, progress=1.0, finished_at=now)
        self._finish(change, entry.id, E.OPERATION_COMPLETED, {"outcome": outcome}, now, completed=True)

    def fail(self, operation_id: str | None = None, reason: str | None = None) -> None:
        """Report that the active operation failed; the failure retry policy may queue it again."""
        _check_text(reason, "reason")
        self._change(self._fail_active, operation_id, reason or "failed")
        self._kick()

    def report_progress(self, operation_id: str, progress: float) -> None:
        """Record progress (0..1) of the active operation; no event, it is polled, and not stored."""
        if isinstance(progress, bool) or not isinstance(progress, (int, float)) or not 0.0 <= progress <= 1.0:
            raise ValidationError("progress must be a number within [0, 1]", field="progress")
        with self._state_lock:
            self._ledger.update(self._active_entry(operation_id, "report progress of").id, {"progress": float(progress)})

    def _fail_active(self, change: Change, operation_id: str | None, reason: str) -> None:
        self._fail(change, self._active_entry(operation_id, "fail"), reason)

    def _fail(self, change: Change, entry: Entry, reason: str, **metadata: Any) -> None:
        backoff = self.failure_retry.backoff(entry.attempts) if self.failure_retry else None
        if backoff is None:
            now = utcnow()
            self._move(change, entry, S.FAILED, "fail", termination_reason=reason, finished_at=now)
            self._finish(change, entry.id, E.OPERATION_FAILED, {"reason": reason, "requeued": False, **metadata}, now)
            self._failed_in_a_row(change, entry.id, reason)
            return
        assert self.failure_retry is not None
        self._move(
            change, entry, S.QUEUED, "queue again", termination_reason=reason, progress=0.0,
            not_before=utcnow() + timedelta(seconds=backoff),
        )  # fmt: skip
        requeued = entry = change.entry(entry)

        def queue_again() -> None:
            if self._active == requeued.id:
                self._active = None
            self._queue.push(requeued, not_before=requeued.not_before, sequence=requeued.sequence)

        change.then.append(queue_again)
        meta = {"reason": reason, "requeued": True, "attempts": entry.attempts, "retry_in_seconds": backoff, **metadata}
        meta["max_attempts"] = self.failure_retry.max_attempts
        self._event(change, E.OPERATION_FAILED, entry.id, meta)
        self._failed_in_a_row(change, entry.id, reason)

    def _failed_in_a_row(self, change: Change, op_id: str, reason: str) -> None:
        """Count a failure into the streak; at ``failure_streak.max_failures`` the dispatcher pauses itself."""
        failures = self._consecutive_failures + 1

        def counted() -> None:
            self._consecutive_failures = failures

        change.then.append(counted)
        if self.failure_streak.pauses(failures) and not self._paused:
            reason = f"{failures} operations failed in a row; last reason: {reason}"
            self._set_paused(change, reason, automatic=True, cause="failures", consecutive_failures=failures, operation_id=op_id)

    def _finish(
        self,
        change: Change,
        op_id: str,
        event_type: EventType,
        metadata: dict[str, Any],
        at: datetime | None = None,
        *,
        completed: bool = False,
        strand: bool = True,
    ) -> None:
        """Common tail of every move into a terminal state: its event, and the queue and
        history told once applied. An operation that ends without completing takes
        the queued operations that waited for it along (``on_dependency_failed``)."""
        self._event(change, event_type, op_id, metadata, at)

        def finished() -> None:
            if self._active == op_id:
                self._active = None
            if op_id in self._queue:
                self._queue.remove(op_id)
            self._history.append(op_id, self._ledger[op_id].state)
            if completed:
                self._queue.mark_completed(op_id)
                self._consecutive_failures = 0
            else:
                self._queue.mark_ended(op_id)

        change.then.append(finished)
        if not completed and strand:
            for dependent, predecessor in self._queue.stranded_by(op_id):
                self._end_stranded(change, dependent, predecessor)

    def _end_stranded(self, change: Change, op_id: str, predecessor: str) -> None:
        """End a queued operation whose dependency ``predecessor`` can never be met."""
        state = change.updates.get(predecessor, {}).get("state") or self._ledger[predecessor].state
        reason = f"dependency {predecessor!r} was {state.value}, so this operation can never start"
        self._end_unmet(change, op_id, reason, {"dependency": predecessor, "dependency_state": state.value})

    def _end_unmet(self, change: Change, op_id: str, reason: str, facts: dict[str, Any]) -> None:
        """End a queued operation that can never start (``on_dependency_failed``), saying why."""
        target = S.CANCELLED if self.on_dependency_failed == STRANDED_CANCEL else S.FAILED
        now = utcnow()
        self._move(change, self._ledger[op_id], target, "end", termination_reason=reason, finished_at=now)
        event_type = E.OPERATION_CANCELLED if target is S.CANCELLED else E.OPERATION_FAILED
        metadata = {"reason": reason, **facts, "was_active": False}
        if target is S.FAILED:
            metadata["requeued"] = False
        self._finish(change, op_id, event_type, metadata, now, strand=False)

    def _active_entry(self, operation_id: str | None, verb: str) -> Entry:
        if operation_id is None:
            if self._active is None:
                raise InvalidStateError(f"cannot {verb} the current operation: none is active")
            operation_id = self._active
        entry = self._require(operation_id)
        if not entry.state.is_active:
            raise InvalidStateError(
                f"cannot {verb} operation {operation_id!r}: it is {entry.state.value}, not RUNNING or PAUSED",
                operation_id=operation_id,
                state=entry.state.value,
            )
        return entry

    # ------------------------------------------------------- handshaken control

    async def cancel(self, operation_id: str, reason: str | None = None) -> OperationRecord:
        """Cancel a queued or active operation once the business logic approves.

        An active operation is CANCELLED only once the executor has stopped
        it; an executor still starting it is let finish its start first.
        Raises DeniedError (with the reason) when it is not approved,
        InvalidStateError when the operation already ended.
        """
        _check_text(reason, "reason")
        return await self._on_own_loop(self._cancel, operation_id, reason)

    async def pause_operation(self, operation_id: str, reason: str | None = None) -> OperationRecord:
        """Pause the RUNNING operation once approved; the runner keeps its progress."""
        _check_text(reason, "reason")
        return await self._on_own_loop(self._steer, _PAUSE, operation_id, reason)

    async def resume_operation(self, operation_id: str, reason: str | None = None) -> OperationRecord:
        """Resume the PAUSED operation once approved."""
        _check_text(reason, "reason")
        return await self._on_own_loop(self._steer, _RESUME, operation_id, reason)

    async def _cancel(self, operation_id: str, reason: str | None) -> OperationRecord:
        with self._state_lock:
            entry = self._require(operation_id)
            if entry.state.is_terminal:
                raise InvalidStateError(
                    f"cannot cancel operation {operation_id!r}: it is already {entry.state.value}",
                    operation_id=operation_id,
                    state=entry.state.value,
                )
        decision = await self._handshake(entry, E.OPERATION_CANCEL_REQUESTED, E.OPERATION_CANCEL_DENIED, reason)
        async with self._executor_turn():
            with self._state_lock:
                entry = self._ledger[operation_id]  # as it is now: it may have started meanwhile
            was_active = entry.state.is_active
            if was_active:
                await self._tell_runner(entry, self._runner.cancel, "cancel", E.OPERATION_CANCEL_DENIED)
            termination_reason = reason or decision.reason or "cancelled"
            entry = await self._change_async(self._cancelled, operation_id, termination_reason, was_active)
        self._kick()
        with self._state_lock:
            return self._ledger.record(entry)

    def _cancelled(self, change: Change, operation_id: str, reason: str, was_active: bool) -> Entry:
        entry = self._ledger[operation_id]
        if entry.state.is_terminal:
            raise self._changed_meanwhile(entry, "cancel")
        self._move(change, entry, S.CANCELLED, "cancel", finished_at=utcnow(), termination_reason=reason)
        entry = change.entry(entry)
        self._finish(change, operation_id, E.OPERATION_CANCELLED, {"reason": reason, "was_active": was_active}, entry.finished_at)
        return entry

    async def _steer(self, step: _Steer, operation_id: str, reason: str | None) -> OperationRecord:
        """Pause or resume one operation: ask, tell the executor, record."""
        with self._state_lock:
            entry = self._require(operation_id)
            self._expect(entry, step.want, step.verb)
        await self._handshake(entry, step.requested, step.denied, reason)
        tell = self._runner.pause if step is _PAUSE else self._runner.resume
        async with self._executor_turn():
            with self._state_lock:
                entry = self._ledger[operation_id]  # as it is now: the start or a cancel before ours may have ended it
            if entry.state is not step.want:
                raise self._changed_meanwhile(entry, step.verb)
            await self._tell_runner(entry, tell, step.verb, step.denied)
            entry = await self._change_async(self._steered, step, operation_id, reason)
        self._kick()
        with self._state_lock:
            return self._ledger.record(entry)

    def _steered(self, change: Change, step: _Steer, operation_id: str, reason: str | None) -> Entry:
        entry = self._ledger[operation_id]
        if entry.state is not step.want:
            raise self._changed_meanwhile(entry, step.verb)
        self._move(change, entry, step.target, step.verb)
        self._event(change, step.done, operation_id, {"reason": reason, "progress": entry.progress})
        return change.entry(entry)

    @staticmethod
    def _changed_meanwhile(entry: Entry, verb: str) -> InvalidStateError:
        """The operation moved on while its request was decided or told: nothing of the request is done."""
        return InvalidStateError(
            f"operation {entry.id!r} became {entry.state.value} while its {verb} was being decided", operation_id=entry.id
        )

    @staticmethod
    def _expect(entry: Entry, want: OperationState, verb: str) -> None:
        if entry.state is not want:
            raise InvalidStateError(
                f"cannot {verb} operation {entry.id!r}: it is {entry.state.value}, not {want.value}",
                operation_id=entry.id,
                state=entry.state.value,
            )

    async def _handshake(self, entry: Entry, requested: EventType, denied: EventType, reason: str | None) -> Decision:
        """Ask; on denial record ``denied`` and raise DeniedError. One request per operation at a time.

        Not ready: UnavailableError, nothing recorded beyond the request, nothing changed."""
        op_id = entry.id
        with self._state_lock:
            if op_id in self._pending_requests:
                raise InvalidStateError(
                    f"operation {op_id!r} already has a {self._pending_requests[op_id].value} being decided",
                    operation_id=op_id,
                )
            self._pending_requests[op_id] = requested
        try:
            metadata = {"reason": reason, "state": entry.state.value}
            request = await self._change_async(self._request, requested, op_id, metadata)
            decision = await self._ask(request)
        finally:
            with self._state_lock:
                self._pending_requests.pop(op_id, None)
        if decision.not_ready:
            raise UnavailableError(
                f"{requested.value.removeprefix('OPERATION_').removesuffix('_REQUESTED').lower()} of {op_id!r} "
                f"not possible now: the business logic is not ready ({decision.reason or 'no reason given'}); try again",
                operation_id=op_id,
                reason=decision.reason,
                retry_after=decision.retry_after,
            )
        if not decision.approved:
            await self._deny(entry, denied, decision)
        return decision

    def _request(self, change: Change, requested: EventType, op_id: str, metadata: dict[str, Any]) -> Change:
        self._event(change, requested, op_id, metadata)
        return change

    async def _ask(self, request: Change) -> Decision:
        """Put a committed ``*_REQUESTED`` event to the business logic (its model, built once, served the subscribers)."""
        event = request.models[0] if request.models else self._journal.model(request.events[0])
        return await ask(
            self._on_request,
            event,
            timeout=self.request_timeout,
            default=self.default_decision,
            sync_in_thread=self.sync_callbacks_in_thread,
        )

    async def _deny(self, entry: Entry, denied: EventType, decision: Decision) -> None:
        metadata = {"reason": decision.reason, "data": decision.data}
        await self._change_async(self._event, denied, entry.id, metadata)
        raise DeniedError(
            f"{denied.value.removeprefix('OPERATION_').replace('_', ' ').lower()} for {entry.id!r}: {decision.reason}",
            reason=decision.reason,
            data=decision.data,
        )

    async def _tell_runner(
        self, entry: Entry, tell: Callable[[Operation], Coroutine[Any, Any, None]], verb: str, denied: EventType
    ) -> None:
        try:
            await tell(self._ledger.operation(entry))
        except Exception as exc:
            await self._deny(entry, denied, Decision(approved=False, reason=f"executor could not {verb}: {exc}", data={"executor": True}))

    @contextlib.asynccontextmanager
    async def _executor_turn(self) -> AsyncIterator[None]:
        """Hold the executor: a cancel, pause or resume is told only once the one before it, and the
        operation's start, have returned. (A start needs no turn: it is told only while no operation
        is active, and the others are told only about an active one.)"""
        turn = self._turn if self._loop is not None and asyncio.get_running_loop() is self._loop else None
        if turn is None:  # not on run()'s loop: no start can be in flight
            yield
            return
        async with turn:
            if self._starting:
                returned = asyncio.get_running_loop().create_future()
                self._started_waiters.append(returned)
                await returned
            yield

    async def _on_own_loop(self, method: Callable[..., Coroutine[Any, Any, T]], *args: Any) -> T:
        """Run a handshake on the dispatcher's loop, whichever loop awaits it."""
        loop = self._loop
        if loop is None or not self._running or asyncio.get_running_loop() is loop:
            return await method(*args)
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(method(*args), loop))

    # ------------------------------------------------------- dispatcher control

    def pause(self, reason: str | None = None) -> DispatcherSnapshot:
        """Stop starting operations; the active one carries on."""
        _check_text(reason, "reason")
        self._change(self._pause, reason or "paused by request")
        self._kick()
        return self.snapshot()

    def _pause(self, change: Change, reason: str) -> None:
        if self._paused:
            raise InvalidStateError("the dispatcher is already paused", paused_reason=self._paused_reason)
        self._set_paused(change, reason, automatic=False)

    def resume(self) -> DispatcherSnapshot:
        """Start dispatching again; clears the denial and failure streaks and the cooldown."""
        self._change(self._resume)
        self._kick()
        return self.snapshot()

    def _resume(self, change: Change) -> None:
        if not self._paused:
            raise InvalidStateError("the dispatcher is not paused")
        self._event(change, E.OPERATION_DISPATCHER_RESUMED, None, {})
        change.paused = (False, None)

        def resumed() -> None:
            self._paused, self._paused_reason = False, None
            self._consecutive_denials, self._cooldown_until, self._not_ready_streak, self._denied_at = 0, None, 0, None
            self._consecutive_failures, self._answers = 0, None

        change.then.append(resumed)

    def _set_paused(self, change: Change, reason: str, automatic: bool, **metadata: Any) -> None:
        self._event(change, E.OPERATION_DISPATCHER_PAUSED, None, {"reason": reason, "automatic": automatic, **metadata})
        change.paused = (True, reason)

        def paused() -> None:
            self._paused, self._paused_reason = True, reason

        change.then.append(paused)

    def request_stop(self) -> None:
        """Ask ``run()`` to return; safe from any thread."""
        self._stop_requested = True
        self._kick()

    @property
    def running(self) -> bool:
        return self._running

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The loop ``run()`` is on, for ``asyncio.run_coroutine_threadsafe`` from other threads."""
        return self._loop

    def subscribe(self, callback: NotificationCallback) -> Callable[[], None]:
        """Receive every event (sync or async callback); returns an unsubscribe function."""
        return self._journal.subscribe(callback)

    # -------------------------------------------------------------------- loop

    async def run(self) -> None:
        """Dispatch until :meth:`request_stop`. Emits DISPATCHER_STARTED / STOPPED.

        A step the store cannot write is retried with a growing back-off
        (``snapshot().storage_error`` says why meanwhile); the loop carries on.
        """
        if self._running:
            raise InvalidStateError("the dispatcher is already running")
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._wake = asyncio.Event()
        self._turn = asyncio.Lock()
        self._running = True
        self._journal.notifier.attach(self._loop)
        try:
            await self._emit(E.OPERATION_DISPATCHER_STARTED)
            retry, in_memory = 0.0, self._writer is None
            while not self._stop_requested:
                try:
                    self._wake.clear()
                    if self._paused or self._active is not None:  # nothing to start (a change would say so): until woken
                        request, wait = None, None
                    elif in_memory:  # every life cycle passes here: no coroutine hop when nothing is written
                        request, wait = self._change(self._next_step)
                    else:
                        request, wait = await self._change_async(self._next_step)
                    if request is not None:
                        await self._request_start(request, in_memory)
                    else:
                        await self._sleep(wait)
                    if retry:
                        retry, self._storage_error = 0.0, None
                        log.info("%s: the store writes again", self.resource_id)
                except StorageError as exc:
                    retry = min(max(retry * 2, STORAGE_RETRY_FIRST), STORAGE_RETRY_MAX)
                    self._storage_error = exc.message
                    log.warning("%s: %s; retrying in %.1f s", self.resource_id, exc.message, retry)
                    await self._sleep(retry)
        finally:
            self._running = False
            self._stop_requested = False  # a stop requested before run() started is honoured, then forgotten
            await self._emit(E.OPERATION_DISPATCHER_STOPPED)
            # Let sync subscribers see STOPPED before run() returns (a script may exit right after).
            await self._loop.run_in_executor(None, self._journal.notifier.flush, 2.0)
            self._loop = self._wake = self._turn = None
            self._loop_thread = None

    async def _emit(self, event_type: EventType) -> None:
        """Record a dispatcher event; one the store cannot take is logged and left out (nothing else changes).

        A start of a dispatcher whose recovery set rows aside says so (how many, and the first few)."""
        metadata: dict[str, Any] = {"queue_length": len(self._queue)}
        if self._skipped and event_type is E.OPERATION_DISPATCHER_STARTED:
            metadata["recovery_skipped"] = len(self._skipped)
            metadata["recovery_skipped_rows"] = [
                {"table": r.table, "row_id": r.row_id, "reason": r.reason} for r in self._skipped[:LOGGED_SKIPPED_ROWS]
            ]
        try:
            await self._change_async(self._event, event_type, None, metadata)
        except StorageError as exc:
            log.warning("%s: %s not recorded: %s", self.resource_id, event_type.value, exc.message)

    def _next_step(self, change: Change) -> tuple[Change | None, float | None]:
        """Ask to start the next operation (its START_REQUESTED in ``change``), or say how
        long to sleep (None: until woken). Picked and asked in one change, so nothing
        can take the operation in between."""
        if self._paused or self._active is not None:
            return None, None
        now = utcnow()
        if self._cooldown_until is not None and self._cooldown_until > now:
            return None, (self._cooldown_until - now).total_seconds()
        entry = self._queue.peek(now)
        if entry is None:
            release = self._queue.next_release()
            return None, None if release is None else max((release - now).total_seconds(), 0.0)
        metadata = {"retry_count": entry.retry_count, "attempt": entry.attempts + 1}
        run = self._answers
        if run is not None and run.quiet(entry.id):  # a repeat: asked unrecorded (see _repeats.py)
            journal = self._journal
            event_id = f"{journal.event_id(journal.count + 1)}-unrecorded-{run.unrecorded + 1}"
            quiet = Change()
            quiet.events.append(event_row(event_id, E.OPERATION_START_REQUESTED, entry.id, entry.execution_id, metadata))
            self._withheld = quiet.events[0]
            return quiet, None
        self._event(change, E.OPERATION_START_REQUESTED, entry.id, metadata, now, entry.execution_id)
        return change, None

    async def _sleep(self, seconds: float | None) -> None:
        assert self._wake is not None and self._loop is not None
        timer = self._loop.call_later(seconds, self._wake.set) if seconds is not None else None
        await self._wake.wait()
        if timer is not None:
            timer.cancel()

    async def _request_start(self, request: Change, in_memory: bool) -> None:
        op_id = request.events[0][2]
        decision = await self._ask(request)
        # Marked before the start is recorded: a cancel that sees it RUNNING must find the start in flight.
        self._starting = True
        try:
            if in_memory:
                started = self._change(self._start_decided, op_id, decision)
            else:
                started = await self._change_async(self._start_decided, op_id, decision)
            if started is not None:
                await self._start_runner(started)
        finally:
            self._starting = False
            waiters, self._started_waiters = self._started_waiters, []
            for returned in waiters:
                if not returned.done():
                    returned.set_result(None)

    def _startable(self, op_id: str) -> Entry | None:
        entry = self._ledger[op_id]
        return entry if entry.state_value == "QUEUED" and op_id in self._queue and self._active is None else None

    def _start_decided(self, change: Change, op_id: str, decision: Decision) -> Entry | None:
        """Record the decision on a start; returns the started entry, if it started."""
        withheld, self._withheld = self._withheld, None
        entry = self._startable(op_id)
        if entry is None:
            return None  # cancelled while the start was being decided
        if not decision.approved:
            run = self._answers
            if withheld is not None and run is not None and run.repeated_by(op_id, decision):
                repeat: AnswerRun | None = run  # counted, not recorded (unless it pauses the dispatcher)
            else:
                repeat = None
                self._record_withheld(change, withheld)
            if decision.not_ready:
                self._start_deferred(change, entry, decision, repeat)
            else:
                self._start_denied(change, entry, decision, repeat, withheld)
            return None
        if self._paused or self._stop_requested:
            return None  # paused or stopping meanwhile: ask again later
        if withheld is not None:
            self._record_withheld(change, withheld)
        now, attempt, run = utcnow(), entry.attempts + 1, self._answers
        metadata = {"attempt": attempt, "data": decision.data or None}
        if run is not None and run.operation_id == op_id and run.unrecorded:
            metadata["unrecorded_repeats"] = run.unrecorded
        self._move(change, entry, S.RUNNING, "start", started_at=now, progress=0.0, attempts=attempt, not_before=None)
        self._event(change, E.OPERATION_STARTED, op_id, metadata, now, entry.execution_id)

        def started() -> None:
            self._queue.remove(op_id)
            self._queue.mark_started(op_id)
            self._active = op_id
            self._consecutive_denials = self._not_ready_streak = 0
            self._answers = None

        change.then.append(started)
        return entry

    def _record_withheld(self, change: Change, withheld: EventRow | None) -> None:
        """Record the unrecorded start request whose answer is recorded (the answer differs from the
        repeats, or pauses): the log keeps every recorded answer after its request, which keeps its time."""
        if withheld is not None:
            row = self._event(change, E.OPERATION_START_REQUESTED, withheld[2], {}, execution_id=withheld[3])
            change.events[-1] = recorded_as(withheld, row)

    def _answered(self, change: Change, op_id: str, decision: Decision, repeat: AnswerRun | None) -> dict[str, Any]:
        """Count an answer into the run of alike answers (``repeat``: it repeats the run and is not
        recorded) or start a new run; the metadata to record with a recorded answer."""
        if repeat is not None:

            def counted() -> None:
                repeat.count += 1
                repeat.unrecorded += 1

            change.then.append(counted)
            return {}
        run = self._answers
        left_out = run.unrecorded if run is not None and run.operation_id == op_id and run.unrecorded else None

        def begun() -> None:
            if run is not None and run.repeated_by(op_id, decision):
                run.count, run.unrecorded = run.count + 1, 0
            else:
                self._answers = AnswerRun.of(op_id, decision)

        change.then.append(begun)
        return {"unrecorded_repeats": left_out}

    def _start_denied(
        self, change: Change, entry: Entry, decision: Decision, repeat: AnswerRun | None, withheld: EventRow | None
    ) -> None:
        policy = self.denial_policy
        change.set(entry, {"retry_count": entry.retry_count + 1})
        entry = change.entry(entry)
        denials = self._consecutive_denials + 1
        pauses = denials >= policy.max_retries
        if pauses and repeat is not None:  # the denial that pauses the dispatcher is always recorded
            self._record_withheld(change, withheld)
            repeat = None
        denied_at = utcnow()
        cooldown_until = denied_at + timedelta(seconds=policy.waited)
        counted = self._answered(change, entry.id, decision, repeat)
        if repeat is None:
            metadata = {
                "retry_count": entry.retry_count,
                "consecutive_denials": denials,
                "max_retries": policy.max_retries,
                "cooldown_seconds": policy.cooldown_seconds,
                "reason": decision.reason,
                "data": decision.data,
                **counted,
            }
            self._event(change, E.OPERATION_START_DENIED, entry.id, metadata)

        def denied() -> None:
            self._consecutive_denials, self._cooldown_until, self._denied_at = denials, cooldown_until, denied_at
            self._not_ready_streak = 0

        change.then.append(denied)
        if pauses:
            reason = f"{denials} start requests denied in a row; last reason: {decision.reason}"
            self._set_paused(change, reason, automatic=True, cause="denials", operation_id=entry.id)

    def _start_deferred(self, change: Change, entry: Entry, decision: Decision, repeat: AnswerRun | None) -> None:
        """Not ready: the operation stays QUEUED, its counters and the denial streak as they are;
        the loop asks again after the answer's ``retry_after``, else the not-ready back-off."""
        streak = self._not_ready_streak + 1
        wait = decision.retry_after or self.not_ready_policy.backoff(streak)
        ask_again_at = utcnow() + timedelta(seconds=wait)
        counted = self._answered(change, entry.id, decision, repeat)
        if repeat is None:
            metadata = {
                "reason": decision.reason,
                "retry_in_seconds": wait,
                "not_ready_streak": streak,
                "retry_count": entry.retry_count,
                "data": decision.data,
                **counted,
            }
            self._event(change, E.OPERATION_START_DEFERRED, entry.id, metadata)

        def deferred() -> None:
            self._not_ready_streak, self._cooldown_until, self._denied_at = streak, ask_again_at, None

        change.then.append(deferred)

    async def _start_runner(self, entry: Entry) -> None:
        try:
            await self._runner.start(self._ledger.operation(entry))
        except Exception as exc:
            reason = f"executor could not start: {exc}"
            await self._until_stored(lambda change: self._start_failed(change, entry.id, reason))

    def _start_failed(self, change: Change, op_id: str, reason: str) -> None:
        entry = self._ledger[op_id]
        if entry.state.is_active:
            self._fail(change, entry, reason)

    async def _until_stored(self, build: Callable[[Change], None]) -> None:
        """A change the loop owes (the executor never started): retried until the store takes it, or run() stops."""
        retry = STORAGE_RETRY_FIRST
        while True:
            try:
                await self._change_async(build)
                self._storage_error = None
                return
            except StorageError as exc:
                if self._stop_requested:
                    log.error("%s: stopping with a change unrecorded: %s", self.resource_id, exc.message)
                    return
                self._storage_error = exc.message
                log.warning("%s: %s; retrying in %.1f s", self.resource_id, exc.message, retry)
                await asyncio.sleep(retry)
                retry = min(retry * 2, STORAGE_RETRY_MAX)

    def _kick(self) -> None:
        """Wake the loop from any thread."""
        loop, wake = self._loop, self._wake
        if loop is None or wake is None:
            return
        if threading.get_ident() == self._loop_thread:
            wake.set()
        else:
            try:
                loop.call_soon_threadsafe(wake.set)
            except RuntimeError:
                pass  # loop closed while stopping

    # ----------------------------------------------------------------- queries

    def _require(self, operation_id: str) -> Entry:
        """The entry of ``operation_id``; an id no operation could have is a ValidationError, as at every door."""
        entry = self._ledger.get(operation_id) if isinstance(operation_id, str) else None
        if entry is None:
            if not isinstance(operation_id, str) or not 1 <= len(operation_id) <= limits.MAX_ID_LENGTH:
                raise ValidationError(
                    f"operation_id must be a string of 1 to {limits.MAX_ID_LENGTH} characters; got {_describe(operation_id)}",
                    field="operation_id",
                )
            raise NotFoundError(operation_id)
        return entry

    def get(self, operation_id: str) -> OperationRecord:
        with self._state_lock:
            return self._ledger.record(self._require(operation_id))

    def current(self) -> OperationRecord | None:
        """The RUNNING or PAUSED operation, if any."""
        with self._state_lock:
            return self._ledger.record(self._ledger[self._active]) if self._active else None

    def list_operations(self, state: OperationState | str | None = None) -> list[OperationRecord]:
        """Every operation (of ``state``) in a useful order: the active one, the queue in dispatch
        order, then finished ones newest first. O(n): with a long queue, read :meth:`page_operations`."""
        wanted = check_state(state)
        with self._state_lock:
            ids: list[str] = [self._active] if self._active else []
            ids += [op.id for op in self._queue.ordered()]
            ids += self._history.newest(len(self._history))[0]
            entries = (self._ledger[i] for i in ids)
            return [self._ledger.record(entry) for entry in entries if wanted is None or entry.state is wanted]

    def page_operations(
        self, state: OperationState | str | None = None, limit: int = limits.OPERATIONS_PAGE_DEFAULT, cursor: str | None = None
    ) -> OperationPage:
        """A page of :meth:`list_operations`' order: up to ``limit`` operations after ``cursor`` (a
        previous page's ``next_cursor``; None: from the start), the total and the counts per state.
        Each page costs the page, whatever the queue's length (see ``_listing.py``)."""
        wanted = check_state(state)
        _check_int(limit, "limit", 1, limits.OPERATIONS_PAGE_MAX)
        with self._state_lock:
            return listing.page(self._books(), "all" if wanted is None else wanted.value, wanted, limit, cursor)

    def history(self, limit: int = limits.HISTORY_LIMIT_DEFAULT) -> list[OperationRecord]:
        """Finished operations, newest first."""
        return self.history_page(limit).operations

    def history_page(self, limit: int = limits.HISTORY_LIMIT_DEFAULT, cursor: str | None = None) -> OperationPage:
        """Finished operations, newest first, a page at a time (``cursor`` as in :meth:`page_operations`)."""
        _check_int(limit, "limit", 1, limits.HISTORY_LIMIT_MAX)
        with self._state_lock:
            return listing.page(self._books(), listing.HISTORY_LISTING, None, limit, cursor)

    def _books(self) -> listing.Books:
        return listing.Books(self._ledger, self._queue, self._history, self._active)

    def events(self, operation_id: str | None = None, *, after: int = 0, limit: int | None = None) -> list[DispatchEvent]:
        """Events of one operation in order; without an id, the dispatcher's own events.

        Paged like the event log: those numbered above ``after``, at most ``limit``
        (1..EVENT_LOG_LIMIT_MAX; None, the default, all of them); read on with
        ``after`` = the last one's ``sequence``. An operation denied again and again
        with reasons that differ collects an event per denial (see ``_repeats.py``)."""
        _check_int(after, "after", 0, None)
        if limit is not None:
            _check_int(limit, "limit", 1, limits.EVENT_LOG_LIMIT_MAX)
        with self._state_lock:
            rows = self._journal.dispatcher_rows if operation_id is None else self._ledger.events(self._require(operation_id).id)
            if after:
                rows = [row for row in rows if event_sequence(row) > after]
            if limit is not None:
                rows = rows[:limit]
            return [self._journal.model(row) for row in rows]

    def events_after(self, after: int = 0, limit: int = limits.EVENT_LOG_LIMIT_DEFAULT) -> EventLogPage:
        """The event log from event number ``after`` on (not included), oldest first, a page of up to
        ``limit``: how a subscriber that missed events (a number skipped) or restarted reads them back.
        Read on with ``after=page.next_after`` until it reaches ``page.last_sequence``."""
        _check_int(after, "after", 0, None)
        _check_int(limit, "limit", 1, limits.EVENT_LOG_LIMIT_MAX)
        with self._state_lock:
            journal = self._journal
            rows = journal.after(after, limit)
            events = [journal.model(row) for row in rows]
            last = journal.count
        next_after = event_sequence(rows[-1]) if rows else after
        return EventLogPage(events=events, next_after=next_after, last_sequence=last)

    def waiting_for(self, operation_id: str) -> set[str]:
        """Unmet dependencies of a queued operation."""
        with self._state_lock:
            self._require(operation_id)
            return self._queue.waiting_for(operation_id)

    def snapshot(self) -> DispatcherSnapshot:
        with self._state_lock:
            status = (
                DispatcherStatus.STOPPED
                if not self._running
                else DispatcherStatus.PAUSED if self._paused else DispatcherStatus.RUNNING
            )
            return DispatcherSnapshot(
                resource_id=self.resource_id,
                status=status,
                running=self._running,
                paused=self._paused,
                paused_reason=self._paused_reason,
                current_operation_id=self._active,
                queue_length=len(self._queue),
                counts={s: self._ledger.count(s) for s in OperationState},
                consecutive_denials=self._consecutive_denials,
                consecutive_failures=self._consecutive_failures,
                cooldown_until=self._cooldown_until,
                storage_error=self._storage_error,
                recovery_skipped=len(self._skipped),
            )

    # ---------------------------------------------------------------- recovery

    def _recover(self, store: Store) -> None:
        """Rebuild the books from ``store``, then settle what cannot carry on as it was.

        Rows that could not be loaded are logged (each, up to a bound) and
        kept in :attr:`skipped_rows`; they stay in the store as they are."""
        found = recover(store.load(self.resource_id), self._ledger, self._queue)
        self._history = History((i, self._ledger[i].state) for i in found.history)
        self._journal.restore(found.log, found.dispatcher_rows)
        self._next_sequence = found.next_sequence
        self._paused, self._paused_reason = found.paused, found.paused_reason
        self._skipped = tuple(found.skipped)
        self._set_aside = {row.operation_id: row for row in found.skipped if row.table == "operations" and row.operation_id}
        self._log_skipped()
        for entry in found.interrupted:
            self._change(self._interrupted, entry)
        for op_id, predecessor in found.stranded:
            self._change(self._strand_recovered, op_id, predecessor)

    def _log_skipped(self) -> None:
        if not self._skipped:
            return
        log.warning(
            "%s: recovery set %d store row(s) aside (not loaded, left in the store as they are)", self.resource_id, len(self._skipped)
        )
        for row in self._skipped[:LOGGED_SKIPPED_ROWS]:
            events = f" (its {row.events} event(s) left with it)" if row.events else ""
            log.warning("%s: store row %s %r set aside%s: %s", self.resource_id, row.table, row.row_id, events, row.reason)
        if len(self._skipped) > LOGGED_SKIPPED_ROWS:
            log.warning("%s: and %d more rows set aside (skipped_rows lists them all)", self.resource_id, len(self._skipped) - LOGGED_SKIPPED_ROWS)

    @property
    def skipped_rows(self) -> tuple[SkippedRow, ...]:
        """The store rows recovery could not load (``snapshot().recovery_skipped`` counts them),
        in the order found; each is still in the store, as it was."""
        return self._skipped

    def _refuse_set_aside(self, batch: list[Operation]) -> None:
        """An id, or a dependency, of an operation whose row was set aside is refused: the store holds
        that id already, and what it holds can never start or complete in this version."""
        for i, op in enumerate(batch):
            row = self._set_aside.get(op.id)
            if row is not None:
                raise InvalidStateError(
                    f"operations[{i}].id: operation {op.id!r} is in the store, but its row was set aside at recovery "
                    f"({row.reason}); it cannot be added again while that row is there",
                    operation_id=op.id,
                )
            for dep in op.dependencies:
                row = self._set_aside.get(dep.operation_id)
                if row is not None:
                    field = f"operations[{i}].dependencies"
                    raise ValidationError(
                        f"{field}: operation {dep.operation_id!r} was set aside at recovery ({row.reason}), "
                        "so this dependency can never be met",
                        field=field,
                    )

    def _interrupted(self, change: Change, entry: Entry) -> None:
        facts = {"reason": "interrupted", "interrupted": True, "previous_state": entry.state.value}
        if self.on_interrupted == INTERRUPTED_FAIL:
            now = utcnow()
            self._move(change, entry, S.FAILED, "fail", termination_reason="interrupted", finished_at=now)
            self._finish(change, entry.id, E.OPERATION_FAILED, {**facts, "requeued": False}, now)
            return
        self._move(change, entry, S.QUEUED, "queue again", termination_reason="interrupted", progress=0.0)
        change.then.append(lambda: self._queue.push(entry, sequence=entry.sequence))
        self._event(change, E.OPERATION_FAILED, entry.id, {**facts, "requeued": True})

    def _strand_recovered(self, change: Change, op_id: str, predecessor: str) -> None:
        if self._ledger[op_id].state is S.QUEUED:  # not already ended along with another
            if predecessor in self._ledger:
                self._end_stranded(change, op_id, predecessor)
            else:
                row = self._set_aside.get(predecessor)
                why = f"was set aside at recovery ({row.reason})" if row else "is not in the store"
                reason = f"dependency {predecessor!r} {why}, so this operation can never start"
                self._end_unmet(change, op_id, reason, {"dependency": predecessor, "dependency_set_aside": row is not None})
            for dependent, via in self._queue.stranded_by(op_id):
                self._end_stranded(change, dependent, via)
