"""One exception hierarchy, one stable code per class.

The ROS, REST and MCP doors translate these codes; they never invent their
own, so a refusal reads the same whichever door it came through.
"""

from __future__ import annotations

from typing import Any


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
