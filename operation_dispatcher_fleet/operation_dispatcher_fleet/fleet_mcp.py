"""The fleet's MCP door: one dispatcher's tools with a ``robot`` argument, plus the fleet's own.

Each robot tool calls the robot's dispatcher through a
:class:`~.remote.RemoteDispatcher`, so it answers with the same models and
refuses with the same JSON as that dispatcher's own MCP door: a cancel the
robot's business logic denies is a tool error whose JSON holds ``DENIED``
and the reason. The arguments are as strict as there (an unknown one is
refused, naming it).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

from mcp.server.mcpserver import MCPServer
from mcp_types import ToolAnnotations
from pydantic import Field

from operation_dispatcher import (
    DispatcherSnapshot,
    DispatchEvent,
    OperationRecord,
    OperationState,
)
from operation_dispatcher import _limits as limits
from operation_dispatcher.mcp_server import MCP_EVENT_LOG_LIMIT, MCP_PAGE_LIMIT, OperationListing, StrictMCPServer, as_tool_error

from .remote import RemoteDispatcher

if TYPE_CHECKING:
    from .gateway_node import FleetGateway

INSTRUCTIONS = """\
A fleet of robots, each with its own dispatcher and business logic. list_robots shows every robot
(state, health, queue, pose; online false = lost). add_operations queues operations: name a robot,
or leave it out and the fleet's placement policy picks one (the answer says which). The other tools
act on one robot, named by its resource_id, like a single dispatcher's tools; a request its business
logic denies returns an error whose JSON holds code DENIED and the reason. get_fleet_history reads
every robot's recorded events."""

_READ = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True)
_ADD = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=True)
_CONTROL = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False)
_CANCEL = ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=False)

Robot = Annotated[str, Field(min_length=1, max_length=limits.MAX_ID_LENGTH, description="The robot's resource_id (list_robots).")]
OperationId = Annotated[str, Field(min_length=1, max_length=limits.MAX_ID_LENGTH)]
Reason = Annotated[str | None, Field(default=None, max_length=limits.MAX_STRING_LENGTH, description="Why; shown to the business logic.")]
Cursor = Annotated[str | None, Field(default=None, min_length=1, max_length=limits.MAX_CURSOR_LENGTH, description="next_cursor of the page before.")]


