"""HTTP doors onto an OperationDispatcher (needs the ``api`` extra).

:func:`create_app` builds the FastAPI app (REST + Swagger at ``/docs``, SSE at
``/events``, the dashboard at ``/``, MCP at ``/mcp``); :func:`serve` runs
it with uvicorn on the current loop, the dispatcher's loop with it;
:func:`build_server` leaves that loop to its owner. See ``docs/doors.md``.
The pieces another HTTP door reuses so that it answers and guards alike
(the fleet gateway): :data:`DISPATCHER_ROUTERS`, :func:`guard`, :func:`check_bind`,
:func:`install_error_handlers`, :func:`error_responses` and :class:`EventHub`.
"""

from ._app import create_app
from ._body_limit import MAX_REQUEST_BODY_BYTES
from ._dispatcher_routes import router as _dispatcher_router
from ._errors import ErrorBody, ErrorResponse, error_responses, install_error_handlers
from ._events import EventHub
from ._events import router as _events_router
from ._lifecycle import DispatcherLifecycle
from ._operation_routes import router as _operations_router
from ._security import InsecureBindError, check_bind, guard
from ._serve import TOKEN_ENV, build_server, serve

DISPATCHER_ROUTERS = (_operations_router, _dispatcher_router, _events_router)
"""The routers of one dispatcher's REST door. Each reads ``app.state.dispatcher``, ``.lifecycle``,
``.event_hub`` and ``.state_interval`` of the app they are included in."""

__all__ = [
    "DISPATCHER_ROUTERS",
    "MAX_REQUEST_BODY_BYTES",
    "TOKEN_ENV",
    "DispatcherLifecycle",
    "ErrorBody",
    "ErrorResponse",
    "EventHub",
    "InsecureBindError",
    "build_server",
    "check_bind",
    "create_app",
    "error_responses",
    "guard",
    "install_error_handlers",
    "serve",
]
