"""Helpers for the door tests: a real uvicorn server on loopback in its own thread.

A plain module (not conftest) so test files import it by name. The server
runs like the ROS node runs it: ``build_server`` on a loop of its own
thread, with the dispatcher's ``run()`` on that same loop (unless a test
says ``run_dispatcher=False``: then ``build_server``'s own default applies,
which leaves the loop alone).
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from operation_dispatcher import Decision, DispatchEvent, EventType, OperationDispatcher
from operation_dispatcher.api import build_server

RESOURCE = "robot-1"
TOKEN = "test-token-4f9c"
DENIALS = {
    EventType.OPERATION_START_REQUESTED: "deny_start",
    EventType.OPERATION_CANCEL_REQUESTED: "deny_cancel",
    EventType.OPERATION_PAUSE_REQUESTED: "deny_pause",
}


def make_dispatcher() -> OperationDispatcher:
    """A dispatcher whose business logic denies what the payload says (``{"deny_cancel": "why"}``).

    Its runner does nothing, so a started operation stays RUNNING until the
    test completes it.
    """

    def decide(event: DispatchEvent) -> Decision | None:
        key = DENIALS.get(event.event_type)
        if key is None or event.operation_id is None:
            return None
        why = dispatcher.get(event.operation_id).operation.payload.get(key)
        return Decision(approved=False, reason=why, data={"rule": key}) if why else None

    dispatcher = OperationDispatcher(RESOURCE, on_request_callback=decide)
    return dispatcher


def op(op_id: str, **fields: Any) -> dict[str, Any]:
    return {"id": op_id, "resource_id": RESOURCE, **fields}


def wait_until(predicate: Callable[[], Any], timeout: float = 5.0, what: str = "condition") -> Any:
    """Wait for a condition (checked every 10 ms), failing after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.01)


class LiveServer:
    """``build_server(...)`` served on 127.0.0.1:<free port> from a thread with its own loop."""

    def __init__(self, dispatcher: OperationDispatcher, token: str | None = None, *, run_dispatcher: bool = True, **options: Any) -> None:
        self.dispatcher = dispatcher
        self.token = token
        # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on a socket that says TCP, and without
        # it every reply waits ~40 ms for the client's delayed ACK (Nagle; measured by bench/paging.py)
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._sock.bind(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.runs_dispatcher = run_dispatcher
        if run_dispatcher:
            options["run_dispatcher"] = True
        self.server = build_server(dispatcher, "127.0.0.1", self.port, token, **options)
        self._thread = threading.Thread(target=self._run, name=f"uvicorn-{self.port}", daemon=True)
        self.error: BaseException | None = None

    @property
    def app(self) -> Any:
        """The FastAPI app being served."""
        return self.server.config.app

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def _run(self) -> None:
        try:
            asyncio.run(self.server.serve(sockets=[self._sock]))
        except (Exception, SystemExit) as exc:  # noqa: BLE001  (uvicorn exits on a failed startup; start() reports it)
            self.error = exc

    def start(self) -> LiveServer:
        self._thread.start()
        wait_until(lambda: self.server.started or self.error or not self._thread.is_alive(), 10, "uvicorn startup")
        if not self.server.started:
            raise RuntimeError(f"server did not start: {self.error!r}")
        if self.runs_dispatcher:
            wait_until(lambda: self.dispatcher.running, 5, "the dispatcher loop")
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(15)
        self._sock.close()
        assert not self._thread.is_alive(), "uvicorn thread did not stop"

    def client(self, authorized: bool = True) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers=self.headers if authorized else {}, timeout=10)


@pytest.fixture
def start_server() -> Iterator[Callable[..., LiveServer]]:
    """Factory fixture: ``start_server(token=..., dispatcher=..., **create_app options)``; all are stopped after the test."""
    servers: list[LiveServer] = []

    def start(dispatcher: OperationDispatcher | None = None, token: str | None = None, **options: Any) -> LiveServer:
        server = LiveServer(dispatcher or make_dispatcher(), token, **options)
        servers.append(server)
        return server.start()

    yield start
    for server in servers:
        server.stop()
