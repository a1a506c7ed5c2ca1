"""The fleet gateway's HTTP doors: REST, MCP at ``/mcp`` and the fleet dashboard at ``/``.

Routes (docs/fleet.md)::

    GET  /robots                         every robot: snapshot, health, pose, online or lost
    GET  /robots/{resource_id}           one of them
         /robots/{resource_id}/...       every route of a dispatcher's own door (operations,
                                         dispatcher, events), answered by that robot
    POST /fleet/operations/add           operations without a robot: the placement policy picks
    GET  /fleet/history                  the fleet's events: per robot, event type, state, time range
    GET  /fleet/events                   SSE: every robot's events live, and the robots every second

The per-robot routes are the core's own routers over a
:class:`~.remote.RemoteDispatcher`, one small app per robot made when it is
first asked for; the gateway's guard (loopback by default, a token
otherwise, the body limit) stands in front of them all, as in front of a
single dispatcher's door.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Body, FastAPI, Query, Request, Security, status
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, StreamingResponse
from fastapi.security import HTTPBearer
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.types import Receive, Scope, Send

from operation_dispatcher import _limits as limits
from operation_dispatcher.api import (
    DISPATCHER_ROUTERS,
    MAX_REQUEST_BODY_BYTES,
    EventHub,
    error_responses,
    guard,
    install_error_handlers,
)

from .fleet_mcp import create_fleet_mcp
from .remote import RemoteDispatcher, RemoteLifecycle

if TYPE_CHECKING:
    from .gateway_node import FleetGateway

DASHBOARD_DIR = Path(__file__).parent / "dashboard"
ResourceId = Annotated[str, PathParam(min_length=1, max_length=limits.MAX_ID_LENGTH, description="The robot's resource id.")]


class Placed(BaseModel):
    operation_id: str
    robot: str = Field(description="The resource id of the robot the operation was added to.")
    added: bool = Field(description="False when that robot already had an operation with this id.")


def _gateway(request: Request) -> FleetGateway:
    gateway: FleetGateway = request.app.state.gateway
    return gateway


router = APIRouter()


@router.get("/robots", tags=["fleet"])
def list_robots(request: Request) -> list[dict[str, Any]]:
    """Every dispatcher found on the ROS graph: ``state`` (its latest snapshot), ``health``
    (OK, WARN, STALE), ``online`` (false: lost), ``pose`` and when it last changed."""
    return _gateway(request).robots()


@router.get("/robots/{resource_id}", tags=["fleet"], responses=error_responses(404))
def get_robot(request: Request, resource_id: ResourceId) -> dict[str, Any]:
    """One robot, as ``GET /robots`` shows it."""
    return _gateway(request).robot(resource_id)


@router.post("/fleet/operations/add", tags=["fleet"], status_code=status.HTTP_201_CREATED, responses=error_responses(400, 413, 422, 503))
async def add_to_fleet(
    request: Request,
    operations: Annotated[
        list[dict[str, Any]],
        Body(min_length=1, max_length=limits.MAX_OPERATIONS_PER_ADD, description="Operations as POST /operations/add takes them; "
             "leave resource_id out to let the placement policy choose (or name a robot)."),
    ],
) -> list[Placed]:
    """Add operations to the fleet: each goes to the robot the placement policy picks (docs/fleet.md),
    and the answer says which. All are validated before any is added."""
    placed = await run_in_threadpool(_gateway(request).place, operations)
    return [Placed(**p) for p in placed]


@router.get("/fleet/history", tags=["fleet"], responses=error_responses(400, 422))
def fleet_history(
    request: Request,
    robot: Annotated[str | None, Query(min_length=1, max_length=limits.MAX_ID_LENGTH)] = None,
    event_type: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    state: Annotated[str | None, Query(min_length=1, max_length=16, description="The events that put an operation in this state.")] = None,
    operation_id: Annotated[str | None, Query(min_length=1, max_length=limits.MAX_ID_LENGTH)] = None,
    since: Annotated[datetime | None, Query(description="ISO 8601; events at or after it.")] = None,
    until: Annotated[datetime | None, Query(description="ISO 8601; events before it.")] = None,
    after: Annotated[int, Query(ge=0, description="next_after of the page before (0: from the first).")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Every robot's events as the gateway recorded them (SQLite, or PostgreSQL with history_dsn),
    oldest first; read on with ``after=next_after`` while it is not null."""
    page = _gateway(request).history.query(
        robot=robot, event_type=event_type, state=state, operation_id=operation_id, since=since, until=until, after=after, limit=limit
    )
    return {"events": page.events, "next_after": page.next_after}


