"""`make demo` and `make demo-nav2` end as README.md says: three transports COMPLETED, one denial shown.

The demo is what a newcomer runs first (README's first command), so it is run
here as they run it: ``python -m operation_dispatcher_ros.demo`` in its own
process, which starts the installed nodes itself (its own domain from 60-99)
and stops them; only faster (``--speed``) so the test stays short.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.ros

pytest.importorskip("rclpy", reason="needs the ROS 2 wheels (make setup)")
pytest.importorskip("operation_dispatcher_interfaces", reason="needs the colcon workspace (make setup)")

TRANSPORTS = ("pallet-low", "pallet-urgent", "pallet-normal")


@pytest.mark.parametrize("chain", [[], ["--nav2"]], ids=["sim_robot", "nav2"])
def test_the_demo_completes_its_three_transports_and_shows_the_denial(chain: list[str]) -> None:
    command = [sys.executable, "-m", "operation_dispatcher_ros.demo", "--speed", "10", "--timeout", "90", *chain]
    done = subprocess.run(command, capture_output=True, text=True, timeout=150)
    out = done.stdout
    assert done.returncode == 0, f"exit {done.returncode}\n{out[-4000:]}\n{done.stderr[-4000:]}"
    completed = [line.split("OPERATION_COMPLETED", 1)[1].split()[0] for line in out.splitlines() if "OPERATION_COMPLETED" in line]
    assert sorted(completed) == sorted(TRANSPORTS), out
    assert "OPERATION_START_DENIED" in out and "reason=" in out, out  # the business logic denies the first start
    assert "all 3 transports done" in out, out
    if chain:
        assert "nav2 NavigateThroughPoses" in out and "SUCCEEDED" in out, out  # the Nav2 side is shown
