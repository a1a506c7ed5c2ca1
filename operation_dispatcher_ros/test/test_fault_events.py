"""A slow ``dispatch_events`` subscriber never slows the dispatcher down.

A second node in the test process subscribes to the event stream with a
callback that blocks (until teardown) on its first message. The
dispatcher publishes from the core's notifier thread onto a KEEP_LAST
reliable writer, so nothing waits for that reader: a run of operations
completes with every handshake answered within the usual 1 s bound (not one
start denied), while the blocked subscriber has taken a single message.

History: this test once needed 10 s handshakes on Jazzy. The blocked reader
was not the cause (publish() stays under a few ms with it, and the late
answers came just the same without it): the business logic node, on rclpy's
MultiThreadedExecutor, spun hot on the robot's 100 Hz battery stream and
answered seconds late; it now runs single-threaded (see node_main).
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from ros_testing import SpunNode, describe_event, wait_until
from test_e2e_transport import transport

from operation_dispatcher_ros.qos import EVENTS_QOS

pytestmark = pytest.mark.ros

COUNT = 20


class BlockedSubscriber(SpunNode):
    """Subscribes to the event stream like any client, then blocks its only thread on the first event."""

    def __init__(self, context: Any, namespace: str) -> None:
        from operation_dispatcher_interfaces.msg import DispatchEvent

        super().__init__(context, "slow_event_subscriber", namespace)
        self.taken = 0
        self._release = threading.Event()
        self.node.create_subscription(DispatchEvent, "dispatch_events", self._on_event, EVENTS_QOS)
        self.spin_in_background()

    def _on_event(self, _msg: Any) -> None:
        self.taken += 1
        self._release.wait(60.0)  # blocks the only thread of this executor

    def close(self) -> None:
        self._release.set()
        super().close()


def test_blocked_event_subscriber_does_not_delay_dispatch(bringup, ros_client, ros_context, ros_namespace, tmp_path):
    from operation_dispatcher_interfaces.srv import AddOperations, DispatcherCommand

    bringup(
        dispatcher={"store_path": str(tmp_path / "dispatcher.db")},
        business_logic={"rule": "approve_all"},
        sim_robot={"speed": 50.0, "rate_hz": 100.0},
    )
    slow = BlockedSubscriber(ros_context, ros_namespace)
    try:
        events = ros_client.record_events()
        ros_client.wait_for_publishers("dispatch_events")
        wait_until(lambda: ros_client.node.count_subscribers(f"/{ros_namespace}/dispatch_events") >= 2, 10.0, "both subscribers")
        assert ros_client.call(DispatcherCommand, "dispatcher/pause", reason="loading").success
        ops = [transport(f"op{i:02d}", 0) for i in range(COUNT)]
        assert ros_client.call(AddOperations, "add_operations", operations=ops).success
        wait_until(lambda: slow.taken >= 1, 10.0, "the slow subscriber to take (and block on) its first event")
        assert ros_client.call(DispatcherCommand, "dispatcher/resume").success
        completed = events.wait_for_count(lambda e: e.event_type == "OPERATION_COMPLETED", COUNT, 60.0, "every completion")
        assert [e.operation_id for e in completed] == [f"op{i:02d}" for i in range(COUNT)]
        assert slow.taken == 1  # still blocked in its first callback
        # Every handshake answered within handshake_timeout (1 s): a late answer would be a denial.
        denied = [describe_event(e) for e in events.snapshot() if e.event_type.endswith("_DENIED")]
        assert denied == []
        # From one operation's end to the next one's start: a handshake and a goal, never a wait for
        # the reader, which stays blocked for 60 s (a loose bound: this is not a speed test).
        stamps = {(e.event_type, e.operation_id): e.stamp.sec + e.stamp.nanosec / 1e9 for e in events.snapshot()}
        gaps = [
            stamps[("OPERATION_STARTED", f"op{i + 1:02d}")] - stamps[("OPERATION_COMPLETED", f"op{i:02d}")] for i in range(COUNT - 1)
        ]
        assert max(gaps) < 30.0, gaps  # half the 60 s hold: a loaded machine stalls for seconds, never for the hold
    finally:
        slow.close()