def create_fleet_mcp(gateway: FleetGateway) -> MCPServer:
    server: MCPServer = StrictMCPServer(name="operation_dispatcher_fleet", instructions=INSTRUCTIONS, log_level="WARNING")

    def remote(robot: str) -> RemoteDispatcher:
        return RemoteDispatcher(gateway.client(robot), robot, lambda listener: gateway.subscribe(listener, robot=robot))

    @server.tool(annotations=_READ)
    def list_robots() -> list[dict[str, Any]]:
        """Every robot of the fleet: resource_id, online (false: lost), health, pose, and its dispatcher's state."""
        return gateway.robots()

    @server.tool(annotations=_ADD)
    def add_operations(
        operations: Annotated[
            list[dict[str, Any]],
            Field(
                min_length=1,
                max_length=limits.MAX_OPERATIONS_PER_ADD,
                description="Operations to queue: id (optional), payload (object; a pickup {x, y} helps the fleet choose), "
                "priority, release_date, planned_duration, due_date, dependencies.",
            ),
        ],
        robot: Annotated[str | None, Field(default=None, min_length=1, max_length=limits.MAX_ID_LENGTH,
                                           description="Queue them all on this robot; none: the fleet picks a robot for each.")] = None,
    ) -> list[dict[str, Any]]:
        """Queue operations; each answer names the robot that took it (added=false: it already had that id)."""
        with as_tool_error():
            if robot is not None:
                return [{**r.model_dump(mode="json"), "robot": robot} for r in remote(robot).add(operations)]
            return gateway.place(operations)

    @server.tool(annotations=_READ)
    def list_operations(
        robot: Robot,
        state: OperationState | None = None,
        limit: Annotated[int, Field(strict=True, ge=1, le=limits.OPERATIONS_PAGE_MAX)] = MCP_PAGE_LIMIT,
        cursor: Cursor = None,
    ) -> OperationListing:
        """A page of one robot's operations (active, queue in dispatch order, finished); read on with cursor=next_cursor."""
        with as_tool_error():
            return OperationListing.of(remote(robot).page_operations(state, limit, cursor), state)

    @server.tool(annotations=_READ)
    def get_operation(robot: Robot, operation_id: OperationId) -> OperationRecord:
        """One operation of one robot and its execution."""
        with as_tool_error():
            return remote(robot).get(operation_id)

    @server.tool(annotations=_READ)
    def get_operation_events(
        robot: Robot,
        operation_id: OperationId,
        after: Annotated[int, Field(strict=True, ge=0)] = 0,
        limit: Annotated[int, Field(strict=True, ge=1, le=limits.EVENT_LOG_LIMIT_MAX)] = MCP_EVENT_LOG_LIMIT,
    ) -> list[DispatchEvent]:
        """One operation's events in order (denials carry the reason), a page at a time: read on with after=the last sequence."""
        with as_tool_error():
            return remote(robot).events(operation_id, after=after, limit=limit)

    @server.tool(annotations=_CANCEL)
    async def cancel_operation(robot: Robot, operation_id: OperationId, reason: Reason = None) -> OperationRecord:
        """Cancel a queued or active operation; the robot's business logic may deny it (the error says why)."""
        with as_tool_error():
            return await remote(robot).cancel(operation_id, reason)

    @server.tool(annotations=_CONTROL)
    async def pause_operation(robot: Robot, operation_id: OperationId, reason: Reason = None) -> OperationRecord:
        """Pause the robot's RUNNING operation; its business logic may deny it."""
        with as_tool_error():
            return await remote(robot).pause_operation(operation_id, reason)

    @server.tool(annotations=_CONTROL)
    async def resume_operation(robot: Robot, operation_id: OperationId, reason: Reason = None) -> OperationRecord:
        """Resume the robot's PAUSED operation; its business logic may deny it."""
        with as_tool_error():
            return await remote(robot).resume_operation(operation_id, reason)

    @server.tool(annotations=_READ)
    def get_dispatcher_state(robot: Robot) -> DispatcherSnapshot:
        """One robot's dispatcher: status, pause reason, counts per state, queue length, current operation."""
        with as_tool_error():
            return remote(robot).snapshot()

    @server.tool(annotations=_CONTROL)
    def pause_dispatcher(robot: Robot, reason: Reason = None) -> DispatcherSnapshot:
        """Stop one robot starting new operations (the active one carries on)."""
        with as_tool_error():
            return remote(robot).pause(reason)

    @server.tool(annotations=_CONTROL)
    def resume_dispatcher(robot: Robot) -> DispatcherSnapshot:
        """Let one robot start operations again (after a pause, or after too many denials)."""
        with as_tool_error():
            return remote(robot).resume()

    @server.tool(annotations=_READ)
    def get_fleet_history(
        robot: Annotated[str | None, Field(default=None, min_length=1, max_length=limits.MAX_ID_LENGTH)] = None,
        event_type: Annotated[str | None, Field(default=None, min_length=1, max_length=64)] = None,
        state: Annotated[str | None, Field(default=None, min_length=1, max_length=16)] = None,
        since: datetime | None = None,
        until: datetime | None = None,
        after: Annotated[int, Field(strict=True, ge=0)] = 0,
        limit: Annotated[int, Field(strict=True, ge=1, le=1000)] = MCP_EVENT_LOG_LIMIT,
    ) -> dict[str, Any]:
        """Every robot's recorded events, oldest first, filtered; read on with after=next_after while it is not null."""
        with as_tool_error():
            page = gateway.history.query(robot=robot, event_type=event_type, state=state, since=since, until=until, after=after, limit=limit)
            return {"events": page.events, "next_after": page.next_after}

    return server
