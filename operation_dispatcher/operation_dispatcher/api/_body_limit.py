"""One request body limit for every HTTP door (REST and MCP alike): 4 MiB.

Without it a client could make the server parse a 50 MB body, or accept
operations whose listing then no longer fits a response. A body declared
larger (``Content-Length``) is refused before a byte of it is read; a
chunked body is counted as it arrives and refused once it passes the
limit. Either way the answer is 413 in the doors' error shape, code
VALIDATION naming the ``body``. The connection stays open: the server
discards the rest of the body as it comes (nothing of it is kept), so the
client, still sending, reliably reads the 413; closing on it instead would
reset the connection and could lose the answer.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ._errors import error_json

MAX_REQUEST_BODY_BYTES = 4 * 1024 * 1024
"""The largest request body any HTTP door reads (the MCP SDK's own default, so both doors agree)."""


class BodyLimitMiddleware:
    """413 for a request body over ``limit`` bytes, without holding more than ``limit`` bytes of it."""

    def __init__(self, app: ASGIApp, limit: int = MAX_REQUEST_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None:
            # The server never delivers more than the declared length: nothing left to count.
            if declared > self.limit:
                await self._refuse(scope, receive, send)
                return
            await self.app(scope, receive, send)
            return
        buffered = await self._read_up_to_limit(receive)
        if buffered is None:
            await self._refuse(scope, receive, send)
            return

        async def replay() -> Message:
            return buffered.pop(0) if buffered else await receive()

        await self.app(scope, replay, send)

    async def _read_up_to_limit(self, receive: Receive) -> list[Message] | None:
        """The messages of a body of unknown length (chunked), or None once it passes the limit."""
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                return messages  # the client went away; the app sees it
            size += len(message.get("body", b""))
            if size > self.limit:
                return None
            if not message.get("more_body", False):
                return messages

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self.limit
        response = error_json(
            413,
            "VALIDATION",
            f"body: the request body is larger than {limit} bytes ({limit / 1024 / 1024:g} MiB)",
            field="body",
            limit=limit,
        )
        await response(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the HTTP server refuses a malformed length before the app runs
    return None
