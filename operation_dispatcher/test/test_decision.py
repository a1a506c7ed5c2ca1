"""Decision.coerce: the one place a business-logic answer becomes a Decision, and it never raises.

An ill-typed answer (``{"approved": True, "reason": 5}``, ``data: "x"``) used
to raise pydantic's error out of the handshake: ``run()`` died with the
operation QUEUED, and a cancel handed the caller the raw pydantic error.
Now every answer that is not a valid decision is a denial saying why.
"""

from __future__ import annotations

import json

import pytest
from dispatcher_testing import running

from operation_dispatcher import (
    Decision,
    DenialPolicy,
    DeniedError,
    DispatchEvent,
    EventType,
    Operation,
    OperationDispatcher,
    OperationState,
    SQLiteStore,
)
from operation_dispatcher import _limits as limits
from operation_dispatcher._handshake import ask

E = EventType
RESOURCE = "robot-1"
INVALID = "business logic answered with an invalid decision: "


def deep(depth: int) -> dict[str, object]:
    value: dict[str, object] = {}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


@pytest.mark.parametrize(
    "answer, default, approved, reason, data",
    [
        (True, False, True, None, {}),
        (False, True, False, "denied by business logic", {}),
        (None, True, True, None, {"default": True}),
        (None, False, False, "no business logic decision; default is deny", {"default": True}),
        ({"approved": False, "reason": "battery low", "data": {"level": 0.1}}, True, False, "battery low", {"level": 0.1}),
        ({"approved": True}, False, True, None, {}),
        ((False, "closed"), True, False, "closed", {}),
        ((True, None), False, True, None, {}),
        ({"approved": True, "reason": 5}, True, False, INVALID + "reason: Input should be a valid string", {"error": True}),
        ({"approved": True, "data": "x"}, True, False, INVALID + "data: Input should be a valid dictionary", {"error": True}),
        ({"approved": True, "colour": "red"}, True, False, INVALID + "colour: Extra inputs are not permitted", {"error": True}),
        ({"approved": "yes"}, True, False, INVALID + "approved: Input should be a valid boolean", {"error": True}),
        ({"approved": 1}, True, False, INVALID + "approved: Input should be a valid boolean", {"error": True}),
        ({"reason": "no verdict"}, True, False, INVALID + "approved: Field required", {"error": True}),
        ((True, 5), True, False, INVALID + "reason: Input should be a valid string", {"error": True}),
    ],
)
def test_answers_become_decisions(answer, default, approved, reason, data):
    decision = Decision.coerce(answer, default)
    assert (decision.approved, decision.reason, decision.data) == (approved, reason, data)


@pytest.mark.parametrize("answer", ["yes", 1, 0, 1.0, [True], (True,), (True, "a", "b"), object()])
def test_anything_else_is_a_denial_naming_its_type(answer):
    decision = Decision.coerce(answer, True)
    assert not decision.approved
    assert f"business logic answered with a {type(answer).__name__};" in decision.reason
    assert decision.data == {"error": True}


def test_a_plain_true_builds_nothing():
    assert Decision.coerce(True, False) is Decision.coerce(True, True)


def test_a_decision_is_itself_unless_its_data_was_changed_into_something_unstorable():
    given = Decision(approved=False, reason="charger busy", data={"charger": "C1"})
    assert Decision.coerce(given, True) is given
    given.data["nested"] = deep(limits.MAX_JSON_DEPTH + 10)  # a dict stays mutable after validation
    decision = Decision.coerce(given, True)
    assert not decision.approved and decision.reason.startswith(INVALID + "data is nested more than 32")


@pytest.mark.parametrize(
    "data, words",
    [
        (deep(limits.MAX_JSON_DEPTH + 1), "more than 32 levels"),
        (deep(10_000), "more than 32 levels"),
        ({"blob": "x" * limits.MAX_PAYLOAD_BYTES}, f"the limit is {limits.MAX_PAYLOAD_BYTES}"),
        ({"level": float("nan")}, "NaN or an infinite number"),
        (json.loads('{"a": 1e999}'), "NaN or an infinite number (1e999 reads as infinity)"),
        ({"text": "\ud800"}, "lone surrogate"),
    ],
)
def test_data_that_could_not_be_stored_is_a_denial_naming_the_problem(data, words):
    decision = Decision.coerce({"approved": True, "data": data}, True)
    assert not decision.approved and decision.reason.startswith(INVALID + "data: ") and words in decision.reason


def test_a_reason_with_a_lone_surrogate_is_kept_readable_and_storable():
    decision = Decision.coerce((True, "dock \ud800 free"), False)
    assert decision.approved and decision.reason == "dock \\ud800 free"
    decision.reason.encode()


@pytest.mark.parametrize(
    "answer",
    [
        {"approved": False, "reason": "x" * 2_000_000},
        (False, "x" * 2_000_000),
        Decision(approved=False, reason="x" * 2_000_000),
        {"not_ready": True, "reason": "x" * 2_000_000},
        (True, "x" * 2_000_000),  # an approval stays one: its reason is only cut
    ],
    ids=["dict", "tuple", "decision", "not-ready", "approval"],
)
def test_a_peers_reason_longer_than_a_clients_is_cut_saying_so(answer):
    decision = Decision.coerce(answer, False)
    expected = answer[0] if isinstance(answer, tuple) else answer.approved if isinstance(answer, Decision) else answer.get("approved", False)
    assert decision.approved is expected and decision.reason is not None
    assert len(decision.reason) == limits.MAX_STRING_LENGTH
    assert decision.reason.startswith("xxxx") and decision.reason.endswith(" [... truncated: 2000000 characters]")


