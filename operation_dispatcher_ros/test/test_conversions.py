"""Every message <-> model conversion, without a running ROS graph."""

from __future__ import annotations

import inspect
import math
from datetime import datetime, timedelta, timezone

import pytest

pytest.importorskip("rclpy", reason="needs the ROS 2 wheels (make setup)")
pytest.importorskip("operation_dispatcher_interfaces", reason="needs the colcon workspace (make setup)")

from builtin_interfaces.msg import Time

from operation_dispatcher import (
    ERROR_TABLE,
    MAX_RETRY_AFTER_SECONDS,
    Decision,
    DeniedError,
    Dependency,
    DependencyType,
    DispatcherSnapshot,
    DispatcherStatus,
    DispatchEvent,
    EventType,
    InvalidStateError,
    NotFoundError,
    Operation,
    OperationExecution,
    OperationRecord,
    OperationState,
    RequestTimeoutError,
    StorageError,
    UnavailableError,
    ValidationError,
)
from operation_dispatcher import _limits as limits
from operation_dispatcher_interfaces import msg, srv
from operation_dispatcher_ros import conversions as conv

T0 = datetime(2025, 3, 4, 5, 6, 7, 123456, tzinfo=timezone.utc)


# ------------------------------------------------------------------ time

def test_time_round_trip_keeps_microseconds():
    stamp = conv.datetime_to_time(T0)
    assert (stamp.sec, stamp.nanosec) == (int(T0.timestamp()), 123456000)
    assert conv.time_to_datetime(stamp) == T0


def test_zero_time_means_unset_both_ways():
    assert conv.time_to_datetime(Time()) is None
    assert conv.datetime_to_time(None) == Time()


def test_naive_datetime_is_read_as_utc_and_far_future_is_clamped():
    assert conv.datetime_to_time(T0.replace(tzinfo=None)) == conv.datetime_to_time(T0)
    other_zone = T0.astimezone(timezone(timedelta(hours=5)))
    assert conv.datetime_to_time(other_zone) == conv.datetime_to_time(T0)
    far = conv.datetime_to_time(datetime(2100, 1, 1, tzinfo=timezone.utc))
    assert far.sec == 2**31 - 1


# ------------------------------------------------------------------ JSON

@pytest.mark.parametrize("text", ["", "   ", "{}"])
def test_empty_payload_is_an_empty_object(text):
    assert conv.parse_json_object(text, "f") == {}


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('{"a": ', "not valid JSON"),
        ("[1, 2]", "must be a JSON object, got an array"),
        ('"text"', "got a string"),
        ("3", "got a number"),
        ("true", "got a boolean"),
        ("null", "got null"),
        ('{"x": NaN}', "NaN is not valid JSON"),
        ('{"x": Infinity}', "Infinity is not valid JSON"),
        ('{"x": -Infinity}', "Infinity is not valid JSON"),
    ],
)
def test_bad_json_is_a_validation_error_naming_the_field(text, words):
    with pytest.raises(ValidationError) as info:
        conv.parse_json_object(text, "operations[2].payload_json")
    assert info.value.field == "operations[2].payload_json"
    assert info.value.message.startswith("operations[2].payload_json: ")
    assert words in info.value.message


def test_dump_json_is_compact_and_empty_for_nothing():
    assert conv.dump_json({}) == ""
    assert conv.dump_json({"a": [1, 2], "b": None}) == '{"a":[1,2],"b":null}'
    assert conv.dump_json({"when": T0}) == '{"when":"2025-03-04 05:06:07.123456+00:00"}'


# ------------------------------------------------------------------ operations

def full_operation() -> Operation:
    return Operation(
        id="op-1",
        resource_id="robot_1",
        payload={"pickup": {"x": 1.0, "y": 2.0}, "dropoff": {"x": 4.0, "y": 0.5}},
        priority=-7,
        release_date=T0,
        due_date=T0 + timedelta(hours=1),
        planned_duration=12.5,
        dependencies=[Dependency(operation_id="op-0", type=DependencyType.START_TO_START), Dependency(operation_id="op-x")],
        created_at=T0 - timedelta(minutes=1),
    )


def test_operation_round_trip():
    op = full_operation()
    message = conv.operation_to_msg(op)
    assert message.payload_json == '{"pickup":{"x":1.0,"y":2.0},"dropoff":{"x":4.0,"y":0.5}}'
    assert [(d.operation_id, d.type) for d in message.dependencies] == [
        ("op-0", msg.Dependency.START_TO_START),
        ("op-x", msg.Dependency.FINISH_TO_START),
    ]
    assert conv.operation_from_msg(message, "ignored") == op


