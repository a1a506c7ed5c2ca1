"""Who may talk to the doors: loopback by default, a bearer token otherwise.

The check is one pure-ASGI middleware in front of everything (REST, the SSE
stream, the MCP transport), so no route can forget it. Only the static
shells carry no token: the dashboard page, Swagger UI and the OpenAPI spec
hold no dispatcher data, and a browser cannot attach a header when it
opens a page; the page then sends the token with every call it makes.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

PUBLIC_PATHS = frozenset({"/", "/docs", "/docs/oauth2-redirect", "/openapi.json", "/favicon.ico"})
PUBLIC_PREFIXES = ("/dashboard/static/",)


class InsecureBindError(ValueError):
    """Refusal to serve beyond loopback without a token."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str | None) -> None:
    """Raise InsecureBindError when ``host`` is reachable from other machines and no token guards it."""
    if not token and not is_loopback(host):
        raise InsecureBindError(
            f"refusing to serve on {host!r} without a token: anyone on the network could control the "
            "dispatcher. Pass token=... (or --token / OPERATION_DISPATCHER_TOKEN), or bind 127.0.0.1."
        )


def is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


def _refuse(status: int, code: str, message: str, extra_headers: list[tuple[bytes, bytes]] | None = None) -> list[dict[str, Any]]:
    """The two ASGI messages of an error answer in the doors' JSON shape."""
    body = json.dumps({"error": {"code": code, "message": message, "details": {}}}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    return [
        {"type": "http.response.start", "status": status, "headers": headers + (extra_headers or [])},
        {"type": "http.response.body", "body": body},
    ]


class BrowserGuardMiddleware:
    """Stops other web sites from driving a dispatcher through the operator's browser.

    On a loopback bind, a Host header that is not a loopback name is refused
    (DNS rebinding). A state-changing request whose Origin is neither this
    server nor an allowed CORS origin is refused (cross-site request forgery
    with a plain form or ``fetch(..., {mode: "no-cors"})``). Clients that are
    not browsers send no Origin and are unaffected.
    """

    def __init__(self, app: ASGIApp, loopback_only: bool, allowed_origins: list[str]) -> None:
        self.app = app
        self.loopback_only = loopback_only
        self.allowed_origins = frozenset(o.rstrip("/") for o in allowed_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            refusal = self._check(scope)
            if refusal is not None:
                for message in _refuse(403, "FORBIDDEN", refusal):
                    await send(message)
                return
        await self.app(scope, receive, send)

    def _check(self, scope: Scope) -> str | None:
        headers = {k.decode(): v.decode("latin-1") for k, v in scope["headers"] if k in (b"host", b"origin")}
        host = headers.get("host", "")
        if self.loopback_only and not is_loopback(urlsplit(f"//{host}").hostname or ""):
            return f"Host {host!r} is not a loopback address; this server only answers on loopback"
        origin = headers.get("origin")
        if scope["method"] in ("GET", "HEAD", "OPTIONS") or origin is None:
            return None
        if urlsplit(origin).netloc == host or origin.rstrip("/") in self.allowed_origins or "*" in self.allowed_origins:
            return None
        return f"cross-site request from {origin!r} refused"


class BearerTokenMiddleware:
    """401 for any HTTP request outside the public shells without ``Authorization: Bearer <token>``.

    The scheme name is matched in any letter case (``bearer``, ``BEARER``),
    as RFC 7235 says of every authentication scheme; the token itself is
    compared exactly, in constant time.
    """

    def __init__(self, app: ASGIApp, token: str) -> None:
        if not token:
            raise ValueError("token must be a non-empty string")
        self.app = app
        self._expected = token.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or is_public(scope["path"]) or self._authorized(scope):
            await self.app(scope, receive, send)
            return
        message = "missing or wrong bearer token: send 'Authorization: Bearer <token>'"
        for part in _refuse(401, "UNAUTHORIZED", message, [(b"www-authenticate", b"Bearer")]):
            await send(part)

    def _authorized(self, scope: Scope) -> bool:
        for name, value in scope["headers"]:
            if name == b"authorization":
                scheme, _, credentials = value.partition(b" ")
                return scheme.lower() == b"bearer" and hmac.compare_digest(credentials.lstrip(b" "), self._expected)
        return False


def guard(app: Any, *, token: str | None, host: str, cors_origins: Sequence[str] | None = None) -> None:
    """Put the doors' rules in front of ``app``: the body limit, the token, CORS, the browser guard.

    One function for every HTTP app of the project (one dispatcher's, the
    fleet gateway's), so they cannot drift apart. Starlette runs the middleware
    added last first: the browser guard, then CORS, the token, the body limit.
    """
    from fastapi.middleware.cors import CORSMiddleware

    from ._body_limit import MAX_REQUEST_BODY_BYTES, BodyLimitMiddleware

    app.add_middleware(BodyLimitMiddleware, limit=MAX_REQUEST_BODY_BYTES)
    if token:
        app.add_middleware(BearerTokenMiddleware, token=token)
    if cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(cors_origins),
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Mcp-Session-Id", "Mcp-Protocol-Version", "Last-Event-ID"],
            expose_headers=["Mcp-Session-Id"],
        )
    app.add_middleware(BrowserGuardMiddleware, loopback_only=is_loopback(host), allowed_origins=list(cors_origins or []))
