"""Asking the business logic; its answer becomes a Decision through ``Decision.coerce``.

The loop must never hang or die on a callback: a timeout, an exception or
an answer of the wrong type (see ``Decision.coerce``) all become a denial
that says what happened.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from ._models import Decision, DispatchEvent

Answer = bool | Decision | dict[str, Any] | tuple[bool, str | None] | None
"""What a request callback may answer (see ``Decision.coerce``)."""
RequestCallback = Callable[[DispatchEvent], Answer | Awaitable[Answer]]


async def ask(
    callback: RequestCallback | None,
    event: DispatchEvent,
    *,
    timeout: float,
    default: bool,
    sync_in_thread: bool,
) -> Decision:
    """Put ``event`` to ``callback`` and return its decision, within ``timeout`` seconds.

    Sync callbacks run inline (fast) unless ``sync_in_thread`` is set, in
    which case the timeout also bounds a callback that blocks.
    """
    if callback is None:
        return Decision.coerce(None, default)
    try:
        if sync_in_thread and not inspect.iscoroutinefunction(callback):
            answer = await asyncio.wait_for(asyncio.to_thread(callback, event), timeout)
        else:
            answer = callback(event)
            if answer is not True and inspect.isawaitable(answer):
                answer = await asyncio.wait_for(answer, timeout)
    except (asyncio.TimeoutError, TimeoutError):
        return Decision(approved=False, reason=f"no answer within {timeout:g} s", data={"timeout": True})
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        return Decision(approved=False, reason=f"request callback raised {type(exc).__name__}: {exc}", data={"error": True})
    return Decision.coerce(answer, default)
