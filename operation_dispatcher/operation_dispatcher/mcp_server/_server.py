"""The MCP door: tools and resources over one dispatcher, for AI agents.

Built on the official ``mcp`` SDK (``MCPServer``, formerly FastMCP). Every
tool calls the same core method as the REST door, so an agent is bound by
the same validation and handshakes: a cancel, pause or resume the business
logic denies comes back as a tool error whose text is the core's error
JSON, reason included, ``{"error": {"code": "DENIED", "message", "details": {"reason", "data"}}}``;
a store that cannot write answers ``STORAGE`` with its cause, like REST's 503.

Arguments are held to what each tool lists: an unknown argument is refused
(VALIDATION naming it), and integers are strict (``limit: true`` is no 1).
The tools that write (add, pause/resume of the dispatcher) are plain
functions, which the SDK runs in a worker thread, so a store waiting on a
lock never holds up the serving loop.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Annotated, Any

import pydantic
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceNotFoundError, ToolError, UnexpectedToolError
from mcp_types import Tool, ToolAnnotations
from pydantic import Field

from .. import _limits as limits
from .._dispatcher import OperationDispatcher
from .._errors import DispatcherError, NotFoundError, ValidationError
from .._models import (
    AddResult,
    DispatcherSnapshot,
    DispatchEvent,
    EventLogPage,
    OperationPage,
    OperationRecord,
    OperationState,
    validation_error_from,
)
from ..api._lifecycle import DispatcherLifecycle

INSTRUCTIONS = """\
Operations for one resource (robot, machine, workstation) wait in a priority queue;
the dispatcher asks external business logic before it starts, cancels, pauses or
resumes one. Add operations with add_operations, watch them with list_operations (a page of 50 and a
summary counting every state; read on with cursor=next_cursor), get_operation and get_operation_events (OPERATION_START_DENIED events carry the
business logic's reason); get_event_log reads every event in order, from a number on. A refused request returns an error whose JSON names the
code (VALIDATION, NOT_FOUND, INVALID_STATE, DENIED, STORAGE, UNAVAILABLE, TIMEOUT) and,
for DENIED, the reason; STORAGE and UNAVAILABLE changed nothing and may be retried.
Resources: dispatcher://state and dispatcher://queue."""

MCP_EVENT_LOG_LIMIT = 50
"""Events in a page of get_event_log unless the agent asks for more: a page should fit in its context."""
MCP_PAGE_LIMIT = 50
"""Operations in a page of list_operations (and of dispatcher://queue) unless the agent asks for more."""

_READ = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True)
_ADD = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=True)
_CONTROL = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False)
_CANCEL = ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=False)

Cursor = Annotated[
    str | None,
    Field(default=None, min_length=1, max_length=limits.MAX_CURSOR_LENGTH, description="next_cursor of the page before; none: the first page."),
]


class OperationListing(OperationPage):
    """A page of operations with a one-line summary, so an agent sees the whole without reading it all."""

    summary: str

    @classmethod
    def of(cls, page: OperationPage, state: OperationState | None, what: str | None = None) -> OperationListing:
        counts = ", ".join(f"{n} {s.value}" for s, n in page.counts.items() if n) or "no operations"
        shown = f"{len(page.operations)} of {page.total} {what or (state.value if state else 'operations')}"
        more = "; more with cursor=next_cursor" if page.next_cursor else ""
        return cls(**dict(page), summary=f"{counts}. This page: {shown}{more}.")


Reason = Annotated[str | None, Field(default=None, max_length=limits.MAX_STRING_LENGTH, description="Why; shown to the business logic.")]
OperationId = Annotated[str, Field(min_length=1, max_length=limits.MAX_ID_LENGTH)]


@contextlib.contextmanager
def as_tool_error() -> Iterator[None]:
    """A core refusal becomes a tool error the agent can read, with the core's code and reason."""
    try:
        yield
    except DispatcherError as exc:
        raise ToolError(json.dumps({"error": exc.to_dict()}, default=str)) from exc


def _tool_error(name: str, error: DispatcherError) -> ToolError:
    return ToolError(f"Error executing tool {name}: {json.dumps({'error': error.to_dict()}, default=str)}")


