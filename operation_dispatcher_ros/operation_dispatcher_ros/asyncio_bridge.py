"""Awaiting rclpy from the core's asyncio loop, the one safe way.

An rclpy future is completed by the executor's threads; the core's loop
lives in its own thread. So an rclpy future is never awaited directly:
its done callback hands the result over with ``loop.call_soon_threadsafe``.
A ``concurrent.futures.Future`` (what a callback on an executor thread
settles) is awaited with :func:`await_thread_future`.
Graph queries (is a service / action server there?) have no callback, so
they are re-checked on a short timer, bounded by a deadline.

:func:`call_query` is for requests that are pure queries (a handshake): a
fresh client's first request can reach a Fast DDS server before the server
has matched the client's reply reader, and the server then drops the reply
("failed to send response (timeout): client will not receive response",
ros2/rclpy#1136). Such a request is sent again after a short wait, within
the caller's budget; the first answer to any copy wins.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from collections.abc import Callable
from typing import Any, TypeVar

READY_CHECK_INTERVAL = 0.05
T = TypeVar("T")


def _forward(future: Any, target: asyncio.Future[Any], loop: asyncio.AbstractEventLoop, cancel: bool = True) -> None:
    """When the rclpy ``future`` is done, hand its outcome to ``target`` on ``loop`` (first outcome wins).

    ``cancel=False`` ignores a cancelled ``future`` (one copy of a resent request).
    """

    def transfer(done: Any) -> None:
        if target.done():
            return
        exc = done.exception()
        if exc is not None:
            target.set_exception(exc)
        elif done.cancelled():
            if cancel:
                target.cancel()
        else:
            target.set_result(done.result())

    def hand_over(done: Any) -> None:
        try:
            loop.call_soon_threadsafe(transfer, done)
        except RuntimeError:
            pass  # the loop closed during shutdown; nobody waits any more

    future.add_done_callback(hand_over)


async def await_rclpy_future(future: Any, timeout: float) -> Any:
    """The result of an rclpy future, or asyncio.TimeoutError after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    bridged: asyncio.Future[Any] = loop.create_future()
    _forward(future, bridged, loop)
    return await asyncio.wait_for(bridged, timeout)


async def await_thread_future(future: concurrent.futures.Future[T], timeout: float) -> T:
    """The result of a ``concurrent.futures.Future`` (set from any thread), or
    asyncio.TimeoutError after ``timeout`` seconds; a timeout leaves ``future`` as it is."""
    return await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(future)), timeout)


async def call_query(client: Any, request: Any, timeout: float, resend_after: float) -> Any:
    """Send ``request`` on ``client`` and return the first response; resend it
    after ``resend_after`` seconds while none came, the wait doubling each time
    (a server slow to answer, say with a reply of megabytes, is not flooded
    with copies), until ``timeout`` (then asyncio.TimeoutError). Only for requests that change nothing on
    the server, or whose repeat the server tolerates: a slow answer may
    meet a second copy of the request."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    answered: asyncio.Future[Any] = loop.create_future()
    sent: list[Any] = []
    try:
        while True:
            future = client.call_async(request)
            sent.append(future)
            _forward(future, answered, loop, cancel=False)
            left = deadline - loop.time()
            if left <= 0:
                raise asyncio.TimeoutError
            try:
                return await asyncio.wait_for(asyncio.shield(answered), min(resend_after, left))
            except asyncio.TimeoutError:
                if loop.time() >= deadline:
                    raise
            resend_after *= 2
    finally:
        if hasattr(client, "remove_pending_request"):  # rclpy >= Humble: forget the unanswered copies
            for future in sent:
                if not future.done():
                    client.remove_pending_request(future)


async def wait_ready(is_ready: Callable[[], bool], timeout: float) -> bool:
    """True once ``is_ready()`` holds (e.g. ``client.service_is_ready``), False after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not is_ready():
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        await asyncio.sleep(min(READY_CHECK_INTERVAL, left))
    return True
