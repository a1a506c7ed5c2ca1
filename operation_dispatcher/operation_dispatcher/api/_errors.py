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

from .._errors import DispatcherError

log = logging.getLogger("operation_dispatcher.api")

STATUS_BY_CODE = {"VALIDATION": 400, "NOT_FOUND": 404, "INVALID_STATE": 409, "DENIED": 409}
CODE_BY_STATUS = {401: "UNAUTHORIZED", 404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 422: "VALIDATION"}


class ErrorBody(BaseModel):
    code: str = Field(description="Stable code: VALIDATION, NOT_FOUND, INVALID_STATE, DENIED, UNAUTHORIZED, ...")
    message: str
    details: dict[str, Any] = Field(
        default_factory=dict, description="`field` for validation errors, `reason` and `data` for denials."
    )


class ErrorResponse(BaseModel):
    error: ErrorBody


_DESCRIPTIONS = {
    400: "Invalid input; `details.field` names the field.",
    401: "Missing or wrong `Authorization: Bearer <token>`.",
    404: "No operation with that id.",
    409: "Denied by the business logic (`details.reason`) or illegal in the current state.",
    422: "The request does not match the schema; `details.field` names the field.",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for the given error statuses, all with our shape."""
    return {status: {"model": ErrorResponse, "description": _DESCRIPTIONS[status]} for status in statuses}


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
    body = exc.to_dict()
    return JSONResponse({"error": body}, status_code=STATUS_BY_CODE.get(exc.code, 500))


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
