"""``/dispatcher``: the dispatcher's state and its start / stop / pause / resume."""

from __future__ import annotations

from fastapi import APIRouter, Request

from .._dispatcher import OperationDispatcher
from .._models import DispatcherSnapshot
from ._errors import error_responses
from ._lifecycle import DispatcherLifecycle
from ._operation_routes import ReasonBody

router = APIRouter(prefix="/dispatcher", tags=["dispatcher"])


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


@router.post("/start", response_model=DispatcherSnapshot)
async def start(request: Request) -> DispatcherSnapshot:
    """Run the dispatcher loop if it is not running (idempotent)."""
    await _lifecycle(request).start()
    return _dispatcher(request).snapshot()


@router.post("/stop", response_model=DispatcherSnapshot)
async def stop(request: Request) -> DispatcherSnapshot:
    """Stop the dispatcher loop and wait until it has stopped (idempotent). The queue is kept."""
    await _lifecycle(request).stop()
    return _dispatcher(request).snapshot()


@router.post("/pause", response_model=DispatcherSnapshot, responses=error_responses(409, 422))
def pause(request: Request, body: ReasonBody | None = None) -> DispatcherSnapshot:
    """Stop starting operations; the active one carries on. 409 when already paused."""
    return _dispatcher(request).pause(body.reason if body else None)


@router.post("/resume", response_model=DispatcherSnapshot, responses=error_responses(409))
def resume(request: Request) -> DispatcherSnapshot:
    """Start dispatching again. 409 when not paused."""
    return _dispatcher(request).resume()
