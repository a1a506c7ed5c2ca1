"""launch_testing: a fleet of two through the real fleet.launch.py, seen only through the gateway's HTTP door.

For a machine with full ROS 2 (launch, launch_ros, launch_testing): the
launch file brings up two robots and the gateway; the test waits until
``GET /robots`` shows both RUNNING, adds six operations to the fleet without
naming a robot, sees each complete on the robot the gateway chose, and
every node exits with code 0 on shutdown. Where launch_testing is not
installed (the PyPI wheels) the module is skipped; test_gateway_ros.py
checks the same with spawned processes.

The run claims a ROS_DOMAIN_ID of its own before anything starts, so the
launched nodes never meet another run's; the robots keep their operations in
memory and the gateway's history goes to a temporary file.
"""

from __future__ import annotations

import os
import tempfile
import time
import unittest

import pytest

pytest.importorskip("launch_testing", reason="launch_testing is not installed (not on PyPI)")
pytest.importorskip("launch_ros", reason="launch_ros is not installed (not on PyPI)")

import httpx  # noqa: E402
import launch_testing.actions  # noqa: E402
import launch_testing.asserts  # noqa: E402
import yaml  # noqa: E402
from ament_index_python.packages import get_package_share_directory  # noqa: E402
from fleet_testing import free_port  # noqa: E402
from launch import LaunchDescription  # noqa: E402
from launch.actions import IncludeLaunchDescription  # noqa: E402
from launch.launch_description_sources import PythonLaunchDescriptionSource  # noqa: E402
from ros_testing import claim_domain_id  # noqa: E402

ROBOTS = ("lt_fleet_a", "lt_fleet_b")
FAST = {
    "/**/dispatcher": {"ros__parameters": {"handshake_timeout": 2.0, "cooldown_seconds": 0.2, "store_path": ""}},
    "/**/business_logic": {"ros__parameters": {"rule": "approve_all"}},
    "/**/sim_robot": {"ros__parameters": {"speed": 5.0}},
}
PORT = free_port()


@pytest.mark.launch_test
def generate_test_description():
    domain = claim_domain_id()
    os.environ["ROS_DOMAIN_ID"] = str(domain.domain_id)
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    share = get_package_share_directory("operation_dispatcher_fleet")
    params = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False)
    yaml.safe_dump(FAST, params)
    params.close()
    history = tempfile.mkdtemp(prefix="fleet_launch_test_")
    arguments = {
        "robots": ",".join(ROBOTS),
        "http_port": str(PORT),
        "params_file": params.name,
        "history_path": f"{history}/fleet_history.db",
    }
    return LaunchDescription(
        [
            IncludeLaunchDescription(PythonLaunchDescriptionSource(f"{share}/launch/fleet.launch.py"), launch_arguments=arguments.items()),
            launch_testing.actions.ReadyToTest(),
        ]
    ), {"domain": domain}


def _wait(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = condition()
        except httpx.TransportError:  # not serving yet
            last = None
        if last:
            return last
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


class TestFleet(unittest.TestCase):
    def test_operations_added_to_the_fleet_complete_on_the_robots_it_chose(self):
        with httpx.Client(base_url=f"http://127.0.0.1:{PORT}", timeout=30.0) as http:

            def both_running():
                robots = {r["resource_id"]: r for r in http.get("/robots").json()}
                return all(name in robots and robots[name]["online"] and (robots[name]["state"] or {}).get("status") == "RUNNING" for name in ROBOTS)

            _wait(both_running, 60.0, "both robots RUNNING in GET /robots")
            response = http.post("/fleet/operations/add", json=[{"id": f"lt-{i}", "payload": {"goal": {"x": 1.0, "y": 0.0}}} for i in range(6)])
            self.assertEqual(response.status_code, 201, response.text)
            placed = response.json()
            self.assertEqual({p["robot"] for p in placed}, set(ROBOTS))
            for p in placed:
                url = f"/robots/{p['robot']}/operations/{p['operation_id']}"
                _wait(lambda url=url: http.get(url).json()["execution"]["state"] == "COMPLETED", 60.0, f"{url} COMPLETED")


@launch_testing.post_shutdown_test()
class TestShutdown(unittest.TestCase):
    def test_every_node_exits_cleanly(self, proc_info):
        launch_testing.asserts.assertExitCodes(proc_info)
