"""The installed business_logic_node as a real process, asked over its handshake services.

Also the BusinessLogicNode base class, through the user example in examples/.
"""

from __future__ import annotations

import importlib.util
import json
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.ros

pytest.importorskip("rclpy", reason="needs the ROS 2 wheels (make setup)")
pytest.importorskip("operation_dispatcher_interfaces", reason="needs the colcon workspace (make setup)")

from rcl_interfaces.srv import SetParameters  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402

from operation_dispatcher_interfaces.msg import DispatchEvent, Operation  # noqa: E402
from operation_dispatcher_interfaces.srv import Handshake  # noqa: E402

TIMEOUT = 10.0
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "custom_business_logic.py"


def ask(
    ros_client: Any, kind: str = "start", payload: dict[str, Any] | None = None, operation_id: str = "op-1", event_id: str = ""
) -> Any:
    """One handshake request as the dispatcher sends it."""
    request = Handshake.Request(
        event=DispatchEvent(id=event_id, event_type=f"OPERATION_{kind.upper()}_REQUESTED", operation_id=operation_id),
        operation=Operation(id=operation_id, payload_json=json.dumps(payload or {})),
    )
    return ros_client.call(Handshake, f"handshake/{kind}", request, timeout=TIMEOUT)


def ask_until(ros_client: Any, predicate: Callable[[Any], bool], what: str) -> Any:
    """Ask for a start until the answer matches (the node's view of the battery follows a topic)."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        answer = ask(ros_client)
        if predicate(answer):
            return answer
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {TIMEOUT:g} s; last answer: {answer.approved} {answer.reason!r}")
        time.sleep(0.05)


def set_parameters(ros_client: Any, node: str, **values: Any) -> Any:
    request = SetParameters.Request(parameters=[Parameter(k, value=v).to_parameter_msg() for k, v in values.items()])
    return ros_client.call(SetParameters, f"{node}/set_parameters", request).results


@pytest.fixture
def business_logic(ros_processes: Any, ros_client: Any, ros_namespace: str) -> Any:
    """``business_logic(**params)`` starts business_logic_node and waits for its services."""

    def start(**params: Any) -> Any:
        proc = ros_processes.start("business_logic_node", ros_namespace, params)
        ros_client.wait_for_service(Handshake, "handshake/start", 20.0)
        return proc

    return start


def test_approve_all_approves_every_handshake(business_logic: Any, ros_client: Any) -> None:
    business_logic()
    for kind in ("start", "cancel", "pause", "resume"):
        response = ask(ros_client, kind)
        assert (response.approved, response.reason) == (True, ""), kind


def test_deny_first_n_denies_with_reasons_then_approves(business_logic: Any, ros_client: Any) -> None:
    business_logic(rule="deny_first_n", deny_count=2)
    first, second, third = (ask(ros_client) for _ in range(3))
    assert not first.approved and first.reason == "denied start request 1 of the first 2 (rule deny_first_n)"
    assert not second.approved and second.reason.startswith("denied start request 2 of the first 2")
    assert json.loads(second.data_json) == {"rule": "deny_first_n", "denied": 2, "deny_count": 2}
    assert third.approved
    assert ask(ros_client, "cancel").approved  # the rule is about starts only


def test_a_resent_request_gets_the_same_answer_and_counts_once(business_logic: Any, ros_client: Any) -> None:
    business_logic(rule="deny_first_n", deny_count=1)
    first, copy = ask(ros_client, event_id="ev-1"), ask(ros_client, event_id="ev-1")
    assert not first.approved and (copy.approved, copy.reason) == (first.approved, first.reason)
    assert ask(ros_client, event_id="ev-2").approved  # the copy did not use up another denial


def test_time_window_denies_inside_and_follows_parameter_changes(business_logic: Any, ros_client: Any) -> None:
    now = datetime.now(timezone.utc)
    start, end = (f"{now + timedelta(minutes=m):%H:%M}" for m in (-2, 3))
    business_logic(rule="deny_time_window", deny_window_start=start, deny_window_end=end)
    denied = ask(ros_client)
    assert not denied.approved
    assert denied.reason.startswith(f"no starts between {start} and {end} UTC (now ")

    # move the window away at runtime: approved; a malformed time is refused, naming the parameter
    later, later_end = (f"{now + timedelta(hours=h):%H:%M}" for h in (6, 7))
    assert all(r.successful for r in set_parameters(ros_client, "business_logic", deny_window_start=later, deny_window_end=later_end))
    assert ask(ros_client).approved
    (refused,) = set_parameters(ros_client, "business_logic", deny_window_end="25:00")
    assert not refused.successful and refused.reason.startswith("deny_window_end: '25:00' is not a time of day")
    (refused,) = set_parameters(ros_client, "business_logic", rule="deny_all")
    assert not refused.successful and refused.reason.startswith("rule: 'deny_all' is not one of")
    assert ask(ros_client).approved


def test_battery_threshold_follows_the_sim_robots_battery(business_logic: Any, ros_processes: Any, ros_client: Any, ros_namespace: str) -> None:
    business_logic(rule="battery_threshold", battery_threshold=0.5)
    unknown = ask(ros_client)  # no robot yet: not ready (ask again later), not a denial
    assert (unknown.approved, unknown.not_ready, unknown.retry_after) == (False, True, 0.0)
    assert unknown.reason == "battery level unknown: no reading on battery_state yet"

    # a robot at 30 % that does not recharge: denied with the level in the reason
    ros_processes.start("sim_robot_node", ros_namespace, {"battery_initial": 0.3, "battery_recharge_per_s": 0.0})
    low = ask_until(ros_client, lambda a: a.reason != unknown.reason, "answer based on a battery reading")
    assert (low.approved, low.not_ready, low.reason) == (False, False, "battery at 30% is below the 50% threshold")

    # let it recharge fast: the next requests are approved
    assert set_parameters(ros_client, "sim_robot", battery_recharge_per_s=1.0)[0].successful
    approved = ask_until(ros_client, lambda a: a.approved, "approval after recharging")
    assert json.loads(approved.data_json)["battery"] >= 0.5


def test_invalid_rule_at_start_exits_2_naming_the_parameter(ros_processes: Any, ros_namespace: str) -> None:
    proc = ros_processes.start("business_logic_node", ros_namespace, {"rule": "approve_some"})
    assert proc.popen.wait(TIMEOUT) == 2
    assert "invalid parameters: rule: 'approve_some' is not one of" in proc.log_tail()


def test_a_subclass_sets_its_own_rules(ros_context: Any, ros_client: Any, ros_namespace: str) -> None:
    """examples/custom_business_logic.py, run in this process on the real graph."""
    spec = importlib.util.spec_from_file_location("custom_business_logic", EXAMPLE)
    assert spec is not None and spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    node = example.HeavyLoadsNeedAPerson(context=ros_context, namespace=ros_namespace)
    ros_client.executor.add_node(node)
    try:
        ros_client.wait_for_service(Handshake, "handshake/start", TIMEOUT)
        heavy = ask(ros_client, payload={"mass_kg": 70})
        assert (heavy.approved, heavy.reason) == (False, "loads over 50 kg need a person at the dropoff")
        assert ask(ros_client, payload={"mass_kg": 20}).approved
        assert not ask(ros_client, "cancel", payload={"cancellable": False}).approved
        assert ask(ros_client, "cancel").approved and ask(ros_client, "pause").approved
        broken = ask(ros_client, payload={"mass_kg": "heavy"})  # the rule raises: denied, the node lives on
        assert not broken.approved and broken.reason.startswith("business logic error in decide_start: ")
        assert ask(ros_client, payload={"mass_kg": 1}).approved
    finally:
        ros_client.executor.remove_node(node)
        node.destroy_node()


def test_business_logic_nodes_spin_on_one_thread(ros_context: Any) -> None:
    """rclpy's MultiThreadedExecutor spins hot for every callback (see node_main): the
    business logic, whose callbacks are all short, is spun single-threaded by run_node,
    the reference node and a subclass alike; the dispatcher keeps its thread pool."""
    from rclpy.executors import MultiThreadedExecutor, SingleThreadedExecutor

    from operation_dispatcher_ros.business_logic import BusinessLogicNode
    from operation_dispatcher_ros.business_logic_node import ReferenceRulesNode
    from operation_dispatcher_ros.node_main import make_executor

    class Custom(BusinessLogicNode):
        pass

    assert BusinessLogicNode.executor_threads == ReferenceRulesNode.executor_threads == Custom.executor_threads == 1
    single, pool = make_executor(1, context=ros_context), make_executor(8, context=ros_context)
    try:
        assert isinstance(single, SingleThreadedExecutor) and isinstance(pool, MultiThreadedExecutor)
    finally:
        single.shutdown()
        pool.shutdown()