def test_minimal_operation_message_gets_defaults():
    before = datetime.now(timezone.utc)
    op = conv.operation_from_msg(msg.Operation(), "robot_9")
    assert op.resource_id == "robot_9"
    assert op.id  # generated
    assert op.payload == {} and op.priority == 0 and op.dependencies == ()
    assert op.release_date is None and op.due_date is None and op.planned_duration is None
    assert op.created_at >= before


def test_operations_from_msgs_names_the_index_of_the_bad_one():
    good = msg.Operation(id="a")
    bad = msg.Operation(id="has space")
    with pytest.raises(ValidationError) as info:
        conv.operations_from_msgs([good, bad], "r")
    assert info.value.field == "operations[1].id"
    with pytest.raises(ValidationError) as info:
        conv.operations_from_msgs([good, msg.Operation(payload_json="[]")], "r")
    assert info.value.field == "operations[1].payload_json"
    with pytest.raises(ValidationError) as info:
        conv.operations_from_msgs([], "r")
    assert info.value.field == "operations"


@pytest.mark.parametrize(
    ("message", "field"),
    [
        (msg.Operation(planned_duration=float("nan")), "operation.planned_duration"),
        (msg.Operation(planned_duration=float("inf")), "operation.planned_duration"),
        (msg.Operation(planned_duration=-1.0), "operation.planned_duration"),
        (msg.Operation(priority=2_000_000), "operation.priority"),
        (msg.Operation(release_date=Time(sec=-5)), "operation.release_date"),
        (msg.Operation(release_date=Time(sec=5, nanosec=1_500_000_000)), "operation.release_date.nanosec"),
        (msg.Operation(due_date=Time(sec=0, nanosec=2**32 - 1)), "operation.due_date.nanosec"),
        (msg.Operation(created_at=Time(sec=1_900_000_000, nanosec=1_000_000_000)), "operation.created_at.nanosec"),
        (msg.Operation(dependencies=[msg.Dependency(operation_id="x", type=7)]), "operation.dependencies[0].type"),
        (msg.Operation(dependencies=[msg.Dependency(operation_id="")]), "operation.dependencies[0].operation_id"),
        (msg.Operation(payload_json='{"x": NaN}'), "operation.payload_json"),
    ],
)
def test_invalid_operation_fields_are_named(message, field):
    with pytest.raises(ValidationError) as info:
        conv.operation_from_msg(message, "r")
    assert info.value.field == field


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"priority": "high"}, "operation.priority"),
        ({"payload_json": {"a": 1}}, "operation.payload_json"),
        ({"planned_duration": "soon"}, "operation.planned_duration"),
        ({"id": 5}, "operation.id"),
    ],
)
def test_wrong_types_in_process_are_validation_errors(fields, field):
    # The wire enforces field types, but newer rosidl setters only check them
    # when asked (ROS_PYTHON_CHECK_FIELDS), so an in-process caller can pass anything.
    message = msg.Operation()
    try:
        for name, value in fields.items():
            setattr(message, name, value)
    except (AssertionError, TypeError):
        return  # this rosidl checks field types itself: also fine
    with pytest.raises(ValidationError) as info:
        conv.operation_from_msg(message, "r")
    assert info.value.field == field


def test_record_to_status_fills_every_field():
    op = full_operation()
    ex = OperationExecution(
        operation_id=op.id, execution_id="ex-1", state=OperationState.FAILED, outcome="failed",
        termination_reason="battery empty", retry_count=2, attempts=3, progress=0.25,
        started_at=T0, finished_at=T0 + timedelta(seconds=3),
    )
    status = conv.record_to_status(OperationRecord(operation=op, execution=ex))
    assert status.operation == conv.operation_to_msg(op)
    assert (status.state, status.state_name) == (msg.OperationStatus.FAILED, "FAILED")
    assert (status.outcome, status.termination_reason) == ("failed", "battery empty")
    assert (status.retry_count, status.attempts, status.execution_id) == (2, 3, "ex-1")
    assert status.progress == pytest.approx(0.25)
    assert conv.time_to_datetime(status.started_at) == T0
    assert conv.time_to_datetime(status.finished_at) == T0 + timedelta(seconds=3)


@pytest.mark.parametrize("state", list(OperationState))
def test_every_state_has_its_constant(state):
    ex = OperationExecution(operation_id="a", state=state)
    status = conv.record_to_status(OperationRecord(operation=Operation(id="a", resource_id="r"), execution=ex))
    assert status.state == getattr(msg.OperationStatus, state.value)
    assert status.state_name == state.value
    assert status.outcome == "" and status.termination_reason == ""
    assert status.started_at == Time() and status.finished_at == Time()


