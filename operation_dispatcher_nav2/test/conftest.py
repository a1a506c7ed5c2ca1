"""The ROS fixtures of ``operation_dispatcher_ros/test`` for the Nav2 tests, plus the executor's.

Those fixtures (own domain, real processes, the rclpy client, ``bringup``)
live in that folder's conftest.py and come here through its
shared_fixtures.py; its folder goes on ``sys.path`` for the helpers it and
the tests import (``ros_testing``, ``lifecycle_testing``).

- ``start_executor``  ``start_executor({...})`` starts the installed
                      ``nav2_executor_node`` in ``ros_namespace`` (reaped by
                      ``ros_processes``) and waits until it serves
                      ``execute_operation``.
- ``scripted_nav2``   ``scripted_nav2([plan, ...], actions=...)``: a Nav2
                      stand-in node in the test process (see nav2_stand_in.py),
                      closed at teardown.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ROS_TEST_DIR = Path(__file__).resolve().parents[2] / "operation_dispatcher_ros" / "test"
if str(ROS_TEST_DIR) not in sys.path:
    sys.path.append(str(ROS_TEST_DIR))
from shared_fixtures import ros_fixtures  # noqa: E402  (found through the line above)

globals().update(ros_fixtures())


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
