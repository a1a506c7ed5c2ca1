"""MCP door with the SDK's own client: over stdio (the example as a subprocess) and over streamable HTTP."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import doors_testing
import httpx2
from doors_testing import TOKEN, op
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

start_server = doors_testing.start_server  # the fixture, shared by the door tests

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "dispatcher_mcp.py"
TOOLS = {
    "list_operations", "get_operation", "get_current_operation", "get_history", "get_operation_events", "get_event_log",
    "add_operations", "cancel_operation", "pause_operation", "resume_operation", "get_dispatcher_state",
    "pause_dispatcher", "resume_dispatcher", "start_dispatcher", "stop_dispatcher",
}
FAR_FUTURE = "2199-01-01T00:00:00Z"


def structured(result: Any) -> Any:
    assert not result.is_error, result.content
    data = result.structured_content
    return data["result"] if isinstance(data, dict) and set(data) == {"result"} else data


def tool_error(result: Any) -> dict[str, Any]:
    assert result.is_error, result
    text = result.content[0].text  # the SDK prefixes "Error executing tool <name>: "
    error: dict[str, Any] = json.loads(text[text.index("{") :])["error"]
    return error


async def wait_for(check: Callable[[], Any], timeout: float = 10.0) -> Any:
    """Await ``check()`` (a coroutine function) until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while not (value := await check()):
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)
    return value


async def exercise(client: Client) -> None:
    """What an agent does: list tools, add operations, and hear why the business logic says no."""
    tools = {tool.name for tool in (await client.list_tools()).tools}
    assert TOOLS <= tools

    added = structured(
        await client.call_tool(
            "add_operations",
            {"operations": [{"id": "agent-1", "release_date": FAR_FUTURE, "payload": {"deny_cancel": "robot is carrying a load"}}]},
        )
    )
    assert added == [{"operation_id": "agent-1", "added": True, "state": "QUEUED"}]
    record = structured(await client.call_tool("get_operation", {"operation_id": "agent-1"}))
    assert record["operation"]["resource_id"] == "robot-1"  # filled in for the agent

    denied = tool_error(await client.call_tool("cancel_operation", {"operation_id": "agent-1", "reason": "agent wants it gone"}))
    assert denied["code"] == "DENIED" and denied["details"]["reason"] == "robot is carrying a load"
    assert structured(await client.call_tool("get_operation", {"operation_id": "agent-1"}))["execution"]["state"] == "QUEUED"

    # A start the business logic denies: the agent reads the reason from the events.
    structured(await client.call_tool("add_operations", {"operations": [{"id": "agent-2", "priority": 99, "payload": {"deny_start": "battery low"}}]}))

    async def start_denial() -> Any:
        events = structured(await client.call_tool("get_operation_events", {"operation_id": "agent-2"}))
        return [e for e in events if e["event_type"] == "OPERATION_START_DENIED"]

    denial = (await wait_for(start_denial))[0]
    assert denial["metadata"]["reason"] == "battery low"
    assert structured(await client.call_tool("cancel_operation", {"operation_id": "agent-2"}))["execution"]["state"] == "CANCELLED"

    invalid = tool_error(await client.call_tool("add_operations", {"operations": [{"id": "bad", "priority": "high"}]}))
    assert invalid["code"] == "VALIDATION" and invalid["details"]["field"] == "operations[0].priority"
    missing = tool_error(await client.call_tool("pause_operation", {"operation_id": "ghost"}))
    assert missing["code"] == "NOT_FOUND"

    paused = structured(await client.call_tool("pause_dispatcher", {"reason": "agent says stop"}))
    assert paused["paused"] and paused["paused_reason"] == "agent says stop"
    assert tool_error(await client.call_tool("pause_dispatcher", {}))["code"] == "INVALID_STATE"
    assert not structured(await client.call_tool("resume_dispatcher", {}))["paused"]

    state = json.loads((await client.read_resource("dispatcher://state")).contents[0].text)
    assert state["resource_id"] == "robot-1"
    queue = json.loads((await client.read_resource("dispatcher://queue")).contents[0].text)
    assert "agent-1" in [rec["operation"]["id"] for rec in queue["operations"]]
    assert queue["summary"].startswith(f"{queue['counts']['QUEUED']} QUEUED") and "This page:" in queue["summary"]