@router.get("/fleet/events", include_in_schema=False)
async def fleet_events(request: Request) -> StreamingResponse:
    """Server-Sent Events: ``dispatch`` for every robot's events, ``state`` with every robot each second."""
    hub: EventHub = request.app.state.event_hub
    return StreamingResponse(hub.messages(1.0), media_type="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


class RobotDoors:
    """ASGI app under ``/robots/{resource_id}``: the core's routers, answered by that robot."""

    def __init__(self, gateway: FleetGateway) -> None:
        self.gateway = gateway
        self._apps: dict[str, FastAPI] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        resource_id = scope["path_params"]["resource_id"]
        client = self.gateway.client(resource_id)  # a refusal reaches the gateway's error handlers, as a route's would
        app = self._apps.get(resource_id)
        if app is None or app.state.dispatcher.client is not client:
            app = self._apps[resource_id] = self._robot_app(resource_id, client)
        await app(scope, receive, send)

    def _robot_app(self, resource_id: str, client: Any) -> FastAPI:
        gateway = self.gateway
        remote = RemoteDispatcher(client, resource_id, lambda listener: gateway.subscribe(listener, robot=resource_id))
        app = FastAPI(title=f"Operation Dispatcher: {resource_id} (through the fleet gateway)")
        app.state.dispatcher = remote
        app.state.lifecycle = RemoteLifecycle(client)
        app.state.event_hub = EventHub(remote.subscribe, lambda: gateway.robot_state_message(resource_id))
        app.state.event_hub.open()  # on the serving loop: the first request is served there
        app.state.state_interval = 1.0
        install_error_handlers(app)
        for robot_router in DISPATCHER_ROUTERS:
            app.include_router(robot_router)
        return app

    def close(self) -> None:
        for app in self._apps.values():
            app.state.event_hub.close()


def create_gateway_app(gateway: FleetGateway, *, token: str | None, host: str) -> FastAPI:
    """The gateway's ASGI app over ``gateway`` (see the module's docstring)."""
    hub = EventHub(gateway.subscribe, lambda: {"robots": gateway.robots()})
    robot_doors = RobotDoors(gateway)
    mcp_server = create_fleet_mcp(gateway)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        hub.open()
        async with mcp_server.session_manager.run():
            try:
                yield
            finally:
                hub.close()
                robot_doors.close()

    app = FastAPI(
        title="Operation Dispatcher: fleet gateway",
        description="Every dispatcher on the ROS graph behind one door. Errors share one shape: "
        '`{"error": {"code", "message", "details"}}`, as at each dispatcher\'s own door.',
        lifespan=lifespan,
    )
    app.state.gateway = gateway
    app.state.event_hub = hub
    install_error_handlers(app)
    guarded = {"dependencies": [Security(HTTPBearer(auto_error=False))], "responses": error_responses(401)} if token else {}
    app.include_router(router, **guarded)  # type: ignore[arg-type]
    app.mount("/robots/{resource_id}", robot_doors)

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(DASHBOARD_DIR / "index.html", headers={"Cache-Control": "no-cache"})

    app.mount("/dashboard/static", StaticFiles(directory=DASHBOARD_DIR, check_dir=False), name="dashboard-static")
    mcp_app = mcp_server.streamable_http_app(streamable_http_path="/mcp", host=host, max_request_body_size=MAX_REQUEST_BODY_BYTES)
    app.router.routes.extend(mcp_app.routes)
    guard(app, token=token, host=host)
    return app
