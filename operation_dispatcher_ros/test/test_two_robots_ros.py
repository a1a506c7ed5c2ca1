"""Two simulated robots on one host, side by side, as ``sim_robot.launch.py``
starts them with ``namespace:=robot_1`` and ``namespace:=robot_2``: the
three installed executables per namespace, each loading the installed
parameter files as the launch files layer them (``launch_layers``), and
nothing that names a resource or a file.

Each dispatcher takes its namespace as its ``resource_id`` and keeps its
own store file under the default ``~/.ros/operation_dispatcher/`` (HOME is
the test's folder); each completes its own operations and knows nothing of
the other's. The namespaces are nested under the test's own
(``/<test>/robot_1``), so the resource ids carry a slash too.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from launch_layers import start_sim_bringup
from ros_testing import ProcessGroup, RosClient
from test_e2e_transport import transport

pytestmark = pytest.mark.ros

ROBOTS = ("robot_1", "robot_2")


@pytest.fixture
def home_processes(ros_processes, tmp_path):
    """A ProcessGroup whose nodes have the test's folder as HOME (and so their default store there)."""
    group = ProcessGroup({**ros_processes.env, "HOME": str(tmp_path)}, ros_processes.log_dir)
    try:
        yield group
    finally:
        group.stop_all()


def test_two_namespaces_each_complete_their_own_work_with_their_own_store(home_processes, ros_context, ros_namespace, tmp_path):
    from ament_index_python.packages import get_package_share_directory

    from operation_dispatcher import SQLiteStore
    from operation_dispatcher_interfaces.action import ExecuteOperation
    from operation_dispatcher_interfaces.srv import AddOperations, GetDispatcherState, GetEvents, Handshake

    config = Path(get_package_share_directory("operation_dispatcher_ros")) / "config"
    namespaces = {robot: f"{ros_namespace}/{robot}" for robot in ROBOTS}
    clients = {}
    try:
        for namespace in namespaces.values():
            # approve_all: what is under test is who serves which resource, not the battery rule
            start_sim_bringup(home_processes, namespace, config, {"sim_robot_node": {"speed": 5.0}, "business_logic_node": {"rule": "approve_all"}})
        for robot, namespace in namespaces.items():
            client = clients[robot] = RosClient(ros_context, f"test_client_{robot}", namespace)
            client.wait_for_action_server(ExecuteOperation, "execute_operation", 30.0)
            client.wait_for_service(Handshake, "handshake/start", 30.0)
            client.wait_for_service(AddOperations, "add_operations", 30.0)
            client.wait_for_publishers("dispatch_events", timeout=30.0)
        events = {robot: client.record_events() for robot, client in clients.items()}
        assert all(p.alive() for p in home_processes.processes), home_processes.logs()

        for robot, client in clients.items():
            state = client.call(GetDispatcherState, "get_dispatcher_state").state
            assert state.resource_id == namespaces[robot], state  # the namespace, without the leading slash
            ops = [transport(f"{robot}-a", 2, dx=0.5), transport(f"{robot}-b", 1, dx=0.5)]
            response = client.call(AddOperations, "add_operations", operations=ops)
            assert response.success, response.message
        for robot in ROBOTS:
            for op in ("a", "b"):
                events[robot].wait_event("OPERATION_COMPLETED", f"{robot}-{op}", timeout=30.0)

        for robot, client in clients.items():
            other = next(r for r in ROBOTS if r != robot)
            seen = {e.operation_id for e in events[robot].snapshot() if e.operation_id}
            assert seen == {f"{robot}-a", f"{robot}-b"}, seen
            assert {e.resource_id for e in events[robot].snapshot()} == {namespaces[robot]}
            unknown = client.call(GetEvents, "get_events", operation_id=f"{other}-a")
            assert not unknown.success and unknown.error_code == GetEvents.Response.NOT_FOUND, unknown.message
    finally:
        for client in clients.values():
            client.close()
        codes = home_processes.stop_all()
    assert all(code == 0 for code in codes.values()), (codes, home_processes.logs())

    # Each dispatcher kept its own work in its own file, named after its namespace.
    folder = tmp_path / ".ros" / "operation_dispatcher"
    assert sorted(p.name for p in folder.glob("*.db")) == [f"{ros_namespace}.{robot}.db" for robot in ROBOTS]
    for robot in ROBOTS:
        store = SQLiteStore(str(folder / f"{ros_namespace}.{robot}.db"))
        try:
            states = {r.operation.id: r.execution.state.value for r in store.load(namespaces[robot]).records}
        finally:
            store.close()
        assert states == {f"{robot}-a": "COMPLETED", f"{robot}-b": "COMPLETED"}, states
