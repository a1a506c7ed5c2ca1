"""``/dispatcher``: the dispatcher's state and its start / stop / pause / resume.

Pause and resume write to the store, so they run in a worker thread: a
store that waits on a lock then holds up that request alone, never the
serving loop (the dispatcher's methods are thread-safe).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict
from starlette.concurrency import run_in_threadpool

from .._dispatcher import OperationDispatcher
from .._models import DispatcherSnapshot
from ._errors import error_responses
from ._lifecycle import DispatcherLifecycle
from ._operation_routes import ReasonBody

router = APIRouter(prefix="/dispatcher", tags=["dispatcher"])


class NoFields(BaseModel):
    """The optional body of start, stop and resume: any field in it is refused (422), not ignored,
    as the MCP tools refuse an argument they do not take."""

    model_config = ConfigDict(extra="forbid")


def _dispatcher(request: Request) -> OperationDispatcher:
    dispatcher: OperationDispatcher = request.app.state.dispatcher
    return dispatcher


def _lifecycle(request: Request) -> DispatcherLifecycle:
    lifecycle: DispatcherLifecycle = request.app.state.lifecycle
    return lifecycle


@router.get("", response_model=DispatcherSnapshot)
def state(request: Request) -> DispatcherSnapshot:
    """Status (STOPPED, RUNNING, PAUSED), counts per state, queue length, current operation."""
    return _dispatcher(request).snapshot()


@router.post("/start", response_model=DispatcherSnapshot, responses=error_responses(422, 503, 504))
async def start(request: Request, body: NoFields | None = None) -> DispatcherSnapshot:
    """Run the dispatcher loop if it is not running (idempotent); answers once it runs."""
    return await _lifecycle(request).start()


@router.post("/stop", response_model=DispatcherSnapshot, responses=error_responses(422, 503, 504))
async def stop(request: Request, body: NoFields | None = None) -> DispatcherSnapshot:
    """Stop the dispatcher loop and answer once it has stopped (idempotent). The queue is kept."""
    return await _lifecycle(request).stop()


@router.post("/pause", response_model=DispatcherSnapshot, responses=error_responses(409, 422, 503))
async def pause(request: Request, body: ReasonBody | None = None) -> DispatcherSnapshot:
    """Stop starting operations; the active one carries on. 409 when already paused."""
    return await run_in_threadpool(_dispatcher(request).pause, body.reason if body else None)


@router.post("/resume", response_model=DispatcherSnapshot, responses=error_responses(409, 422, 503))
async def resume(request: Request, body: NoFields | None = None) -> DispatcherSnapshot:
    """Start dispatching again. 409 when not paused."""
    return await run_in_threadpool(_dispatcher(request).resume)
