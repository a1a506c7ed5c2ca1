"""The ROS fixtures of this folder, for the test folders of the other packages (Nav2, fleet).

pytest takes ``pytest_plugins`` only from the root conftest, so another
folder's conftest puts this folder on ``sys.path`` and takes the fixtures
from :func:`ros_fixtures`: this folder's conftest.py is loaded by path once,
under a module name of its own, so its fixtures are the same objects
wherever they are used.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

MODULE = "operation_dispatcher_ros_test_fixtures"
NAMES = ("ros_domain", "ros_context", "ros_namespace", "ros_processes", "ros_client", "bringup", "pytest_runtest_makereport")
"""The fixtures shared, and the report hook that ``ros_processes`` reads to print the node logs of a failed test."""


def ros_fixtures() -> dict[str, Any]:
    """The shared fixtures by name, for ``globals().update(...)`` in a conftest."""
    if MODULE not in sys.modules:
        spec = importlib.util.spec_from_file_location(MODULE, Path(__file__).with_name("conftest.py"))
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[MODULE] = module
        spec.loader.exec_module(module)
    return {name: getattr(sys.modules[MODULE], name) for name in NAMES}
