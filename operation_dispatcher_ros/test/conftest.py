"""Fixtures for the ROS tests: own domain, real processes, an rclpy client.

- ``ros_domain``     (session) a ROS_DOMAIN_ID held for this run; also put
                     into os.environ with LOCALHOST discovery, so every node
                     the run starts inherits it.
- ``ros_context``    (session) an initialised rclpy Context.
- ``ros_namespace``  a fresh namespace per test (``t<pid>_<n>``), so a node
                     left from an earlier test can never answer.
- ``ros_processes``  a ProcessGroup: ``.start(executable, namespace=...,
                     params={...})`` spawns an installed executable; every
                     process is stopped at teardown (SIGINT, SIGTERM, SIGKILL)
                     and its log tail is printed when the test failed.
- ``ros_client``     a RosClient (own node in ``ros_namespace``, spun in a
                     background thread).
- ``bringup``        starts dispatcher + business logic + sim robot in
                     ``ros_namespace`` and waits until they serve (the sim
                     robot with ``serve: nav2``: until it serves Nav2).

Domain range: $OD_TEST_DOMAIN_RANGE ("lo-hi"), default 10-39.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
_namespaces = itertools.count()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


def _ros() -> Any:
    """Import the ROS test helpers, skipping when rclpy or the workspace is missing."""
    pytest.importorskip("rclpy", reason="needs the ROS 2 wheels (make setup)")
    pytest.importorskip("operation_dispatcher_interfaces", reason="needs the colcon workspace (make setup)")
    import ros_testing

    return ros_testing


@pytest.fixture(scope="session")
def ros_domain() -> Iterator[int]:
    ros_testing = _ros()
    claim = ros_testing.claim_domain_id()
    saved = {k: os.environ.get(k) for k in ("ROS_DOMAIN_ID", "ROS_AUTOMATIC_DISCOVERY_RANGE", "ROS_LOCALHOST_ONLY")}
    os.environ["ROS_DOMAIN_ID"] = str(claim.domain_id)
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    os.environ.pop("ROS_LOCALHOST_ONLY", None)  # deprecated twin; would conflict on Jazzy
    try:
        yield claim.domain_id
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        claim.release()


@pytest.fixture(scope="session")
def ros_context(ros_domain: int) -> Iterator[Any]:
    _ros()
    import rclpy
    from rclpy.context import Context

    context = Context()
    rclpy.init(context=context)
    try:
        yield context
    finally:
        context.try_shutdown()


@pytest.fixture
def ros_namespace() -> str:
    return f"t{os.getpid()}_{next(_namespaces)}"


@pytest.fixture
def ros_processes(request: pytest.FixtureRequest, ros_domain: int) -> Iterator[Any]:
    ros_testing = _ros()
    env = dict(os.environ, PYTHONUNBUFFERED="1", RCUTILS_LOGGING_BUFFERED_STREAM="0", RCUTILS_COLORIZED_OUTPUT="0")
    log_dir = REPO_ROOT / "test-artifacts" / "ros" / os.environ.get("ROS_DISTRO", "ros") / request.node.name.replace("/", "_")
    group = ros_testing.ProcessGroup(env, log_dir)
    try:
        yield group
    finally:
        group.stop_all()
        failed = any(getattr(request.node, f"rep_{w}", None) and getattr(request.node, f"rep_{w}").failed for w in ("setup", "call"))
        if failed and group.processes:
            print(f"\n===== node logs ({log_dir}) =====\n{group.logs()}")


@pytest.fixture
def ros_client(ros_context: Any, ros_namespace: str) -> Iterator[Any]:
    ros_testing = _ros()
    client = ros_testing.RosClient(ros_context, namespace=ros_namespace)
    try:
        yield client
    finally:
        client.close()


def _served_action(sim_robot: dict[str, Any]) -> tuple[Any, str]:
    """The action whose server shows the sim robot up: its ExecuteOperation, or with serve:=nav2
    (the Nav2 stand-in, no execute_operation) Nav2's NavigateToPose."""
    if sim_robot.get("serve") == "nav2":
        from nav2_msgs.action import NavigateToPose

        return NavigateToPose, sim_robot.get("navigate_to_pose_action", "navigate_to_pose")
    from operation_dispatcher_interfaces.action import ExecuteOperation

    return ExecuteOperation, "execute_operation"


@pytest.fixture
def bringup(ros_processes: Any, ros_client: Any, ros_namespace: str) -> Callable[..., dict[str, Any]]:
    """``bringup(dispatcher={...}, business_logic={...}, sim_robot={...})``: start the three
    nodes (each dict overrides the fast test parameters; None = do not start that node)
    and wait until they serve. A dispatcher with ``autostart: False`` is configured through
    its lifecycle: inactive, serving, not dispatching until ``lifecycle_testing.activate``. Returns {"dispatcher": proc, "business_logic": proc, "sim_robot": proc}."""
    ros_testing = _ros()
    import lifecycle_testing

    from operation_dispatcher_interfaces.srv import AddOperations, Handshake

    def start(
        dispatcher: dict[str, Any] | None = {},  # noqa: B006 (read only)
        business_logic: dict[str, Any] | None = {},  # noqa: B006
        sim_robot: dict[str, Any] | None = {},  # noqa: B006
        timeout: float = 20.0,
    ) -> dict[str, Any]:
        procs: dict[str, Any] = {}
        if sim_robot is not None:
            procs["sim_robot"] = ros_processes.start("sim_robot_node", ros_namespace, {**ros_testing.FAST_SIM_ROBOT_PARAMS, **sim_robot})
        if business_logic is not None:
            procs["business_logic"] = ros_processes.start(
                "business_logic_node", ros_namespace, {**ros_testing.FAST_BUSINESS_LOGIC_PARAMS, **business_logic}
            )
        if dispatcher is not None:
            procs["dispatcher"] = ros_processes.start("dispatcher_node", ros_namespace, {**ros_testing.FAST_DISPATCHER_PARAMS, **dispatcher})
        if sim_robot is not None:
            try:
                ros_client.wait_for_action_server(*_served_action(sim_robot), timeout)
            except AssertionError as exc:
                raise AssertionError(f"{exc}\n{ros_processes.logs()}") from None
        if business_logic is not None:
            ros_client.wait_for_service(Handshake, "handshake/start", timeout)
        if dispatcher is not None:
            if dispatcher.get("autostart") is False:  # it waits unconfigured: configure it (inactive, not dispatching)
                lifecycle_testing.configure(ros_client)
            ros_client.wait_for_service(AddOperations, "add_operations", timeout)
            # so that record_events() after bringup finds the publisher and waits for its match
            ros_client.wait_for_publishers("dispatch_events", timeout=timeout)
            if business_logic is not None and dispatcher.get("autostart") is not False:
                # ... and the dispatcher's own graph shows the business logic: discovery reaches each
                # process in its own time, and a first handshake before it would be "not available"
                # (the default decision: a denial), seen in CI on Jazzy with the test's view ahead.
                ros_client.diagnostic_status(f"/{ros_namespace}/dispatcher", "business_logic_servers", "1", timeout)
        return procs

    assert ros_testing  # imported for its skip
    return start
