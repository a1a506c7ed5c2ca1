"""One exception hierarchy, one stable code per class, one table of codes.

The ROS, REST and MCP doors translate these codes; they never invent their
own, so a refusal reads the same whichever door it came through.
:data:`ERROR_TABLE` is the only list of codes: the REST door takes its
HTTP statuses from it, and every ROS srv carries one constant per code
(same name, same number; a test checks the two agree).
"""

from __future__ import annotations

from typing import Any, NamedTuple


class ErrorKind(NamedTuple):
    number: int  # the ROS srv / action constant
    http_status: int
    meaning: str


ERROR_TABLE: dict[str, ErrorKind] = {
    "NONE": ErrorKind(0, 200, "success"),
    "VALIDATION": ErrorKind(1, 400, "a request field is invalid; the message names the field; nothing changed"),
    "NOT_FOUND": ErrorKind(2, 404, "no operation with that id"),
    "INVALID_STATE": ErrorKind(3, 409, "not allowed in the current state; nothing changed"),
    "DENIED": ErrorKind(4, 409, "the business logic denied the request; the message carries its reason"),
    "TIMEOUT": ErrorKind(5, 504, "an internal wait timed out; nothing changed"),
    "UNAVAILABLE": ErrorKind(6, 503, "the dispatcher cannot take the request now (e.g. shutting down); try again"),
    "INTERNAL": ErrorKind(7, 500, "unexpected error; see the message"),
    "STORAGE": ErrorKind(8, 503, "the store could not write the change (disk full, locked, I/O error); nothing changed; try again"),
}


class DispatcherError(Exception):
    """Base class of every error the dispatcher raises on purpose."""

    code = "INTERNAL"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        """The shape every door uses to report this error."""
        return {"code": self.code, "message": self.message, "details": self.details}


class ValidationError(DispatcherError):
    """Input was refused; ``details["field"]`` names the offending field."""

    code = "VALIDATION"

    def __init__(self, message: str, field: str | None = None, **details: Any) -> None:
        super().__init__(message, field=field, **details)
        self.field = field


class NotFoundError(DispatcherError):
    """No operation with that id is known."""

    code = "NOT_FOUND"

    def __init__(self, operation_id: str) -> None:
        super().__init__(f"operation {operation_id!r} not found", operation_id=operation_id)
        self.operation_id = operation_id


class InvalidStateError(DispatcherError):
    """The requested transition is illegal in the current state; nothing changed."""

    code = "INVALID_STATE"


class DeniedError(DispatcherError):
    """The business logic denied a request; ``reason`` says why."""

    code = "DENIED"

    def __init__(self, message: str, reason: str | None = None, data: dict[str, Any] | None = None) -> None:
        super().__init__(message, reason=reason, data=data or {})
        self.reason = reason
        self.data = data or {}


class RequestTimeoutError(DispatcherError):
    """An internal wait (a door waiting for the dispatcher's loop) ran out; nothing changed."""

    code = "TIMEOUT"


class UnavailableError(DispatcherError):
    """The dispatcher cannot take the request now (not running, shutting down); try again later."""

    code = "UNAVAILABLE"


class StorageError(DispatcherError):
    """The store could not write a change; memory was left as it was, so nothing changed.

    ``details["cause"]`` is the store's own message (``disk I/O error``,
    ``database is locked``...).
    """

    code = "STORAGE"

    def __init__(self, message: str, cause: str | None = None) -> None:
        super().__init__(message, cause=cause)
        self.cause = cause
