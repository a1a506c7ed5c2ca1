"""REST API with OpenAPI + Swagger UI over a simulated robot.

    python examples/dispatcher_openapi.py [--port 8000] [--token SECRET]

Then open http://127.0.0.1:8000/docs (Swagger UI; with a token, press
"Authorize" and paste it), or call the API, e.g.:

    curl -X POST http://127.0.0.1:8000/operations/add -H 'Content-Type: application/json' \\
         -d '[{"resource_id": "robot-1", "priority": 5, "payload": {"task": "pickup"}}]'
"""

from __future__ import annotations

import asyncio

from _sim_runner import arg_parser, base_url, demo_dispatcher, demo_operations

from operation_dispatcher.api import serve


async def main() -> None:
    args = arg_parser(__doc__.splitlines()[0]).parse_args()
    dispatcher = demo_dispatcher()
    dispatcher.add(demo_operations(5))
    url = base_url(args)
    print(f"Swagger UI:   {url}/docs\nOpenAPI spec: {url}/openapi.json")
    print(f"Try:          curl {url}/operations" + (" -H 'Authorization: Bearer <token>'" if args.token else ""))
    await serve(dispatcher, args.host, args.port, args.token, dashboard=False, mcp=False)


if __name__ == "__main__":
    asyncio.run(main())
