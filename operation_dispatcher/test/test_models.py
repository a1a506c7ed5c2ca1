"""Operation validation: every refusal names its field; times become UTC."""

from datetime import datetime, timedelta, timezone

import pytest

from operation_dispatcher import EventType, Operation, OperationState, ValidationError, parse_operations
from operation_dispatcher import _limits as limits


def test_event_names_are_the_seeds_nineteen_and_start_deferred():
    assert len(EventType) == 20 and EventType.OPERATION_START_DEFERRED.value == "OPERATION_START_DEFERRED"
    deferred = EventType.OPERATION_START_DEFERRED
    assert not deferred.is_denial and not deferred.is_request and not deferred.is_dispatcher_event
    assert {e.value for e in EventType} >= {"OPERATION_ADDED", "OPERATION_DISPATCHER_PAUSED", "OPERATION_RESUME_DENIED"}
    assert str(EventType.OPERATION_ADDED) == "OPERATION_ADDED" and f"{EventType.OPERATION_ADDED}" == "OPERATION_ADDED"


def test_naive_times_are_utc_and_aware_times_are_converted():
    op = Operation(resource_id="r", release_date=datetime(2030, 1, 1, 12), due_date="2030-01-01T14:00:00+02:00")
    assert op.release_date == datetime(2030, 1, 1, 12, tzinfo=timezone.utc)
    assert op.due_date == datetime(2030, 1, 1, 12, tzinfo=timezone.utc)
    assert op.created_at.tzinfo is timezone.utc


@pytest.mark.parametrize(
    "item, field",
    [
        ({"resource_id": "r", "priority": "high"}, "operations[0].priority"),
        ({"resource_id": "r", "priority": limits.PRIORITY_MAX + 1}, "operations[0].priority"),
        ({"resource_id": "r", "payload": {"x": float("nan")}}, "operations[0].payload"),
        ({"resource_id": "r", "payload": {"x": float("inf")}}, "operations[0].payload"),
        ({"resource_id": "r", "payload": {"blob": "x" * (limits.MAX_PAYLOAD_BYTES + 1)}}, "operations[0].payload"),
        ({"resource_id": "r", "payload": "not an object"}, "operations[0].payload"),
        ({"resource_id": "r", "planned_duration": float("nan")}, "operations[0].planned_duration"),
        ({"resource_id": "r", "planned_duration": -1}, "operations[0].planned_duration"),
        ({"resource_id": "r", "release_date": "3000-01-01T00:00:00Z"}, "operations[0].release_date"),
        ({"resource_id": "r", "id": "has space"}, "operations[0].id"),
        ({"resource_id": "r", "id": "history"}, "operations[0].id"),
        ({"resource_id": "r", "id": "x" * (limits.MAX_ID_LENGTH + 1)}, "operations[0].id"),
        ({"resource_id": ""}, "operations[0].resource_id"),
        ({}, "operations[0].resource_id"),
        ({"resource_id": "r", "colour": "red"}, "operations[0].colour"),
        ({"resource_id": "r", "id": "a", "dependencies": [{"operation_id": "a"}]}, "operations[0].dependencies"),
        ({"resource_id": "r", "dependencies": [{"operation_id": "b", "type": "sometimes"}]}, "operations[0].dependencies[0].type"),
    ],
)
def test_invalid_operations_name_the_field(item, field):
    with pytest.raises(ValidationError) as info:
        parse_operations([item])
    assert info.value.field == field
    assert info.value.code == "VALIDATION"
    assert field in info.value.message


@pytest.mark.parametrize("items", [[], "text", 42, [7]])
def test_a_batch_must_be_a_non_empty_list_of_objects(items):
    with pytest.raises(ValidationError):
        parse_operations(items)


def test_batch_size_is_bounded():
    with pytest.raises(ValidationError, match="limit"):
        parse_operations([{"resource_id": "r"}] * (limits.MAX_OPERATIONS_PER_ADD + 1))


def test_terminal_states():
    assert {s for s in OperationState if s.is_terminal} == {OperationState.COMPLETED, OperationState.FAILED, OperationState.CANCELLED}
    assert Operation(resource_id="r", created_at=datetime.now(timezone.utc) - timedelta(days=1)).priority == 0
