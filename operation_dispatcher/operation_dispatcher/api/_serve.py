"""Serving the app with uvicorn on the caller's running loop.

``serve`` runs inside the current loop (the ROS node calls it from its
dispatcher thread's loop), so the dispatcher, the REST handlers and the SSE
hub share one loop. Streams are ended as soon as shutdown begins, so
stopping never waits for open dashboards.
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
    run_dispatcher: bool = True,
    log_level: str = "warning",
    **app_options: Any,
) -> uvicorn.Server:
    """A ready uvicorn.Server; raises InsecureBindError for a non-loopback bind without a token.

    ``token`` defaults to the ``OPERATION_DISPATCHER_TOKEN`` environment variable.
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
    **options: Any,
) -> None:
    """Serve REST, dashboard and MCP on the running loop until cancelled or ``should_exit``.

    Options are those of :func:`build_server` (``cors_origins``, ``dashboard``,
    ``mcp``, ``run_dispatcher``, ``log_level``...).
    """
    await build_server(dispatcher, host, port, token, **options).serve()
