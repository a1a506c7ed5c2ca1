"""The simulated bring-up as sim_robot.launch.py starts it, without ros2 launch (not on PyPI).

The launch files layer the parameter files: the dispatcher loads
config/dispatcher.yaml, then config/sim_robot.yaml on top of it (the later
file wins, as rcl merges several ``--params-file``); the business logic and
the sim robot load config/sim_robot.yaml alone. :func:`start_sim_bringup`
starts the three installed executables the same way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ros_testing import NodeProcess, ProcessGroup, ros_args

SIM_NODES = ("sim_robot_node", "business_logic_node", "dispatcher_node")


def params_files(executable: str, config: Path) -> list[Path]:
    """The parameter files sim_robot.launch.py gives ``executable``, in load order."""
    if executable == "dispatcher_node":
        return [config / "dispatcher.yaml", config / "sim_robot.yaml"]
    return [config / "sim_robot.yaml"]


def start_layered(group: ProcessGroup, executable: str, namespace: str, files: list[Path], params: dict[str, Any] | None = None) -> NodeProcess:
    """Start ``executable`` with every file of ``files`` (in order), then ``params`` (which win)."""
    layered = [arg for path in files for arg in ("--params-file", str(path))]
    args = ros_args(namespace) + layered + ros_args(params=params)[1:]  # one --ros-args section
    return group._spawn(executable, args)  # ProcessGroup.start takes one params file; same spawn and reaping


def start_sim_bringup(
    group: ProcessGroup, namespace: str, config: Path, params: dict[str, dict[str, Any]] | None = None
) -> dict[str, NodeProcess]:
    """The three nodes of sim_robot.launch.py in ``namespace``; ``params`` per executable override the files."""
    return {exe: start_layered(group, exe, namespace, params_files(exe, config), (params or {}).get(exe)) for exe in SIM_NODES}
