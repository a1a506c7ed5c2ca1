"""Awaiting rclpy from the core's asyncio loop, the one safe way.

An rclpy future is completed by the executor's threads; the core's loop
lives in its own thread. So an rclpy future is never awaited directly:
its done callback hands the result over with ``loop.call_soon_threadsafe``.
Graph queries (is a service / action server there?) have no callback, so
they are re-checked on a short timer, bounded by a deadline.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

READY_CHECK_INTERVAL = 0.05


async def await_rclpy_future(future: Any, timeout: float) -> Any:
    """The result of an rclpy future, or asyncio.TimeoutError after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    bridged: asyncio.Future[Any] = loop.create_future()

    def transfer(done: Any) -> None:
        if bridged.done():
            return
        exc = done.exception()
        if exc is not None:
            bridged.set_exception(exc)
        elif done.cancelled():
            bridged.cancel()
        else:
            bridged.set_result(done.result())

    def hand_over(done: Any) -> None:
        try:
            loop.call_soon_threadsafe(transfer, done)
        except RuntimeError:
            pass  # the loop closed during shutdown; nobody waits any more

    future.add_done_callback(hand_over)
    return await asyncio.wait_for(bridged, timeout)


async def wait_ready(is_ready: Callable[[], bool], timeout: float) -> bool:
    """True once ``is_ready()`` holds (e.g. ``client.service_is_ready``), False after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not is_ready():
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        await asyncio.sleep(min(READY_CHECK_INTERVAL, left))
    return True
