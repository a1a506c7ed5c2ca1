"""The bad-input matrix through the ROS services (cases: operation_dispatcher/test/bad_inputs.py).

The installed dispatcher_node runs as its own process; the test's rclpy node
plays business logic (Handshake services: approve, except a cancel whose
payload says ``deny_cancel``) and robot (an ``execute_operation`` action
server that holds each goal until the test releases it). Seeded once per
module with the shared state, re-made only when a case changed it.

Each refusal: ``success=false``, the core's ``error_code`` constant and a
message naming the field. Unchanged afterwards, read through the services:
every operation (list_operations), the history, every operation's events
(get_events) and the dispatcher state. The dispatcher's own events have no
service, so the event topic is checked too: after each case a barrier
(pause + resume with a unique reason) proves nothing was published between.
"""

from __future__ import annotations

import itertools
import json
import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.ros

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / "operation_dispatcher" / "test"))
import bad_inputs  # noqa: E402
from bad_inputs import Case  # noqa: E402

DISPATCHER_PARAMS: dict[str, Any] = {
    "resource_id": bad_inputs.RESOURCE,
    "store_path": "",  # memory only: every run starts from its own seed
    "handshake_timeout": 2.0,
    "cooldown_seconds": 0.2,
    "max_retries": 5,
    "robot_timeout": 0.0,  # the stand-in robot holds running-1 without feedback: no watchdog
}
_namespaces = itertools.count()


def params() -> list[Any]:
    out = []
    for case in bad_inputs.cases_for("ros"):
        marks = [pytest.mark.xfail(strict=True, reason=case.known_bugs["ros"])] if "ros" in case.known_bugs else []
        out.append(pytest.param(case, id=case.id, marks=marks))
    return out


def to_plain(value: Any) -> Any:
    """A ROS message (or list of them) as plain data, for dumps and diffs."""
    if hasattr(value, "get_fields_and_field_types"):
        return {name: to_plain(getattr(value, name)) for name in value.get_fields_and_field_types()}
    if isinstance(value, (list, tuple)) or type(value).__name__ == "array":
        return [to_plain(v) for v in value]
    return value


class FakeWorld:
    """Business logic and robot, served by the test's own node.

    That node is spun by one thread (RosClient), so a held goal must not
    block it: the execute callback is a coroutine awaiting a Hold."""

    def __init__(self, node: Any) -> None:
        from rclpy.action import ActionServer, CancelResponse, GoalResponse
        from rclpy.callback_groups import ReentrantCallbackGroup
        from ros_testing import Hold

        from operation_dispatcher_interfaces.action import ExecuteOperation
        from operation_dispatcher_interfaces.srv import Handshake

        group = ReentrantCallbackGroup()
        self._result_type = ExecuteOperation.Result
        self._lock = threading.Condition()
        self.goals: set[str] = set()
        self._hold = Hold(node)
        self.services = [
            node.create_service(Handshake, f"handshake/{kind}", self._decide, callback_group=group)
            for kind in ("start", "cancel", "pause", "resume")
        ]
        self.action = ActionServer(
            node, ExecuteOperation, "execute_operation", execute_callback=self._execute, callback_group=group,
            goal_callback=lambda _goal: GoalResponse.ACCEPT, cancel_callback=lambda _handle: CancelResponse.ACCEPT,
        )

    def _decide(self, request: Any, response: Any) -> Any:
        payload = json.loads(request.operation.payload_json or "{}")
        if request.event.event_type == "OPERATION_CANCEL_REQUESTED" and payload.get("deny_cancel"):
            response.approved, response.reason = False, payload["deny_cancel"]
        else:
            response.approved = True
        return response

    async def _execute(self, goal_handle: Any) -> Any:
        op_id = goal_handle.request.operation.id
        with self._lock:
            self.goals.add(op_id)
            self._lock.notify_all()
        released = await self._hold.wait(op_id, 300.0)
        if goal_handle.is_cancel_requested:
            goal_handle.canceled()
            return self._result_type(success=False, message="cancelled")
        goal_handle.succeed()
        return self._result_type(success=released, message="done" if released else "test over")

    def wait_goal(self, op_id: str, timeout: float = 10.0) -> None:
        with self._lock:
            assert self._lock.wait_for(lambda: op_id in self.goals, timeout), f"no goal for {op_id}"

    def release(self, op_id: str) -> None:
        self._hold.release(op_id)

    def release_all(self) -> None:
        self._hold.release_all()


