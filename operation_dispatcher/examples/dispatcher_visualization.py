"""Live dashboard over a simulated robot that keeps getting work.

    python examples/dispatcher_visualization.py [--port 8000] [--token SECRET]

Then open http://127.0.0.1:8000/ : the queue, the current operation's
progress, a timeline of past operations and the live event stream, with
buttons to pause / resume the dispatcher and cancel / pause / resume
operations. With a token, open http://127.0.0.1:8000/#token=SECRET once.
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
    dispatcher.add(demo_operations(8))
    feeder = asyncio.create_task(keep_feeding(dispatcher))
    url = base_url(args)
    print(f"Dashboard: {url}/" + (f"#token={args.token}" if args.token else ""))
    try:
        await serve(dispatcher, args.host, args.port, args.token, mcp=False)
    finally:
        feeder.cancel()


if __name__ == "__main__":
    asyncio.run(main())
