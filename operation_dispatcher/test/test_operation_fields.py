"""Operation fields at their edges: calendar ends, due before release, strict numbers, a default resource."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pydantic
import pytest

from operation_dispatcher import Operation, ValidationError, parse_operation, parse_operations

RESOURCE = "robot-1"
ONE_HOUR_EAST = timezone(timedelta(hours=1))
ONE_HOUR_WEST = timezone(timedelta(hours=-1))


def refused(fields: dict[str, object], field: str) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        parse_operations([{"resource_id": RESOURCE, **fields}])
    assert info.value.field == field, info.value.message
    assert info.value.message.startswith(f"{field}: ")
    return info.value


@pytest.mark.parametrize("name", ["release_date", "due_date", "created_at"])
@pytest.mark.parametrize(
    "value",
    [
        "0001-01-01T00:00:00+01:00",  # in UTC: year 0
        "9999-12-31T23:59:59-01:00",  # in UTC: year 10000
        datetime(1, 1, 1, tzinfo=ONE_HOUR_EAST),
        datetime(9999, 12, 31, 23, 59, 59, tzinfo=ONE_HOUR_WEST),
        datetime.min,
        datetime.max,
    ],
)
def test_dates_at_the_calendars_ends_are_a_validation_error_naming_the_field(name, value):
    # They raised OverflowError (REST 500, MCP a bare error) while converting to UTC.
    assert "out of range" in refused({name: value}, f"operations[0].{name}").message


def test_a_due_date_before_the_release_date_is_refused():
    # 01:00 at UTC+2 on the 2nd is 23:00 UTC on the 1st: an hour before the release.
    error = refused(
        {"release_date": "2030-01-02T00:00:00Z", "due_date": "2030-01-02T01:00:00+02:00"}, "operations[0].due_date"
    )
    assert "before release_date" in error.message


def test_a_due_date_at_or_after_the_release_date_is_accepted_whatever_the_zones():
    op = parse_operation({"resource_id": RESOURCE, "release_date": "2030-01-01T12:00:00+02:00", "due_date": "2030-01-01T10:00:00Z"})
    assert op.due_date == op.release_date == datetime(2030, 1, 1, 10, tzinfo=timezone.utc)
    assert parse_operation({"resource_id": RESOURCE, "due_date": "2030-01-01T00:00:00Z"}).release_date is None


def test_a_bad_release_date_is_reported_as_itself_not_as_a_due_date_problem():
    refused({"release_date": "0001-01-01T00:00:00+01:00", "due_date": "2030-01-01T00:00:00Z"}, "operations[0].release_date")


@pytest.mark.parametrize("value", ["5", 5.0, True, False, None, [5]])
def test_priority_is_a_strict_integer(value):
    refused({"priority": value}, "operations[0].priority")


def test_strict_numbers_hold_for_json_text_too():
    for text in ('{"resource_id": "r", "priority": "5"}', '{"resource_id": "r", "priority": 5.0}', '{"resource_id": "r", "priority": true}'):
        with pytest.raises(pydantic.ValidationError) as info:  # pydantic's own: the doors translate it
            Operation.model_validate_json(text)
        assert "priority" in str(info.value)
    assert Operation.model_validate_json('{"resource_id": "r", "priority": 5, "planned_duration": 90}').planned_duration == 90.0


@pytest.mark.parametrize("value", ["90", True])
def test_planned_duration_refuses_text_and_booleans(value):
    refused({"planned_duration": value}, "operations[0].planned_duration")


def test_planned_duration_still_takes_an_int_and_priority_an_int():
    op = parse_operation({"resource_id": RESOURCE, "priority": -7, "planned_duration": 90})
    assert (op.priority, op.planned_duration) == (-7, 90.0)
    assert isinstance(op.planned_duration, float)


def test_unknown_fields_stay_forbidden():
    refused({"colour": "red"}, "operations[0].colour")


def test_a_mapping_without_a_resource_id_gets_the_default():
    ops = parse_operations(
        [{"id": "a"}, {"id": "b", "resource_id": "robot-2"}, Operation(id="c", resource_id="robot-3")],
        default_resource_id=RESOURCE,
    )
    assert [op.resource_id for op in ops] == [RESOURCE, "robot-2", "robot-3"]  # given ones are kept (add checks them)
    assert parse_operation({"id": "d"}, default_resource_id=RESOURCE).resource_id == RESOURCE


def test_without_a_default_the_resource_id_is_required_and_an_explicit_empty_one_is_not_replaced():
    with pytest.raises(ValidationError) as info:
        parse_operations([{"id": "a"}])
    assert info.value.field == "operations[0].resource_id"
    with pytest.raises(ValidationError) as info:
        parse_operations([{"id": "a", "resource_id": ""}], default_resource_id=RESOURCE)
    assert info.value.field == "operations[0].resource_id"


def test_the_default_does_not_change_the_callers_mapping():
    item = {"id": "a"}
    parse_operation(item, default_resource_id=RESOURCE)
    assert item == {"id": "a"}
