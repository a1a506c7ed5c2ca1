"""The parameter files in config/ match the nodes, and the nodes start with them.

A key the node does not declare would be silently ignored by rclpy, so each
file's keys are compared with the nodes' declarations; the installed files
are then loaded by the real executables.
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


def test_sim_robot_yaml_covers_all_three_nodes():
    declared = _declared_but_resource_id(_declared())
    params = _params(CONFIG / "sim_robot.yaml")
    assert set(params) == set(declared)
    for node, values in params.items():
        assert set(values) == set(declared[node]), node
        for name, value in values.items():
            if (node, name) not in SIM_OVERRIDES:
                assert value == declared[node][name], f"{node}.{name}"
                assert type(value) is type(declared[node][name]), f"{node}.{name}: YAML type differs from the declaration"


@pytest.mark.ros
def test_nodes_start_with_the_installed_parameter_files(ros_processes, ros_client, ros_namespace, tmp_path):
    from ament_index_python.packages import get_package_share_directory

    from operation_dispatcher_interfaces.srv import GetDispatcherState, Handshake

    share = Path(get_package_share_directory("operation_dispatcher_ros")) / "config"
    sim = share / "sim_robot.yaml"
    # the file's store_path is the user's ~/.ros: a test keeps its store in its own folder
    store = {"dispatcher_node": {"store_path": str(tmp_path / "{resource_id}.db")}}
    for executable in ("dispatcher_node", "business_logic_node", "sim_robot_node"):
        ros_processes.start(executable, ros_namespace, store.get(executable), params_file=sim)
    ros_client.wait_for_service(Handshake, "handshake/start")
    state = ros_client.call(GetDispatcherState, "get_dispatcher_state").state
    assert state.resource_id == ros_namespace and state.status_name == "RUNNING"  # the file leaves it to the namespace
    assert all(p.alive() for p in ros_processes.processes), ros_processes.logs()
    assert (tmp_path / f"{ros_namespace}.db").is_file() and (tmp_path / f"{ros_namespace}.db.lock").is_file()
