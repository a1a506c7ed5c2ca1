"""Not ready, ask again later: the third answer of the business logic (issue 10, defect 1).

A business logic that cannot decide yet (the robot's battery not heard of
after a slow boot) answers ``Decision.later()``: the start stays QUEUED with
its counters as they were, is recorded as OPERATION_START_DEFERRED (no
denial), asked again after its own short back-off, and never pauses the
dispatcher, however long it lasts. A cancel, pause or resume answered not
ready is refused with UnavailableError and changes nothing.
"""

from __future__ import annotations

import asyncio
import math
import time

import pytest
from dispatcher_testing import check_sequence, running

from operation_dispatcher import (
    MAX_RETRY_AFTER_SECONDS,
    Decision,
    DenialPolicy,
    DispatchEvent,
    EventType,
    NotReadyPolicy,
    Operation,
    OperationDispatcher,
    OperationState,
    SQLiteStore,
    UnavailableError,
    ValidationError,
)

E = EventType
RESOURCE = "robot-1"
INVALID = "business logic answered with an invalid decision: "


# ----------------------------------------------------------------- the answer


def test_later_builds_a_not_ready_decision_that_is_never_an_approval():
    decision = Decision.later("battery level unknown", retry_after=2, data={"input": "battery_state"})
    assert (decision.approved, decision.not_ready, decision.retry_after) == (False, True, 2.0)
    assert decision.reason == "battery level unknown" and decision.data == {"input": "battery_state"}
    assert Decision.coerce(decision, True) is decision
    assert Decision.later().retry_after is None and Decision.later().reason is None


def test_a_long_retry_after_is_shortened_to_the_limit():
    assert Decision.later(retry_after=1e9).retry_after == MAX_RETRY_AFTER_SECONDS


@pytest.mark.parametrize("bad", [0, -1, math.inf, math.nan, True, "2"])
def test_later_refuses_a_retry_after_that_is_no_wait(bad):
    with pytest.raises(ValidationError) as info:
        Decision.later("x", retry_after=bad)
    assert info.value.field == "retry_after"


@pytest.mark.parametrize(
    "answer, not_ready, retry_after, reason",
    [
        ({"not_ready": True, "reason": "no map yet"}, True, None, "no map yet"),
        ({"approved": False, "not_ready": True, "retry_after": 0.5}, True, 0.5, None),
        ({"not_ready": False, "approved": True}, False, None, None),
        ({"approved": True, "not_ready": True}, False, None, INVALID + "a decision cannot be both approved and not ready"),
        ({"approved": False, "retry_after": 1.0}, False, None, INVALID + "retry_after belongs to a not-ready decision (not_ready=True)"),
        ({"not_ready": True, "retry_after": -1}, False, None, INVALID + "retry_after: retry_after must be a finite number of seconds > 0 (or None); got -1"),
        ({"not_ready": "yes"}, False, None, INVALID + "approved: Field required"),
    ],
)
def test_coerce_reads_not_ready_dicts_and_denies_contradictions(answer, not_ready, retry_after, reason):
    decision = Decision.coerce(answer, True)
    assert (decision.not_ready, decision.retry_after, decision.reason) == (not_ready, retry_after, reason)
    assert not (decision.approved and decision.not_ready)


def test_none_stays_no_opinion_and_a_plain_true_still_builds_nothing():
    assert not Decision.coerce(None, False).not_ready and Decision.coerce(None, True).approved
    assert Decision.coerce(True, False) is Decision.coerce(True, True)


def test_not_ready_back_off_doubles_from_a_tenth_to_half_a_second():
    policy = NotReadyPolicy()
    assert [policy.backoff(n) for n in range(1, 6)] == [0.1, 0.2, 0.4, 0.5, 0.5]
    assert policy.backoff(10_000) == 0.5  # no overflow on a very long wait
    with pytest.raises(ValidationError):
        NotReadyPolicy(first_seconds=0)
    with pytest.raises(ValidationError):
        NotReadyPolicy(first_seconds=2.0, max_seconds=1.0)


# ----------------------------------------------------------------- the loop


