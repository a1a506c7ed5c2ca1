"""One ``main()`` for every node of this package: init, spin, clean shutdown.

``rclpy.init()`` installs rclpy's handlers for SIGINT and SIGTERM; either
signal shuts the context down, the executor's spin then raises
``ExternalShutdownException`` (or KeyboardInterrupt on an older rclpy), and
the node is destroyed before the process exits with status 0. A node that
cannot start with its parameters exits with status 2 and says which one.

The shutdown comes from rclpy's signal thread, at any moment of the
executor's work: the spin may be building its next wait set ("failed to
initialize wait set: the given context is not valid") or a callback may be
publishing ("publisher's context is invalid"), and the executor re-raises
that callback's error from ``spin()``. Reproduced here: sim robot, SIGTERM
during a goal, 2 exits with status 1 in 30. An ``RCLError`` once the
context is shut down is that shutdown, not a failure; while the context is
still valid it is a real error and still ends the process.

Fast DDS profile: before ``rclpy.init()`` the process points Fast DDS at
this package's ``config/fastdds_services.xml`` (service replies wait up to
5 s for a fresh client's reply reader instead of 100 ms; the file says why),
unless the user names a profile of their own: either variable set, or a
default profile file in the working directory (Fast DDS reads that only
when no variable is set). One variable, the one this Fast DDS reads:
``FASTDDS_DEFAULT_PROFILES_FILE`` for Fast DDS 3 (Kilted on),
``FASTRTPS_DEFAULT_PROFILES_FILE`` for Fast DDS 2 (Humble, Jazzy); with
both set, Kilted's rmw_fastrtps loads the file a second time under the old
name (a deprecation warning and an error per profile, seen here). The
launch files start these console scripts, so they get it too.

The executor: a node whose callbacks block (the dispatcher's service
callbacks wait for its asyncio loop, the sim robot's action execute loop)
needs rclpy's MultiThreadedExecutor; a node whose callbacks are all short
(the business logic) is better spun by a SingleThreadedExecutor. The
multi-threaded one spins hot between handing a callback to its pool and a
pool thread starting it: each pass of its loop yields again every task that
is not done and not yet marked executing, re-submits it and walks its
growing list of futures, holding the GIL that the pool thread needs to
start. Measured here (2 cores), business logic node following a 100 Hz
battery_state stream: 10-30 % CPU with nothing else running, up to 100 %
during a test run next to the other nodes (with a counter in the executor,
Jazzy: 8,000-9,000 dispatches a second for 100 messages); its handshake
answers then came 0.5-3 s late on both distros, and 1 s handshakes were
denied. Single-threaded: 4 % CPU, one dispatch per message, every
handshake answered within 50 ms. The thread count is ``num_threads``
when given, else the node's ``executor_threads`` attribute, else
:data:`DEFAULT_THREADS`; 1 means a SingleThreadedExecutor.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable, MutableMapping, Sequence
from pathlib import Path
from types import FrameType

import rclpy
from ament_index_python.packages import PackageNotFoundError, get_package_share_directory
from rclpy.context import Context
from rclpy.exceptions import ParameterException
from rclpy.executors import Executor, ExternalShutdownException, MultiThreadedExecutor, SingleThreadedExecutor
from rclpy.impl.implementation_singleton import rclpy_implementation as _rclpy
from rclpy.node import Node

DEFAULT_THREADS = 4
"""Executor threads of a node that names none (``executor_threads``)."""


RCLError = _rclpy.RCLError
"""What an rcl call raises, e.g. on a context shut down in between (see the module's docstring)."""


FASTDDS_PROFILES = "FASTDDS_DEFAULT_PROFILES_FILE"
FASTRTPS_PROFILES = "FASTRTPS_DEFAULT_PROFILES_FILE"
DEFAULT_PROFILE_FILES = ("DEFAULT_FASTDDS_PROFILES.xml", "DEFAULT_FASTRTPS_PROFILES.xml")
"""What Fast DDS 3 / 2 load from the working directory when their variable is not set."""


def services_profile() -> Path:
    """This package's Fast DDS profile, as installed."""
    return Path(get_package_share_directory("operation_dispatcher_ros")) / "config" / "fastdds_services.xml"


def profile_variable() -> str:
    """The variable this installation's Fast DDS reads: rmw_fastrtps of Kilted on is built on the
    ``fastdds`` package (Fast DDS 3), that of Humble and Jazzy on ``fastrtps`` (Fast DDS 2)."""
    try:
        package_xml = Path(get_package_share_directory("rmw_fastrtps_shared_cpp")) / "package.xml"
    except PackageNotFoundError:
        return FASTDDS_PROFILES  # another middleware: nobody reads it
    return FASTDDS_PROFILES if ">fastdds<" in package_xml.read_text() else FASTRTPS_PROFILES


def use_services_profile(environ: MutableMapping[str, str] = os.environ) -> Path | None:
    """Point Fast DDS at :func:`services_profile` unless the user has a profile; the path set, or None."""
    if environ.get(FASTDDS_PROFILES) or environ.get(FASTRTPS_PROFILES) or any(Path(f).exists() for f in DEFAULT_PROFILE_FILES):
        return None
    path = services_profile()
    environ[profile_variable()] = str(path)
    return path


class ConfigurationError(Exception):
    """The node's parameters do not allow it to start; the message names the parameter."""


def make_executor(threads: int, context: Context | None = None) -> Executor:
    """A SingleThreadedExecutor for 1 thread, else a MultiThreadedExecutor (see the module's docstring)."""
    if threads <= 1:
        return SingleThreadedExecutor(context=context)
    return MultiThreadedExecutor(num_threads=threads, context=context)


def run_node(make_node: Callable[[], Node], args: Sequence[str] | None = None, num_threads: int | None = None) -> int:
    """Create the node, spin it until shut down; return the exit status.

    Threads: ``num_threads``, else the node's ``executor_threads``, else
    :data:`DEFAULT_THREADS` (1 = SingleThreadedExecutor)."""
    profile = use_services_profile()
    interrupted = remember_sigint()  # before rclpy.init(): rclpy's handler then calls this one
    rclpy.init(args=list(args) if args is not None else sys.argv)
    node: Node | None = None
    executor: Executor | None = None
    status = 0
    try:
        node = make_node()
        if profile is not None:
            node.get_logger().info(f"Fast DDS profile: {profile} (service replies wait for a new client)")
        threads = num_threads if num_threads is not None else getattr(node, "executor_threads", DEFAULT_THREADS)
        executor = make_executor(threads)
        executor.add_node(node)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except (ConfigurationError, ParameterException) as exc:
        print(f"error: invalid parameters: {exc}", file=sys.stderr)
        status = 2
    except Exception:
        # Once a signal came, whatever the spin raised is the shutdown: an RCLError of a context
        # the signal shut down, or the signal's KeyboardInterrupt surfacing inside a binding call
        # as another error, often before rclpy's handler has shut the context down. pybind11
        # turns it into a TypeError ("Unable to convert function return value", an action
        # client's take_feedback) or a RuntimeError that no longer names it ("Unable to convert
        # call argument '0' to Python object", a subscription's take_message); both seen in
        # fresh-clone CI runs, so the signal itself is what counts, not the error's cause.
        if rclpy.ok() and not interrupted.is_set():
            raise
    finally:
        # Signals off first: the context's shutdown runs the nodes' own teardown.
        # Then the context: long-running callbacks (an action's execute loop)
        # watch it and return, so the executor's shutdown does not wait on them.
        ignore_signals_while_tearing_down()
        shut_down_context()
        if executor is not None:
            executor.shutdown(timeout_sec=5.0)
        if node is not None:
            node.destroy_node()
    return status


def remember_sigint() -> threading.Event:
    """An event set when a SIGINT arrives; Python's own handler (KeyboardInterrupt) still runs.

    Installed before ``rclpy.init()``, whose handler calls the one it found. A process that
    was started with SIGINT ignored keeps ignoring it (the event then never sets)."""
    came = threading.Event()
    previous = signal.getsignal(signal.SIGINT)
    if not callable(previous):
        return came

    def on_sigint(signum: int, frame: FrameType | None) -> None:
        came.set()
        previous(signum, frame)

    signal.signal(signal.SIGINT, on_sigint)
    return came


def ignore_signals_while_tearing_down() -> None:
    """Let the teardown finish whatever signals still come.

    Ctrl-C on ``ros2 launch`` in a terminal reaches every node twice: the
    terminal signals the whole process group, then launch sends its own
    SIGINT to each node. The second one raised KeyboardInterrupt inside the
    teardown (a traceback and a node "died, exit code -2", seen with
    ``ros2 launch operation_dispatcher_ros sim_robot.launch.py``, and in a
    CI run inside ``try_shutdown``, where rclpy destroys the nodes and the
    dispatcher waits for its loop to halt), so this comes before it. SIG_IGN,
    not a Python handler: Python puts SIG_DFL back for its own handlers when
    it finalizes, and a signal then killed the node (exit -2). The teardown
    is bounded (the executor's shutdown waits at most 5 s), and launch still
    ends a node that hangs with SIGKILL.
    """
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)


def shut_down_context(context: Context | None = None) -> None:
    """``try_shutdown()`` of ``context`` (default: rclpy's), which checks then shuts down: rclpy's
    signal handler may shut the context down in between (seen on Jazzy: "rcl_shutdown already
    called"), and that is the same end."""
    try:
        rclpy.try_shutdown(context=context)
    except RCLError:
        if rclpy.ok(context=context):
            raise
