"""Serving the app with uvicorn on the caller's running loop.

The server runs inside the current loop (the ROS node serves it from its
dispatcher thread's loop), so the dispatcher, the REST handlers and the SSE
hub share one loop. Streams are ended as soon as shutdown begins, so
stopping never waits for open dashboards.

One owner of ``run()``: :func:`build_server` (what the ROS node and other
embeddings use) never starts the dispatcher's loop unless asked to
(``run_dispatcher=True``). :func:`serve` is the plain-Python "serve this
dispatcher" helper, so it runs the loop unless told not to.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from typing import Any

import uvicorn

from .._dispatcher import OperationDispatcher
from ._app import create_app
from ._events import EventHub
from ._security import check_bind

TOKEN_ENV = "OPERATION_DISPATCHER_TOKEN"


class _Server(uvicorn.Server):
    """uvicorn.Server that closes the SSE streams first when it shuts down."""

    def __init__(self, config: uvicorn.Config, hub: EventHub) -> None:
        super().__init__(config)
        self._hub = hub

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self._hub.close()
        await super().shutdown(sockets)


def build_server(
    dispatcher: OperationDispatcher,
    host: str = "127.0.0.1",
    port: int = 8000,
    token: str | None = None,
    *,
    cors_origins: Sequence[str] | None = None,
    dashboard: bool = True,
    mcp: bool = True,
    run_dispatcher: bool = False,
    log_level: str = "warning",
    **app_options: Any,
) -> uvicorn.Server:
    """A ready uvicorn.Server; raises InsecureBindError for a non-loopback bind without a token.

    ``token`` defaults to the ``OPERATION_DISPATCHER_TOKEN`` environment variable.
    ``run_dispatcher=True`` also runs ``dispatcher.run()`` while it serves;
    by default the caller keeps owning the loop.
    """
    token = token or os.environ.get(TOKEN_ENV) or None
    check_bind(host, token)
    app = create_app(
        dispatcher,
        token=token,
        cors_origins=cors_origins,
        host=host,
        dashboard=dashboard,
        mcp=mcp,
        run_dispatcher=run_dispatcher,
        **app_options,
    )
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level, timeout_graceful_shutdown=5, lifespan="on")
    return _Server(config, app.state.event_hub)


async def serve(
    dispatcher: OperationDispatcher,
    host: str = "127.0.0.1",
    port: int = 8000,
    token: str | None = None,
    *,
    run_dispatcher: bool = True,
    **options: Any,
) -> None:
    """Serve REST, dashboard and MCP on the running loop until cancelled, running the dispatcher too.

    ``run_dispatcher`` (on here, unlike :func:`build_server`) starts
    ``dispatcher.run()`` on this loop unless it already runs, and stops it
    when serving ends; pass False when something else owns the loop.
    Other options are those of :func:`build_server` (``cors_origins``,
    ``dashboard``, ``mcp``, ``log_level``...).
    """
    await build_server(dispatcher, host, port, token, run_dispatcher=run_dispatcher, **options).serve()
