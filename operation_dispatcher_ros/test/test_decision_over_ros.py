"""Business-logic answers over ROS follow the core's ``Decision.coerce``, and bounded JSON arrives bounded.

Both ends of a handshake: a ``decide_*`` method's answer becomes the
response (business-logic side, a real node on the real graph), and the
response becomes the dispatcher's Decision (``decision_from_response``,
no graph). An ill-typed answer, or data the store could not read back,
is a denial that says why; JSON nested past Python's reader (about 1000
levels) is a clean refusal, not a RecursionError.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

pytest.importorskip("rclpy", reason="needs the ROS 2 wheels (make setup)")
pytest.importorskip("operation_dispatcher_interfaces", reason="needs the colcon workspace (make setup)")

from operation_dispatcher import Decision, ValidationError  # noqa: E402
from operation_dispatcher_interfaces.msg import DispatchEvent, Operation  # noqa: E402
from operation_dispatcher_interfaces.srv import Handshake  # noqa: E402
from operation_dispatcher_ros import conversions as conv  # noqa: E402

TIMEOUT = 10.0
INVALID = "business logic answered with an invalid decision: "


def deep_text(depth: int) -> str:
    """A JSON object nested ``depth`` deep, as text ({} is 1)."""
    return '{"a":' * (depth - 1) + "{}" + "}" * (depth - 1)


# ------------------------------------------------------------------ dispatcher side, no graph

@pytest.mark.parametrize(
    "data_json, words",
    [
        (deep_text(40), "data: data is nested more than 32 levels"),
        (deep_text(10_000), "data_json: nested too deep to read"),
        (json.dumps({"blob": "x" * 70_000}), "the limit is 65536"),
        ('{"level": NaN}', "not valid JSON"),
    ],
)
def test_response_data_the_store_could_not_serve_back_is_a_denial(data_json: str, words: str) -> None:
    decision = conv.decision_from_response(True, "", data_json)
    assert not decision.approved and words in (decision.reason or ""), decision.reason
    assert decision.data == {"error": True}


def test_a_response_within_the_limits_is_the_decision_it_says() -> None:
    decision = conv.decision_from_response(False, "battery at 12%", deep_text(32))
    assert (decision.approved, decision.reason) == (False, "battery at 12%")
    assert conv.decision_from_response(**conv.decision_to_response_fields(decision)) == decision


@pytest.mark.parametrize("depth, field", [(40, "operations[0].payload"), (10_000, "operations[0].payload_json")])
def test_a_payload_json_nested_too_deep_is_refused_naming_the_field(depth: int, field: str) -> None:
    with pytest.raises(ValidationError) as info:
        conv.operations_from_msgs([Operation(id="deep-1", payload_json=deep_text(depth))], "robot-1")
    assert info.value.field == field, info.value.message


# ------------------------------------------------------------------ business-logic side, a real node

ANSWERS: dict[str, Any] = {
    "reason-not-text": {"approved": True, "reason": 5},
    "data-not-an-object": {"approved": True, "data": "x"},
    "data-too-deep": {"approved": True, "data": json.loads(deep_text(40))},
    "unknown-key": {"approved": True, "colour": "red"},
    "a-word": "yes",
    "a-tuple": (False, "closed"),
    "plain-false": False,
    "no-opinion": None,
}


def answering_node(ros_context: Any, namespace: str) -> Any:
    from operation_dispatcher_ros.business_logic import BusinessLogicNode, payload_of

    class AnswersWhatThePayloadSays(BusinessLogicNode):
        def decide_start(self, event: Any, operation: Any) -> Any:
            return ANSWERS[payload_of(operation)["answer"]]

    return AnswersWhatThePayloadSays(context=ros_context, namespace=namespace)


@pytest.mark.ros
def test_a_decide_method_answers_like_a_core_callback(ros_context: Any, ros_client: Any, ros_namespace: str) -> None:
    node = answering_node(ros_context, ros_namespace)
    ros_client.executor.add_node(node)
    try:
        ros_client.wait_for_service(Handshake, "handshake/start", TIMEOUT)

        def ask(answer: str) -> Any:
            request = Handshake.Request(
                event=DispatchEvent(event_type="OPERATION_START_REQUESTED", operation_id=answer),
                operation=Operation(id=answer, payload_json=json.dumps({"answer": answer})),
            )
            return ros_client.call(Handshake, "handshake/start", request, timeout=TIMEOUT)

        replies = {answer: ask(answer) for answer in ANSWERS}
    finally:
        ros_client.executor.remove_node(node)
        node.destroy_node()
    expected = {
        "reason-not-text": INVALID + "reason: Input should be a valid string",
        "data-not-an-object": INVALID + "data: Input should be a valid dictionary",
        "data-too-deep": INVALID + "data: data is nested more than 32 levels deep (a flat object is 1)",
        "unknown-key": INVALID + "colour: Extra inputs are not permitted",
        "a-word": "business logic answered with a str; ",
        "a-tuple": "closed",
        "plain-false": "denied by business logic",
    }
    for answer, reason in expected.items():
        reply = replies[answer]
        assert not reply.approved and reply.reason.startswith(reason), (answer, reply.reason)
    for answer in ("reason-not-text", "data-too-deep", "a-word"):
        assert json.loads(replies[answer].data_json) == {"error": True}
    approved = replies["no-opinion"]  # None: this node's default, approve
    assert approved.approved and json.loads(approved.data_json) == {"default": True}
    # what the dispatcher makes of each reply is the decision the node took
    for answer, reply in replies.items():
        assert conv.decision_from_response(reply.approved, reply.reason, reply.data_json) == Decision.coerce(ANSWERS[answer], True)
