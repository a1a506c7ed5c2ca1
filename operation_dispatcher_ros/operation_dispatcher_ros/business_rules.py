"""The reference start rules of ``business_logic_node``, without ROS.

Each rule answers one START request with a :class:`Decision` whose reason
says, in words an operator understands, why a start was denied, or why the
rule cannot decide yet (``Decision.later``: an input it needs is missing).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timezone

from operation_dispatcher import Decision

RULES = ("approve_all", "battery_threshold", "deny_first_n", "deny_time_window")

_HH_MM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def parse_hh_mm(text: str) -> time:
    """``"HH:MM"`` (24 h) to a time; ValueError naming the expected form otherwise."""
    match = _HH_MM.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a time of day in the form HH:MM (00:00 .. 23:59)")
    return time(int(match.group(1)), int(match.group(2)))


@dataclass(frozen=True)
class DailyWindow:
    """A daily UTC window [start, end); it wraps past midnight when end < start, and is empty when equal."""

    start: time
    end: time

    def contains(self, moment: datetime) -> bool:
        now = moment.astimezone(timezone.utc).time().replace(tzinfo=None)
        if self.start <= self.end:
            return self.start <= now < self.end
        return now >= self.start or now < self.end

    def __str__(self) -> str:
        return f"{self.start:%H:%M} and {self.end:%H:%M} UTC"


def battery_decision(level: float | None, threshold: float, *, age: float = 0.0, max_age: float = 0.0) -> Decision:
    """Deny below the threshold; not ready (ask again soon) while the level is unknown:
    no reading yet (``level`` None, a robot still booting) or the last one is more than
    ``max_age`` seconds old (0 = any age), so a slow boot spends no denials."""
    if level is None:
        return Decision.later("battery level unknown: no reading on battery_state yet", data={"rule": "battery_threshold"})
    if max_age > 0.0 and age > max_age:
        return Decision.later(
            f"battery level unknown: the last reading on battery_state is {age:.1f} s old (battery_max_age {max_age:g} s)",
            data={"rule": "battery_threshold", "age": round(age, 3)},
        )
    data = {"rule": "battery_threshold", "battery": round(level, 4), "threshold": threshold}
    if level < threshold:
        return Decision(approved=False, reason=f"battery at {level:.0%} is below the {threshold:.0%} threshold", data=data)
    return Decision(approved=True, data=data)


def deny_first_n_decision(denied_so_far: int, deny_count: int) -> Decision:
    """Deny while fewer than ``deny_count`` starts were denied; the caller counts the denials."""
    if denied_so_far < deny_count:
        return Decision(
            approved=False,
            reason=f"denied start request {denied_so_far + 1} of the first {deny_count} (rule deny_first_n)",
            data={"rule": "deny_first_n", "denied": denied_so_far + 1, "deny_count": deny_count},
        )
    return Decision(approved=True, data={"rule": "deny_first_n"})


def time_window_decision(window: DailyWindow, moment: datetime) -> Decision:
    """Deny inside the window."""
    data = {"rule": "deny_time_window", "now": moment.astimezone(timezone.utc).isoformat(timespec="seconds")}
    if window.contains(moment):
        now = moment.astimezone(timezone.utc)
        return Decision(approved=False, reason=f"no starts between {window} (now {now:%H:%M} UTC)", data=data)
    return Decision(approved=True, data=data)
