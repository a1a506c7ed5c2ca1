"""The bad-input matrix through the MCP door (cases: bad_inputs.py).

The official SDK client over streamable HTTP against one real uvicorn
server for the module, seeded with the shared state (re-made only if a
case broke it). Each refusal is a tool error whose text is
``Error executing tool <name>: {"error": {...}}`` with the core's code and
the field named; a full dump of queue, history and events is unchanged.
"""

from __future__ import annotations

import json
from typing import Any

import bad_inputs
import httpx
import pytest
from bad_inputs import Case
from mcp import Client
from test_bad_input_python import params
from test_bad_input_rest import SeededServer, seeded

__all__ = ["seeded"]  # the module-scoped fixture, shared with the REST matrix


async def call_tool(url: str, tool: str, arguments: dict[str, Any]) -> Any:
    async with Client(f"{url}/mcp", read_timeout_seconds=20) as client:
        return await client.call_tool(tool, arguments)


def raw_post(url: str, body: str) -> httpx.Response:
    headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    with httpx.Client(timeout=10) as http:
        return http.post(f"{url}/mcp", content=body.encode(), headers=headers)


@pytest.mark.parametrize("case", params("mcp"))
async def test_bad_input_mcp(seeded: SeededServer, case: Case) -> None:
    live = seeded.ensure()
    before = bad_inputs.core_dump(live.dispatcher)
    tool, arguments = bad_inputs.mcp_call(case)
    if tool == "raw" and case.rest_status == 413:  # the HTTP door's body limit, before any JSON-RPC
        response = raw_post(live.url, arguments["body"])
        assert response.status_code == 413, response.text[:300]
        error = response.json()["error"]
        assert error["code"] == case.code and error["details"]["field"] == case.mentions[0], error
        bad_inputs.assert_message(case, error["message"])
    elif tool == "raw":
        response = raw_post(live.url, arguments["body"])
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert error["code"] == -32700 and "Parse error" in error["message"], error
    else:
        result = await call_tool(live.url, tool, arguments)
        if case.code == "ALREADY_PRESENT":
            assert not result.is_error, result.content
            assert result.structured_content["result"] == [{"operation_id": "queued-1", "added": False, "state": "QUEUED"}]
        else:
            assert result.is_error, result.content
            text = result.content[0].text
            prefix = f"Error executing tool {tool}: "
            assert text.startswith(prefix), text[:300]
            body = json.loads(text.removeprefix(prefix))
            assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}, body
            error = body["error"]
            assert error["code"] == case.code, error
            bad_inputs.assert_message(case, error["message"])
            if case.code == "VALIDATION":
                assert error["details"]["field"] == case.mentions[0], error
    bad_inputs.assert_unchanged(before, bad_inputs.core_dump(live.dispatcher), case)
