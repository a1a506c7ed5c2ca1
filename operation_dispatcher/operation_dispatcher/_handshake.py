"""Asking the business logic, and turning any answer into a Decision.

The loop must never hang or die on a callback: a timeout, an exception or
an answer of the wrong type all become a denial that says what happened.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from ._models import Decision, DispatchEvent

Answer = bool | Decision | None
RequestCallback = Callable[[DispatchEvent], Answer | Awaitable[Answer]]


_APPROVED = Decision(approved=True)  # never mutated: the hot path of every approved start


def normalize(answer: Any, default: bool) -> Decision:
    """True / False / None (the default applies) / Decision -> Decision."""
    if answer is True:
        return _APPROVED
    if isinstance(answer, Decision):
        return answer
    if answer is None:
        return Decision(approved=default, reason=None if default else "no business logic decision; default is deny", data={"default": True})
    if isinstance(answer, bool):
        return Decision(approved=answer, reason=None if answer else "denied by business logic")
    if isinstance(answer, dict) and isinstance(answer.get("approved"), bool):
        return Decision.model_validate(answer)
    return Decision(approved=False, reason=f"business logic answered with a {type(answer).__name__}; expected bool, None or Decision")


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
        return normalize(None, default)
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
    return normalize(answer, default)
