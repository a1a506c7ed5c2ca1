"""The comments of the .msg / .srv / .action files say what the code does.

A few of their claims, checked against the code: every service or topic
name a comment mentions is one the running dispatcher node serves, calls or
publishes; the event types and state names they list are the core's; and
what OperationStatus says ``retry_count`` and ``attempts`` count is what a
real dispatcher reports for an operation denied twice, then started.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytest.importorskip("rclpy", reason="needs the ROS 2 wheels (make setup)")
pytest.importorskip("operation_dispatcher_interfaces", reason="needs the colcon workspace (make setup)")

INTERFACES = Path(__file__).resolve().parents[2] / "operation_dispatcher_interfaces"
FILES = sorted(p for kind in ("msg", "srv", "action") for p in (INTERFACES / kind).glob(f"*.{kind}"))
# What reads like a name on the dispatcher's graph: dispatcher/start, cancel_operation, get_events, handshake/pause ...
NAME = re.compile(r"\b(?:dispatcher/\w+|handshake/\w+|\w+_(?:operations?|dispatcher|history|events|dispatcher_state))\b")


def _comments(path: Path) -> str:
    return "\n".join(line.split("#", 1)[1] for line in path.read_text().splitlines() if "#" in line)


def _mentioned_names() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in FILES:
        for name in NAME.findall(_comments(path)):
            found.setdefault(name, []).append(path.name)
    return found


def test_the_comments_mention_names_at_all():
    names = _mentioned_names()
    assert {"dispatcher/start", "dispatcher/stop", "dispatcher/pause", "dispatcher/resume", "cancel_operation"} <= set(names)


def test_dispatch_event_lists_every_event_type_of_the_core():
    from operation_dispatcher import EventType

    comment = _comments(INTERFACES / "msg" / "DispatchEvent.msg")
    listed = set(re.findall(r"\bOPERATION_[A-Z_]+\b", comment))
    assert listed == {e.value for e in EventType}
    assert f"one of the {len(EventType)} names" in comment


def test_operation_status_names_the_core_states():
    from operation_dispatcher import OperationState
    from operation_dispatcher_interfaces.msg import OperationStatus

    assert {s.value for s in OperationState} == {n for n in dir(OperationStatus) if n.isupper() and n not in ("UNKNOWN", "SLOT_TYPES")}
    comment = _comments(INTERFACES / "msg" / "OperationStatus.msg")
    block = comment[comment.index("The same state as text") :]
    assert {s.value for s in OperationState} <= set(re.findall(r'"([A-Z]+)"', block))


@pytest.mark.ros
def test_names_in_the_comments_are_served_and_the_counters_count_what_they_say(bringup, ros_client, ros_namespace):
    from test_e2e_transport import transport

    from operation_dispatcher_interfaces.srv import AddOperations, GetOperation

    bringup(dispatcher={"cooldown_seconds": 0.2}, business_logic={"rule": "deny_first_n", "deny_count": 2})
    events = ros_client.record_events()
    node = ros_client.node
    ns = f"/{ros_namespace}"
    graph = {n for n, _t in node.get_service_names_and_types_by_node("dispatcher", ns)}
    graph |= {n for n, _t in node.get_client_names_and_types_by_node("dispatcher", ns)}
    graph |= {n for n, _t in node.get_publisher_names_and_types_by_node("dispatcher", ns)}
    unknown = {name: files for name, files in _mentioned_names().items() if f"{ns}/{name}" not in graph}
    assert not unknown, f"named in comments, not on the dispatcher's graph: {unknown}"

    # OperationStatus: retry_count = denials in total (not reset by the start), attempts = starts.
    assert ros_client.call(AddOperations, "add_operations", operations=[transport("counted", 0)]).success
    events.wait_event("OPERATION_COMPLETED", "counted", timeout=30.0)
    status = ros_client.call(GetOperation, "get_operation", operation_id="counted").status
    assert (status.retry_count, status.attempts) == (2, 1), status
    assert events.types_for("counted").count("OPERATION_START_REQUESTED") == 3
