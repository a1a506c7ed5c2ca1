"""The parameter files in config/ match the nodes, and the nodes start with them.

A key the node does not declare would be silently ignored by rclpy, so each
file's keys are compared with the nodes' declarations; the installed files
are then loaded by the real executables, layered as the launch files layer
them (the dispatcher: dispatcher.yaml, then sim_robot.yaml on top).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

CONFIG = Path(__file__).resolve().parents[1] / "config"
# Values the sim bring-up sets on purpose away from the node's default.
SIM_OVERRIDES = {("dispatcher", "cooldown_seconds"), ("business_logic", "rule")}
# Declared, but left out of the files on purpose.
UNPINNED = {("dispatcher", "resource_id")}


def _params(path: Path) -> dict[str, dict]:
    data = yaml.safe_load(path.read_text())
    return {key.split("/")[-1]: value["ros__parameters"] for key, value in data.items()}


def _declared() -> dict[str, dict]:
    pytest.importorskip("rclpy", reason="needs the ROS 2 wheels (make setup)")
    pytest.importorskip("operation_dispatcher_interfaces", reason="needs the colcon workspace (make setup)")
    from operation_dispatcher_ros import business_logic_node, dispatcher_params, sim_robot_node

    return {
        "dispatcher": {name: spec.default for name, spec in dispatcher_params.SPECS.items()},
        "business_logic": {name: default for name, (default, _d) in business_logic_node.PARAMETERS.items()},
        "sim_robot": {name: spec[0] for name, spec in sim_robot_node.PARAMETERS.items()},
    }


def _declared_but_resource_id(declared: dict[str, dict]) -> dict[str, dict]:
    """The declarations the files must hold: every one but resource_id (the namespace's unless set)."""
    return {node: {k: v for k, v in values.items() if (node, k) not in UNPINNED} for node, values in declared.items()}


def test_dispatcher_yaml_holds_every_default():
    assert _params(CONFIG / "dispatcher.yaml") == {"dispatcher": _declared_but_resource_id(_declared())["dispatcher"]}


@pytest.mark.parametrize("name", ["dispatcher.yaml", "sim_robot.yaml"])
def test_config_files_leave_resource_id_to_the_namespace(name):
    # pinned under "/**", one resource_id (and one store file) would serve every namespace
    text = (CONFIG / name).read_text()
    assert "\n    # resource_id: robot_1\n" in text
    assert "resource_id" not in _params(CONFIG / name)["dispatcher"]


def test_sim_robot_yaml_holds_only_the_dispatchers_changes_and_all_of_the_other_nodes():
    # The dispatcher loads dispatcher.yaml, then sim_robot.yaml on top (the launch files' layering);
    # the business logic and the sim robot read sim_robot.yaml alone.
    declared = _declared_but_resource_id(_declared())
    params = _params(CONFIG / "sim_robot.yaml")
    assert set(params) == set(declared)
    base = _params(CONFIG / "dispatcher.yaml")["dispatcher"]
    changed = params["dispatcher"]
    assert {("dispatcher", name) for name in changed} == {o for o in SIM_OVERRIDES if o[0] == "dispatcher"}
    for name, value in changed.items():
        assert value != base[name] and type(value) is type(base[name]), f"dispatcher.{name}"
    for node in ("business_logic", "sim_robot"):
        values = params[node]
        assert set(values) == set(declared[node]), node
        for name, value in values.items():
            if (node, name) not in SIM_OVERRIDES:
                assert value == declared[node][name], f"{node}.{name}"
                assert type(value) is type(declared[node][name]), f"{node}.{name}: YAML type differs from the declaration"


@pytest.mark.ros
def test_nodes_start_with_the_installed_parameter_files_layered_as_the_launch_files_do(
    ros_processes, ros_client, ros_namespace, tmp_path
):
    from ament_index_python.packages import get_package_share_directory
    from launch_layers import start_sim_bringup
    from rcl_interfaces.srv import GetParameters

    from operation_dispatcher_interfaces.srv import GetDispatcherState, Handshake

    share = Path(get_package_share_directory("operation_dispatcher_ros")) / "config"
    # the file's store_path is the user's ~/.ros: a test keeps its store in its own folder
    start_sim_bringup(ros_processes, ros_namespace, share, {"dispatcher_node": {"store_path": str(tmp_path / "{resource_id}.db")}})
    ros_client.wait_for_service(Handshake, "handshake/start")
    state = ros_client.call(GetDispatcherState, "get_dispatcher_state").state
    assert state.resource_id == ros_namespace and state.status_name == "RUNNING"  # the files leave it to the namespace
    assert all(p.alive() for p in ros_processes.processes), ros_processes.logs()
    assert (tmp_path / f"{ros_namespace}.db").is_file() and (tmp_path / f"{ros_namespace}.db.lock").is_file()
    # sim_robot.yaml's value won over dispatcher.yaml's; the rest is dispatcher.yaml's
    values = ros_client.call(GetParameters, "dispatcher/get_parameters", names=["cooldown_seconds", "max_retries"]).values
    assert [v.double_value for v in values[:1]] + [v.integer_value for v in values[1:]] == [1.0, 5]