class BootingBusinessLogic:
    """Not ready until :meth:`ready` (the robot's first battery reading), then approves."""

    def __init__(self, retry_after: float | None = None) -> None:
        self.is_ready = False
        self.retry_after = retry_after
        self.asked: list[float] = []
        self._wanted: tuple[int, asyncio.Event] | None = None

    def __call__(self, event: DispatchEvent) -> object:  # called on the dispatcher's loop
        self.asked.append(time.monotonic())
        if self._wanted is not None and len(self.asked) >= self._wanted[0]:
            self._wanted[1].set()
        if event.event_type is E.OPERATION_START_REQUESTED and not self.is_ready:
            return Decision.later("battery level unknown: no reading yet", retry_after=self.retry_after, data={"input": "battery_state"})
        return True

    def ready(self) -> float:
        self.is_ready = True
        return time.monotonic()

    async def until_asked(self, count: int, timeout: float = 10.0) -> None:
        """Wait for the ``count``-th request (repeated not-ready answers are counted, not recorded)."""
        reached = asyncio.Event()
        self._wanted = (count, reached)
        if len(self.asked) < count:
            await asyncio.wait_for(reached.wait(), timeout)


async def test_not_ready_starts_never_count_as_denials_nor_pause_and_start_soon_after_ready(recorder):
    logic = BootingBusinessLogic()
    d = OperationDispatcher(RESOURCE, logic, recorder, denial_policy=DenialPolicy(cooldown_seconds=0.05, max_retries=2))
    d.add([Operation(id=f"op-{i}", resource_id=RESOURCE) for i in range(3)])
    async with running(d):
        await logic.until_asked(6)  # three times max_retries
        snap = d.snapshot()
        assert snap.status.value == "RUNNING" and snap.consecutive_denials == 0 and not snap.paused
        assert d.get("op-0").execution.state is OperationState.QUEUED
        assert (d.get("op-0").execution.retry_count, d.get("op-0").execution.attempts) == (0, 0)
        became_ready = logic.ready()
        started = await recorder.wait_event(E.OPERATION_STARTED, "op-0", timeout=5.0)
        waited = time.monotonic() - became_ready
        for i in range(3):
            d.complete(f"op-{i}")
            if i < 2:
                await recorder.wait_event(E.OPERATION_STARTED, f"op-{i + 1}")
    print(f"first start {waited * 1000:.0f} ms after the business logic became ready")
    assert waited < 1.0, waited
    assert started.metadata["attempt"] == 1
    assert not recorder.of(E.OPERATION_START_DENIED) and not recorder.of(E.OPERATION_DISPATCHER_PAUSED)
    record = d.get("op-0").execution
    assert (record.state, record.retry_count, record.attempts) == (OperationState.COMPLETED, 0, 1)
    for i in range(3):
        check_sequence([e for e in recorder.events if e.operation_id == f"op-{i}"])


async def test_a_deferral_event_names_reason_wait_and_streak_and_the_back_off_grows(recorder):
    logic = BootingBusinessLogic()
    d = OperationDispatcher(RESOURCE, logic, recorder, not_ready_policy=NotReadyPolicy(first_seconds=0.05, max_seconds=0.2))
    d.add(Operation(id="a", resource_id=RESOURCE))
    async with running(d):
        await logic.until_asked(5)
    deferred = recorder.of(E.OPERATION_START_DEFERRED, "a")  # the first RECORDED_REPEATS; later alike ones are counted
    assert [e.metadata["retry_in_seconds"] for e in deferred] == [0.05, 0.1, 0.2]
    assert [e.metadata["not_ready_streak"] for e in deferred] == [1, 2, 3]
    first = deferred[0].metadata
    assert first["reason"] == "battery level unknown: no reading yet" and first["data"] == {"input": "battery_state"}
    assert first["retry_count"] == 0 and "consecutive_denials" not in first
    gaps = [later - earlier for earlier, later in zip(logic.asked[:4], logic.asked[1:5], strict=True)]
    assert all(gap >= wait - 0.01 for gap, wait in zip(gaps, (0.05, 0.1, 0.2, 0.2), strict=True)), gaps


async def test_the_answers_retry_after_sets_the_wait(recorder):
    logic = BootingBusinessLogic(retry_after=0.3)
    d = OperationDispatcher(RESOURCE, logic, recorder)
    d.add(Operation(id="a", resource_id=RESOURCE))
    async with running(d):
        await recorder.wait_event(E.OPERATION_START_DEFERRED, "a", count=2, timeout=5.0)
    assert [e.metadata["retry_in_seconds"] for e in recorder.of(E.OPERATION_START_DEFERRED, "a")[:2]] == [0.3, 0.3]
    assert logic.asked[1] - logic.asked[0] >= 0.29


