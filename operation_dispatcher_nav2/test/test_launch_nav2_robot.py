"""launch_testing: nav2_robot.launch.py, the bring-up next to a robot's own Nav2.

For a machine with full ROS 2 (launch, launch_ros, launch_testing). The
launch file starts no Nav2, so the test is the rest of the robot: it
publishes ``/clock`` (the launch runs with ``use_sim_time:=true``, as beside
a simulated Nav2) and, part way, brings "Nav2" up itself. What it shows:

- the dispatcher (from the included dispatcher.launch.py), the business
  logic and the executor come up in the namespace with ``use_sim_time`` set
  on all three, and with the layered files: the executor's base file under
  the test's ``params_file``;
- while no Nav2 is there, an operation fails with the executor's reason
  naming the action it looked for in the namespace and the timeout, and the
  dispatcher goes on;
- once Nav2 is up (the sim robot in Nav2 mode, started beside the launch as
  the robot's own bringup would be), a pickup / dropoff transport completes
  as one NavigateThroughPoses goal;
- every launched node exits with code 0 on shutdown.

Where launch_testing is not installed (the PyPI wheels) the module is
skipped; test_nav2_executor_ros.py and test_nav2_chain_ros.py check the
same behaviour with spawned processes.
"""

from __future__ import annotations

import tempfile
import time
import unittest
from pathlib import Path

import pytest

pytest.importorskip("launch_testing", reason="launch_testing is not installed (not on PyPI)")
pytest.importorskip("launch_ros", reason="launch_ros is not installed (not on PyPI)")

import launch_nav2_testing as launched  # noqa: E402
from launch_nav2_testing import TestShutdown  # noqa: E402, F401 (launch_testing runs it after the launch)
from ros_testing import ProcessGroup  # noqa: E402
from test_e2e_transport import transport  # noqa: E402

NAMESPACE = "launch_test_nav2_robot"
SERVER_TIMEOUT = 3.0
"""The executor's nav2_server_timeout here: the first operation fails after it; the second, added once
the test sees Nav2, finds it within it (the executor's discovery of the server lags the test's a little)."""
PARAMS = {
    "/**/dispatcher": {"ros__parameters": launched.MEMORY_STORE},
    "/**/business_logic": {"ros__parameters": {"rule": "approve_all"}},
    "/**/nav2_executor": {"ros__parameters": {"nav2_server_timeout": SERVER_TIMEOUT}},
}
CLOCK_PERIOD = 0.02
"""Seconds between the test's /clock messages (wall time, 50 Hz: the sim robot's 20 Hz control loop sees every step)."""


@pytest.mark.launch_test
def generate_test_description():
    return launched.launch_description("nav2_robot.launch.py", PARAMS, namespace=NAMESPACE, use_sim_time="true")


class TestNav2Robot(launched.LaunchClient, unittest.TestCase):
    NAMESPACE = NAMESPACE

    @classmethod
    def setUpClass(cls):
        from rosgraph_msgs.msg import Clock

        super().setUpClass()
        clock = cls.client.node.create_publisher(Clock, "/clock", 10)
        cls.client.node.create_timer(CLOCK_PERIOD, lambda: clock.publish(Clock(clock=_wall_time())))
        cls.nav2 = ProcessGroup(None, Path(tempfile.mkdtemp(prefix="od-launch-nav2-")))

    @classmethod
    def tearDownClass(cls):
        codes = cls.nav2.stop_all()
        super().tearDownClass()
        assert all(code == 0 for code in codes.values()), f"the test's Nav2 did not exit cleanly: {codes}\n{cls.nav2.logs()}"

    def test_fails_without_nav2_then_drives_on_it(self):
        from operation_dispatcher_interfaces.srv import AddOperations

        client = self.client
        events = client.record_events()
        client.wait_for_service(AddOperations, "add_operations", timeout=60.0)
        for node in ("dispatcher", "business_logic", "nav2_executor"):
            self.assertIs(launched.parameter(client, node, "use_sim_time"), True, f"{node}: use_sim_time:=true did not reach it")
        self.assertEqual(launched.parameter(client, "nav2_executor", "nav2_server_timeout"), SERVER_TIMEOUT, "params_file over the base file")
        self.assertEqual(launched.parameter(client, "nav2_executor", "frame_id"), "map", "the executor's base file")

        self.assertTrue(client.call(AddOperations, "add_operations", operations=[transport("no-nav2", 1)]).success)
        failed = events.wait_event("OPERATION_FAILED", "no-nav2", timeout=30.0)
        action = f"/{NAMESPACE}/navigate_through_poses"
        self.assertIn(f"action server {action} not available within {SERVER_TIMEOUT:g} s", failed.metadata_json)

        from nav2_msgs.action import NavigateThroughPoses

        through_poses = launched.record_nav2_goals(client, "navigate_through_poses")
        self.nav2.start("sim_robot_node", NAMESPACE, {"serve": "nav2", "speed": 5.0, "use_sim_time": True})
        client.wait_for_action_server(NavigateThroughPoses, "navigate_through_poses", timeout=30.0)
        self.assertTrue(client.call(AddOperations, "add_operations", operations=[transport("on-nav2", 1)]).success)
        events.wait_event("OPERATION_COMPLETED", "on-nav2", timeout=60.0)
        self.assertEqual(len(launched.wait_succeeded(through_poses, 1, "NavigateThroughPoses")), 1)


def _wall_time():
    from builtin_interfaces.msg import Time

    seconds, nanoseconds = divmod(time.time_ns(), 1_000_000_000)
    return Time(sec=seconds, nanosec=nanoseconds)

