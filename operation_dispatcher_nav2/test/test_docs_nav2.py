"""docs/nav2.md cannot rot: its parameter table is the executor's declarations
(name, default, read-only), every launch argument of this package's launch
files is in it, and every `ros2 service call` line fills the real request
type (with docs/ros.md's checker, test_docs_ros.fill).
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

pytest.importorskip("rclpy", reason="needs the ROS 2 wheels (make setup)")
pytest.importorskip("nav2_msgs", reason="needs the colcon workspace (make setup)")

from test_docs_ros import SERVICES, _import_type, fill  # noqa: E402

DOC = Path(__file__).resolve().parents[2] / "docs" / "nav2.md"
LAUNCH = Path(__file__).resolve().parents[1] / "launch"
CALLS = [shlex.split(line.strip()) for line in DOC.read_text().splitlines() if line.strip().startswith("ros2 service call ")]


def test_parameter_table_matches_the_declarations():
    from operation_dispatcher_nav2.nav2_executor_node import PARAMETERS

    rows = re.findall(r"^\| `(\w+)` \| `([^`]*)` \| ([\w-]+) \|", DOC.read_text(), re.MULTILINE)
    assert [name for name, _d, _r in rows] == list(PARAMETERS)
    for name, default, runtime in rows:
        value, _limits, _description, live = PARAMETERS[name]
        assert default == (str(value).lower() if isinstance(value, bool) else str(value)), name
        assert runtime == ("live" if live else "read-only"), name


def test_the_launch_arguments_are_the_docs_table():
    declared = {name for path in LAUNCH.glob("*.launch.py") for name in re.findall(r'^\s+\("(\w+)", ', path.read_text(), re.MULTILINE)}
    assert {"namespace", "params_file", "use_sim_time"} <= declared  # the table form is still the one read here
    assert set(re.findall(r"`(\w+):=`", DOC.read_text())) == declared


def test_docs_show_each_payload_shape():
    payloads = " ".join(argv[5] for argv in CALLS)
    for shape in ("pickup", "dropoff", "waypoints", "goal", "yaw", "frame_id"):
        assert f'\\"{shape}\\"' in payloads or f'"{shape}"' in payloads, shape


@pytest.mark.parametrize("argv", CALLS, ids=[f"{i}-{argv[3]}" for i, argv in enumerate(CALLS)])
def test_service_call_request_is_valid_yaml_for_its_type(argv):
    from operation_dispatcher_nav2.route import Route

    assert len(argv) == 6, f"expected: ros2 service call NAME TYPE REQUEST, got {argv}"
    name, type_name, request_text = argv[3], argv[4], argv[5]
    service = name.split("/", 2)[2]
    assert type_name == f"operation_dispatcher_interfaces/srv/{SERVICES[service]}"
    request = fill(_import_type(type_name).Request(), yaml.safe_load(request_text))
    for op in getattr(request, "operations", []):
        from operation_dispatcher_ros.conversions import operation_from_msg

        operation_from_msg(op, "robot_1")  # the dispatcher takes it
        assert Route.from_payload(op.payload_json, frame_id="map", through_poses=True).stops  # and the executor drives it