async def test_a_denial_after_not_ready_answers_counts_from_one_and_ends_the_not_ready_streak(recorder):
    answers = iter([Decision.later("booting"), Decision.later("booting"), (False, "battery low"), Decision.later("booting"), True])
    d = OperationDispatcher(
        RESOURCE, lambda e: next(answers), recorder, denial_policy=DenialPolicy(cooldown_seconds=0.01, max_retries=2),
        not_ready_policy=NotReadyPolicy(first_seconds=0.01, max_seconds=0.01),
    )  # fmt: skip
    d.add(Operation(id="a", resource_id=RESOURCE))
    async with running(d):
        await recorder.wait_event(E.OPERATION_STARTED, "a", timeout=5.0)
        assert not d.snapshot().paused
    (denied,) = recorder.of(E.OPERATION_START_DENIED, "a")
    assert (denied.metadata["consecutive_denials"], denied.metadata["retry_count"]) == (1, 1)
    streaks = [e.metadata["not_ready_streak"] for e in recorder.of(E.OPERATION_START_DEFERRED, "a")]
    assert streaks == [1, 2, 1]
    assert d.get("a").execution.retry_count == 1 and d.snapshot().consecutive_denials == 0


async def test_async_business_logic_may_answer_not_ready_too(recorder):
    ready = asyncio.Event()

    async def decide(event: DispatchEvent) -> object:
        return True if ready.is_set() else {"not_ready": True, "reason": "waiting for the map"}

    d = OperationDispatcher(RESOURCE, decide, recorder)
    d.add(Operation(id="a", resource_id=RESOURCE))
    async with running(d):
        deferred = await recorder.wait_event(E.OPERATION_START_DEFERRED, "a")
        ready.set()
        await recorder.wait_event(E.OPERATION_STARTED, "a", timeout=5.0)
    assert deferred.metadata["reason"] == "waiting for the map"


@pytest.mark.parametrize("verb", ["cancel", "pause_operation"])
async def test_a_control_request_answered_not_ready_is_unavailable_and_changes_nothing(recorder, verb):
    def decide(event: DispatchEvent) -> object:
        return True if event.event_type is E.OPERATION_START_REQUESTED else Decision.later("operator console offline", retry_after=2)

    d = OperationDispatcher(RESOURCE, decide, recorder)
    d.add(Operation(id="a", resource_id=RESOURCE))
    async with running(d):
        await recorder.wait_event(E.OPERATION_STARTED, "a")
        before = d.get("a").execution
        with pytest.raises(UnavailableError) as info:
            await getattr(d, verb)("a")
        after = d.get("a").execution
        assert after == before and after.state is OperationState.RUNNING
    word = "cancel" if verb == "cancel" else "pause"
    assert info.value.message == (
        f"{word} of 'a' not possible now: the business logic is not ready (operator console offline); try again"
    )
    assert info.value.details == {"operation_id": "a", "reason": "operator console offline", "retry_after": 2.0}
    assert recorder.types("a")[-1] == f"OPERATION_{word.upper()}_REQUESTED"  # no denial recorded
    assert not any(e.event_type.is_denial for e in recorder.events)


async def test_deferrals_are_stored_and_a_restart_finds_the_operation_queued_with_nothing_counted(recorder, tmp_path):
    store = SQLiteStore(tmp_path / "books.db")
    d = OperationDispatcher(RESOURCE, BootingBusinessLogic(), recorder, store=store)
    d.add(Operation(id="a", resource_id=RESOURCE))
    async with running(d):
        await recorder.wait_event(E.OPERATION_START_DEFERRED, "a", count=2, timeout=5.0)
    store.close()
    reopened = SQLiteStore(store.path)
    try:
        again = OperationDispatcher(RESOURCE, store=reopened)
        execution = again.get("a").execution
        types = [e.event_type for e in again.events("a")]
    finally:
        reopened.close()
    assert (execution.state, execution.retry_count, execution.attempts) == (OperationState.QUEUED, 0, 0)
    assert E.OPERATION_START_DEFERRED in types and E.OPERATION_START_DENIED not in types