@pytest.mark.parametrize(("text", "expected"), [("", None), ("queued", OperationState.QUEUED), (" Running ", OperationState.RUNNING)])
def test_state_filter(text, expected):
    assert conv.state_filter_from_msg(text) is expected


def test_bad_state_filter_names_the_field():
    with pytest.raises(ValidationError) as info:
        conv.state_filter_from_msg("DONE")
    assert info.value.field == "state"


# ------------------------------------------------------------------ events and state

@pytest.mark.parametrize("event_type", list(EventType))
def test_event_round_trip(event_type):
    event = DispatchEvent(
        id="e-1", event_type=event_type, resource_id="robot_1",
        operation_id=None if event_type.is_dispatcher_event else "op-1",
        execution_id=None if event_type.is_dispatcher_event else "ex-1",
        created_at=T0, metadata={"reason": "why", "data": {"n": 1}},
    )
    message = conv.event_to_msg(event)
    assert message.event_type == event_type.value
    assert message.operation_id == (event.operation_id or "")
    assert conv.event_from_msg(message) == event


def test_event_without_metadata_has_empty_json_and_unknown_types_are_refused():
    event = DispatchEvent(id="e", event_type=EventType.OPERATION_ADDED, resource_id="r", operation_id="a", created_at=T0)
    assert conv.event_to_msg(event).metadata_json == ""
    with pytest.raises(ValidationError) as info:
        conv.event_from_msg(msg.DispatchEvent(event_type="OPERATION_EXPLODED"))
    assert info.value.field == "event.event_type"


def test_a_time_with_a_second_or_more_of_nanosec_is_refused_not_carried_into_sec():
    with pytest.raises(ValidationError) as info:
        conv.event_from_msg(msg.DispatchEvent(event_type="OPERATION_ADDED", stamp=Time(sec=5, nanosec=1_000_000_000)))
    assert info.value.field == "event.stamp.nanosec"
    assert info.value.message == "event.stamp.nanosec: must be below 1000000000; got 1000000000"
    assert conv.time_to_datetime(Time(sec=5, nanosec=999_999_999)) == datetime.fromtimestamp(5.999999999, tz=timezone.utc)


@pytest.mark.parametrize("status", list(DispatcherStatus))
def test_snapshot_to_state(status):
    counts = {s: i for i, s in enumerate(OperationState, start=1)}
    snapshot = DispatcherSnapshot(
        resource_id="robot_1", status=status, running=status is not DispatcherStatus.STOPPED,
        paused=status is DispatcherStatus.PAUSED, paused_reason="why" if status is DispatcherStatus.PAUSED else None,
        current_operation_id="op-1", queue_length=1, counts=counts, consecutive_denials=2, stamp=T0,
    )
    state = conv.snapshot_to_msg(snapshot, current_progress=0.5)
    assert (state.status, state.status_name) == (getattr(msg.DispatcherState, status.value), status.value)
    assert (state.queued_count, state.running_count, state.paused_count) == (1, 2, 3)
    assert (state.completed_count, state.failed_count, state.cancelled_count) == (4, 5, 6)
    assert state.current_operation_id == "op-1" and state.queue_length == 1 and state.consecutive_denials == 2
    assert state.current_progress == pytest.approx(0.5)
    assert state.paused_reason == (snapshot.paused_reason or "")
    assert conv.time_to_datetime(state.stamp) == T0


# ------------------------------------------------------------------ handshake and errors

def test_decision_from_response():
    assert conv.decision_from_response(True, "", "") == Decision(approved=True)
    assert conv.decision_from_response(False, "battery 10 %", '{"level": 0.1}') == Decision(
        approved=False, reason="battery 10 %", data={"level": 0.1}
    )


@pytest.mark.parametrize(
    ("retry_after", "expected"), [(0.0, None), (2.5, 2.5), (1e9, MAX_RETRY_AFTER_SECONDS)]
)
def test_a_not_ready_response_is_a_not_ready_decision(retry_after, expected):
    decision = conv.decision_from_response(False, "no map yet", "", not_ready=True, retry_after=retry_after)
    assert decision == Decision.later("no map yet", retry_after=expected)
    fields = conv.decision_to_response_fields(decision)
    assert (fields["not_ready"], fields["retry_after"]) == (True, expected or 0.0)
    assert conv.decision_from_response(**fields) == decision
    response = srv.Handshake.Response(**fields)
    assert response.not_ready and response.retry_after == (expected or 0.0)