def test_a_reason_at_the_limit_is_kept_whole_and_an_escaped_one_is_cut_after_escaping():
    assert Decision.coerce((False, "r" * limits.MAX_STRING_LENGTH), True).reason == "r" * limits.MAX_STRING_LENGTH
    escaped = Decision.coerce((False, "\ud800" * 1000), True).reason
    assert len(escaped) == limits.MAX_STRING_LENGTH and escaped.endswith("truncated: 6000 characters]")
    escaped.encode()


async def test_a_2_mb_denial_reason_is_stored_cut_on_every_denial(recorder, tmp_path):
    store = SQLiteStore(tmp_path / "books.db")
    d = OperationDispatcher(
        RESOURCE, lambda e: (False, "no " * 700_000), recorder, store=store,
        denial_policy=DenialPolicy(cooldown_seconds=0.01, max_retries=3),
    )  # fmt: skip
    d.add(Operation(id="a", resource_id=RESOURCE))
    async with running(d):
        await recorder.wait_event(E.OPERATION_START_DENIED, "a", count=3)
    store.close()
    reopened = SQLiteStore(store.path)
    try:
        denials = [e for e in reopened.load(RESOURCE).events if e.event_type is E.OPERATION_START_DENIED]
    finally:
        reopened.close()
    assert len(denials) >= 3
    assert all(len(e.metadata["reason"]) == limits.MAX_STRING_LENGTH and "truncated: 2100000" in e.metadata["reason"] for e in denials)
    assert d.get("a").execution.state is OperationState.QUEUED


def test_decision_leaves_room_for_more_fields():
    # Issue 10 ("not ready, ask again later") adds a field with a default; the present fields are keywords.
    assert all(not info.is_required() for name, info in Decision.model_fields.items() if name != "approved")


async def test_ask_turns_a_bad_answer_into_a_denial_sync_async_and_in_a_thread():
    event = DispatchEvent(id="ev-1", event_type=E.OPERATION_START_REQUESTED, resource_id=RESOURCE, operation_id="a")

    async def async_bad(_: DispatchEvent) -> object:
        return {"approved": True, "reason": 5}

    for callback, in_thread in ((lambda _: {"approved": True, "reason": 5}, False), (async_bad, False), (lambda _: {"approved": True, "reason": 5}, True)):
        decision = await ask(callback, event, timeout=2.0, default=True, sync_in_thread=in_thread)
        assert not decision.approved and decision.reason == INVALID + "reason: Input should be a valid string"


async def test_an_ill_typed_start_answer_is_a_denial_and_the_loop_keeps_going(recorder):
    answers = iter([{"approved": True, "reason": 5}, {"approved": True, "data": "x"}, True])
    d = OperationDispatcher(RESOURCE, lambda e: next(answers), recorder, denial_policy=DenialPolicy(cooldown_seconds=0.01, max_retries=5))
    d.add(Operation(id="a", resource_id=RESOURCE))
    async with running(d):
        await recorder.wait_event(E.OPERATION_STARTED, "a")
        assert d.running
    reasons = [e.metadata["reason"] for e in recorder.of(E.OPERATION_START_DENIED, "a")]
    assert reasons == [INVALID + "reason: Input should be a valid string", INVALID + "data: Input should be a valid dictionary"]


async def test_an_ill_typed_cancel_answer_is_a_denied_error_not_pydantics(recorder):
    def decide(event: DispatchEvent) -> object:
        return {"approved": True, "reason": 5} if event.event_type is E.OPERATION_CANCEL_REQUESTED else None

    d = OperationDispatcher(RESOURCE, decide, recorder, denial_policy=DenialPolicy(cooldown_seconds=60))
    d.add(Operation(id="a", resource_id=RESOURCE, release_date="2199-01-01T00:00:00Z"))
    async with running(d):
        with pytest.raises(DeniedError) as info:
            await d.cancel("a")
        assert d.running
    assert INVALID + "reason: Input should be a valid string" in info.value.message
    assert d.get("a").execution.state is OperationState.QUEUED
    assert recorder.types("a")[-2:] == ["OPERATION_CANCEL_REQUESTED", "OPERATION_CANCEL_DENIED"]


async def test_over_deep_data_from_the_business_logic_never_makes_an_unreadable_store_row(recorder, tmp_path):
    answers = iter([{"approved": True, "data": deep(600)}, Decision(approved=True, data={"ok": deep(limits.MAX_JSON_DEPTH - 1)})])
    store = SQLiteStore(tmp_path / "books.db")
    d = OperationDispatcher(RESOURCE, lambda e: next(answers), recorder, store=store, denial_policy=DenialPolicy(cooldown_seconds=0.01))
    d.add(Operation(id="a", resource_id=RESOURCE))
    async with running(d):
        started = await recorder.wait_event(E.OPERATION_STARTED, "a")
    assert started.metadata["data"] == {"ok": deep(limits.MAX_JSON_DEPTH - 1)}
    store.close()
    reopened = SQLiteStore(store.path)
    try:
        events = [e for e in reopened.load(RESOURCE).events if e.operation_id == "a"]
    finally:
        reopened.close()
    denied = next(e for e in events if e.event_type is E.OPERATION_START_DENIED)
    assert denied.metadata["data"] == {"error": True} and "more than 32 levels" in denied.metadata["reason"]
    assert any(e.event_type is E.OPERATION_STARTED for e in events)
