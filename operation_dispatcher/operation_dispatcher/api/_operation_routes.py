"""``/operations``: the seed's query and handshake endpoints.

Every mutation goes through the core's own methods, so the REST door
validates and handshakes exactly like the Python API: a cancel, pause or
resume the business logic denies answers 409 with its reason. An add
writes to the store, so it runs in a worker thread: a store waiting on a
lock holds up that request alone, never the serving loop.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from .. import _limits as limits
from .._dispatcher import OperationDispatcher
from .._models import (
    AddResult,
    DispatchEvent,
    Operation,
    OperationRecord,
    OperationState,
)
from ._errors import error_responses

router = APIRouter(prefix="/operations", tags=["operations"])

OperationId = Annotated[str, Path(min_length=1, max_length=limits.MAX_ID_LENGTH, description="The operation's id.")]


class ReasonBody(BaseModel):
    """Optional body of the handshake endpoints; any other field is refused (422), not ignored."""

    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(default=None, max_length=limits.MAX_STRING_LENGTH, description="Why; passed to the business logic.")


class NewOperation(Operation):
    """An operation as ``POST /operations/add`` takes it: ``resource_id`` may be left out."""

    resource_id: str = Field(  # type: ignore[assignment]  # a default is never validated: null is still refused
        default=None,  # absent means "this dispatcher's resource": the core fills it in
        min_length=1,
        max_length=limits.MAX_ID_LENGTH,
        description="Defaults to this dispatcher's resource; another resource's id is refused (400).",
    )


def _dispatcher(request: Request) -> OperationDispatcher:
    dispatcher: OperationDispatcher = request.app.state.dispatcher
    return dispatcher


@router.get("", response_model=list[OperationRecord], responses=error_responses(422))
def list_operations(
    request: Request,
    state: Annotated[OperationState | None, Query(description="Only operations in this state.")] = None,
) -> list[OperationRecord]:
    """All operations: the active one, the queue in dispatch order, then finished ones newest first."""
    return _dispatcher(request).list_operations(state)


@router.get("/current", response_model=OperationRecord | None)
def current_operation(request: Request) -> OperationRecord | None:
    """The RUNNING or PAUSED operation, or null."""
    return _dispatcher(request).current()


@router.get("/history", response_model=list[OperationRecord], responses=error_responses(422))
def history(
    request: Request,
    limit: Annotated[
        int, Query(ge=1, le=limits.HISTORY_LIMIT_MAX, description="How many finished operations, newest first.")
    ] = limits.HISTORY_LIMIT_DEFAULT,
) -> list[OperationRecord]:
    """Finished (COMPLETED, FAILED, CANCELLED) operations, newest first."""
    return _dispatcher(request).history(limit)


@router.post(
    "/add",
    response_model=list[AddResult],
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(400, 413, 422, 503),
)
async def add_operations(
    request: Request,
    operations: Annotated[
        list[NewOperation],
        Body(min_length=1, max_length=limits.MAX_OPERATIONS_PER_ADD, description="A non-empty list of operations."),
    ],
) -> list[AddResult]:
    """Queue operations, all or nothing. An id already known is not added again (``added: false``).

    The schema check above answers 422 naming the field; the core then gets
    the JSON objects themselves, as from every other door.
    """
    objects: list[dict[str, Any]] = await request.json()  # parsed once already: Starlette keeps it
    return await run_in_threadpool(_dispatcher(request).add, objects)


@router.get("/{operation_id}", response_model=OperationRecord, responses=error_responses(404, 422))
def get_operation(request: Request, operation_id: OperationId) -> OperationRecord:
    """One operation with its execution."""
    return _dispatcher(request).get(operation_id)


@router.get("/{operation_id}/events", response_model=list[DispatchEvent], responses=error_responses(404, 422))
def operation_events(request: Request, operation_id: OperationId) -> list[DispatchEvent]:
    """The operation's events in order."""
    return _dispatcher(request).events(operation_id)


_HANDSHAKE_ERRORS = error_responses(404, 409, 422, 503)


@router.post("/{operation_id}/cancel", response_model=OperationRecord, responses=_HANDSHAKE_ERRORS)
async def cancel_operation(request: Request, operation_id: OperationId, body: ReasonBody | None = None) -> OperationRecord:
    """Cancel a queued or active operation once the business logic approves."""
    return await _dispatcher(request).cancel(operation_id, body.reason if body else None)


@router.post("/{operation_id}/pause", response_model=OperationRecord, responses=_HANDSHAKE_ERRORS)
async def pause_operation(request: Request, operation_id: OperationId, body: ReasonBody | None = None) -> OperationRecord:
    """Pause the RUNNING operation once the business logic approves."""
    return await _dispatcher(request).pause_operation(operation_id, body.reason if body else None)


@router.post("/{operation_id}/resume", response_model=OperationRecord, responses=_HANDSHAKE_ERRORS)
async def resume_operation(request: Request, operation_id: OperationId, body: ReasonBody | None = None) -> OperationRecord:
    """Resume the PAUSED operation once the business logic approves."""
    return await _dispatcher(request).resume_operation(operation_id, body.reason if body else None)
