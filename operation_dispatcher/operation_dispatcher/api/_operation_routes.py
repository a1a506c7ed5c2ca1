"""``/operations``: the seed's query and handshake endpoints.

Every mutation goes through the core's own methods, so the REST door
validates and handshakes exactly like the Python API: a cancel, pause or
resume the business logic denies answers 409 with its reason. An add
writes to the store, so it runs in a worker thread: a store waiting on a
lock holds up that request alone, never the serving loop.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from .. import _limits as limits
from .._dispatcher import OperationDispatcher
from .._models import (
    AddResult,
    DispatchEvent,
    Operation,
    OperationPage,
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


_PAGE_HEADERS: dict[str, Any] = {
    "X-Total-Count": {"description": "Operations in the listing (its state, or all) now.", "schema": {"type": "integer"}},
    "X-Next-Cursor": {"description": "The cursor of the next page; absent on the last one.", "schema": {"type": "string"}},
    "Link": {"description": 'The next page\'s URL, rel="next" (RFC 8288); absent on the last one.', "schema": {"type": "string"}},
}
_PAGED: dict[int | str, dict[str, Any]] = {200: {"description": "A page of the listing", "headers": _PAGE_HEADERS}}
Cursor = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=limits.MAX_CURSOR_LENGTH,
        description="The X-Next-Cursor of the page before (opaque); absent: the first page.",
    ),
]


def _paged(request: Request, response: Response, page: OperationPage) -> list[OperationRecord]:
    """The page's operations as the body; where to read on in the headers (the body stays the seed's list)."""
    response.headers["X-Total-Count"] = str(page.total)
    if page.next_cursor is not None:
        response.headers["X-Next-Cursor"] = page.next_cursor
        response.headers["Link"] = f'<{request.url.include_query_params(cursor=page.next_cursor)}>; rel="next"'
    return page.operations


@router.get("", response_model=list[OperationRecord], responses={**error_responses(400, 422), **_PAGED})
def list_operations(
    request: Request,
    response: Response,
    state: Annotated[OperationState | None, Query(description="Only operations in this state.")] = None,
    limit: Annotated[
        int | None,
        Query(
            ge=1,
            le=limits.OPERATIONS_PAGE_MAX,
            description=(
                f"A page of at most this many (with a cursor and no limit: {limits.OPERATIONS_PAGE_DEFAULT}); "
                "without limit and cursor, every operation (the seed's listing)."
            ),
        ),
    ] = None,
    cursor: Cursor = None,
) -> list[OperationRecord]:
    """All operations: the active one, the queue in dispatch order, then finished ones newest first.

    With ``limit`` or ``cursor``, one page of that order: read on with ``cursor=`` the
    ``X-Next-Cursor`` header (or follow ``Link``) until it is absent. Every operation that stays
    in the state while the pages are read is on exactly one of them; ``X-Total-Count`` says how
    many there are. A page costs the page, whatever the queue's length."""
    dispatcher = _dispatcher(request)
    if limit is None and cursor is None:
        return dispatcher.list_operations(state)
    page = dispatcher.page_operations(state, limit or limits.OPERATIONS_PAGE_DEFAULT, cursor)
    return _paged(request, response, page)


@router.get("/current", response_model=OperationRecord | None)
def current_operation(request: Request) -> OperationRecord | None:
    """The RUNNING or PAUSED operation, or null."""
    return _dispatcher(request).current()


@router.get("/history", response_model=list[OperationRecord], responses={**error_responses(400, 422), **_PAGED})
def history(
    request: Request,
    response: Response,
    limit: Annotated[
        int, Query(ge=1, le=limits.HISTORY_LIMIT_MAX, description="How many finished operations, newest first.")
    ] = limits.HISTORY_LIMIT_DEFAULT,
    cursor: Cursor = None,
) -> list[OperationRecord]:
    """Finished (COMPLETED, FAILED, CANCELLED) operations, newest first; older ones with
    ``cursor=`` the ``X-Next-Cursor`` header."""
    return _paged(request, response, _dispatcher(request).history_page(limit, cursor))


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
def operation_events(
    request: Request,
    operation_id: OperationId,
    after: Annotated[int, Query(ge=0, description="Only events numbered above this (an event's sequence; 0: from the first).")] = 0,
    limit: Annotated[
        int | None, Query(ge=1, le=limits.EVENT_LOG_LIMIT_MAX, description="How many events at most (none: all of them).")
    ] = None,
) -> list[DispatchEvent]:
    """The operation's events in order; a page of them with ``limit``, read on with ``after`` = the last one's sequence."""
    return _dispatcher(request).events(operation_id, after=after, limit=limit)


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
