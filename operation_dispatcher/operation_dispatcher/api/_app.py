"""``create_app``: REST + SSE, and optionally the dashboard and MCP, over one dispatcher.

One process, one dispatcher, three doors: the REST API with Swagger at
``/docs``, the live dashboard at ``/`` and the MCP streamable-HTTP
transport at ``/mcp`` all reach the same ``OperationDispatcher``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence

from fastapi import FastAPI, Security
from fastapi.security import HTTPBearer

from .. import __version__
from .._dispatcher import OperationDispatcher
from ._body_limit import MAX_REQUEST_BODY_BYTES
from ._dispatcher_routes import router as dispatcher_router
from ._errors import error_responses, install_error_handlers
from ._events import EventHub, dispatcher_state
from ._events import router as events_router
from ._lifecycle import DispatcherLifecycle
from ._operation_routes import router as operations_router
from ._security import guard


def create_app(
    dispatcher: OperationDispatcher,
    *,
    token: str | None = None,
    cors_origins: Sequence[str] | None = None,
    host: str = "127.0.0.1",
    dashboard: bool = True,
    mcp: bool = True,
    run_dispatcher: bool = False,
    state_interval: float = 1.0,
) -> FastAPI:
    """Build the ASGI app.

    Args:
        token: when set, every request but the static shells (dashboard
            page, ``/docs``, ``/openapi.json``) needs ``Authorization: Bearer <token>``.
        cors_origins: browser origins allowed to call the API from other
            pages; CORS is off when empty.
        host: the address it will be served on; on loopback, requests with
            another Host header are refused (DNS rebinding).
        dashboard: serve the live page at ``/``.
        mcp: mount the MCP streamable-HTTP transport at ``/mcp``.
        run_dispatcher: start ``dispatcher.run()`` on the serving loop at
            startup (and stop it at shutdown) unless it already runs. Off by
            default: whoever made the dispatcher owns its loop.
        state_interval: seconds between state pushes on ``/events``.
    """
    lifecycle = DispatcherLifecycle(dispatcher)
    hub = EventHub(dispatcher.subscribe, dispatcher_state(dispatcher))
    mcp_server = None
    if mcp:
        from ..mcp_server import create_mcp_server

        mcp_server = create_mcp_server(dispatcher, lifecycle)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        hub.open()
        if run_dispatcher:
            await lifecycle.start()
        async with contextlib.AsyncExitStack() as stack:
            if mcp_server is not None:
                await stack.enter_async_context(mcp_server.session_manager.run())
            try:
                yield
            finally:
                hub.close()
                if lifecycle.owns_loop:
                    await lifecycle.stop()

    app = FastAPI(
        title=f"Operation Dispatcher: {dispatcher.resource_id}",
        version=__version__,
        description=(
            "Queue, dispatch and supervise operations for one resource. Errors share one shape: "
            '`{"error": {"code", "message", "details"}}` with code VALIDATION (400/422, 413 for a body over '
            f"{MAX_REQUEST_BODY_BYTES // (1024 * 1024)} MiB), NOT_FOUND (404), INVALID_STATE or DENIED (409, "
            "`details.reason` from the business logic), STORAGE or UNAVAILABLE (503 with `Retry-After`; nothing "
            "changed), TIMEOUT (504), UNAUTHORIZED (401)."
        ),
        lifespan=lifespan,
    )
    app.state.dispatcher = dispatcher
    app.state.lifecycle = lifecycle
    app.state.event_hub = hub
    app.state.state_interval = state_interval
    install_error_handlers(app)

    guarded = {"dependencies": [Security(HTTPBearer(auto_error=False))], "responses": error_responses(401)} if token else {}
    app.include_router(operations_router, **guarded)  # type: ignore[arg-type]
    app.include_router(dispatcher_router, **guarded)  # type: ignore[arg-type]
    app.include_router(events_router)
    if dashboard:
        from ..dashboard import mount_dashboard

        mount_dashboard(app)
    if mcp_server is not None:
        mcp_app = mcp_server.streamable_http_app(streamable_http_path="/mcp", host=host, max_request_body_size=MAX_REQUEST_BODY_BYTES)
        app.router.routes.extend(mcp_app.routes)

    guard(app, token=token, host=host, cors_origins=cors_origins)
    return app
