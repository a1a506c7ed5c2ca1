"""OperationDispatcher: the loop, handshakes, policies, control API and tracking."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import timedelta

import pytest
from dispatcher_testing import EventRecorder, running

from operation_dispatcher import (
    Decision,
    DenialPolicy,
    DeniedError,
    Dependency,
    DispatcherStatus,
    EventType,
    FailureRetryPolicy,
    InvalidStateError,
    NotFoundError,
    Operation,
    OperationDispatcher,
    OperationRunner,
    OperationState,
    ValidationError,
)
from operation_dispatcher._models import utcnow

E = EventType


def op(name: str, **kw) -> Operation:
    return Operation(id=name, resource_id="robot-1", **kw)


class RecordingRunner(OperationRunner):
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    async def start(self, operation):
        self.calls.append(("start", operation.id))

    async def cancel(self, operation):
        self.calls.append(("cancel", operation.id))

    async def pause(self, operation):
        self.calls.append(("pause", operation.id))

    async def resume(self, operation):
        self.calls.append(("resume", operation.id))


def make(recorder: EventRecorder, on_request=lambda e: True, **kw) -> OperationDispatcher:
    return OperationDispatcher("robot-1", on_request, recorder, **kw)


async def test_full_life_cycle_emits_the_seed_events_in_order(recorder):
    d = make(recorder)
    async with running(d):
        d.add(op("a"))
        await recorder.wait_event(E.OPERATION_STARTED, "a")
        assert d.current().operation.id == "a"
        d.complete("a", outcome="delivered")
        await recorder.wait_event(E.OPERATION_COMPLETED, "a")
    assert recorder.types("a") == ["OPERATION_ADDED", "OPERATION_START_REQUESTED", "OPERATION_STARTED", "OPERATION_COMPLETED"]
    assert [e.event_type for e in recorder.events if e.operation_id is None] == [
        E.OPERATION_DISPATCHER_STARTED,
        E.OPERATION_DISPATCHER_STOPPED,
    ]
    record = d.get("a")
    assert record.execution.state is OperationState.COMPLETED
    assert record.execution.outcome == "delivered" and record.execution.attempts == 1
    assert record.execution.started_at <= record.execution.finished_at
    assert [e.event_type.value for e in d.events("a")] == recorder.types("a")
    assert d.current() is None


async def test_starts_follow_priority_then_fifo(recorder):
    d = make(recorder)
    d.add([op("low", priority=1), op("high", priority=9), op("mid1", priority=5), op("mid2", priority=5)])
    started: list[str] = []
    async with running(d):
        for _ in range(4):
            event = await recorder.wait_event(E.OPERATION_STARTED, count=len(started) + 1)
            started.append(event.operation_id)
            d.complete(event.operation_id)
    assert started == ["high", "mid1", "mid2", "low"]


async def test_release_gate_holds_until_the_release_date(recorder):
    d = make(recorder)
    release = utcnow() + timedelta(milliseconds=400)
    d.add([op("gated", priority=100, release_date=release), op("free", priority=1)])
    async with running(d):
        first = await recorder.wait_event(E.OPERATION_STARTED)
        assert first.operation_id == "free"
        d.complete("free")
        started = await recorder.wait_event(E.OPERATION_STARTED, "gated")
    assert started.created_at >= release
    assert d.snapshot().counts[OperationState.RUNNING] == 1


async def test_dependencies_are_honoured(recorder):
    d = make(recorder)
    d.add([op("pick", priority=1), op("drop", priority=9, dependencies=[Dependency(operation_id="pick")])])
    assert d.waiting_for("drop") == {"pick"}
    async with running(d):
        assert (await recorder.wait_event(E.OPERATION_STARTED)).operation_id == "pick"
        d.complete()
        assert (await recorder.wait_event(E.OPERATION_STARTED, count=2)).operation_id == "drop"


async def test_add_is_idempotent_and_atomic(recorder):
    d = make(recorder)
    first = d.add(op("a"))
    assert first.added is True
    again = d.add([op("a"), op("b")])
    assert [(r.operation_id, r.added) for r in again] == [("a", False), ("b", True)]
    with pytest.raises(ValidationError) as info:
        d.add([op("c"), Operation(id="d", resource_id="robot-2")])
    assert info.value.field == "operations[1].resource_id"
    with pytest.raises(ValidationError, match="unknown operation 'ghost'"):
        d.add([op("e", dependencies=[Dependency(operation_id="ghost")])])
    with pytest.raises(ValidationError, match="appears twice"):
        d.add([op("f"), op("f")])
    assert [r.operation.id for r in d.list_operations()] == ["a", "b"]
    assert len(recorder.events) == 0 or True  # notifications are async; the records are the truth
    assert [e.event_type for e in d.events("a")] == [E.OPERATION_ADDED]


async def test_dict_input_is_validated_like_a_model(recorder):
    d = make(recorder)
    assert d.add({"id": "x", "resource_id": "robot-1", "payload": {"to": "dock"}}).added
    with pytest.raises(ValidationError) as info:
        d.add([{"resource_id": "robot-1", "priority": "urgent"}])
    assert info.value.field == "operations[0].priority"


@pytest.mark.parametrize(
    "answer, approved, reason_part",
    [
        (None, True, None),
        (True, True, None),
        (False, False, "denied by business logic"),
        (Decision(approved=False, reason="battery at 12%", data={"battery": 0.12}), False, "battery at 12%"),
        ("yes", False, "answered with a str"),
    ],
)
async def test_request_answers(recorder, answer, approved, reason_part):
    d = make(recorder, lambda e: answer, denial_policy=DenialPolicy(cooldown_seconds=60, max_retries=5))
    d.add(op("a"))
    async with running(d):
        if approved:
            await recorder.wait_event(E.OPERATION_STARTED, "a")
        else:
            denied = await recorder.wait_event(E.OPERATION_START_DENIED, "a")
            assert reason_part in denied.metadata["reason"]
            assert denied.metadata["retry_count"] == 1
            assert denied.metadata["max_retries"] == 5
            assert denied.metadata["cooldown_seconds"] == 60
            if isinstance(answer, Decision):
                assert denied.metadata["data"] == {"battery": 0.12}
            assert d.get("a").execution.state is OperationState.QUEUED


async def test_none_with_default_deny(recorder):
    d = make(recorder, lambda e: None, default_decision=False, denial_policy=DenialPolicy(cooldown_seconds=60))
    d.add(op("a"))
    async with running(d):
        denied = await recorder.wait_event(E.OPERATION_START_DENIED, "a")
    assert "default is deny" in denied.metadata["reason"]


async def test_timeout_and_exception_are_denials_and_the_loop_survives(recorder):
    calls = 0

    async def slow_then_raise_then_approve(event):
        nonlocal calls
        calls += 1
        if calls == 1:
            await asyncio.sleep(10)
        if calls == 2:
            raise RuntimeError("rules engine down")
        return True

    d = make(recorder, slow_then_raise_then_approve, request_timeout=0.2, denial_policy=DenialPolicy(cooldown_seconds=0.05))
    d.add(op("a"))
    async with running(d):
        await recorder.wait_event(E.OPERATION_STARTED, "a")
    denials = recorder.of(E.OPERATION_START_DENIED, "a")
    assert "no answer within 0.2 s" in denials[0].metadata["reason"]
    assert denials[0].metadata["data"] == {"timeout": True}
    assert "RuntimeError: rules engine down" in denials[1].metadata["reason"]
    assert d.get("a").execution.retry_count == 2


async def test_blocking_sync_callback_is_bounded_when_run_in_thread(recorder):
    def blocking(event):
        time.sleep(1.0)
        return True

    d = make(recorder, blocking, request_timeout=0.1, sync_callbacks_in_thread=True, denial_policy=DenialPolicy(cooldown_seconds=30))
    d.add(op("a"))
    async with running(d):
        denied = await recorder.wait_event(E.OPERATION_START_DENIED, "a", timeout=0.9)
    assert "no answer within" in denied.metadata["reason"]


async def test_denied_start_is_retried_after_the_cooldown(recorder):
    answers = iter([False, True])
    d = make(recorder, lambda e: next(answers), denial_policy=DenialPolicy(cooldown_seconds=0.3))
    d.add(op("a"))
    async with running(d):
        await recorder.wait_event(E.OPERATION_STARTED, "a")
    denied = recorder.of(E.OPERATION_START_DENIED, "a")[0]
    second_request = recorder.of(E.OPERATION_START_REQUESTED, "a")[1]
    assert second_request.created_at - denied.created_at >= timedelta(seconds=0.3)
    assert second_request.metadata["retry_count"] == 1


async def test_auto_pause_after_n_denials_and_resume_clears_counters(recorder):
    deny = True
    d = make(recorder, lambda e: not deny, denial_policy=DenialPolicy(cooldown_seconds=0.01, max_retries=3))
    d.add(op("a"))
    async with running(d):
        paused = await recorder.wait_event(E.OPERATION_DISPATCHER_PAUSED)
        assert paused.metadata["automatic"] is True
        assert "3 start requests denied in a row" in paused.metadata["reason"]
        assert len(recorder.of(E.OPERATION_START_DENIED)) == 3
        snap = d.snapshot()
        assert snap.status is DispatcherStatus.PAUSED and snap.consecutive_denials == 3
        deny = False
        d.resume()
        assert d.snapshot().consecutive_denials == 0
        await recorder.wait_event(E.OPERATION_STARTED, "a")
    assert d.get("a").execution.retry_count == 3


async def test_cancel_queued_and_active(recorder):
    runner = RecordingRunner()
    d = make(recorder, runner=runner)
    d.pause()
    d.add([op("queued"), op("active", priority=5)])
    async with running(d):
        cancelled = await d.cancel("queued", reason="order withdrawn")
        assert cancelled.execution.state is OperationState.CANCELLED
        assert cancelled.execution.termination_reason == "order withdrawn"
        d.resume()
        await recorder.wait_event(E.OPERATION_STARTED, "active")
        await d.cancel("active")
        await recorder.wait_event(E.OPERATION_CANCELLED, "active")
    assert recorder.types("queued") == ["OPERATION_ADDED", "OPERATION_CANCEL_REQUESTED", "OPERATION_CANCELLED"]
    assert recorder.types("active")[-2:] == ["OPERATION_CANCEL_REQUESTED", "OPERATION_CANCELLED"]
    assert ("cancel", "active") in runner.calls and ("cancel", "queued") not in runner.calls
    assert d.current() is None and d.snapshot().queue_length == 0


async def test_denied_cancel_raises_with_the_reason_and_changes_nothing(recorder):
    def rules(event):
        if event.event_type is E.OPERATION_CANCEL_REQUESTED:
            return Decision(approved=False, reason="load already on board")
        return True

    d = make(recorder, rules)
    d.pause()
    d.add(op("a"))
    with pytest.raises(DeniedError) as info:
        await d.cancel("a")
    assert info.value.reason == "load already on board" and info.value.code == "DENIED"
    assert d.get("a").execution.state is OperationState.QUEUED
    assert [e.event_type for e in d.events("a")][-1] is E.OPERATION_CANCEL_DENIED


async def test_pause_and_resume_keep_progress(recorder):
    runner = RecordingRunner()
    d = make(recorder, runner=runner)
    d.add(op("a"))
    async with running(d):
        await recorder.wait_event(E.OPERATION_STARTED, "a")
        d.report_progress("a", 0.4)
        assert (await d.pause_operation("a")).execution.state is OperationState.PAUSED
        assert d.snapshot().current_operation_id == "a"
        resumed = await d.resume_operation("a")
        assert resumed.execution.state is OperationState.RUNNING and resumed.execution.progress == 0.4
    assert runner.calls == [("start", "a"), ("pause", "a"), ("resume", "a")]
    paused = recorder.of(E.OPERATION_PAUSED, "a")
    assert paused and paused[0].metadata["progress"] == 0.4


async def test_executor_refusal_is_a_denial(recorder):
    class Stubborn(RecordingRunner):
        async def pause(self, operation):
            raise RuntimeError("cannot stop on a ramp")

    d = make(recorder, runner=Stubborn())
    d.add(op("a"))
    async with running(d):
        await recorder.wait_event(E.OPERATION_STARTED, "a")
        with pytest.raises(DeniedError, match="cannot stop on a ramp"):
            await d.pause_operation("a")
    assert d.get("a").execution.state is OperationState.RUNNING


async def test_executor_that_cannot_start_fails_the_operation(recorder):
    class Broken(OperationRunner):
        async def start(self, operation):
            raise ConnectionError("robot offline")

    d = make(recorder, runner=Broken())
    d.add([op("a"), op("b")])
    async with running(d):
        failed = await recorder.wait_event(E.OPERATION_FAILED, "a")
        await recorder.wait_event(E.OPERATION_FAILED, "b")
    assert "robot offline" in failed.metadata["reason"]


@pytest.mark.parametrize(
    "action, message",
    [
        (lambda d: d.complete(), "none is active"),
        (lambda d: d.fail("a"), "it is QUEUED"),
        (lambda d: d.resume(), "not paused"),
        (lambda d: d.report_progress("a", 0.5), "it is QUEUED"),
    ],
)
async def test_illegal_sync_transitions_raise_and_change_nothing(recorder, action, message):
    d = make(recorder)
    d.add(op("a"))
    before = d.get("a"), d.snapshot().model_dump(exclude={"stamp"})
    with pytest.raises(InvalidStateError, match=message) as info:
        action(d)
    assert info.value.code == "INVALID_STATE"
    assert (d.get("a"), d.snapshot().model_dump(exclude={"stamp"})) == before


async def test_free_text_is_bounded(recorder):
    d = make(recorder)
    d.add(op("a"))
    for call in (lambda: d.pause("x" * 1025), lambda: d.fail("a", reason="x" * 1025), lambda: d.complete("a", outcome=7)):
        with pytest.raises(ValidationError):
            call()
    with pytest.raises(ValidationError) as info:
        await d.cancel("a", reason="x" * 1025)
    assert info.value.field == "reason"
    assert [e.event_type for e in d.events("a")] == [E.OPERATION_ADDED] and not d.snapshot().paused


async def test_illegal_handshaken_transitions(recorder):
    d = make(recorder)
    d.add(op("a"))
    with pytest.raises(InvalidStateError, match="not RUNNING"):
        await d.pause_operation("a")
    with pytest.raises(InvalidStateError, match="not PAUSED"):
        await d.resume_operation("a")
    with pytest.raises(NotFoundError) as info:
        await d.cancel("ghost")
    assert info.value.code == "NOT_FOUND"
    d.pause()
    with pytest.raises(InvalidStateError, match="already paused"):
        d.pause()
    async with running(d):
        with pytest.raises(InvalidStateError, match="already running"):
            await d.run()
        d.resume()
        await recorder.wait_event(E.OPERATION_STARTED, "a")
        d.complete()
        with pytest.raises(InvalidStateError, match="already COMPLETED"):
            await d.cancel("a")
    assert [e.event_type for e in d.events("a")] == [E.OPERATION_ADDED, E.OPERATION_START_REQUESTED, E.OPERATION_STARTED, E.OPERATION_COMPLETED]


async def test_calls_from_other_threads_while_running(recorder):
    d = make(recorder)
    loop = asyncio.get_running_loop()

    def producer(k: int) -> None:
        for i in range(50):
            d.add(op(f"t{k}-{i}", priority=i % 4))

    def completer() -> None:
        done = 0
        while done < 200:
            current = d.current()
            if current is not None and current.execution.state is OperationState.RUNNING:
                d.complete(current.operation.id)
                done += 1
            else:
                time.sleep(0.001)

    async with running(d):
        threads = [threading.Thread(target=producer, args=(k,)) for k in range(4)] + [threading.Thread(target=completer)]
        for t in threads:
            t.start()
        await recorder.wait_for(lambda: len(recorder.of(E.OPERATION_COMPLETED)) == 200, timeout=30)
        # a handshake from a foreign thread, through the documented bridge
        d.add(op("late"))
        future = asyncio.run_coroutine_threadsafe(d.cancel("late"), loop)
        await asyncio.wrap_future(future)
        for t in threads:
            await asyncio.to_thread(t.join, 5)
    ids = [e.operation_id for e in recorder.of(E.OPERATION_ADDED)]
    assert len(ids) == len(set(ids)) == 201
    assert d.snapshot().counts[OperationState.COMPLETED] == 200
    assert d.get("late").execution.state is OperationState.CANCELLED


async def test_handshake_awaited_from_another_loop_hops_onto_the_dispatchers(recorder):
    d = make(recorder)
    d.pause()
    d.add(op("a"))
    async with running(d):
        result = await asyncio.to_thread(asyncio.run, d.cancel("a"))
    assert result.execution.state is OperationState.CANCELLED


async def test_raising_or_slow_notification_callbacks_never_stall_the_loop(recorder):
    seen_by_slow: list[str] = []
    release_slow = threading.Event()

    def raising(event):
        raise ValueError("subscriber bug")

    def slow(event):
        release_slow.wait(5)
        seen_by_slow.append(event.event_type.value)

    d = OperationDispatcher("robot-1", lambda e: True, raising)
    d.subscribe(recorder)
    d.subscribe(slow)
    d.add([op(f"o{i}") for i in range(20)])
    async with running(d):
        for i in range(20):
            await recorder.wait_event(E.OPERATION_STARTED, f"o{i}")
            d.complete(f"o{i}")
        await recorder.wait_event(E.OPERATION_COMPLETED, "o19")
        assert len(seen_by_slow) <= 1  # the slow one is still stuck on its first event
        release_slow.set()
    assert d.snapshot().counts[OperationState.COMPLETED] == 20


async def test_failure_retry_policy_requeues_with_backoff(recorder):
    d = make(recorder, failure_retry=FailureRetryPolicy(max_attempts=3, initial_backoff_seconds=0.1, multiplier=2))
    d.add(op("flaky"))
    async with running(d):
        for attempt in (1, 2, 3):
            await recorder.wait_event(E.OPERATION_STARTED, "flaky", count=attempt)
            d.fail("flaky", reason=f"gripper slipped #{attempt}")
        await recorder.wait_event(E.OPERATION_FAILED, "flaky", count=3)
    failures = recorder.of(E.OPERATION_FAILED, "flaky")
    assert [f.metadata["requeued"] for f in failures] == [True, True, False]
    assert [f.metadata.get("retry_in_seconds") for f in failures] == [0.1, 0.2, None]
    starts = recorder.of(E.OPERATION_STARTED, "flaky")
    assert starts[1].created_at - failures[0].created_at >= timedelta(seconds=0.1)
    record = d.get("flaky")
    assert record.execution.state is OperationState.FAILED and record.execution.attempts == 3
    assert record.execution.termination_reason == "gripper slipped #3"


async def test_tracking_queries(recorder):
    d = make(recorder)
    d.add([op(f"o{i}", priority=i) for i in range(5)])
    async with running(d):
        for i in (4, 3, 2):
            await recorder.wait_event(E.OPERATION_STARTED, f"o{i}")
            d.complete() if i != 3 else d.fail(reason="blocked aisle")
        await recorder.wait_event(E.OPERATION_STARTED, "o1")
        assert [r.operation.id for r in d.list_operations()] == ["o1", "o0", "o2", "o3", "o4"]
        assert [r.operation.id for r in d.list_operations("QUEUED")] == ["o0"]
        assert [r.operation.id for r in d.list_operations(OperationState.FAILED)] == ["o3"]
        assert [r.operation.id for r in d.history()] == ["o2", "o3", "o4"]
        assert [r.operation.id for r in d.history(limit=1)] == ["o2"]
        snap = d.snapshot()
        assert snap.current_operation_id == "o1" and snap.queue_length == 1 and snap.status is DispatcherStatus.RUNNING
        assert snap.counts[OperationState.COMPLETED] == 2
    for bad in (0, 1001, -1, "5", 2.5, True):
        with pytest.raises(ValidationError) as info:
            d.history(limit=bad)
        assert info.value.field == "limit"
    assert len(d.history(limit=1000)) == 3
    with pytest.raises(ValidationError, match="state must be one of"):
        d.list_operations("DONE")
    with pytest.raises(NotFoundError):
        d.events("ghost")
    assert d.snapshot().status is DispatcherStatus.STOPPED


async def test_the_loop_sleeps_without_polling(recorder):
    d = make(recorder)
    steps = 0
    real_step = d._next_step

    def counting_step(change):
        nonlocal steps
        steps += 1
        return real_step(change)

    d._next_step = counting_step
    async with running(d):
        await recorder.wait_event(E.OPERATION_DISPATCHER_STARTED)
        await asyncio.sleep(0.3)  # idle: proving an absence needs a window
        assert steps == 1, "an idle dispatcher must not wake up on its own"
        d.add(op("a", release_date=utcnow() + timedelta(milliseconds=200)))
        await recorder.wait_event(E.OPERATION_STARTED, "a")
        assert steps <= 4  # woken by the add, then by the release timer