class RosSeed:
    """A dispatcher_node in its own namespace with the seed made through its services."""

    def __init__(self, context: Any, log_dir: Path) -> None:
        import ros_testing

        self._context = context
        self._log_dir = log_dir
        self._env = dict(os.environ, PYTHONUNBUFFERED="1", RCUTILS_COLORIZED_OUTPUT="0")
        self.ros_testing = ros_testing
        self.group: Any = None
        self.client: Any = None
        self.world: FakeWorld | None = None
        self.events: Any = None
        self._barriers = itertools.count()
        self.mark = 0

    def srv(self, name: str) -> Any:
        from operation_dispatcher_interfaces import srv

        return getattr(srv, name)

    def call(self, type_name: str, service: str, request: Any = None, timeout: float = 30.0, **fields: Any) -> Any:
        return self.client.call(self.srv(type_name), service, request, timeout=timeout, **fields)

    def start(self) -> None:
        namespace = f"bi{os.getpid()}_{next(_namespaces)}"
        self.group = self.ros_testing.ProcessGroup(self._env, self._log_dir / namespace)
        self.client = self.ros_testing.RosClient(self._context, name="bad_input_client", namespace=namespace)
        self.world = FakeWorld(self.client.node)
        self.events = self.client.record_events()
        self.group.start("dispatcher_node", namespace, DISPATCHER_PARAMS)
        self.client.wait_for_service(self.srv("AddOperations"), "add_operations", 20.0)
        self.client.wait_for_subscribers("dispatch_events")
        self._seed()

    def _add(self, *op_ids: str) -> None:
        request = self.srv("AddOperations").Request(
            operations=[operation_msg(bad_inputs.ros_operation_fields(bad_inputs.SEED[i])) for i in op_ids]
        )
        response = self.call("AddOperations", "add_operations", request)
        assert response.success, response.message

    def _seed(self) -> None:
        assert self.world is not None
        self._add("done-1")
        self.world.wait_goal("done-1")
        self.world.release("done-1")
        self.events.wait_event("OPERATION_COMPLETED", "done-1")
        self._add("running-1")
        self.world.wait_goal("running-1")
        self._add("queued-1", "queued-2")
        assert self.intact(), self.states()
        self.mark = len(self.events.snapshot())

    def states(self) -> dict[str, str]:
        listed = self.call("ListOperations", "list_operations", state="")
        assert listed.success, listed.message
        return {s.operation.id: s.state_name for s in listed.operations}

    def intact(self) -> bool:
        return self.states() == bad_inputs.SEED_STATES

    def ensure(self) -> RosSeed:
        if self.client is not None and self.intact():
            return self
        self.close()
        self.start()
        return self

    def close(self) -> None:
        if self.world is not None:
            self.world.release_all()
        if self.group is not None:
            self.group.stop_all()
        if self.client is not None:
            self.client.close()
        self.group = self.client = self.world = None

    def dump(self) -> dict[str, Any]:
        listed = self.call("ListOperations", "list_operations", state="")
        history = self.call("GetHistory", "get_history", limit=1000)
        assert listed.success and history.success
        events = {}
        for status in listed.operations:
            got = self.call("GetEvents", "get_events", operation_id=status.operation.id)
            assert got.success, got.message
            events[status.operation.id] = to_plain(got.events)
        state = to_plain(self.call("GetDispatcherState", "get_dispatcher_state").state)
        state.pop("stamp")
        return {"operations": to_plain(listed.operations), "history": to_plain(history.operations), "events": events, "state": state}

    def published_since_mark(self) -> list[Any]:
        """Events published since the last barrier. A barrier (pause + resume with a unique reason)
        proves every earlier event has arrived: the dispatcher publishes in order."""
        resumed_before = len(self.events.of_type("OPERATION_DISPATCHER_RESUMED"))
        reason = f"barrier-{next(self._barriers)}"
        assert self.call("DispatcherCommand", "dispatcher/pause", reason=reason).success
        paused = self.events.wait_event("OPERATION_DISPATCHER_PAUSED", reason=reason)
        assert self.call("DispatcherCommand", "dispatcher/resume").success
        resumed = self.events.wait_for_count(
            lambda e: e.event_type == "OPERATION_DISPATCHER_RESUMED", resumed_before + 1, what="the barrier's RESUMED"
        )[-1]
        seen = self.events.snapshot()
        between = seen[self.mark : seen.index(paused)]
        self.mark = seen.index(resumed) + 1
        return between


def operation_msg(fields: dict[str, Any]) -> Any:
    from builtin_interfaces.msg import Time

    from operation_dispatcher_interfaces.msg import Dependency, Operation

    values = dict(fields)
    for name in ("release_date", "due_date", "created_at"):
        if name in values:
            sec, nanosec = values[name]
            values[name] = Time(sec=sec, nanosec=nanosec)
    if "dependencies" in values:
        values["dependencies"] = [Dependency(**d) for d in values["dependencies"]]
    return Operation(**values)


def request_for(seed: RosSeed, case: Case) -> tuple[str, str, Any]:
    type_name, service, fields = bad_inputs.ros_call(case)
    if type_name == "AddOperations":
        fields = {"operations": [operation_msg(op) for op in fields["operations"]]}
    return type_name, service, seed.srv(type_name).Request(**fields)


@pytest.fixture(scope="module")
def ros_seed(ros_context: Any) -> Iterator[RosSeed]:
    seed = RosSeed(ros_context, REPO_ROOT / "test-artifacts" / "ros" / "bad_input")
    try:
        yield seed
    finally:
        seed.close()


@pytest.mark.parametrize("case", params())
def test_bad_input_ros(ros_seed: RosSeed, case: Case) -> None:
    seed = ros_seed.ensure()
    seed.published_since_mark()  # start from a quiet stream
    before = seed.dump()
    type_name, service, request = request_for(seed, case)
    response = seed.call(type_name, service, request)
    if case.code == "ALREADY_PRESENT":
        assert response.success, response.message
        assert list(response.operation_ids) == ["queued-1"] and list(response.already_present) == [True]
    else:
        assert not response.success, f"{case.id}: accepted ({response.message!r})"
        assert response.error_code == bad_inputs.ROS_CODES[case.code], (response.error_code, response.message)
        assert response.error_code == getattr(response, case.code)  # the .srv constant of that name
        bad_inputs.assert_message(case, response.message)
    published = [e.event_type for e in seed.published_since_mark()]
    assert published == list(case.events), f"{case.id}: published {published}"
    bad_inputs.assert_unchanged(before, seed.dump(), case)