async def test_over_stdio_with_the_example_as_a_subprocess() -> None:
    params = StdioServerParameters(command=sys.executable, args=[str(EXAMPLE), "--stdio"], cwd=str(EXAMPLE.parent))
    async with Client(params, read_timeout_seconds=20) as client:
        await exercise(client)
        assert structured(await client.call_tool("get_dispatcher_state", {}))["running"]


async def test_over_streamable_http_with_a_token(start_server) -> None:  # type: ignore[no-untyped-def]
    live = start_server(token=TOKEN)
    async with (
        httpx2.AsyncClient(headers=live.headers, timeout=20) as http,
        Client(streamable_http_client(f"{live.url}/mcp", http_client=http), read_timeout_seconds=20) as client,
    ):
        await exercise(client)
        stopped = structured(await client.call_tool("stop_dispatcher", {}))
        assert stopped["status"] == "STOPPED" and not live.dispatcher.running
        assert structured(await client.call_tool("start_dispatcher", {}))["running"]


async def test_rest_and_mcp_share_one_dispatcher(start_server) -> None:  # type: ignore[no-untyped-def]
    live = start_server()
    async with Client(f"{live.url}/mcp", read_timeout_seconds=20) as client:
        structured(await client.call_tool("add_operations", {"operations": [op("shared", release_date=FAR_FUTURE)]}))
        async with httpx2.AsyncClient(base_url=live.url) as rest:
            assert (await rest.get("/operations/shared")).json()["execution"]["state"] == "QUEUED"
            assert (await rest.post("/dispatcher/pause")).status_code == 200
        assert structured(await client.call_tool("get_dispatcher_state", {}))["paused"]


async def test_arguments_are_held_to_what_each_tool_lists(start_server) -> None:  # type: ignore[no-untyped-def]
    live = start_server(run_dispatcher=False)
    async with Client(f"{live.url}/mcp", read_timeout_seconds=20) as client:
        tools = (await client.list_tools()).tools
        assert all(tool.input_schema.get("additionalProperties") is False for tool in tools)
        structured(await client.call_tool("add_operations", {"operations": [{"id": "kept"}]}))

        unknown = tool_error(await client.call_tool("cancel_operation", {"operation_id": "kept", "force": True}))
        assert unknown["code"] == "VALIDATION" and unknown["details"]["field"] == "force", unknown
        assert "force" in unknown["message"] and "operation_id" in unknown["message"]  # says what it does take
        assert structured(await client.call_tool("get_operation", {"operation_id": "kept"}))["execution"]["state"] == "QUEUED"
        assert tool_error(await client.call_tool("get_dispatcher_state", {"verbose": True}))["details"]["field"] == "verbose"

        for not_an_int in (True, False, "10", 10.0):
            refused = tool_error(await client.call_tool("get_history", {"limit": not_an_int}))
            assert refused["code"] == "VALIDATION" and refused["details"]["field"] == "limit", (not_an_int, refused)
        history = structured(await client.call_tool("get_history", {"limit": 10}))
        assert (history["operations"], history["next_cursor"], history["total"]) == ([], None, 0)


async def test_start_and_stop_answer_once_done(start_server) -> None:  # type: ignore[no-untyped-def]
    live = start_server(run_dispatcher=False)
    async with Client(f"{live.url}/mcp", read_timeout_seconds=20) as client:
        started = await asyncio.gather(*(client.call_tool("start_dispatcher", {}) for _ in range(10)))
        assert {structured(result)["status"] for result in started} == {"RUNNING"}
        stopped = await asyncio.gather(*(client.call_tool("stop_dispatcher", {}) for _ in range(10)))
        assert {structured(result)["status"] for result in stopped} == {"STOPPED"}
    events = [e.event_type.value for e in live.dispatcher.events()]
    assert events == ["OPERATION_DISPATCHER_STARTED", "OPERATION_DISPATCHER_STOPPED"]
