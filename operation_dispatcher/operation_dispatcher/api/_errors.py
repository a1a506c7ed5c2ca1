"""One JSON shape for every HTTP answer that is not a success.

``{"error": {"code", "message", "details"}}``, built from the core's
``DispatcherError.to_dict()``: the REST door maps the core's stable codes
to statuses and never invents codes of its own for dispatcher refusals.
FastAPI's own request validation (422) and Starlette's HTTP errors (404 for
an unknown route, 405...) are converted into the same shape, so a client
parses one thing.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from .._errors import ERROR_TABLE, DispatcherError

log = logging.getLogger("operation_dispatcher.api")

STATUS_BY_CODE = {code: kind.http_status for code, kind in ERROR_TABLE.items() if code != "NONE"}
"""The core's one table decides the status of each of its codes."""
RETRY_AFTER_SECONDS = 1
"""Sent with every 503 (STORAGE, UNAVAILABLE): the refusal changed nothing and a retry may succeed."""
CODE_BY_STATUS = {401: "UNAUTHORIZED", 404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 422: "VALIDATION"}


class ErrorBody(BaseModel):
    code: str = Field(
        description="Stable code: VALIDATION, NOT_FOUND, INVALID_STATE, DENIED, STORAGE, UNAVAILABLE, TIMEOUT, UNAUTHORIZED, ..."
    )
    message: str
    details: dict[str, Any] = Field(
        default_factory=dict,
        description="`field` for validation errors, `reason` and `data` for denials, `cause` for storage errors.",
    )


class ErrorResponse(BaseModel):
    error: ErrorBody


_DESCRIPTIONS = {
    400: "Invalid input; `details.field` names the field.",
    401: "Missing or wrong `Authorization: Bearer <token>`.",
    404: "No operation with that id.",
    409: "Denied by the business logic (`details.reason`) or illegal in the current state.",
    413: "The request body is over the body limit: VALIDATION, `details.field` is `body`, `details.limit` the bytes.",
    422: "The request does not match the schema; `details.field` names the field.",
    503: "STORAGE (the store could not write; `details.cause`) or UNAVAILABLE; nothing changed; retry after `Retry-After`.",
    504: "TIMEOUT: the dispatcher did not get there in time; nothing changed.",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for the given error statuses, all with our shape."""
    return {status: _response(status) for status in statuses}


def _response(status: int) -> dict[str, Any]:
    entry: dict[str, Any] = {"model": ErrorResponse, "description": _DESCRIPTIONS[status]}
    if status == 503:
        entry["headers"] = {"Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "integer"}}}
    return entry


def error_json(status: int, code: str, message: str, headers: dict[str, str] | None = None, **details: Any) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message, "details": details}}, status_code=status, headers=headers)


def _field_name(loc: tuple[Any, ...], body_name: str | None) -> str:
    """FastAPI's error location as the core names fields: ``operations[0].priority``, ``limit``, ``reason``.

    A list body (``POST /operations/add``) is named after its parameter, as
    the core names the batch; an object body's fields stand on their own.
    """
    where, *rest = loc
    path = body_name if where == "body" and body_name and (not rest or isinstance(rest[0], int)) else ""
    for part in rest:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


async def _on_dispatcher_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DispatcherError)
    status = STATUS_BY_CODE.get(exc.code, 500)
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if status == 503 else None
    return JSONResponse({"error": exc.to_dict()}, status_code=status, headers=headers)


async def _on_request_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    first = errors[0]
    body_field = getattr(request.scope.get("route"), "body_field", None)
    body_name = getattr(body_field, "name", None)
    if first.get("type") == "json_invalid":
        # loc is ("body", <character offset>): the offset is no list index, so name the body itself.
        field = body_name or "body"
        where, detail = first["loc"][-1], (first.get("ctx") or {}).get("error", "")
        message = f"not valid JSON at character {where}" + (f" ({detail})" if detail else "")
        return error_json(422, "VALIDATION", f"{field}: {message}", field=field, errors=len(errors))
    field = _field_name(tuple(first["loc"]), body_name)
    message = str(first["msg"]).removeprefix("Value error, ")
    return error_json(422, "VALIDATION", f"{field}: {message}" if field else message, field=field or None, errors=len(errors))


async def _on_http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = CODE_BY_STATUS.get(exc.status_code, "HTTP_ERROR")
    return error_json(exc.status_code, code, str(exc.detail), headers=dict(exc.headers or {}))


async def _on_unexpected(_: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error while serving a request", exc_info=exc)
    return error_json(500, "INTERNAL", f"internal error: {type(exc).__name__}")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DispatcherError, _on_dispatcher_error)
    app.add_exception_handler(RequestValidationError, _on_request_validation)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(Exception, _on_unexpected)