class StrictMCPServer(MCPServer):
    """Arguments that fail a tool's schema (an empty list, a limit out of range, an unknown state,
    an argument the tool does not take) are refused in the same shape as a core refusal:
    ``{"error": {"code": "VALIDATION", "message", "details": {"field"}}}`` naming the argument,
    not the SDK's pydantic dump."""

    async def list_tools(self) -> list[Tool]:
        """Each input schema says what :meth:`call_tool` enforces: no argument beyond those listed."""
        return [
            tool.model_copy(update={"input_schema": {**tool.input_schema, "additionalProperties": False}})
            for tool in await super().list_tools()
        ]

    async def call_tool(self, name: str, arguments: dict[str, Any], context: Any = None) -> Any:
        tool = next((t for t in await super().list_tools() if t.name == name), None)
        if tool is not None:  # an unknown tool is the SDK's to refuse
            known = tool.input_schema.get("properties", {})
            unknown = sorted(set(arguments) - set(known))
            if unknown:
                takes = ", ".join(sorted(known)) or "no arguments"
                raise _tool_error(name, ValidationError(f"{unknown[0]}: {name} takes no such argument (it takes {takes})", field=unknown[0]))
        try:
            return await super().call_tool(name, arguments, context)
        except ToolError as exc:
            cause = exc.__cause__
            if isinstance(exc, UnexpectedToolError) or not isinstance(cause, pydantic.ValidationError):
                raise
            raise _tool_error(name, validation_error_from(cause)) from cause


