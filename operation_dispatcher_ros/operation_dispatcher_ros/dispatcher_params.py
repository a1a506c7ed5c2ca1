"""The dispatcher node's parameters: declared with descriptors, read into
one settings object, validated (at configure and on every change).

Defaults here equal ``config/dispatcher.yaml``, except ``resource_id``:
it defaults to the node's namespace (:func:`namespace_resource_id`), so
robots launched side by side in their own namespaces never share a resource
or a store file, and the config files leave it out. Names, resource and the
executor's interface are read-only (they shape the ROS graph), policies,
timeouts and the RViz markers' settings may change at runtime.

The robot's parameters were called ``executor_*`` until this release
(they read as rclpy's executor): the old names still work for one release,
declared beside the new ones; a value given under an old name applies to
the new one with a deprecation warning (:data:`DEPRECATED`).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, ParameterType
from rclpy.node import Node

from operation_dispatcher_interfaces.srv import ListOperations

from .node_main import ConfigurationError


@dataclass(frozen=True)
class Spec:
    default: Any
    description: str
    read_only: bool = False
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()


DEFAULT_STORE_PATH = "~/.ros/operation_dispatcher/{resource_id}.db"
ROOT_RESOURCE_ID = "robot_1"
"""The resource of a dispatcher in the root namespace ``/``."""

SPECS: dict[str, Spec] = {
    "resource_id": Spec(
        ROOT_RESOURCE_ID,
        "The resource this dispatcher serves; operations with another resource_id are refused. Default: the node's "
        f"namespace without the leading slash (/site_a/robot_2 -> site_a/robot_2), {ROOT_RESOURCE_ID} in the root namespace.",
        True,
    ),
    "handshake_start_service": Spec("handshake/start", "Handshake service asked on OPERATION_START_REQUESTED.", True),
    "handshake_cancel_service": Spec("handshake/cancel", "Handshake service asked on OPERATION_CANCEL_REQUESTED.", True),
    "handshake_pause_service": Spec("handshake/pause", "Handshake service asked on OPERATION_PAUSE_REQUESTED.", True),
    "handshake_resume_service": Spec("handshake/resume", "Handshake service asked on OPERATION_RESUME_REQUESTED.", True),
    "handshake_timeout": Spec(2.0, "Seconds to wait for the business logic (discovery + answer) before the default decision applies.", low=0.05, high=600.0),
    "default_decision": Spec("deny", "What applies when the business logic does not answer in time: approve or deny.", choices=("approve", "deny")),
    "cooldown_seconds": Spec(2.0, "After a denied start, wait this long (at least 0.1 s) before asking again; a change applies to the wait already running.", low=0.0, high=3600.0),
    "max_retries": Spec(5, "Denied starts in a row after which the dispatcher pauses itself.", low=1, high=1000000),
    "max_consecutive_failures": Spec(
        5, "Operations failed in a row (none completed between) after which the dispatcher pauses itself; 0 = never.",
        low=0, high=1000000,
    ),
    "failure_retry_enabled": Spec(False, "Queue a FAILED operation again after a back-off."),
    "failure_retry_max_attempts": Spec(3, "Starts an operation gets in total when failure retry is enabled.", low=1, high=1000),
    "failure_retry_backoff": Spec(1.0, "Seconds before the first retry of a failed operation.", low=0.0, high=3600.0),
    "failure_retry_multiplier": Spec(2.0, "Each further retry waits this many times longer.", low=1.0, high=100.0),
    "failure_retry_max_backoff": Spec(60.0, "Upper bound of the back-off in seconds.", low=0.0, high=86400.0),
    "robot_action": Spec("execute_operation", "ExecuteOperation action served by the robot.", True),
    "robot_pause_service": Spec("execute_operation/pause", "std_srvs/Trigger service that holds the robot's active goal.", True),
    "robot_resume_service": Spec("execute_operation/resume", "std_srvs/Trigger service that continues the held goal.", True),
    "robot_server_timeout": Spec(5.0, "Seconds a start waits for the action server to appear.", low=0.05, high=600.0),
    "robot_goal_timeout": Spec(5.0, "Seconds a start waits for the goal to be accepted.", low=0.05, high=600.0),
    "robot_cancel_timeout": Spec(10.0, "Seconds a cancel waits for the robot to stop.", low=0.05, high=600.0),
    "robot_service_timeout": Spec(2.0, "Seconds pause / resume wait for the robot's Trigger services.", low=0.05, high=600.0),
    "robot_timeout": Spec(
        10.0,
        "Watchdog: a RUNNING operation whose robot sends no feedback or result for this long, or a RUNNING or "
        "PAUSED one whose action server is gone this long, is FAILED ('executor lost: ...'); 0 = off.",
        low=0.0, high=3600.0,
    ),
    "not_ready_first_seconds": Spec(
        0.1,
        "After a start answered 'not ready' without a retry_after, ask again after this long (doubling per "
        "not-ready answer in a row); never counted as a denial.",
        low=0.001, high=3600.0,
    ),
    "not_ready_max_seconds": Spec(0.5, "Upper bound of that not-ready back-off (at least not_ready_first_seconds).", low=0.001, high=3600.0),
    "autostart": Spec(
        True,
        "Walk the lifecycle to active when the process starts (configure + activate; exit 2 if configure fails); "
        "false: wait unconfigured for `ros2 lifecycle set`.",
        True,
    ),
    "state_publish_period": Spec(0.2, "Minimum seconds between dispatcher_state messages caused by progress alone.", True, low=0.01, high=60.0),
    "store_path": Spec(
        DEFAULT_STORE_PATH,
        "SQLite file that keeps operations, history and events across restarts ('~', $VARS and {resource_id} "
        "are expanded); empty = memory only, lost when the node ends.",
        True,
    ),
    "store_busy_timeout": Spec(
        5.0,
        "Seconds a write waits while another connection holds the store file's lock; then the change is refused "
        "with STORAGE (nothing changed) and may be tried again.",
        True, low=0.0, high=3600.0,
    ),
    "on_interrupted": Spec(
        "requeue",
        "What a restart does with the operation found RUNNING or PAUSED in the store: requeue it or fail it "
        "(either way an OPERATION_FAILED event says interrupted).",
        True,
        choices=("requeue", "fail"),
    ),
    "http_port": Spec(
        0,
        "Serve REST/OpenAPI, the live dashboard and MCP (streamable HTTP) on this port, on the same dispatcher; "
        "0 = off. Needs the core's [api,mcp] extras.",
        True, low=0, high=65535,
    ),
    "http_host": Spec("127.0.0.1", "Address the HTTP doors bind; anything but loopback requires http_token.", True),
    "http_token": Spec("", "Bearer token the HTTP doors require ('' = none, loopback only).", True),
    "markers_frame": Spec("map", "Frame of the dispatch_markers (RViz) of every stop that names none, and of the robot's label."),
    "markers_max_goals": Spec(
        50, "Queued operations (from the head of the queue) whose goals dispatch_markers draws; 0 = none.",
        low=0, high=ListOperations.Request.LIMIT_MAX,  # the core's largest page
    ),
    "markers_label_offset": Spec(
        [0.0, 0.0, 1.0],
        "Where the robot's label stands in dispatch_markers, [x, y, z] in markers_frame (the dispatcher does not "
        "know the robot's pose: place each robot's label apart).",
    ),
}


DEPRECATED: dict[str, str] = {
    f"executor_{suffix}": f"robot_{suffix}"
    for suffix in ("action", "pause_service", "resume_service", "server_timeout", "goal_timeout", "cancel_timeout",
                   "service_timeout", "timeout")
}
"""Old parameter name -> its new name (kept working for one release)."""


def current_name(name: str) -> str:
    """The name a parameter goes by now (an old ``executor_*`` name maps to its ``robot_*`` one)."""
    return DEPRECATED.get(name, name)


def _descriptor(name: str, spec: Spec) -> ParameterDescriptor:
    text = spec.description + (f" One of: {', '.join(spec.choices)}." if spec.choices else "")
    d = ParameterDescriptor(name=name, description=text, read_only=spec.read_only)
    if spec.low is not None and spec.high is not None and not isinstance(spec.default, bool):
        if isinstance(spec.default, int):
            d.type = ParameterType.PARAMETER_INTEGER
            d.integer_range = [IntegerRange(from_value=int(spec.low), to_value=int(spec.high), step=1)]
        elif isinstance(spec.default, float):
            d.type = ParameterType.PARAMETER_DOUBLE
            d.floating_point_range = [FloatingPointRange(from_value=float(spec.low), to_value=float(spec.high), step=0.0)]
    return d


def namespace_resource_id(namespace: str) -> str:
    """The default ``resource_id`` of a dispatcher in ``namespace``: the namespace without its leading slash.

    The whole namespace, not its last segment: ``/site_a/robot_1`` and
    ``/site_b/robot_1`` are two robots and get two resources (and two store
    files). ``/`` gives :data:`ROOT_RESOURCE_ID`.
    """
    return namespace.strip("/") or ROOT_RESOURCE_ID


def declare(node: Node) -> None:
    """Declare every parameter (``resource_id`` defaulting to the node's namespace); rcl checks the ranges.

    The old ``executor_*`` names are declared first: a value given under one
    becomes the default of its ``robot_*`` name (so ``ros2 param get`` shows
    what applies), unless the new name is given too, which wins."""
    given_as_old: dict[str, Any] = {}
    for old, new in DEPRECATED.items():
        spec = SPECS[new]
        value = node.declare_parameter(old, spec.default, _descriptor(old, Spec(**{**spec.__dict__, "description": f"Deprecated: use {new}."}))).value
        if value != spec.default:
            given_as_old[new] = value
            node.get_logger().warning(f"parameter {old} is deprecated: use {new} (its value {value!r} applies to {new} unless {new} is set)")
    for name, spec in SPECS.items():
        default = namespace_resource_id(node.get_namespace()) if name == "resource_id" else given_as_old.get(name, spec.default)
        node.declare_parameter(name, default, _descriptor(name, spec))


def values(node: Node) -> dict[str, Any]:
    """The parameters' current values (the lifecycle's configure reads them), validated."""
    found = {name: node.get_parameter(name).value for name in SPECS}
    problem = check(found)
    if problem:
        raise ConfigurationError(problem)
    return found


def check(values: dict[str, Any]) -> str | None:
    """A message naming the first bad value, or None (ranges are enforced by rcl)."""
    for name, spec in SPECS.items():
        if spec.choices and values.get(name) not in spec.choices:
            return f"{name}: must be one of {', '.join(spec.choices)}; got {values.get(name)!r}"
    if not values["resource_id"]:
        return "resource_id: must not be empty"
    for name in ("handshake_start_service", "handshake_cancel_service", "handshake_pause_service",
                 "handshake_resume_service", "robot_action"):
        if not values[name]:
            return f"{name}: must not be empty"
    if "{" in values["store_path"] or "}" in values["store_path"]:
        try:
            values["store_path"].format(resource_id="x")
        except (KeyError, IndexError, ValueError):
            return "store_path: the only placeholder allowed is {resource_id}"
    if values["not_ready_first_seconds"] > values["not_ready_max_seconds"]:
        return "not_ready_max_seconds: must be at least not_ready_first_seconds"
    if not values["markers_frame"]:
        return "markers_frame: must not be empty"
    offset = values["markers_label_offset"]
    if len(offset) != 3 or not all(math.isfinite(v) for v in offset):
        return f"markers_label_offset: must be three finite numbers [x, y, z]; got {list(offset)!r}"
    return None


def store_file(store_path: str, resource_id: str) -> str | None:
    """The SQLite file ``store_path`` names for ``resource_id`` (absolute), or None for memory only.

    A resource id never makes a sub-folder: its slashes become dots
    (``site_a/robot_2`` -> ``site_a.robot_2.db``). ROS names hold no dots, so
    two namespaces never map to one file (an underscore would: ``/a/b`` and
    ``/a_b``).
    """
    if not store_path:
        return None
    safe_id = resource_id.replace("/", ".").replace(os.sep, ".")  # os.sep: "\\" on Windows
    path = os.path.expanduser(os.path.expandvars(store_path.format(resource_id=safe_id)))
    return os.path.abspath(path)
