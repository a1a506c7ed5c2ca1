"""What the two launch_testing modules of this folder share: the launch of one of the package's
launch files in a domain of the run's own, the test's client, the exit-code check after shutdown,
and a reader of a Nav2 action's goal statuses.

Imported only by those modules, after their ``pytest.importorskip("launch_testing")``.
"""

from __future__ import annotations

import os
import tempfile
import unittest
from pathlib import Path
from typing import Any

import launch_testing.actions
import launch_testing.asserts
import rclpy
import yaml
from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from ros_testing import RosClient, claim_domain_id

PACKAGE = "operation_dispatcher_nav2"
SUCCEEDED = 4  # action_msgs/GoalStatus.STATUS_SUCCEEDED
MEMORY_STORE = {"store_path": "", "cooldown_seconds": 0.2}
"""The dispatcher's test values: nothing left in ~/.ros, and no earlier run's operations seen."""


def launch_description(launch_file: str, params: dict[str, Any], **arguments: str) -> tuple[LaunchDescription, dict[str, Any]]:
    """``launch_file`` of this package with ``params`` (a parameter file's content, written to a
    temporary file) as its ``params_file`` and ``arguments``, then ReadyToTest.

    The run claims a ROS_DOMAIN_ID of its own (ros_testing.claim_domain_id; the claim, a flock,
    is held by the returned context for the whole run) before anything starts: every launched
    node, and the test's rclpy, read it from the environment.
    """
    domain = claim_domain_id()
    os.environ["ROS_DOMAIN_ID"] = str(domain.domain_id)
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    params_file = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False)
    yaml.safe_dump(params, params_file)
    params_file.close()
    source = PythonLaunchDescriptionSource(str(Path(get_package_share_directory(PACKAGE)) / "launch" / launch_file))
    include = IncludeLaunchDescription(source, launch_arguments={"params_file": params_file.name, **arguments}.items())
    return LaunchDescription([include, launch_testing.actions.ReadyToTest()]), {"domain": domain}


class LaunchClient:
    """Mixin of a launch test case: ``cls.client``, a RosClient in ``NAMESPACE`` with a context of its own."""

    NAMESPACE = ""

    @classmethod
    def setUpClass(cls) -> None:
        cls.context = rclpy.context.Context()
        rclpy.init(context=cls.context)
        cls.client = RosClient(cls.context, "launch_test_client", cls.NAMESPACE)

    @classmethod
    def tearDownClass(cls) -> None:
        cls.client.close()
        cls.context.try_shutdown()


@launch_testing.post_shutdown_test()
class TestShutdown(unittest.TestCase):
    """Imported by each launch test module, where launch_testing finds it: run after the launch has ended."""

    def test_every_node_exits_cleanly(self, proc_info: Any) -> None:
        launch_testing.asserts.assertExitCodes(proc_info)


def record_nav2_goals(client: RosClient, action: str) -> Any:
    """A recorder of ``action``'s goal status lists (what Nav2, or the sim robot serving Nav2, reports)."""
    from action_msgs.msg import GoalStatusArray
    from rclpy.qos import qos_profile_action_status_default

    return client.record(GoalStatusArray, f"{action}/_action/status", qos_profile_action_status_default)


def wait_succeeded(recorder: Any, count: int, what: str, timeout: float = 10.0) -> set[bytes]:
    """The ids of the goals a status list shows SUCCEEDED, once one shows ``count`` of them (an action
    server lists its goals until their results expire, 15 min in rclpy), and every goal id seen."""
    recorder.wait_for(lambda m: sum(s.status == SUCCEEDED for s in m.status_list) >= count, timeout, f"{count} {what} goal(s) SUCCEEDED")
    return {bytes(s.goal_info.goal_id.uuid) for m in recorder.snapshot() for s in m.status_list}


def parameter(client: RosClient, node: str, name: str) -> Any:
    """One parameter's value as a Python value, read through ``node``'s get_parameters service."""
    from rcl_interfaces.srv import GetParameters
    from rclpy.parameter import parameter_value_to_python

    return parameter_value_to_python(client.call(GetParameters, f"{node}/get_parameters", names=[name]).values[0])
