"""launch_testing: the whole Nav2 chain through the real sim_nav2.launch.py.

For a machine with full ROS 2 (launch, launch_ros, launch_testing):
``colcon test`` or ``pytest`` runs the launch file with a parameter file of
the test's as its ``params_file``; the four nodes come up with the layered
parameters (the executor's base file, the sim robot's base file with
``serve: nav2`` on top, the test's values on top of both), two pickup /
dropoff transports and one single ``goal`` run in priority order, each
carried out as a Nav2 goal that the sim robot (standing in for Nav2) reports
SUCCEEDED: the transports on navigate_through_poses, the single goal on
navigate_to_pose. Every node exits with code 0 on shutdown. Where
launch_testing is not installed (the PyPI wheels) the module is skipped;
test_nav2_chain_ros.py checks the chain with spawned processes.
"""

from __future__ import annotations

import json
import unittest

import pytest

pytest.importorskip("launch_testing", reason="launch_testing is not installed (not on PyPI)")
pytest.importorskip("launch_ros", reason="launch_ros is not installed (not on PyPI)")

import launch_nav2_testing as launched  # noqa: E402
from launch_nav2_testing import TestShutdown  # noqa: E402, F401 (launch_testing runs it after the launch)
from test_e2e_transport import LIFECYCLE, transport  # noqa: E402

NAMESPACE = "launch_test_sim_nav2"
PARAMS = {
    "/**/dispatcher": {"ros__parameters": launched.MEMORY_STORE},
    "/**/business_logic": {"ros__parameters": {"rule": "approve_all"}},
    "/**/sim_robot": {"ros__parameters": {"serve": "nav2", "speed": 5.0}},
}


@pytest.mark.launch_test
def generate_test_description():
    return launched.launch_description("sim_nav2.launch.py", PARAMS, namespace=NAMESPACE, log_level="info")


class TestSimNav2Chain(launched.LaunchClient, unittest.TestCase):
    NAMESPACE = NAMESPACE

    def test_operations_run_as_nav2_goals(self):
        from operation_dispatcher_interfaces.msg import Operation
        from operation_dispatcher_interfaces.srv import AddOperations, DispatcherCommand

        client = self.client
        events = client.record_events()
        through_poses = launched.record_nav2_goals(client, "navigate_through_poses")
        to_pose = launched.record_nav2_goals(client, "navigate_to_pose")
        client.wait_for_service(AddOperations, "add_operations", timeout=60.0)
        client.wait_for_service(DispatcherCommand, "dispatcher/pause", timeout=60.0)
        # The layers: the sim robot's base file (odom_frame) under the test's serve/speed, the executor's base file.
        self.assertEqual(launched.parameter(client, "sim_robot", "serve"), "nav2")
        self.assertEqual(launched.parameter(client, "sim_robot", "speed"), 5.0)
        self.assertEqual(launched.parameter(client, "sim_robot", "odom_frame"), "odom")
        self.assertEqual(launched.parameter(client, "nav2_executor", "frame_id"), "map")
        self.assertEqual(launched.parameter(client, "dispatcher", "store_path"), "", "the test's params_file did not reach the dispatcher")
        self.assertTrue(client.call(DispatcherCommand, "dispatcher/pause", reason="loading").success)
        single = Operation(id="single", priority=1, payload_json=json.dumps({"goal": {"x": 0.5, "y": 1.0, "yaw": 1.57}}))
        ops = [transport("low", 2), transport("high", 10), single]
        self.assertTrue(client.call(AddOperations, "add_operations", operations=ops).success)
        self.assertTrue(client.call(DispatcherCommand, "dispatcher/resume").success)
        for op_id in ("high", "low", "single"):
            events.wait_event("OPERATION_COMPLETED", op_id, timeout=60.0)
        self.assertEqual([e.operation_id for e in events.of_type("OPERATION_STARTED")], ["high", "low", "single"])
        for op_id in ("high", "low", "single"):
            self.assertEqual([t for t in events.types_for(op_id) if t in LIFECYCLE], LIFECYCLE)
        self.assertEqual(len(launched.wait_succeeded(through_poses, 2, "NavigateThroughPoses")), 2, "one goal per transport, no other")
        self.assertEqual(len(launched.wait_succeeded(to_pose, 1, "NavigateToPose")), 1, "one goal for the single stop, no other")

