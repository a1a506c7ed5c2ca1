"""Free JSON (a payload, a decision's data) is bounded so that what is accepted can be read back.

A payload nested 256 deep used to be accepted and then broke every read
(pydantic's JSON parser stops at about 200 levels); one nested 10,000 deep
raised RecursionError at the door. The limits: ``MAX_JSON_DEPTH`` levels
(a flat object is 1) and ``MAX_PAYLOAD_BYTES`` of compact UTF-8 JSON.
"""

from __future__ import annotations

import pytest
from dispatcher_testing import running

from operation_dispatcher import (
    Decision,
    Operation,
    OperationDispatcher,
    OperationRecord,
    SQLiteStore,
    ValidationError,
    parse_operations,
)
from operation_dispatcher import _limits as limits
from operation_dispatcher._models import check_json

RESOURCE = "robot-1"


def nested(depth: int, inner: object = None) -> dict[str, object]:
    """An object ``depth`` levels deep: {} is 1, {"a": {}} is 2; ``inner`` (one level) replaces the innermost {}."""
    value: object = {} if inner is None else inner
    for _ in range(depth - 1):
        value = {"a": value}
    assert isinstance(value, dict)
    return value


def nested_list(depth: int) -> dict[str, object]:
    """{"a": [[...]]}: arrays count as levels too."""
    value: object = []
    for _ in range(depth - 2):
        value = [value]
    return {"a": value}


def refusal(payload: object) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        parse_operations([{"resource_id": RESOURCE, "payload": payload}])
    assert info.value.field == "operations[0].payload"
    assert info.value.message.startswith("operations[0].payload: ")
    return info.value


def test_the_depth_limit_is_documented_and_counts_a_flat_object_as_one():
    assert limits.MAX_JSON_DEPTH == 32
    assert check_json({"a": 1}, "payload") == {"a": 1}
    check_json(nested(limits.MAX_JSON_DEPTH), "payload")
    check_json(nested_list(limits.MAX_JSON_DEPTH), "payload")
    with pytest.raises(ValueError, match="more than 32 levels"):
        check_json(nested(limits.MAX_JSON_DEPTH + 1), "payload")
    with pytest.raises(ValueError, match="more than 32 levels"):
        check_json(nested_list(limits.MAX_JSON_DEPTH + 1), "payload")


@pytest.mark.parametrize("depth", [33, 40, 256, 600, 10_000, 100_000])
def test_a_payload_nested_too_deep_is_a_validation_error_not_a_recursion_error(depth):
    assert "32" in refusal(nested(depth)).message


def test_arrays_and_tuples_nested_too_deep_are_refused_too():
    refusal(nested_list(10_000))
    deep_tuple: object = ()
    for _ in range(10_000):
        deep_tuple = (deep_tuple,)
    refusal({"a": deep_tuple})


def test_a_payload_that_contains_itself_is_refused():
    payload: dict[str, object] = {}
    payload["self"] = payload
    refusal(payload)


@pytest.mark.parametrize(
    "payload, words",
    [
        ({"a": {1: "x"}}, "int key"),  # json would write "1": read back, it is another key
        ({"a": "\ud800"}, "lone surrogate"),  # a Python str can hold one; UTF-8 (the store, every door) cannot
        ({"a": {"\udfff": 1}}, "lone surrogate"),
        ({"a": [float("nan")]}, "not JSON"),
        ({"a": 10**5000}, "not JSON"),  # beyond Python's int-to-text limit (4300 digits)
        ({"a": {1, 2}}, "JSON-serialisable"),
        ({"blob": "x" * limits.MAX_PAYLOAD_BYTES}, str(limits.MAX_PAYLOAD_BYTES)),
        ({"blob": "é" * (limits.MAX_PAYLOAD_BYTES // 2)}, "bytes"),  # counted as UTF-8: 2 bytes each
    ],
)
def test_what_json_cannot_carry_is_refused_naming_the_payload(payload, words):
    assert words in refusal(payload).message


def test_an_accepted_payload_at_the_limits_is_read_back_through_the_store_and_a_record(tmp_path):
    payload = {"deep": nested(limits.MAX_JSON_DEPTH - 1, inner=[1, "ü", None]), "big": 10**4000, "text": "\U0001f916 ok"}
    op = parse_operations([{"id": "deep-1", "resource_id": RESOURCE, "payload": payload}])[0]
    # Readers nest it further: the REST list is a list of records holding the operation.
    assert Operation.model_validate_json(op.model_dump_json()) == op
    store = SQLiteStore(tmp_path / "books.db")
    dispatcher = OperationDispatcher(RESOURCE, store=store)
    dispatcher.add(op)
    records = dispatcher.list_operations()
    assert [OperationRecord.model_validate_json(r.model_dump_json()) for r in records] == records
    store.close()
    reopened = SQLiteStore(store.path)
    try:
        assert next(iter(reopened.load(RESOURCE).records)).operation.payload == payload
    finally:
        reopened.close()


async def test_a_refused_payload_changes_nothing(recorder):
    dispatcher = OperationDispatcher(RESOURCE, lambda e: True, recorder)
    async with running(dispatcher):
        before = dispatcher.list_operations(), dispatcher.events()
        with pytest.raises(ValidationError) as info:
            dispatcher.add([{"id": "ok-1", "resource_id": RESOURCE}, {"id": "deep-2", "resource_id": RESOURCE, "payload": nested(600)}])
        assert info.value.field == "operations[1].payload"
        assert (dispatcher.list_operations(), dispatcher.events()) == before


def test_a_decisions_data_has_the_same_limits():
    Decision(approved=True, data=nested(limits.MAX_JSON_DEPTH))
    for data in (nested(limits.MAX_JSON_DEPTH + 1), nested(10_000), {"blob": "x" * limits.MAX_PAYLOAD_BYTES}, {"a": "\ud800"}):
        with pytest.raises(ValueError, match="data"):
            Decision(approved=True, data=data)
