"""launch_testing: the main scenario through the real sim_robot.launch.py.

For a machine with full ROS 2 (launch, launch_ros, launch_testing):
``colcon test`` or ``pytest`` runs the launch file, three transport
operations run in priority order with their lifecycle events while the
odometry moves, and every node exits with code 0 on shutdown. Where
launch_testing is not installed (the PyPI wheels) the module is skipped;
test_e2e_transport.py checks the same with spawned processes.
"""

from __future__ import annotations

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
from ros_testing import RosClient  # noqa: E402
from test_e2e_transport import LIFECYCLE, transport  # noqa: E402

NAMESPACE = "launch_test_robot"
FAST = {
    # store_path "": memory only, the test leaves nothing in ~/.ros and never sees an earlier run's operations
    "/**/dispatcher": {"ros__parameters": {"handshake_timeout": 2.0, "cooldown_seconds": 0.2, "store_path": ""}},
    "/**/business_logic": {"ros__parameters": {"rule": "approve_all"}},
    "/**/sim_robot": {"ros__parameters": {"speed": 5.0}},
}


@pytest.mark.launch_test
def generate_test_description():
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
    )


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

        from operation_dispatcher_interfaces.srv import AddOperations, DispatcherCommand

        client = self.client
        events = client.record_events()
        odom = client.record(Odometry, "odom")
        odom.wait_for(lambda m: True, 20.0, "the first odometry (matched before the robot moves)")
        client.wait_for_service(AddOperations, "add_operations", timeout=30.0)
        self.assertTrue(client.call(DispatcherCommand, "dispatcher/pause", reason="loading").success)
        ops = [transport("low", 1), transport("high", 10), transport("mid", 5)]
        self.assertTrue(client.call(AddOperations, "add_operations", operations=ops).success)
        self.assertTrue(client.call(DispatcherCommand, "dispatcher/resume").success)
        for op_id in ("high", "mid", "low"):
            events.wait_event("OPERATION_COMPLETED", op_id, timeout=30.0)
        self.assertEqual([e.operation_id for e in events.of_type("OPERATION_STARTED")], ["high", "mid", "low"])
        for op_id in ("high", "mid", "low"):
            self.assertEqual([t for t in events.types_for(op_id) if t in LIFECYCLE], LIFECYCLE)
        xs = [m.pose.pose.position.x for m in odom.snapshot()]
        self.assertGreater(max(xs) - min(xs), 0.5)


@launch_testing.post_shutdown_test()
class TestShutdown(unittest.TestCase):
    def test_every_node_exits_cleanly(self, proc_info):
        launch_testing.asserts.assertExitCodes(proc_info)

