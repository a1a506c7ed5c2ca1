"""The diagnostics levels, as documented in diagnostics.py: ERROR on a refusing store or a self-pause,
WARN on a denial or failure streak or an unanswering / slow business logic, OK once the cause is gone."""

from datetime import timedelta

import pytest

from operation_dispatcher import DispatcherSnapshot, DispatcherStatus, OperationState
from operation_dispatcher._models import utcnow
from operation_dispatcher_ros.diagnostics import (
    DENIAL_STREAK_WARN,
    ERROR,
    FAILURE_STREAK_WARN,
    OK,
    WARN,
    Handshakes,
    dispatcher_status,
)


def snapshot(**overrides):
    fields = dict(
        resource_id="robot_1",
        status=DispatcherStatus.RUNNING,
        running=True,
        paused=False,
        queue_length=3,
        counts={s: 0 for s in OperationState},
        consecutive_denials=0,
    )
    fields.update(overrides)
    return DispatcherSnapshot(**fields)


def status(snap, handshakes=None, paused_automatically=False, started=None):
    return dispatcher_status(
        "/robot_1/dispatcher",
        snap,
        handshakes or Handshakes(),
        paused_automatically=paused_automatically,
        current_started_at=started,
        now=utcnow(),
    )


def values(st):
    return {kv.key: kv.value for kv in st.values}


def test_a_healthy_dispatcher_is_ok_and_says_what_it_holds():
    started = utcnow() - timedelta(seconds=12)
    st = status(snapshot(current_operation_id="op-1"), Handshakes(answered=True, latency=0.004), started=started)
    assert st.level == OK and st.message == "running"
    assert st.name == "/robot_1/dispatcher" and st.hardware_id == "robot_1"
    v = values(st)
    assert v["queue_length"] == "3" and v["current_operation"] == "op-1"
    assert 11.5 <= float(v["current_operation_age_s"]) <= 20
    assert v["business_logic"] == "answering" and v["store"] == "ok"


@pytest.mark.parametrize(
    "snap, handshakes, auto, level, words",
    [
        (snapshot(storage_error="disk I/O error"), Handshakes(), False, ERROR, "store refuses writes: disk I/O error"),
        (
            snapshot(paused=True, status=DispatcherStatus.PAUSED, paused_reason="5 start requests denied in a row"),
            Handshakes(),
            True,
            ERROR,
            "paused itself",
        ),
        (snapshot(consecutive_denials=DENIAL_STREAK_WARN), Handshakes(), False, WARN, "2 starts denied in a row"),
        (snapshot(consecutive_denials=1), Handshakes(), False, OK, "running"),
        (snapshot(consecutive_failures=FAILURE_STREAK_WARN), Handshakes(), False, WARN, "2 operations failed in a row"),
        (snapshot(consecutive_failures=1), Handshakes(), False, OK, "running"),
        (
            snapshot(paused=True, status=DispatcherStatus.PAUSED, paused_reason="5 operations failed in a row; last reason: x"),
            Handshakes(),
            True,
            ERROR,
            "paused itself: 5 operations failed in a row",
        ),
        (snapshot(), Handshakes(answered=False), False, WARN, "did not answer"),
        (snapshot(), Handshakes(servers=2, service="/r/handshake/start"), False, WARN, "2 business logics serve /r/handshake/start"),
        (snapshot(), Handshakes(servers=1), False, OK, "running"),
        (snapshot(), Handshakes(answered=True, latency=1.5, timeout=2.0), False, WARN, "answers slowly"),
        (snapshot(paused=True, status=DispatcherStatus.PAUSED, paused_reason="by operator"), Handshakes(), False, OK, "paused"),
        (snapshot(recovery_skipped=2), Handshakes(), False, WARN, "2 store row(s) set aside at recovery"),
    ],
)
def test_levels(snap, handshakes, auto, level, words):
    st = status(snap, handshakes, paused_automatically=auto)
    assert st.level == level, st.message
    assert words in st.message


def test_the_worst_problem_sets_the_level_and_every_problem_is_named():
    st = status(snapshot(storage_error="database is locked", consecutive_denials=4), Handshakes(answered=False))
    assert st.level == ERROR
    assert "database is locked" in st.message and "4 starts denied" in st.message and "did not answer" in st.message
