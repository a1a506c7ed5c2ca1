"""HTTP doors onto an OperationDispatcher (needs the ``api`` extra).

:func:`create_app` builds the FastAPI app (REST + Swagger at ``/docs``, SSE at
``/events``, the dashboard at ``/``, MCP at ``/mcp``); :func:`serve` runs
it with uvicorn on the current loop, the dispatcher's loop with it;
:func:`build_server` leaves that loop to its owner. See ``docs/doors.md``.
"""

from ._app import create_app
from ._body_limit import MAX_REQUEST_BODY_BYTES
from ._errors import ErrorBody, ErrorResponse
from ._lifecycle import DispatcherLifecycle
from ._security import InsecureBindError
from ._serve import TOKEN_ENV, build_server, serve

__all__ = [
    "MAX_REQUEST_BODY_BYTES",
    "TOKEN_ENV",
    "DispatcherLifecycle",
    "ErrorBody",
    "ErrorResponse",
    "InsecureBindError",
    "build_server",
    "create_app",
    "serve",
]