def create_mcp_server(dispatcher: OperationDispatcher, lifecycle: DispatcherLifecycle | None = None) -> MCPServer:
    """An MCP server over ``dispatcher``; ``lifecycle`` starts and stops its loop (one is made if not given)."""
    lifecycle = lifecycle or DispatcherLifecycle(dispatcher)
    server: MCPServer = StrictMCPServer(name="operation_dispatcher", instructions=INSTRUCTIONS, log_level="WARNING")

    @server.tool(annotations=_READ)
    def list_operations(
        state: OperationState | None = None,
        limit: Annotated[int, Field(strict=True, ge=1, le=limits.OPERATIONS_PAGE_MAX)] = MCP_PAGE_LIMIT,
        cursor: Cursor = None,
    ) -> OperationListing:
        """A page of operations: the active one, the queue in dispatch order, then finished ones newest
        first; optionally only one state. ``summary`` counts every state; read on with cursor=next_cursor."""
        with as_tool_error():
            return OperationListing.of(dispatcher.page_operations(state, limit, cursor), state)

    @server.tool(annotations=_READ)
    def get_operation(operation_id: OperationId) -> OperationRecord:
        """One operation and its execution (state, progress, retries, times)."""
        with as_tool_error():
            return dispatcher.get(operation_id)

    @server.tool(annotations=_READ)
    def get_current_operation() -> OperationRecord | None:
        """The RUNNING or PAUSED operation, or null."""
        return dispatcher.current()

    @server.tool(annotations=_READ)
    def get_history(
        limit: Annotated[int, Field(strict=True, ge=1, le=limits.HISTORY_LIMIT_MAX)] = limits.HISTORY_LIMIT_DEFAULT,
        cursor: Cursor = None,
    ) -> OperationListing:
        """Finished operations (COMPLETED, FAILED, CANCELLED), newest first, a page at a time."""
        with as_tool_error():
            return OperationListing.of(dispatcher.history_page(limit, cursor), None, "finished")

    @server.tool(annotations=_READ)
    def get_operation_events(
        operation_id: OperationId,
        after: Annotated[int, Field(strict=True, ge=0, description="Only events numbered above this (the last sequence you have).")] = 0,
        limit: Annotated[int, Field(strict=True, ge=1, le=limits.EVENT_LOG_LIMIT_MAX)] = MCP_EVENT_LOG_LIMIT,
    ) -> list[DispatchEvent]:
        """The operation's lifecycle events in order, with reasons for denials and failures, a page at a
        time: a full page may have more, read on with after=the last event's sequence."""
        with as_tool_error():
            return dispatcher.events(operation_id, after=after, limit=limit)

    @server.tool(annotations=_READ)
    def get_event_log(
        after: Annotated[int, Field(strict=True, ge=0, description="The number of the last event you have (0: from the first).")] = 0,
        limit: Annotated[int, Field(strict=True, ge=1, le=limits.EVENT_LOG_LIMIT_MAX)] = MCP_EVENT_LOG_LIMIT,
    ) -> EventLogPage:
        """Every event of the dispatcher after number ``after``, oldest first, a page at a time: read on
        with after=next_after while next_after is below last_sequence."""
        with as_tool_error():
            return dispatcher.events_after(after, limit)

    @server.tool(annotations=_ADD)
    def add_operations(
        operations: Annotated[
            list[dict[str, Any]],
            Field(
                min_length=1,
                max_length=limits.MAX_OPERATIONS_PER_ADD,
                description=(
                    "Operations to queue, all or nothing. Fields: id (optional; letters, digits, ._:@-), "
                    "payload (object), priority (int, higher first), release_date (ISO 8601, not before), "
                    "planned_duration (seconds), due_date, dependencies ([{operation_id, type}]). "
                    "resource_id defaults to this dispatcher's resource."
                ),
            ),
        ],
    ) -> list[AddResult]:
        """Queue operations; an id already known is not added again (added=false)."""
        with as_tool_error():
            return dispatcher.add(operations)  # the core fills in a missing resource_id

    @server.tool(annotations=_CANCEL)
    async def cancel_operation(operation_id: OperationId, reason: Reason = None) -> OperationRecord:
        """Cancel a queued or active operation; the business logic may deny it (the error says why)."""
        with as_tool_error():
            return await dispatcher.cancel(operation_id, reason)

    @server.tool(annotations=_CONTROL)
    async def pause_operation(operation_id: OperationId, reason: Reason = None) -> OperationRecord:
        """Pause the RUNNING operation; the business logic may deny it (the error says why)."""
        with as_tool_error():
            return await dispatcher.pause_operation(operation_id, reason)

    @server.tool(annotations=_CONTROL)
    async def resume_operation(operation_id: OperationId, reason: Reason = None) -> OperationRecord:
        """Resume the PAUSED operation; the business logic may deny it (the error says why)."""
        with as_tool_error():
            return await dispatcher.resume_operation(operation_id, reason)

    @server.tool(annotations=_READ)
    def get_dispatcher_state() -> DispatcherSnapshot:
        """Status (STOPPED, RUNNING, PAUSED), pause reason, counts per state, queue length, current operation."""
        return dispatcher.snapshot()

    @server.tool(annotations=_CONTROL)
    def pause_dispatcher(reason: Reason = None) -> DispatcherSnapshot:
        """Stop starting new operations (the active one carries on)."""
        with as_tool_error():
            return dispatcher.pause(reason)

    @server.tool(annotations=_CONTROL)
    def resume_dispatcher() -> DispatcherSnapshot:
        """Start dispatching again after a pause (manual or after too many denials)."""
        with as_tool_error():
            return dispatcher.resume()

    @server.tool(annotations=_CONTROL)
    async def start_dispatcher() -> DispatcherSnapshot:
        """Run the dispatcher loop if it is not running; answers once it runs."""
        with as_tool_error():
            return await lifecycle.start()

    @server.tool(annotations=_CONTROL)
    async def stop_dispatcher() -> DispatcherSnapshot:
        """Stop the dispatcher loop and answer once it stopped; queued operations stay queued."""
        with as_tool_error():
            return await lifecycle.stop()

    @server.resource("dispatcher://state", mime_type="application/json")
    def state_resource() -> str:
        """The dispatcher's snapshot."""
        return dispatcher.snapshot().model_dump_json()

    @server.resource("dispatcher://queue", mime_type="application/json")
    def queue_resource() -> str:
        """The head of the queue in dispatch order (a page, with the summary; list_operations reads on)."""
        head = OperationListing.of(dispatcher.page_operations(OperationState.QUEUED, MCP_PAGE_LIMIT), OperationState.QUEUED)
        return head.model_dump_json()

    @server.resource("dispatcher://operations/{operation_id}", mime_type="application/json")
    def operation_resource(operation_id: str) -> str:
        """One operation and its execution."""
        try:
            return dispatcher.get(operation_id).model_dump_json()
        except NotFoundError as exc:
            raise ResourceNotFoundError(exc.message) from exc

    return server


async def run_stdio(dispatcher: OperationDispatcher) -> None:
    """Serve MCP over stdin/stdout, running the dispatcher loop alongside until stdin closes."""
    lifecycle = DispatcherLifecycle(dispatcher)
    await lifecycle.start()
    try:
        await create_mcp_server(dispatcher, lifecycle).run_stdio_async()
    finally:
        await lifecycle.stop()
