"""The executor side: what the dispatcher tells once a request is approved.

The dispatcher never executes anything. A runner (a robot's action client,
a PLC bridge, a simulation) is told to start, cancel, pause or resume, and
reports back through ``dispatcher.complete / fail / report_progress``.
A runner that raises turns an approved cancel / pause / resume into a
denial with its message, and an approved start into a failure.
"""

from __future__ import annotations

from ._models import Operation


class OperationRunner:
    """Base class with do-nothing hooks; override the ones your executor needs."""

    async def start(self, operation: Operation) -> None:
        """Begin executing; return once the executor has accepted it."""

    async def cancel(self, operation: Operation) -> None:
        """Stop executing; return once the executor has stopped."""

    async def pause(self, operation: Operation) -> None:
        """Hold execution, keeping progress; return once held."""

    async def resume(self, operation: Operation) -> None:
        """Continue a held execution."""
