"""The dispatcher node serves REST, the dashboard and MCP on the same dispatcher when http_port is set."""

from __future__ import annotations

import socket

import pytest

pytestmark = pytest.mark.ros
httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_rest_and_ros_doors_share_one_dispatcher(bringup, ros_client):
    from operation_dispatcher_interfaces.srv import ListOperations

    port = free_port()
    bringup(dispatcher={"http_port": port, "resource_id": "robot_http"})
    base = f"http://127.0.0.1:{port}"
    with httpx.Client(base_url=base, timeout=10) as http:
        snapshot = http.get("/dispatcher").json()
        assert snapshot["resource_id"] == "robot_http"
        created = http.post(
            "/operations/add",
            json=[{"id": "via-rest", "resource_id": "robot_http", "payload": {"pickup": {"x": 0.1, "y": 0.0}, "dropoff": {"x": 0.2, "y": 0.0}}}],
        )
        assert created.status_code == 201, created.text
        listed = ros_client.call(ListOperations, "list_operations", state="")
        assert listed.success and "via-rest" in [s.operation.id for s in listed.operations]
        assert http.get("/").status_code == 200  # the dashboard page
        refused = http.post("/operations/add", json=[{"resource_id": "robot_other"}])
        assert refused.status_code == 400 and refused.json()["error"]["code"] == "VALIDATION"


def test_a_public_bind_without_token_is_refused_at_start(ros_processes, ros_namespace):
    process = ros_processes.start("dispatcher_node", namespace=ros_namespace, params={"store_path": "", "http_port": free_port(), "http_host": "0.0.0.0"})
    assert process.popen.wait(timeout=30) == 2
    assert "http_host" in process.log_tail()


def test_the_http_doors_leave_the_dispatch_loop_to_the_node(bringup, ros_client):
    """The doors open with activate, and serving HTTP never starts dispatcher.run() behind the node's back."""
    from lifecycle_testing import activate

    from operation_dispatcher_interfaces.srv import DispatcherCommand, GetDispatcherState

    port = free_port()
    bringup(dispatcher={"http_port": port, "autostart": False})  # inactive: no doors yet
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/dispatcher", timeout=5)
    activate(ros_client)
    assert ros_client.call(DispatcherCommand, "dispatcher/stop").success
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
        assert http.get("/dispatcher").json()["status"] == "STOPPED"
        assert ros_client.call(GetDispatcherState, "get_dispatcher_state").state.status_name == "STOPPED"
        started = ros_client.call(DispatcherCommand, "dispatcher/start")
        assert started.success, started.message  # the node's own start finds the loop not running
        assert http.get("/dispatcher").json()["status"] == "RUNNING"
