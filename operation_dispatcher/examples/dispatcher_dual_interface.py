"""One process, one dispatcher, three doors: REST + Swagger, MCP and the dashboard.

    python examples/dispatcher_dual_interface.py [--port 8000] [--token SECRET]

An operation added over MCP shows up on the dashboard and in the REST API,
and a pause pressed on the dashboard is seen by the agent: all three reach
the same dispatcher.
"""

from __future__ import annotations

import asyncio

from _sim_runner import (
    arg_parser,
    base_url,
    demo_dispatcher,
    demo_operations,
    keep_feeding,
)

from operation_dispatcher.api import serve


async def main() -> None:
    args = arg_parser(__doc__.splitlines()[0]).parse_args()
    dispatcher = demo_dispatcher()
    dispatcher.add(demo_operations(6))
    feeder = asyncio.create_task(keep_feeding(dispatcher, every=8.0))
    url = base_url(args)
    print(f"Dashboard:   {url}/" + (f"#token={args.token}" if args.token else ""))
    print(f"Swagger UI:  {url}/docs")
    print(f"MCP (HTTP):  {url}/mcp")
    try:
        await serve(dispatcher, args.host, args.port, args.token)
    finally:
        feeder.cancel()


if __name__ == "__main__":
    asyncio.run(main())
