"""MCP server for AI agents over a simulated robot.

    python examples/dispatcher_mcp.py --stdio          # for agents that spawn their servers
    python examples/dispatcher_mcp.py [--port 8000]    # streamable HTTP at /mcp

Tools: list_operations, get_operation, get_current_operation, get_history,
get_operation_events, add_operations, cancel_operation, pause_operation,
resume_operation, get_dispatcher_state, pause/resume/start/stop_dispatcher.
Resources: dispatcher://state, dispatcher://queue.
An operation with payload {"deny_cancel": "why"} shows a denial coming back.
"""

from __future__ import annotations

import asyncio
import logging
import sys

from _sim_runner import arg_parser, base_url, demo_dispatcher, demo_operations

from operation_dispatcher.api import serve
from operation_dispatcher.mcp_server import run_stdio


async def main() -> None:
    parser = arg_parser(__doc__.splitlines()[0])
    parser.add_argument("--stdio", action="store_true", help="speak MCP on stdin/stdout instead of HTTP")
    args = parser.parse_args()
    dispatcher = demo_dispatcher()
    dispatcher.add(demo_operations(3))
    if args.stdio:
        logging.basicConfig(stream=sys.stderr, level=logging.WARNING)
        print("MCP over stdio: send JSON-RPC on stdin (an MCP client spawns this).", file=sys.stderr)
        await run_stdio(dispatcher)
        return
    url = base_url(args)
    print(f"MCP endpoint (streamable HTTP): {url}/mcp")
    print(f"Inspect it:  npx @modelcontextprotocol/inspector  -> Streamable HTTP, URL {url}/mcp")
    print(f"From Python: async with mcp.Client('{url}/mcp') as c: await c.list_tools()")
    await serve(dispatcher, args.host, args.port, args.token, dashboard=False, mcp=True)


if __name__ == "__main__":
    asyncio.run(main())
