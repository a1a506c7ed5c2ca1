"""launch_testing: the main scenario through the real sim_robot.launch.py.

For a machine with full ROS 2 (launch, launch_ros, launch_testing):
``colcon test`` or ``pytest`` runs the launch file, three transport
operations run in priority order with their lifecycle events while the
odometry moves, and every node exits with code 0 on shutdown. Where
launch_testing is not installed (the PyPI wheels) the module is skipped;
test_e2e_transport.py checks the same with spawned processes.

The odometry is volatile, so the test subscribes before the robot moves and
waits for its first message (data flowing proves the robot's publisher
matched this subscription; the three transports take about 1.5 s, less than
a late match on a loaded machine). The reader keeps a deep history so that a
stalled test executor loses nothing, and the odometry is read once a message
shows the robot standing at the last dropoff: the messages of the motion
arrived before it (reliable, in order).

The run claims a ROS_DOMAIN_ID of its own (see ros_testing.claim_domain_id)
before anything starts, so the launched nodes never meet another run's.
"""

from __future__ import annotations

import json
import os
import tempfile
import unittest
from pathlib import Path

import pytest

pytest.importorskip("launch_testing", reason="launch_testing is not installed (not on PyPI)")
pytest.importorskip("launch_ros", reason="launch_ros is not installed (not on PyPI)")

import launch_testing.actions  # noqa: E402
import launch_testing.asserts  # noqa: E402
import rclpy  # noqa: E402
import yaml  # noqa: E402
from ament_index_python.packages import get_package_share_directory  # noqa: E402
from launch import LaunchDescription  # noqa: E402
from launch.actions import IncludeLaunchDescription  # noqa: E402
from launch.launch_description_sources import PythonLaunchDescriptionSource  # noqa: E402
from ros_testing import RosClient, claim_domain_id  # noqa: E402
from test_e2e_transport import LIFECYCLE, transport  # noqa: E402

from operation_dispatcher_ros.qos import reliable_keep_last  # noqa: E402

NAMESPACE = "launch_test_robot"
FAST = {
    # store_path "": memory only, the test leaves nothing in ~/.ros and never sees an earlier run's operations
    "/**/dispatcher": {"ros__parameters": {"handshake_timeout": 2.0, "cooldown_seconds": 0.2, "store_path": ""}},
    "/**/business_logic": {"ros__parameters": {"rule": "approve_all"}},
    "/**/sim_robot": {"ros__parameters": {"speed": 5.0}},
}
ODOM_QOS = reliable_keep_last(1000)
"""Matches the robot's odom publisher (reliable, volatile); 1,000 deep = 50 s at
20 Hz, so nothing is pushed out of the reader while the test's executor is slow to take."""


@pytest.mark.launch_test
def generate_test_description():
    # Read by every launched node and by rclpy.init in setUpClass; the claim
    # (a flock) is held by the returned context for the whole run.
    domain = claim_domain_id()
    os.environ["ROS_DOMAIN_ID"] = str(domain.domain_id)
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    share = Path(get_package_share_directory("operation_dispatcher_ros"))
    params = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False)
    yaml.safe_dump(FAST, params)
    params.close()
    return LaunchDescription(
        [
            IncludeLaunchDescription(
                PythonLaunchDescriptionSource(str(share / "launch" / "sim_robot.launch.py")),
                launch_arguments={"namespace": NAMESPACE, "params_file": params.name, "log_level": "info"}.items(),
            ),
            launch_testing.actions.ReadyToTest(),
        ]
    ), {"domain": domain}


class TestMainScenario(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.context = rclpy.context.Context()
        rclpy.init(context=cls.context)
        cls.client = RosClient(cls.context, "launch_test_client", NAMESPACE)

    @classmethod
    def tearDownClass(cls):
        cls.client.close()
        cls.context.try_shutdown()

    def test_three_transports_in_priority_order(self):
        from nav_msgs.msg import Odometry
        from rcl_interfaces.srv import GetParameters

        from operation_dispatcher_interfaces.srv import AddOperations, DispatcherCommand

        client = self.client
        events = client.record_events()
        odom = client.record(Odometry, "odom", ODOM_QOS)
        odom.wait_for(lambda m: True, 60.0, "the first odometry (the robot's publisher matched before it moves)")
        client.wait_for_service(AddOperations, "add_operations", timeout=60.0)
        store_path = client.call(GetParameters, "dispatcher/get_parameters", names=["store_path"]).values[0].string_value
        self.assertEqual(store_path, "", "the launch file did not hand this test's params_file to the dispatcher")
        self.assertTrue(client.call(DispatcherCommand, "dispatcher/pause", reason="loading").success)
        ops = [transport("low", 1), transport("high", 10), transport("mid", 5)]
        self.assertTrue(client.call(AddOperations, "add_operations", operations=ops).success)
        self.assertTrue(client.call(DispatcherCommand, "dispatcher/resume").success)
        completed = [events.wait_event("OPERATION_COMPLETED", op_id, timeout=60.0) for op_id in ("high", "mid", "low")]
        self.assertEqual([e.operation_id for e in events.of_type("OPERATION_STARTED")], ["high", "mid", "low"])
        for op_id in ("high", "mid", "low"):
            self.assertEqual([t for t in events.types_for(op_id) if t in LIFECYCLE], LIFECYCLE)
        # A sample taken after the last completion, standing at the last dropoff:
        # every sample of the motion arrived before it (reliable, in order).
        end, last = _nanoseconds(completed[-1].stamp), json.loads(ops[0].payload_json)["dropoff"]  # ops[0]: "low"
        odom.wait_for(
            lambda m: _nanoseconds(m.header.stamp) > end and _stopped_at(m, last), 30.0, f"odometry standing at {last} after the last completion"
        )
        seen = odom.snapshot()
        xs = [m.pose.pose.position.x for m in seen]
        self.assertGreater(max(xs) - min(xs), 0.5, "odometry did not move")
        self.assertTrue(any(m.twist.twist.linear.x > 0.0 for m in seen), "no odometry while the robot drove")


def _nanoseconds(stamp) -> int:
    return stamp.sec * 1_000_000_000 + stamp.nanosec


def _stopped_at(odom, point, tolerance: float = 0.01) -> bool:
    position = odom.pose.pose.position
    return odom.twist.twist.linear.x == 0.0 and abs(position.x - point["x"]) < tolerance and abs(position.y - point["y"]) < tolerance


@launch_testing.post_shutdown_test()
class TestShutdown(unittest.TestCase):
    def test_every_node_exits_cleanly(self, proc_info):
        launch_testing.asserts.assertExitCodes(proc_info)

