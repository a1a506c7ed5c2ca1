"""A store waiting on a lock holds up the request that writes, and nothing else.

A real ``SQLiteStore`` file under a real uvicorn server; a second sqlite3
connection (another writer on the file) holds ``BEGIN IMMEDIATE``. An add
through REST, then one through MCP, waits for the store's busy timeout and
is refused with STORAGE naming SQLite's own cause (REST: 503 with
``Retry-After: 1``). Meanwhile reads from other clients answer at once:
the serving loop never waits on SQLite. Nothing of the refused adds stays
behind, and once the lock is gone the same add succeeds.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import doors_testing
from doors_testing import RESOURCE, LiveServer, op
from mcp import Client
from test_mcp_server import structured, tool_error

from operation_dispatcher import OperationDispatcher, SQLiteStore

start_server = doors_testing.start_server  # the fixture, shared by the door tests

BUSY_TIMEOUT = 3.0  # seconds the store waits on the lock before it gives up
QUICK = 1.0  # every read must answer within this while the write waits (a blocked one takes BUSY_TIMEOUT; a loaded machine, well under 1 s)


def while_writing(write: Callable[[], Any], read_until_done: Callable[[threading.Thread], list[float]]) -> tuple[Any, float, list[float]]:
    """Run ``write`` in a thread, reading until it returns: (its result, how long it took, each read's duration)."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        began = time.monotonic()
        try:
            outcome["result"] = write()
        finally:
            outcome["took"] = time.monotonic() - began

    writer = threading.Thread(target=run, name="blocked-writer")
    writer.start()
    reads = read_until_done(writer)
    writer.join(30)
    assert not writer.is_alive(), "the write never returned"
    return outcome["result"], outcome["took"], reads


def rest_reads(live: LiveServer) -> Callable[[threading.Thread], list[float]]:
    def read(writer: threading.Thread) -> list[float]:
        durations = []
        with live.client() as http:
            while writer.is_alive():
                began = time.monotonic()
                assert http.get("/dispatcher").status_code == 200
                durations.append(time.monotonic() - began)
        return durations

    return read


def mcp_reads(live: LiveServer) -> Callable[[threading.Thread], list[float]]:
    async def read_async(writer: threading.Thread) -> list[float]:
        durations = []
        async with Client(f"{live.url}/mcp", read_timeout_seconds=20) as client:
            while writer.is_alive():
                began = time.monotonic()
                structured(await client.call_tool("get_dispatcher_state", {}))
                durations.append(time.monotonic() - began)
        return durations

    return lambda writer: asyncio.run(read_async(writer))


def assert_waited_alone(took: float, reads: list[float]) -> None:
    assert took >= BUSY_TIMEOUT * 0.9, f"the write returned after {took:.2f} s: it never waited on the lock"
    assert len(reads) >= 3, reads
    assert max(reads) < QUICK, f"a read took {max(reads):.2f} s while the write waited on SQLite"


def test_a_locked_store_holds_up_only_the_write(start_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "dispatcher.sqlite"
    dispatcher = OperationDispatcher(RESOURCE, store=SQLiteStore(path, busy_timeout=BUSY_TIMEOUT))
    live = start_server(dispatcher=dispatcher)  # its loop running too: it must not stall either
    other_writer = sqlite3.connect(path, isolation_level=None)
    other_writer.execute("BEGIN IMMEDIATE")
    try:

        def rest_add() -> Any:
            with live.client() as http:
                return http.post("/operations/add", json=[op("blocked-rest")])

        response, took, reads = while_writing(rest_add, mcp_reads(live))
        assert response.status_code == 503, response.text
        assert response.headers["retry-after"] == "1"
        error = response.json()["error"]
        assert error["code"] == "STORAGE" and "locked" in error["details"]["cause"], error
        assert_waited_alone(took, reads)

        async def mcp_add() -> Any:
            async with Client(f"{live.url}/mcp", read_timeout_seconds=20) as client:
                return await client.call_tool("add_operations", {"operations": [op("blocked-mcp")]})

        result, took, reads = while_writing(lambda: asyncio.run(mcp_add()), rest_reads(live))
        error = tool_error(result)
        assert error["code"] == "STORAGE" and "locked" in error["details"]["cause"], error
        assert_waited_alone(took, reads)
        assert dispatcher.list_operations() == []  # nothing of either refused add stayed in memory
    finally:
        other_writer.execute("ROLLBACK")
        other_writer.close()

    with live.client() as http:
        assert http.post("/operations/add", json=[op("blocked-rest")]).status_code == 201
        assert [r["operation"]["id"] for r in http.get("/operations").json()] == ["blocked-rest"]
