"""The ROS fixtures of ``operation_dispatcher_ros/test`` for the Nav2 tests, plus the executor's.

Those fixtures (own domain, real processes, the rclpy client, ``bringup``)
live in that folder's conftest.py. pytest takes ``pytest_plugins`` only from
the root conftest, so that file is loaded here by path, under a module name
of its own, and its fixtures are imported into this conftest; its folder
goes on ``sys.path`` for the helpers it and the tests import
(``ros_testing``, ``lifecycle_testing``).

- ``start_executor``  ``start_executor({...})`` starts the installed
                      ``nav2_executor_node`` in ``ros_namespace`` (reaped by
                      ``ros_processes``) and waits until it serves
                      ``execute_operation``.
- ``scripted_nav2``   ``scripted_nav2([plan, ...], actions=...)``: a Nav2
                      stand-in node in the test process (see nav2_stand_in.py),
                      closed at teardown.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROS_TEST_DIR = Path(__file__).resolve().parents[2] / "operation_dispatcher_ros" / "test"
FIXTURES_MODULE = "operation_dispatcher_ros_test_fixtures"


def _ros_fixtures() -> ModuleType:
    if FIXTURES_MODULE not in sys.modules:
        if str(ROS_TEST_DIR) not in sys.path:
            sys.path.append(str(ROS_TEST_DIR))
        spec = importlib.util.spec_from_file_location(FIXTURES_MODULE, ROS_TEST_DIR / "conftest.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[FIXTURES_MODULE] = module
        spec.loader.exec_module(module)
    return sys.modules[FIXTURES_MODULE]


ROS_FIXTURES = ("ros_domain", "ros_context", "ros_namespace", "ros_processes", "ros_client", "bringup", "pytest_runtest_makereport")
"""What this conftest takes over from that one: its fixtures, and the report hook that its
``ros_processes`` reads to print the node logs of a failed test."""
globals().update({name: getattr(_ros_fixtures(), name) for name in ROS_FIXTURES})


@pytest.fixture
def start_executor(ros_processes: Any, ros_client: Any, ros_namespace: str) -> Callable[..., Any]:
    def start(params: dict[str, Any] | None = None, timeout: float = 20.0) -> Any:
        from operation_dispatcher_interfaces.action import ExecuteOperation

        proc = ros_processes.start("nav2_executor_node", ros_namespace, params or {}, package="operation_dispatcher_nav2")
        try:
            ros_client.wait_for_action_server(ExecuteOperation, "execute_operation", timeout)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{ros_processes.logs()}") from None
        return proc

    return start


@pytest.fixture
def scripted_nav2(ros_context: Any, ros_namespace: str) -> Iterator[Callable[..., Any]]:
    made: list[Any] = []

    def make(script: list[dict[str, Any]] | None = None, **options: Any) -> Any:
        from nav2_stand_in import ScriptedNav2

        nav2 = ScriptedNav2(ros_context, ros_namespace, script or [], **options)
        made.append(nav2)
        return nav2

    try:
        yield make
    finally:
        for nav2 in made:
            nav2.close()
