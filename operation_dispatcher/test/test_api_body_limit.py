"""The 4 MiB request body limit of the HTTP doors, against a real uvicorn server on loopback.

A body over the limit is refused with 413 in the doors' error shape
(VALIDATION naming ``body``) before it is read: a declared 50 MB body is
answered after its first 64 KiB, a chunked one as soon as it passes 4 MiB.
Nothing is added. REST and MCP share the one limit.
"""

from __future__ import annotations

import json
import socket
import time

import doors_testing
import httpx
from doors_testing import op
from mcp.server.transport_security import DEFAULT_MAX_REQUEST_BODY_SIZE

from operation_dispatcher.api import MAX_REQUEST_BODY_BYTES

start_server = doors_testing.start_server  # the fixture, shared by the door tests

LIMIT = MAX_REQUEST_BODY_BYTES
CHUNK = b"x" * 65536


def assert_refused_413(status: int, body: bytes) -> None:
    assert status == 413, body[:300]
    error = json.loads(body)["error"]
    assert error["code"] == "VALIDATION" and error["details"]["field"] == "body", error
    assert error["details"]["limit"] == LIMIT and str(LIMIT) in error["message"], error


def read_response(sock: socket.socket, timeout: float = 10.0) -> tuple[int, bytes]:
    """(status, body) of one HTTP/1.1 response with a Content-Length, read from ``sock``."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536) or b""
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    length = next(int(line.split(":", 1)[1]) for line in lines[1:] if line.lower().startswith("content-length:"))
    while len(body) < length:
        body += sock.recv(65536)
    return int(lines[0].split()[1]), body[:length]


def answered(sock: socket.socket) -> bool:
    """Has the server sent anything yet (without blocking)?"""
    sock.setblocking(False)
    try:
        return bool(sock.recv(1, socket.MSG_PEEK))
    except BlockingIOError:
        return False
    finally:
        sock.setblocking(True)


def request_head(live: doors_testing.LiveServer, path: str, framing: str) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{live.port}\r\nContent-Type: application/json\r\n"
        f"Accept: application/json, text/event-stream\r\n{framing}\r\n\r\n"
    ).encode()


def test_the_rest_and_mcp_limits_are_one_number() -> None:
    assert LIMIT == DEFAULT_MAX_REQUEST_BODY_SIZE == 4 * 1024 * 1024


def test_a_declared_50_mb_body_is_refused_after_its_first_64_kib(start_server) -> None:  # type: ignore[no-untyped-def]
    live = start_server(run_dispatcher=False)
    for path in ("/operations/add", "/mcp"):
        with socket.create_connection(("127.0.0.1", live.port), timeout=10) as sock:
            sock.sendall(request_head(live, path, "Content-Length: 50000000") + CHUNK)
            assert_refused_413(*read_response(sock))  # 49.9 MB never sent
    assert live.dispatcher.list_operations() == []


def test_a_chunked_body_is_refused_once_it_passes_the_limit(start_server) -> None:  # type: ignore[no-untyped-def]
    live = start_server(run_dispatcher=False)
    for path in ("/operations/add", "/mcp"):
        with socket.create_connection(("127.0.0.1", live.port), timeout=10) as sock:
            sock.sendall(request_head(live, path, "Transfer-Encoding: chunked"))
            sent, deadline = 0, time.monotonic() + 20
            while not answered(sock):  # a client that would send 50 MB; the server stops it
                assert sent < 50_000_000 and time.monotonic() < deadline, "no answer while sending the body"
                try:
                    sock.sendall(b"%x\r\n%s\r\n" % (len(CHUNK), CHUNK))
                except OSError:
                    break  # the server closed after answering; the answer is waiting
                sent += len(CHUNK)
            assert sent > LIMIT, f"answered after {sent} bytes, before the body passed the limit"
            assert_refused_413(*read_response(sock))
    assert live.dispatcher.list_operations() == []


def test_an_httpx_client_reads_the_413_for_a_body_just_over_the_limit(start_server) -> None:  # type: ignore[no-untyped-def]
    live = start_server(run_dispatcher=False)
    body = json.dumps([op("big", payload={"blob": "x" * (LIMIT - 50)})]).encode()
    assert len(body) > LIMIT
    with live.client() as http:
        r = http.post("/operations/add", content=body, headers={"Content-Type": "application/json"})
        assert_refused_413(r.status_code, r.content)
        r = http.post("/operations/add", content=iter([body[:LIMIT], body[LIMIT:]]), headers={"Content-Type": "application/json"})
        assert_refused_413(r.status_code, r.content)  # the same body, chunked
    with live.client() as http:  # the server still answers, and nothing was added
        assert http.get("/operations").json() == []


def test_a_body_under_the_limit_is_served(start_server) -> None:  # type: ignore[no-untyped-def]
    live = start_server(run_dispatcher=False)
    payload = {"blob": "x" * 60_000}  # under the 64 KiB payload limit; 65 of them make a 3.9 MB body
    body = json.dumps([op(f"ok-{i}", payload=payload) for i in range(65)]).encode()
    assert 3_900_000 < len(body) <= LIMIT
    with httpx.Client(base_url=live.url, timeout=30) as http:
        r = http.post("/operations/add", content=body, headers={"Content-Type": "application/json"})
        assert r.status_code == 201, r.text[:300]
        chunked = http.post("/operations/add", content=iter([body[:1000], body[1000:]]), headers={"Content-Type": "application/json"})
        assert chunked.status_code == 201 and all(a["added"] is False for a in chunked.json())
    assert len(live.dispatcher.list_operations()) == 65
