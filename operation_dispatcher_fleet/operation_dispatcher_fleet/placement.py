"""Which robot takes an operation added to the fleet without one.

A policy is a plain function ``policy(operation, robots) -> resource_id``:
``operation`` the validated core :class:`~operation_dispatcher.Operation`
(its ``payload`` as the caller sent it), ``robots`` one :class:`Candidate`
per robot that can take work now (online, its dispatcher loop not
stopped), never empty. The gateway calls it once per operation, under one
lock, and counts what it placed before the robots' own state says so, so a
batch of thirty is spread rather than all sent to the robot that looked
emptiest when the batch arrived.

Policies here (parameter ``placement`` of the gateway):

- ``least_queued``: the robot with the least work (queued + active), ties
  by name.
- ``nearest_idle`` (the default): when the payload names a ``pickup``
  (``{"x": .., "y": ..}``) and some idle robot (nothing queued or active)
  has a known pose, the idle robot nearest to it; otherwise ``least_queued``.

Your own: ``placement:=my_package.my_module:my_policy``, a function of the
same shape; it may return ``None`` to say "none of them", which the gateway
answers as UNAVAILABLE.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from operation_dispatcher import Operation


@dataclass(frozen=True)
class Candidate:
    """A robot as a policy sees it."""

    resource_id: str
    work: int
    """Operations queued or active there, counting those placed since its last state message."""
    pose: tuple[float, float] | None
    """Its last reported position (x, y) in its odom frame, None when unknown."""

    @property
    def idle(self) -> bool:
        return self.work == 0


Policy = Callable[[Operation, Sequence[Candidate]], "str | None"]


def least_queued(operation: Operation, robots: Sequence[Candidate]) -> str | None:
    """The robot with the least work; ties go to the first name."""
    return min(robots, key=lambda r: (r.work, r.resource_id)).resource_id


def nearest_idle(operation: Operation, robots: Sequence[Candidate]) -> str | None:
    """The idle robot nearest the payload's ``pickup``, else :func:`least_queued`."""
    pickup = _point(operation.payload.get("pickup"))
    idle = [r for r in robots if r.idle and r.pose is not None]
    if pickup is None or not idle:
        return least_queued(operation, robots)
    return min(idle, key=lambda r: (math.dist(pickup, r.pose or pickup), r.resource_id)).resource_id


def _point(value: Any) -> tuple[float, float] | None:
    if not isinstance(value, dict):
        return None
    x, y = value.get("x"), value.get("y")
    if not all(isinstance(c, (int, float)) and not isinstance(c, bool) and math.isfinite(c) for c in (x, y)):
        return None
    return float(x), float(y)  # type: ignore[arg-type]  # both checked numbers above


POLICIES: dict[str, Policy] = {"least_queued": least_queued, "nearest_idle": nearest_idle}
DEFAULT_POLICY = "nearest_idle"


def load_policy(name: str) -> Policy:
    """A policy by its name here, or ``module:function``; ValueError naming ``placement`` otherwise."""
    if name in POLICIES:
        return POLICIES[name]
    module_name, _, function_name = name.partition(":")
    if not module_name or not function_name:
        raise ValueError(f"placement: {name!r} is neither {' nor '.join(POLICIES)} nor module:function")
    try:
        policy = getattr(importlib.import_module(module_name), function_name)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"placement: cannot load {name!r}: {exc}") from None
    if not callable(policy):
        raise ValueError(f"placement: {name!r} is not a function")
    return policy
