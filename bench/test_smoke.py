"""Every benchmark of ``make bench`` runs to its table at tiny sizes, so none can rot unseen.

A smoke run, not a measurement: nothing here asserts a figure (timed
assertions flake on a shared machine). Each script runs as ``make bench``
runs it, in its own process from this folder, and must exit 0 with a
Markdown table on stdout. In ``make test`` only (the bench folder is a
test path; the second distro's ``make test-ros`` does not repeat it).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent


def ros(*command: str) -> object:
    return pytest.param(list(command), True, id=command[0].removesuffix(".py"), marks=pytest.mark.ros)


def plain(*command: str, marks: tuple[pytest.MarkDecorator, ...] = ()) -> object:
    return pytest.param(list(command), False, id=command[0].removesuffix(".py"), marks=marks)


SMOKE = [
    plain("core_throughput.py", "--sizes", "100", "--cycles", "400"),
    plain("denial_flood.py", "--seconds", "0.5"),
    plain("dashboard_cpu.py", "--queued", "200", "--window", "1", marks=(pytest.mark.browser,)),
    ros("paging.py", "--sizes", "100", "--reads", "3", "--whole-reads", "1"),
    ros("ros_round_trip.py", "--round-trips", "5", "--cycles", "3", "--cpu-window", "1"),
    ros("ros_scale.py", "--queued", "300"),
    ros("goals.py", "--round-trips", "5", "--cycles", "3", "--cpu-window", "1", "--events", "200", "--queued", "300", "--core-cycles", "200"),
    ros("ros_events.py", "--samples", "3", "--events", "200", "--bursts", "1"),
]


@pytest.mark.parametrize(("command", "needs_ros"), SMOKE)
def test_the_benchmark_prints_its_table(command: list[str], needs_ros: bool) -> None:
    if needs_ros:
        pytest.importorskip("operation_dispatcher_interfaces", reason="needs the colcon workspace (make setup)")
    done = subprocess.run([sys.executable, *command], cwd=BENCH, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    assert "|---" in done.stdout, done.stdout[-3000:]
