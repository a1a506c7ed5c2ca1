"""The simulated bring-up as sim_robot.launch.py starts it, without ros2 launch (not on PyPI).

The launch files layer the parameter files: the dispatcher loads
config/dispatcher.yaml, then config/sim_robot.yaml on top of it (the later
file wins, as rcl merges several ``--params-file``); the business logic and
the sim robot load config/sim_robot.yaml alone. :func:`start_sim_bringup`
starts the three installed executables the same way (``ProcessGroup.start``
takes the files in load order, single parameters on top).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ros_testing import NodeProcess, ProcessGroup

SIM_NODES = ("sim_robot_node", "business_logic_node", "dispatcher_node")


def params_files(executable: str, config: Path) -> list[Path]:
    """The parameter files sim_robot.launch.py gives ``executable``, in load order."""
    if executable == "dispatcher_node":
        return [config / "dispatcher.yaml", config / "sim_robot.yaml"]
    return [config / "sim_robot.yaml"]


def start_sim_bringup(
    group: ProcessGroup, namespace: str, config: Path, params: dict[str, dict[str, Any]] | None = None
) -> dict[str, NodeProcess]:
    """The three nodes of sim_robot.launch.py in ``namespace``; ``params`` per executable override the files."""
    return {exe: group.start(exe, namespace, (params or {}).get(exe), params_files(exe, config)) for exe in SIM_NODES}
