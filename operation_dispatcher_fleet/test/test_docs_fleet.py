"""docs/fleet.md cannot rot: the gateway's parameter table and fleet.launch.py's arguments are the code's."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "fleet.md").read_text()

pytestmark = pytest.mark.ros


def test_the_gateway_parameter_table_is_the_declarations() -> None:
    from operation_dispatcher_fleet.gateway_node import PARAMETERS

    rows = dict(re.findall(r"^\| `(\w+)` \| `([^`]*)` \|", DOC, re.MULTILINE))
    assert set(rows) == set(PARAMETERS), "docs/fleet.md's table and gateway_node.PARAMETERS differ"
    for name, (default, _description) in PARAMETERS.items():
        shown = '""' if default == "" else str(default)
        assert rows[name] == shown, f"{name}: the docs say {rows[name]}, the node {default!r}"


def test_every_fleet_launch_argument_is_in_the_docs() -> None:
    source = (ROOT / "operation_dispatcher_fleet" / "launch" / "fleet.launch.py").read_text()
    arguments = re.findall(r'DeclareLaunchArgument\(\s*"(\w+)"', source)
    assert len(arguments) >= 6
    for name in arguments:
        assert f"`{name}`" in DOC, f"fleet.launch.py argument {name} is not in docs/fleet.md"
