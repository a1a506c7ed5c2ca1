"""What a business logic that denies one operation for a lasting reason costs the store.

    tools/in_env.sh python bench/denial_flood.py [--seconds 10]

A denying business logic answered at once, cooldown_seconds 0 (the dispatcher waits at least
MIN_COOLDOWN_SECONDS) and max_retries high enough never to pause: the operation is asked again
and again. Identical answers are counted after the first RECORDED_REPEATS (see _repeats.py); a
business logic whose every denial differs (a counter in the reason) shows what recording each
would cost. Baseline: the same store file with the one added operation and nothing else.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import tempfile
from collections.abc import Callable
from typing import Any

from operation_dispatcher import DenialPolicy, OperationDispatcher, SQLiteStore

REASON = "loading bay closed: " + "x" * 200  # a realistic reason with some detail


async def flood(answer: Callable[[Any], Any], seconds: float) -> tuple[int, int, float]:
    """(requests asked, events of the operation stored, store file KiB) after ``seconds``."""
    asked = itertools.count(1)
    count = 0

    def logic(event: Any) -> Any:
        nonlocal count
        count = next(asked)
        return answer(event)

    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "flood.db")
        store = SQLiteStore(path)
        d = OperationDispatcher("bench", logic, store=store, denial_policy=DenialPolicy(cooldown_seconds=0, max_retries=10**9))
        d.add({"id": "a"})
        if seconds > 0:
            task = asyncio.create_task(d.run())
            await asyncio.sleep(seconds)
            d.request_stop()
            await task
        events = len(d.events("a"))
        store.close()
        return count, events, os.path.getsize(path) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    seconds = parser.parse_args().seconds
    numbers = itertools.count()
    rows = [
        ("baseline: the added operation only", asyncio.run(flood(lambda e: (False, REASON), 0.0))),
        ("identical denials (counted after 3)", asyncio.run(flood(lambda e: (False, REASON), seconds))),
        ("every denial differs (each recorded)", asyncio.run(flood(lambda e: (False, f"{REASON} #{next(numbers)}"), seconds))),
    ]
    print(f"\nA denied operation asked for {seconds:g} s, cooldown 0, SQLite store\n")
    print("| business logic | requests | events stored | events per request | store KiB |")
    print("|---|---:|---:|---:|---:|")
    for name, (asked, events, kib) in rows:
        per_request = f"{events / asked:.2f}" if asked else "-"
        print(f"| {name} | {asked} | {events} | {per_request} | {kib:.0f} |")


if __name__ == "__main__":
    main()