@pytest.mark.parametrize(
    ("approved", "not_ready", "retry_after", "problem"),
    [
        (True, True, 0.0, "a decision cannot be both approved and not ready"),
        (False, True, -1.0, "retry_after must be a finite number of seconds > 0"),
        (False, True, math.nan, "retry_after must be a finite number of seconds > 0"),
        (False, False, 3.0, "retry_after belongs to a not-ready decision"),
    ],
)
def test_a_contradictory_not_ready_response_is_a_denial_saying_so(approved, not_ready, retry_after, problem):
    decision = conv.decision_from_response(approved, "", "", not_ready=not_ready, retry_after=retry_after)
    assert (decision.approved, decision.not_ready, decision.data) == (False, False, {"error": True})
    assert decision.reason.startswith("business logic answered with an invalid decision: ") and problem in decision.reason


def test_bad_decision_data_is_a_denial_not_a_crash():
    decision = conv.decision_from_response(True, "", "[1]")
    assert decision.approved is False
    assert "data_json" in decision.reason


def test_decision_to_response_fields_round_trip():
    decision = Decision(approved=False, reason="closed", data={"window": "22:00-06:00"})
    fields = conv.decision_to_response_fields(decision)
    assert conv.decision_from_response(**fields) == decision
    response = srv.Handshake.Response(**fields)
    assert response.reason == "closed"


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (ValidationError("x: bad", field="x"), srv.AddOperations.Response.VALIDATION),
        (NotFoundError("a"), srv.AddOperations.Response.NOT_FOUND),
        (InvalidStateError("no"), srv.AddOperations.Response.INVALID_STATE),
        (DeniedError("denied", reason="r"), srv.AddOperations.Response.DENIED),
        (RequestTimeoutError("no result within 1 s"), srv.AddOperations.Response.TIMEOUT),
        (UnavailableError("shutting down"), srv.AddOperations.Response.UNAVAILABLE),
        (StorageError("could not write", cause="database is locked"), srv.AddOperations.Response.STORAGE),
        (RuntimeError("boom"), srv.AddOperations.Response.INTERNAL),
    ],
)
def test_error_codes(exc, code):
    assert conv.error_code(exc) == code
    assert conv.error_message(exc)


def _constants(msg_type: type) -> dict[str, int]:
    """The constants a .srv / .action section defines (rosidl keeps them on the class's metaclass)."""
    meta = type(msg_type)
    return dict(getattr(meta, f"_{meta.__name__}__constants"))


SRV_TYPES = [t for _name, t in inspect.getmembers(srv, inspect.isclass) if hasattr(t, "Request") and hasattr(t, "Response")]


@pytest.mark.parametrize("srv_type", SRV_TYPES, ids=lambda t: t.__name__)
def test_every_srv_carries_exactly_the_core_error_table(srv_type):
    """Same names, same numbers as ERROR_TABLE, nothing more; Handshake (a question to the business logic) carries none."""
    table = {code: kind.number for code, kind in ERROR_TABLE.items()}
    if srv_type.__name__ == "Handshake":
        assert _constants(srv_type.Response) == {} and "error_code" not in srv_type.Response.get_fields_and_field_types()
    else:
        assert _constants(srv_type.Response) == table
        assert "error_code" in srv_type.Response.get_fields_and_field_types()
    assert _constants(srv_type.Request) == PAGE_LIMITS.get(srv_type.__name__, {})


PAGE_LIMITS = {  # a paged read's request names its limits: the core's
    "ListOperations": {"LIMIT_MAX": limits.OPERATIONS_PAGE_MAX, "LIMIT_DEFAULT": limits.OPERATIONS_PAGE_DEFAULT},
    "GetEventLog": {"LIMIT_MAX": limits.EVENT_LOG_LIMIT_MAX, "LIMIT_DEFAULT": limits.EVENT_LOG_LIMIT_DEFAULT},
    "GetHistory": {"LIMIT_MAX": limits.HISTORY_LIMIT_MAX, "LIMIT_DEFAULT": limits.HISTORY_LIMIT_DEFAULT},
    "GetEvents": {"LIMIT_MAX": limits.EVENT_LOG_LIMIT_MAX},
}


def test_the_action_result_carries_exactly_the_core_error_table():
    from operation_dispatcher_interfaces.action import ExecuteOperation

    assert _constants(ExecuteOperation.Result) == {code: kind.number for code, kind in ERROR_TABLE.items()}
    assert _constants(ExecuteOperation.Goal) == {} and _constants(ExecuteOperation.Feedback) == {}
    assert conv.ERROR_CODES == {code: kind.number for code, kind in ERROR_TABLE.items()}
    assert len(SRV_TYPES) >= 9  # the srv module was really enumerated
    assert conv.error_message(RuntimeError("boom")) == "internal error: RuntimeError: boom"
