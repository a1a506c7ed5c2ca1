"""One ``main()`` for every node of this package: init, spin, clean shutdown.

``rclpy.init()`` installs rclpy's handlers for SIGINT and SIGTERM; either
signal shuts the context down, the executor's spin then raises
``ExternalShutdownException`` (or KeyboardInterrupt on an older rclpy), and
the node is destroyed before the process exits with status 0. A node that
cannot start with its parameters exits with status 2 and says which one.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

import rclpy
from rclpy.exceptions import ParameterException
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.node import Node


class ConfigurationError(Exception):
    """The node's parameters do not allow it to start; the message names the parameter."""


def run_node(make_node: Callable[[], Node], args: Sequence[str] | None = None, num_threads: int = 4) -> int:
    """Create the node, spin it on a MultiThreadedExecutor until shut down; return the exit status."""
    rclpy.init(args=list(args) if args is not None else sys.argv)
    node: Node | None = None
    status = 0
    executor = MultiThreadedExecutor(num_threads=num_threads)
    try:
        node = make_node()
        executor.add_node(node)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except (ConfigurationError, ParameterException) as exc:
        print(f"error: invalid parameters: {exc}", file=sys.stderr)
        status = 2
    finally:
        # Context first: long-running callbacks (an action's execute loop)
        # watch it and return, so the executor's shutdown does not wait on them.
        rclpy.try_shutdown()
        executor.shutdown(timeout_sec=5.0)
        if node is not None:
            node.destroy_node()
    return status
