"""OperationDispatcher: the loop that asks, starts and tracks.

Concurrency: ``run()`` owns one asyncio loop. Sync methods (add, complete,
fail, report_progress, pause, resume, request_stop, queries) may be called
from any thread; they change state under one lock and wake the loop. The
handshake methods (cancel, pause_operation, resume_operation) are
coroutines; awaited from another loop or thread they hop onto the
dispatcher's loop by themselves.

The loop never polls: it sleeps until an add, a state change, the next
release date or the end of a cooldown.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
import uuid
from collections.abc import Callable, Coroutine, Iterable
from datetime import datetime, timedelta
from typing import Any, TypeVar, overload

from . import _limits as limits
from ._errors import DeniedError, InvalidStateError, NotFoundError, ValidationError
from ._handshake import RequestCallback, ask
from ._ledger import Entry, EventRow, Ledger, event_model, event_row, row_of
from ._models import (
    TERMINAL_STATES,
    AddResult,
    Decision,
    DispatcherSnapshot,
    DispatcherStatus,
    DispatchEvent,
    EventType,
    Operation,
    OperationRecord,
    OperationState,
    parse_operations,
    utcnow,
)
from ._notify import NotificationCallback, Notifier
from ._policies import DenialPolicy, FailureRetryPolicy
from ._queue import DispatchQueue, SortRule
from ._runner import OperationRunner
from ._store import Store

log = logging.getLogger("operation_dispatcher")
T = TypeVar("T")

INTERRUPTED_REQUEUE = "requeue"
INTERRUPTED_FAIL = "fail"


def _describe(value: object) -> str:
    return f"{len(value)} characters" if isinstance(value, str) else f"a {type(value).__name__}"


def _check_text(value: str | None, field: str) -> None:
    """Free-text arguments (reasons, outcomes) are bounded like every other input."""
    if value is not None and (not isinstance(value, str) or len(value) > limits.MAX_STRING_LENGTH):
        raise ValidationError(f"{field} must be a string of at most {limits.MAX_STRING_LENGTH} characters", field=field)


class OperationDispatcher:
    """Queues, dispatches and supervises operations for one resource.

    Args:
        resource_id: the resource this dispatcher serves; operations for
            another resource are refused.
        on_request_callback: decides ``*_REQUESTED`` events (sync or async);
            answers True, False, None (``default_decision`` applies) or a
            :class:`Decision`.
        on_notification_callback: receives every event (sync or async);
            more subscribers with :meth:`subscribe`.
        request_timeout: seconds to wait for a decision; a timeout is a denial.
        default_decision: what a None answer means (approve by default).
        denial_policy: cooldown after a denied start and how many denials
            in a row pause the dispatcher.
        failure_retry: opt-in re-queueing of failed operations with back-off.
        runner: the executor to tell about approved starts, cancels, pauses
            and resumes.
        store: persistence; the dispatcher recovers from it on creation.
        on_interrupted: what to do with an operation found RUNNING or PAUSED
            in the store ("requeue" or "fail").
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
        runner: OperationRunner | None = None,
        store: Store | None = None,
        on_interrupted: str = INTERRUPTED_REQUEUE,
        sort_rules: Iterable[SortRule] | None = None,
        sync_callbacks_in_thread: bool = False,
    ) -> None:
        if not resource_id or len(resource_id) > limits.MAX_ID_LENGTH:
            raise ValidationError("resource_id must be 1 to 128 characters", field="resource_id")
        if not 0 < request_timeout <= 3600:
            raise ValidationError("request_timeout must be within (0, 3600] seconds", field="request_timeout")
        if on_interrupted not in (INTERRUPTED_REQUEUE, INTERRUPTED_FAIL):
            raise ValidationError("on_interrupted must be 'requeue' or 'fail'", field="on_interrupted")
        self.resource_id = resource_id
        self.request_timeout = request_timeout
        self.default_decision = default_decision
        self.denial_policy = denial_policy or DenialPolicy()
        self.failure_retry = failure_retry
        self.on_interrupted = on_interrupted
        self.sync_callbacks_in_thread = sync_callbacks_in_thread
        self._on_request = on_request_callback
        self._runner = runner or OperationRunner()
        self._store = store
        self._notifier = Notifier()
        if on_notification_callback is not None:
            self._notifier.subscribe(on_notification_callback)

        self._lock = threading.RLock()
        self._ledger = Ledger()
        self._queue: DispatchQueue[Entry] = DispatchQueue(
            resource_id, list(sort_rules) if sort_rules else None, lookup=self._ledger.__getitem__
        )
        self._history: list[str] = []  # terminal operation ids, oldest first
        self._dispatcher_events: list[EventRow] = []
        self._sequence = itertools.count()
        self._event_prefix = uuid.uuid4().hex[:12]
        self._event_counter = itertools.count()
        self._active: str | None = None
        self._pending_requests: dict[str, EventType] = {}
        self._paused = False
        self._paused_reason: str | None = None
        self._consecutive_denials = 0
        self._cooldown_until: datetime | None = None

        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._wake: asyncio.Event | None = None
        self._running = False
        self._stop_requested = False

        if store is not None:
            self._recover(store)

    # ------------------------------------------------------------------ adding

    @overload
    def add(self, operations: Operation | dict[str, Any]) -> AddResult: ...
    @overload
    def add(self, operations: Iterable[Operation | dict[str, Any]]) -> list[AddResult]: ...

    def add(self, operations: Any) -> AddResult | list[AddResult]:
        """Queue one operation or a batch (all or nothing).

        An operation whose id is already known is not added again; its
        result says ``added=False``.
        """
        single = isinstance(operations, (Operation, dict))
        batch = [operations] if isinstance(operations, Operation) else parse_operations([operations] if single else operations)
        with self._lock:
            results, new = self._check_batch(batch)
            now = utcnow()
            for op in new:
                sequence = next(self._sequence)
                entry = self._ledger.add(op, f"{self._event_prefix}-x{sequence}", sequence, queued_at=now)
                self._queue.push(entry, sequence=sequence)
            events = [
                self._event(EventType.OPERATION_ADDED, op.id, {"priority": op.priority, "queue_length": len(self._queue)}, now)
                for op in new
            ]
            self._persist(operations=new, changed=[op.id for op in new], events=events)
        self._publish(events)
        self._kick()
        return results[0] if single else results

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
                results.append(AddResult(operation_id=op.id, added=False, state=known.state))
                continue
            if op.resource_id != self.resource_id:
                raise ValidationError(
                    f"operations[{i}].resource_id: {op.resource_id!r} is not this dispatcher's resource {self.resource_id!r}",
                    field=f"operations[{i}].resource_id",
                )
            for dep in op.dependencies:
                if dep.operation_id not in self._ledger and dep.operation_id not in batch_ids:
                    raise ValidationError(
                        f"operations[{i}].dependencies: unknown operation {dep.operation_id!r} "
                        "(it must be added before, or earlier in the same add)",
                        field=f"operations[{i}].dependencies",
                    )
            new.append(op)
            results.append(AddResult(operation_id=op.id, added=True, state=OperationState.QUEUED))
        return results, new

    # ---------------------------------------------------- executor reports

    def complete(self, operation_id: str | None = None, outcome: str | None = None) -> None:
        """Report that the active operation finished successfully.

        Returns nothing: this is the executor's report on every life cycle's
        hot path; read the finished record with :meth:`get` when needed.
        """
        _check_text(outcome, "outcome")
        with self._lock:
            op_id = self._active_entry(operation_id, "complete").id
            now = utcnow()
            self._ledger.update(op_id, state=OperationState.COMPLETED, outcome=outcome, progress=1.0, finished_at=now)
            self._queue.mark_completed(op_id)
            events = [self._finish(op_id, EventType.OPERATION_COMPLETED, {"outcome": outcome}, now)]
            self._persist(changed=[op_id], events=events)
        self._publish(events)
        self._kick()

    def fail(self, operation_id: str | None = None, reason: str | None = None) -> None:
        """Report that the active operation failed; the failure retry policy may queue it again."""
        _check_text(reason, "reason")
        with self._lock:
            entry = self._active_entry(operation_id, "fail")
            events = [self._fail_locked(entry, reason or "failed")]
            self._persist(changed=[entry.id], events=events)
        self._publish(events)
        self._kick()

    def report_progress(self, operation_id: str, progress: float) -> None:
        """Record progress (0..1) of the active operation; no event, it is polled."""
        if not 0.0 <= progress <= 1.0:
            raise ValidationError("progress must be within [0, 1]", field="progress")
        with self._lock:
            self._ledger.update(self._active_entry(operation_id, "report progress of").id, progress=progress)

    def _fail_locked(self, entry: Entry, reason: str, **metadata: Any) -> EventRow:
        backoff = self.failure_retry.backoff(entry.attempts) if self.failure_retry else None
        if backoff is None:
            self._ledger.update(entry.id, state=OperationState.FAILED, termination_reason=reason, finished_at=utcnow())
            return self._finish(entry.id, EventType.OPERATION_FAILED, {"reason": reason, "requeued": False, **metadata})
        entry = self._ledger.update(
            entry.id, state=OperationState.QUEUED, termination_reason=reason, progress=0.0, not_before=utcnow() + timedelta(seconds=backoff)
        )
        self._active = None if self._active == entry.id else self._active
        self._queue.push(entry, not_before=entry.not_before, sequence=entry.sequence)
        meta = {"reason": reason, "requeued": True, "attempts": entry.attempts, "retry_in_seconds": backoff, **metadata}
        if self.failure_retry:
            meta["max_attempts"] = self.failure_retry.max_attempts
        return self._event(EventType.OPERATION_FAILED, entry.id, meta)

    def _finish(self, op_id: str, event_type: EventType, metadata: dict[str, Any], at: datetime | None = None) -> EventRow:
        """Common tail of every move into a terminal state (lock held)."""
        if self._active == op_id:
            self._active = None
        self._history.append(op_id)
        return self._event(event_type, op_id, metadata, at)

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

        Raises DeniedError (with the reason) when it does not,
        InvalidStateError when the operation already ended.
        """
        _check_text(reason, "reason")
        return await self._on_own_loop(self._cancel, operation_id, reason)

    async def pause_operation(self, operation_id: str, reason: str | None = None) -> OperationRecord:
        """Pause the RUNNING operation once approved; the runner keeps its progress."""
        _check_text(reason, "reason")
        return await self._on_own_loop(self._pause_or_resume, operation_id, reason, True)

    async def resume_operation(self, operation_id: str, reason: str | None = None) -> OperationRecord:
        """Resume the PAUSED operation once approved."""
        _check_text(reason, "reason")
        return await self._on_own_loop(self._pause_or_resume, operation_id, reason, False)

    async def _cancel(self, operation_id: str, reason: str | None) -> OperationRecord:
        with self._lock:
            entry = self._require(operation_id)
            if entry.state.is_terminal:
                raise InvalidStateError(
                    f"cannot cancel operation {operation_id!r}: it is already {entry.state.value}",
                    operation_id=operation_id,
                    state=entry.state.value,
                )
        decision = await self._handshake(entry, EventType.OPERATION_CANCEL_REQUESTED, EventType.OPERATION_CANCEL_DENIED, reason)
        with self._lock:
            entry = self._ledger[operation_id]  # as it is now, after the decision
        was_active = entry.state.is_active
        if was_active:
            await self._tell_runner(entry, "cancel", EventType.OPERATION_CANCEL_DENIED)
        with self._lock:
            state = self._ledger[operation_id].state
            if state.is_terminal:
                raise InvalidStateError(
                    f"operation {operation_id!r} became {state.value} while its cancel was being decided",
                    operation_id=operation_id,
                )
            if operation_id in self._queue:
                self._queue.remove(operation_id)
            termination_reason = reason or decision.reason or "cancelled"
            entry = self._ledger.update(operation_id, state=OperationState.CANCELLED, finished_at=utcnow(), termination_reason=termination_reason)
            events = [
                self._finish(operation_id, EventType.OPERATION_CANCELLED, {"reason": termination_reason, "was_active": was_active})
            ]
            self._persist(changed=[operation_id], events=events)
        self._publish(events)
        self._kick()
        return self._ledger.record(entry)

    async def _pause_or_resume(self, operation_id: str, reason: str | None, pause: bool) -> OperationRecord:
        want, verb = (OperationState.RUNNING, "pause") if pause else (OperationState.PAUSED, "resume")
        with self._lock:
            entry = self._require(operation_id)
            if entry.state is not want:
                raise InvalidStateError(
                    f"cannot {verb} operation {operation_id!r}: it is {entry.state.value}, not {want.value}",
                    operation_id=operation_id,
                    state=entry.state.value,
                )
        if pause:
            requested, denied, done = EventType.OPERATION_PAUSE_REQUESTED, EventType.OPERATION_PAUSE_DENIED, EventType.OPERATION_PAUSED
        else:
            requested, denied, done = EventType.OPERATION_RESUME_REQUESTED, EventType.OPERATION_RESUME_DENIED, EventType.OPERATION_RESUMED
        await self._handshake(entry, requested, denied, reason)
        await self._tell_runner(entry, verb, denied)
        with self._lock:
            state = self._ledger[operation_id].state
            if state is not want:
                raise InvalidStateError(
                    f"operation {operation_id!r} became {state.value} while its {verb} was being decided",
                    operation_id=operation_id,
                )
            entry = self._ledger.update(operation_id, state=OperationState.PAUSED if pause else OperationState.RUNNING)
            events = [self._event(done, operation_id, {"reason": reason, "progress": entry.progress})]
            self._persist(changed=[operation_id], events=events)
        self._publish(events)
        self._kick()
        return self._ledger.record(entry)

    async def _handshake(
        self, entry: Entry, requested: EventType, denied: EventType, reason: str | None
    ) -> Decision:
        """Ask; on denial emit ``denied`` and raise DeniedError. One request per operation at a time."""
        op_id = entry.id
        with self._lock:
            if op_id in self._pending_requests:
                raise InvalidStateError(
                    f"operation {op_id!r} already has a {self._pending_requests[op_id].value} being decided",
                    operation_id=op_id,
                )
            self._pending_requests[op_id] = requested
            request = self._event(requested, op_id, {"reason": reason, "state": entry.state.value})
            self._persist(events=[request])
        try:
            decision = await self._ask(request)
        finally:
            with self._lock:
                self._pending_requests.pop(op_id, None)
        if not decision.approved:
            self._deny(entry, denied, decision)
        return decision

    async def _ask(self, request: EventRow) -> Decision:
        """Publish a ``*_REQUESTED`` event and put it to the business logic: one model serves both."""
        event = self._model(request)
        if self._notifier.has_subscribers:
            self._notifier.publish(event)
        return await ask(
            self._on_request,
            event,
            timeout=self.request_timeout,
            default=self.default_decision,
            sync_in_thread=self.sync_callbacks_in_thread,
        )

    def _deny(self, entry: Entry, denied: EventType, decision: Decision) -> None:
        with self._lock:
            event = self._event(denied, entry.id, {"reason": decision.reason, "data": decision.data})
            self._persist(events=[event])
        self._publish([event])
        raise DeniedError(
            f"{denied.value.removeprefix('OPERATION_').replace('_', ' ').lower()} for {entry.id!r}: {decision.reason}",
            reason=decision.reason,
            data=decision.data,
        )

    async def _tell_runner(self, entry: Entry, verb: str, denied: EventType) -> None:
        try:
            await getattr(self._runner, verb)(self._ledger.operation(entry))
        except Exception as exc:
            self._deny(entry, denied, Decision(approved=False, reason=f"executor could not {verb}: {exc}", data={"executor": True}))

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
        with self._lock:
            if self._paused:
                raise InvalidStateError("the dispatcher is already paused", paused_reason=self._paused_reason)
            events = [self._set_paused(reason or "paused by request", automatic=False)]
        self._publish(events)
        self._kick()
        return self.snapshot()

    def resume(self) -> DispatcherSnapshot:
        """Start dispatching again; clears the denial counter and cooldown."""
        with self._lock:
            if not self._paused:
                raise InvalidStateError("the dispatcher is not paused")
            self._paused, self._paused_reason = False, None
            self._consecutive_denials, self._cooldown_until = 0, None
            events = [self._event(EventType.OPERATION_DISPATCHER_RESUMED, None, {})]
            self._persist(events=events, paused=(False, None))
        self._publish(events)
        self._kick()
        return self.snapshot()

    def _set_paused(self, reason: str, automatic: bool, **metadata: Any) -> EventRow:
        self._paused, self._paused_reason = True, reason
        event = self._event(EventType.OPERATION_DISPATCHER_PAUSED, None, {"reason": reason, "automatic": automatic, **metadata})
        self._persist(events=[event], paused=(True, reason))
        return event

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
        return self._notifier.subscribe(callback)

    # -------------------------------------------------------------------- loop

    async def run(self) -> None:
        """Dispatch until :meth:`request_stop`. Emits DISPATCHER_STARTED / STOPPED."""
        if self._running:
            raise InvalidStateError("the dispatcher is already running")
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._wake = asyncio.Event()
        self._running = True
        self._notifier.attach(self._loop)
        self._emit(EventType.OPERATION_DISPATCHER_STARTED, None, {"queue_length": len(self._queue)})
        try:
            while not self._stop_requested:
                entry, wait = self._next_step()
                if entry is not None:
                    await self._request_start(entry)
                else:
                    await self._sleep(wait)
        finally:
            self._running = False
            self._stop_requested = False  # a stop requested before run() started is honoured, then forgotten
            self._emit(EventType.OPERATION_DISPATCHER_STOPPED, None, {"queue_length": len(self._queue)})
            # Let sync subscribers see STOPPED before run() returns (a script may exit right after).
            await self._loop.run_in_executor(None, self._notifier.flush, 2.0)
            self._loop = self._wake = None
            self._loop_thread = None

    def _next_step(self) -> tuple[Entry | None, float | None]:
        """The operation to request now, or how long to sleep (None: until woken)."""
        assert self._wake is not None
        self._wake.clear()
        with self._lock:
            if self._paused or self._active is not None:
                return None, None
            now = utcnow()
            if self._cooldown_until is not None and self._cooldown_until > now:
                return None, (self._cooldown_until - now).total_seconds()
            entry = self._queue.peek(now)
            if entry is not None:
                return entry, 0.0
            release = self._queue.next_release()
            return None, None if release is None else max((release - now).total_seconds(), 0.0)

    async def _sleep(self, seconds: float | None) -> None:
        assert self._wake is not None and self._loop is not None
        timer = self._loop.call_later(seconds, self._wake.set) if seconds is not None else None
        await self._wake.wait()
        if timer is not None:
            timer.cancel()

    async def _request_start(self, entry: Entry) -> None:
        with self._lock:
            meta = {"retry_count": entry.retry_count, "attempt": entry.attempts + 1}
            request = self._event(EventType.OPERATION_START_REQUESTED, entry.id, meta)
            self._persist(events=[request])
        decision = await self._ask(request)
        op_id = entry.id
        with self._lock:
            entry = self._ledger[op_id]  # as it is now, after the decision
            if entry.state is not OperationState.QUEUED or op_id not in self._queue:
                return  # cancelled while the start was being decided
            if decision.approved and (self._paused or self._stop_requested):
                return  # paused or stopping meanwhile: ask again later
            if not decision.approved:
                events = self._start_denied(entry, decision)
            else:
                self._queue.remove(op_id)
                self._queue.mark_started(op_id)
                self._active = op_id
                self._consecutive_denials = 0
                now = utcnow()
                entry = self._ledger.update(
                    op_id, state=OperationState.RUNNING, started_at=now, progress=0.0, attempts=entry.attempts + 1, not_before=None
                )
                events = [self._event(EventType.OPERATION_STARTED, op_id, {"attempt": entry.attempts, "data": decision.data or None}, now)]
                self._persist(changed=[op_id], events=events)
        self._publish(events)
        if decision.approved:
            await self._start_runner(entry)

    def _start_denied(self, entry: Entry, decision: Decision) -> list[EventRow]:
        policy = self.denial_policy
        entry = self._ledger.update(entry.id, retry_count=entry.retry_count + 1)
        self._consecutive_denials += 1
        self._cooldown_until = utcnow() + timedelta(seconds=policy.cooldown_seconds)
        events = [
            self._event(
                EventType.OPERATION_START_DENIED,
                entry.id,
                {
                    "retry_count": entry.retry_count,
                    "consecutive_denials": self._consecutive_denials,
                    "max_retries": policy.max_retries,
                    "cooldown_seconds": policy.cooldown_seconds,
                    "reason": decision.reason,
                    "data": decision.data,
                },
            )
        ]
        self._persist(changed=[entry.id], events=events)
        if self._consecutive_denials >= policy.max_retries:
            events.append(
                self._set_paused(
                    f"{self._consecutive_denials} start requests denied in a row; last reason: {decision.reason}",
                    automatic=True,
                    operation_id=entry.id,
                )
            )
        return events

    async def _start_runner(self, entry: Entry) -> None:
        try:
            await self._runner.start(self._ledger.operation(entry))
        except Exception as exc:
            with self._lock:
                entry = self._ledger[entry.id]
                if entry.state.is_active:
                    events = [self._fail_locked(entry, f"executor could not start: {exc}")]
                    self._persist(changed=[entry.id], events=events)
                else:
                    events = []
            self._publish(events)

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

    # ------------------------------------------------------------------ events

    def _event(
        self, event_type: EventType, operation_id: str | None, metadata: dict[str, Any], at: datetime | None = None
    ) -> EventRow:
        """Create and record an event (lock held); publish it after releasing the lock.

        ``at`` is the time of the change it reports, when the change records one
        (queued_at, started_at, finished_at), so that both read the same.
        """
        event_id = f"{self._event_prefix}-{next(self._event_counter):09d}"
        if operation_id is None:
            row = event_row(event_id, event_type, None, None, metadata, at)
            self._dispatcher_events.append(row)
        else:
            row = self._ledger.log(event_id, event_type, operation_id, metadata, at)
        return row

    def _model(self, row: EventRow) -> DispatchEvent:
        return event_model(row, self.resource_id)

    def _emit(self, event_type: EventType, operation_id: str | None, metadata: dict[str, Any]) -> None:
        with self._lock:
            event = self._event(event_type, operation_id, metadata)
            self._persist(events=[event])
        self._publish([event])

    def _publish(self, events: list[EventRow]) -> None:
        """Hand events to the subscribers; models are built only when someone listens."""
        if self._notifier.has_subscribers:
            for row in events:
                self._notifier.publish(self._model(row))

    def _persist(
        self,
        *,
        operations: Iterable[Operation] = (),
        changed: Iterable[str] = (),
        events: Iterable[EventRow] = (),
        paused: tuple[bool, str | None] | None = None,
    ) -> None:
        """Hand one change to the store: new operations, the executions of ``changed`` ids as they are now, new events."""
        if self._store is not None:
            self._store.write(
                operations=operations,
                executions=[self._ledger[op_id].execution() for op_id in changed],
                events=[self._model(row) for row in events],
                paused=paused,
            )

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
        with self._lock:
            return self._ledger.record(self._require(operation_id))

    def current(self) -> OperationRecord | None:
        """The RUNNING or PAUSED operation, if any."""
        with self._lock:
            return self._ledger.record(self._ledger[self._active]) if self._active else None

    def list_operations(self, state: OperationState | str | None = None) -> list[OperationRecord]:
        """Operations in a useful order: the active one, the queue in dispatch
        order, then finished ones newest first. ``state`` filters."""
        if state is not None:
            try:
                state = OperationState(state)
            except ValueError:
                raise ValidationError(
                    f"state must be one of {', '.join(s.value for s in OperationState)}; got {state!r}", field="state"
                ) from None
        with self._lock:
            ids: list[str] = [self._active] if self._active else []
            ids += [op.id for op in self._queue.ordered()]
            ids += reversed(self._history)
            entries = (self._ledger[i] for i in ids)
            return [self._ledger.record(entry) for entry in entries if state is None or entry.state is state]

    def history(self, limit: int = limits.HISTORY_LIMIT_DEFAULT) -> list[OperationRecord]:
        """Finished operations, newest first."""
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= limits.HISTORY_LIMIT_MAX:
            raise ValidationError(f"limit must be an integer within [1, {limits.HISTORY_LIMIT_MAX}]; got {limit!r}", field="limit")
        with self._lock:
            return [self._ledger.record(self._ledger[i]) for i in self._history[: -limit - 1 : -1]]

    def events(self, operation_id: str | None = None) -> list[DispatchEvent]:
        """Events of one operation in order; without an id, the dispatcher's own events."""
        with self._lock:
            rows = self._dispatcher_events if operation_id is None else self._ledger.events(self._require(operation_id).id)
            return [self._model(row) for row in rows]

    def waiting_for(self, operation_id: str) -> set[str]:
        """Unmet dependencies of a queued operation."""
        with self._lock:
            self._require(operation_id)
            return self._queue.waiting_for(operation_id)

    def snapshot(self) -> DispatcherSnapshot:
        with self._lock:
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
                cooldown_until=self._cooldown_until,
            )

    # ---------------------------------------------------------------- recovery

    def _recover(self, store: Store) -> None:
        """Rebuild queue, executions, history and events from ``store``."""
        state = store.load(self.resource_id)
        interrupted: list[Entry] = []
        finished: list[Entry] = []
        last_sequence = -1
        for record in state.records:
            entry = self._ledger.restore(record)
            last_sequence = max(last_sequence, entry.sequence)
            if entry.attempts:
                self._queue.mark_started(entry.id)
            if entry.state is OperationState.COMPLETED:
                self._queue.mark_completed(entry.id)
            if entry.state in TERMINAL_STATES:
                finished.append(entry)
            elif entry.state.is_active:
                interrupted.append(entry)
        per_operation: dict[str, list[EventRow]] = {}
        for event in state.events:
            if event.operation_id is None:
                self._dispatcher_events.append(row_of(event))
            else:
                per_operation.setdefault(event.operation_id, []).append(row_of(event))
        for operation_id, rows in per_operation.items():
            self._ledger.restore_events(operation_id, rows)
        for entry in self._ledger:
            if entry.state is OperationState.QUEUED:
                self._queue.push(entry, not_before=entry.not_before, sequence=entry.sequence)
        finished.sort(key=lambda e: (e.finished_at or e.queued_at, e.sequence))
        self._history = [e.id for e in finished]
        self._sequence = itertools.count(last_sequence + 1)
        self._paused, self._paused_reason = state.paused, state.paused_reason
        for entry in interrupted:
            self._recover_interrupted(entry)

    def _recover_interrupted(self, entry: Entry) -> None:
        previous = entry.state.value
        facts = {"reason": "interrupted", "interrupted": True, "previous_state": previous}
        if self.on_interrupted == INTERRUPTED_FAIL:
            self._ledger.update(entry.id, state=OperationState.FAILED, termination_reason="interrupted", finished_at=utcnow())
            event = self._finish(entry.id, EventType.OPERATION_FAILED, {**facts, "requeued": False})
        else:
            entry = self._ledger.update(entry.id, state=OperationState.QUEUED, termination_reason="interrupted", progress=0.0)
            self._queue.push(entry, sequence=entry.sequence)
            event = self._event(EventType.OPERATION_FAILED, entry.id, {**facts, "requeued": True})
        self._persist(changed=[entry.id], events=[event])
        self._publish([event])
