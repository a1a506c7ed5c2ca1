"""Every node exits 0 on SIGINT and SIGTERM while the system works (issue 10, defect 3a).

The dispatcher and the business logic, each signalled while a transport is
running (the dispatcher follows its goal, the business logic follows the
robot's 20 Hz battery stream); the sim robot in its own file
(test_sim_robot_node.py: idle, mid-goal, paused). rclpy's signal thread
shuts the context down at any moment of the executor's work; node_main
turns an rcl error raised after that into the shutdown it is.
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
from typing import Any

import pytest

pytestmark = pytest.mark.ros

pytest.importorskip("rclpy", reason="needs the ROS 2 wheels (make setup)")
pytest.importorskip("operation_dispatcher_interfaces", reason="needs the colcon workspace (make setup)")

from operation_dispatcher_interfaces.msg import Operation  # noqa: E402
from operation_dispatcher_interfaces.srv import AddOperations  # noqa: E402

LONG_TRANSPORT = json.dumps({"pickup": {"x": 100.0, "y": 0.0}, "dropoff": {"x": 100.0, "y": 100.0}})


def _during_a_goal(bringup: Any, ros_client: Any, node: str) -> tuple[Any, int]:
    """The three nodes up and a long transport running; ``node``'s process and where its log stands."""
    procs = bringup()
    events = ros_client.record_events()
    response = ros_client.call(AddOperations, "add_operations", operations=[Operation(id="long", payload_json=LONG_TRANSPORT)])
    assert response.success, response.message
    events.wait_event("OPERATION_STARTED", "long", timeout=20.0)
    proc = procs[node]
    return proc, proc.log_path.stat().st_size


def _shutdown_log(proc: Any, mark: int) -> str:
    return proc.log_path.read_bytes()[mark:].decode(errors="replace")  # the log file outlives a run


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("node", ["dispatcher", "business_logic"])
def test_signal_during_an_operation_exits_with_status_0(bringup: Any, ros_client: Any, node: str, sig: signal.Signals) -> None:
    proc, mark = _during_a_goal(bringup, ros_client, node)
    proc.popen.send_signal(sig)
    assert proc.popen.wait(15.0) == 0, proc.log_tail()
    shutdown_log = _shutdown_log(proc, mark)
    assert "Traceback" not in shutdown_log, shutdown_log


@pytest.mark.parametrize("node", ["dispatcher", "business_logic", "sim_robot"])
def test_signals_that_keep_coming_during_the_teardown_still_exit_with_status_0(bringup: Any, ros_client: Any, node: str) -> None:
    """Ctrl-C on ``ros2 launch`` reaches each node twice (the terminal's, then launch's own); here
    SIGINT every 1 ms until the node is gone, so some land in every moment of its teardown (every 20 ms
    found the old order once in a CI run; every 1 ms finds it in 2 nodes of 6 here)."""
    proc, mark = _during_a_goal(bringup, ros_client, node)
    sent = 0
    while proc.popen.poll() is None and sent < 15000:  # 15 s
        proc.popen.send_signal(signal.SIGINT)
        sent += 1
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.popen.wait(0.001)
    assert proc.popen.wait(1.0) == 0, f"after {sent} x SIGINT:\n{proc.log_tail()}"
    assert sent > 1, "the node was gone after the first signal: nothing landed in its teardown"
    shutdown_log = _shutdown_log(proc, mark)
    assert "Traceback" not in shutdown_log, shutdown_log


SWALLOWED_INTERRUPT = """
import functools, os, signal, sys, time
import rclpy
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions
from operation_dispatcher_ros.node_main import run_node

# Only Python's handler: no context shut down by rclpy, so only the SIGINT itself can tell.
rclpy.init = functools.partial(rclpy.init, signal_handler_options=SignalHandlerOptions.NO)


class Swallowing(Node):
    def __init__(self):
        super().__init__("swallowing")
        self.create_timer(0.01, self.tick)

    def tick(self):
        if sys.argv[1] == "signal":
            try:
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(5.0)
            except KeyboardInterrupt:
                pass  # what pybind11 does while converting: the interrupt is gone, its error is not
        raise RuntimeError("Unable to convert call argument '0' to Python object")


sys.exit(run_node(Swallowing, [], num_threads=1))
"""


@pytest.mark.parametrize(("how", "status"), [("signal", 0), ("no-signal", 1)])
def test_an_error_after_a_sigint_is_the_shutdown_and_without_one_it_is_not(tmp_path: Any, how: str, status: int) -> None:
    """A SIGINT's KeyboardInterrupt that a binding swallowed leaves an error that does not name it
    (a fresh-clone run: the fleet rules node exited 1 from a subscription's take_message); after a
    SIGINT run_node exits 0 all the same, and the same error without one still ends the process 1."""
    script = tmp_path / "swallowing.py"
    script.write_text(SWALLOWED_INTERRUPT)
    done = subprocess.run([sys.executable, str(script), how], capture_output=True, text=True, timeout=60.0)
    assert done.returncode == status, done.stderr
    assert ("Unable to convert call argument" in done.stderr) == (status == 1), done.stderr
