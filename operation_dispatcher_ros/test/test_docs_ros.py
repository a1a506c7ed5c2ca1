"""docs/ros.md cannot rot: every `ros2 service call` request is read the way a
shell and `ros2 service call` read it (shlex, then YAML) and filled field by
field into the real request type; names and types match the dispatcher's.
(rosidl_runtime_py, which ros2cli uses for this, is not on PyPI, hence the
small setter here.)
"""

from __future__ import annotations

import importlib
import re
import shlex
from pathlib import Path

import pytest
import yaml

pytest.importorskip("rclpy", reason="needs the ROS 2 wheels (make setup)")
pytest.importorskip("operation_dispatcher_interfaces", reason="needs the colcon workspace (make setup)")

DOC = Path(__file__).resolve().parents[2] / "docs" / "ros.md"
SERVICES = {
    "add_operations": "AddOperations",
    "cancel_operation": "OperationCommand",
    "pause_operation": "OperationCommand",
    "resume_operation": "OperationCommand",
    "complete_operation": "OperationCommand",
    "fail_operation": "OperationCommand",
    "list_operations": "ListOperations",
    "get_operation": "GetOperation",
    "get_history": "GetHistory",
    "get_events": "GetEvents",
    "get_event_log": "GetEventLog",
    "get_dispatcher_state": "GetDispatcherState",
    "dispatcher/start": "DispatcherCommand",
    "dispatcher/stop": "DispatcherCommand",
    "dispatcher/pause": "DispatcherCommand",
    "dispatcher/resume": "DispatcherCommand",
}


def _commands(prefix: str) -> list[list[str]]:
    lines = [line.strip() for line in DOC.read_text().splitlines() if line.strip().startswith(prefix)]
    return [shlex.split(line) for line in lines]


def _import_type(name: str):
    package, kind, type_name = name.split("/")
    return getattr(importlib.import_module(f"{package}.{kind}"), type_name)


def fill(message, values: dict, path: str = ""):
    """Set ``values`` (YAML data) on ``message`` field by field, like ros2cli's set_message_fields."""
    fields = message.get_fields_and_field_types()
    for name, value in values.items():
        where = f"{path}{name}"
        assert name in fields, f"{where}: no such field in {type(message).__name__}"
        field_type = fields[name]
        nested = re.fullmatch(r"(?:sequence<)?(\w+)/(\w+)>?", field_type)
        if nested and isinstance(value, dict):
            fill(getattr(message, name), value, f"{where}.")
        elif nested and isinstance(value, list):
            element = _import_type(f"{nested.group(1)}/msg/{nested.group(2)}")
            items = []
            for i, item in enumerate(value):
                assert isinstance(item, dict), f"{where}[{i}]: expected a mapping"
                items.append(fill(element(), item, f"{where}[{i}]."))
            setattr(message, name, items)
        else:
            expected = {"string": str, "bool": bool, "float": float, "double": float}.get(field_type, int)
            assert isinstance(value, expected) and not (expected is int and isinstance(value, bool)), (
                f"{where}: {value!r} is not a {field_type}"
            )
            setattr(message, name, value)
    return message


CALLS = _commands("ros2 service call ")


def test_docs_show_every_dispatcher_service():
    names = {argv[3].split("/", 2)[2] for argv in CALLS}
    assert names == set(SERVICES)


@pytest.mark.parametrize("argv", CALLS, ids=[argv[3] for argv in CALLS])
def test_service_call_request_is_valid_yaml_for_its_type(argv):
    assert len(argv) == 6, f"expected: ros2 service call NAME TYPE REQUEST, got {argv}"
    name, type_name, request_text = argv[3], argv[4], argv[5]
    service = name.split("/", 2)[2]
    assert type_name == f"operation_dispatcher_interfaces/srv/{SERVICES[service]}"
    values = yaml.safe_load(request_text)
    assert isinstance(values, dict), f"{name}: the request must be a YAML mapping"
    request = fill(_import_type(type_name).Request(), values)
    for op in getattr(request, "operations", []):
        from operation_dispatcher_ros.conversions import operation_from_msg

        operation_from_msg(op, "robot_1")  # the payload is a valid JSON object the dispatcher accepts


def test_topic_echo_lines_name_real_topics_and_types():
    echoes = _commands("ros2 topic echo ")
    assert {argv[-2].rsplit("/", 1)[-1] for argv in echoes} == {"dispatch_events", "dispatcher_state", "diagnostics"}
    for argv in echoes:
        _import_type(argv[-1])


def test_parameter_table_matches_the_declarations():
    from operation_dispatcher_ros.dispatcher_params import SPECS

    rows = re.findall(r"^\| `(\w+)` \| `([^`]*)` \| ([\w-]+) \|", DOC.read_text(), re.MULTILINE)
    assert [name for name, _d, _r in rows] == list(SPECS)
    for name, default, runtime in rows:
        spec = SPECS[name]
        if name == "resource_id":  # derived from the namespace (dispatcher_params.namespace_resource_id)
            assert default == "<namespace>"
        else:
            assert default == (str(spec.default).lower() if isinstance(spec.default, bool) else str(spec.default) or '""'), name
        assert (runtime == "read-only") == spec.read_only, name


def test_every_launch_argument_is_in_the_docs():
    launch = DOC.parents[1] / "operation_dispatcher_ros" / "launch"
    text = DOC.read_text()
    for path in sorted(launch.glob("*.launch.py")):
        names = re.findall(r'DeclareLaunchArgument\(\s*"(\w+)"', path.read_text())
        assert names, path.name
        for name in names:
            assert f"`{name}:=`" in text, f"{path.name}: launch argument {name} is not in docs/ros.md"
