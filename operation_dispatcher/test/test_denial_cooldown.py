"""The wait after a denied start (issue 11, item 7): a new DenialPolicy applies to the cooldown already
running (lowering 3600 s to 0.2 s lets the next request go within a second, without a pause / resume),
and a cooldown of 0 still waits MIN_COOLDOWN_SECONDS, so a business logic that denies at once cannot
make the dispatcher ask hundreds of times a second."""

from __future__ import annotations

import itertools
import time

from dispatcher_testing import EventRecorder, running

from operation_dispatcher import DenialPolicy, EventType, OperationDispatcher
from operation_dispatcher._policies import MIN_COOLDOWN_SECONDS

E = EventType


async def test_a_new_policy_shortens_the_cooldown_already_running():
    recorder = EventRecorder()
    answers = iter([False])
    d = OperationDispatcher("r", lambda e: next(answers, True), recorder,
                            denial_policy=DenialPolicy(cooldown_seconds=3600, max_retries=10))
    async with running(d):
        d.add({"id": "a"})
        await recorder.wait_event(E.OPERATION_START_DENIED, "a")
        assert (d.snapshot().cooldown_until - recorder.of(E.OPERATION_START_DENIED, "a")[0].created_at).total_seconds() > 3000
        d.denial_policy = DenialPolicy(cooldown_seconds=0.2, max_retries=10)
        await recorder.wait_event(E.OPERATION_STARTED, "a", timeout=5.0)
        denied, started = recorder.of(E.OPERATION_START_DENIED, "a")[0], recorder.of(E.OPERATION_STARTED, "a")[0]
        assert (started.created_at - denied.created_at).total_seconds() >= 0.2


async def test_a_cooldown_of_zero_still_waits_the_minimum():
    recorder = EventRecorder()
    numbers = itertools.count()  # each denial says something new, so each is recorded (repeats are only counted)
    d = OperationDispatcher("r", lambda e: (False, f"no {next(numbers)}"), recorder,
                            denial_policy=DenialPolicy(cooldown_seconds=0, max_retries=1000))
    async with running(d):
        d.add({"id": "a"})
        t0 = time.monotonic()
        await recorder.wait_event(E.OPERATION_START_DENIED, "a", count=4, timeout=10.0)
        elapsed = time.monotonic() - t0
    denials = recorder.of(E.OPERATION_START_DENIED, "a")
    gaps = [(b.created_at - a.created_at).total_seconds() for a, b in itertools.pairwise(denials)]
    assert min(gaps) >= MIN_COOLDOWN_SECONDS * 0.9, gaps
    assert elapsed >= 3 * MIN_COOLDOWN_SECONDS * 0.9
