"""The Fast DDS profile every node of this package runs with (issue 10, defect 4).

node_main points Fast DDS at config/fastdds_services.xml unless the user
names a profile; rmw_fastrtps reads the profile "service" for every
service's reply writer and nothing else. A real node shows both: a profile
that also sets a deadline (the QoS code leaves at its default, so rmw keeps
the profile's; max_blocking_time itself is not visible in discovery) puts
that deadline on the node's reply writer and not on its topics.

How often a fresh client's first call hangs without and with the profile
is measured by bench/ros_fresh_clients.py, not here: in-process fresh
clients saw no hang even with the writer's blocking time at 0 (the reply
reader was matched before the request came), so a test of it could not
fail without the fix.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("rclpy", reason="needs the ROS 2 wheels (make setup)")
pytest.importorskip("operation_dispatcher_interfaces", reason="needs the colcon workspace (make setup)")

from operation_dispatcher_ros.node_main import (  # noqa: E402
    FASTDDS_PROFILES,
    FASTRTPS_PROFILES,
    profile_variable,
    services_profile,
    use_services_profile,
)

NS = "{http://www.eprosima.com/XMLSchemas/fastRTPS_Profiles}"
TIMEOUT = 20.0


def test_the_installed_profile_gives_service_replies_seconds_and_touches_nothing_else() -> None:
    root = ET.parse(services_profile()).getroot()
    profiles = list(root.find(f"{NS}profiles") or [])
    assert [(p.tag, p.get("profile_name"), p.get("is_default_profile")) for p in profiles] == [
        (f"{NS}data_writer", "service", None)
    ]
    blocking = profiles[0].find(f"{NS}qos/{NS}reliability/{NS}max_blocking_time")
    assert blocking is not None
    assert [child.tag for child in profiles[0].iter()] == [
        f"{NS}{tag}" for tag in ("data_writer", "qos", "reliability", "max_blocking_time", "sec", "nanosec")
    ], "only max_blocking_time: every other QoS of the reply writers stays as code and Fast DDS set it"
    assert int(blocking.findtext(f"{NS}sec", "0")) >= 1


def test_the_variable_is_set_unless_the_user_names_a_profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    env: dict[str, str] = {}
    assert use_services_profile(env) == services_profile()
    # Kilted's wheels: Fast DDS 3 reads only the new name (with both, rmw loads the file twice)
    assert env == {profile_variable(): str(services_profile())}
    for users in ({FASTDDS_PROFILES: "/robot/mine.xml"}, {FASTRTPS_PROFILES: "/robot/mine.xml"}):
        env = dict(users)
        assert use_services_profile(env) is None and env == users
    (tmp_path / "DEFAULT_FASTDDS_PROFILES.xml").write_text("<dds/>")
    env = {}
    assert use_services_profile(env) is None and env == {}


@pytest.mark.ros
def test_a_node_runs_with_the_profile_and_a_users_profile_wins(
    ros_processes: Any, ros_client: Any, ros_namespace: str, tmp_path: Path
) -> None:
    earlier = ros_processes.log_dir / "sim_robot_node-0.log"  # the log file outlives a run: read this run's part
    mark = earlier.stat().st_size if earlier.exists() else 0
    shipped = ros_processes.start("sim_robot_node", ros_namespace)
    probe = tmp_path / "users_profile.xml"
    probe.write_text(services_profile().read_text().replace(
        "<reliability>", "<deadline><period><sec>7</sec><nanosec>0</nanosec></period></deadline><reliability>"
    ))
    ros_processes.env = dict(ros_processes.env, **{profile_variable(): str(probe)})
    users = ros_processes.start("sim_robot_node", f"{ros_namespace}_users")
    node = ros_client.node

    def endpoint(topic: str, **kwargs: Any) -> Any:
        from ros_testing import wait_until

        return wait_until(lambda: node.get_publishers_info_by_topic(topic, **kwargs), TIMEOUT, f"a publisher on {topic}")[0]

    reply = endpoint(f"rr/{ros_namespace}_users/execute_operation/pauseReply", no_mangle=True)
    assert reply.qos_profile.deadline.nanoseconds == 7_000_000_000, "the user's profile did not reach the reply writer"
    odom = endpoint(f"/{ros_namespace}_users/odom")
    assert odom.qos_profile.deadline.nanoseconds != 7_000_000_000, "the 'service' profile changed a topic's QoS"
    # the shipped one: loaded once, without a parser error, and named in the log
    endpoint(f"rr/{ros_namespace}/execute_operation/pauseReply", no_mangle=True)
    from ros_testing import wait_until

    def this_run() -> str:
        return shipped.log_path.read_bytes()[mark:].decode(errors="replace")

    # the line is logged once the node is built, which may be after its endpoints appear
    wait_until(lambda: f"Fast DDS profile: {services_profile()}" in this_run(), TIMEOUT, "the profile named in the log")
    log = this_run()
    # Fast DDS's own errors, but not its shared-memory transport's: another Fast DDS process on the
    # machine can hold a port file it wanted ("RTPS_TRANSPORT_SHM Error ... open_and_lock_file failed",
    # seen when a benchmark ran beside a test run); the node then talks over UDP, and no profile is involved.
    errors = [line for line in log.splitlines() if "Error]" in line and "RTPS_TRANSPORT_SHM" not in line]
    assert not errors, log
    assert "Fast DDS profile" not in users.log_tail(200)
