"""Events from a lossy live stream and from pages of the event log, handed on once each, in number order.

Every recorded event carries its number in the dispatcher's event log
(``sequence``: 1, 2, 3, ...). A reader of ``dispatch_events`` can lose
events (a KEEP_LAST history that overflows in a burst, a reader that
started late); it sees the loss as a number skipped, and reads the missing
ones back with ``get_event_log``. Both sources then overlap: the same
event may come live and in a page, and a live event may come before the
page that precedes it. :class:`InOrder` sorts that out, without rclpy, so
that any reader (the event recorder, your own node) can use it.
"""

from __future__ import annotations

from typing import Generic, TypeVar

T = TypeVar("T")

MAX_HELD = 100_000
"""Events held back behind a gap at most; past it the oldest held are let go (and read back later)."""


class InOrder(Generic[T]):
    """``offer(number, event)`` returns the events that are now next in order: this one and those held
    after it. An event at or below the last one handed on is a repeat and dropped; one beyond the
    next number is held until the gap before it is filled (``gap`` says there is one)."""

    def __init__(self, last: int = 0) -> None:
        self.last = last  # the number of the last event handed on
        self.repeats = 0  # events dropped as already handed on
        self._held: dict[int, T] = {}

    @property
    def gap(self) -> bool:
        """Whether events are held behind a missing number: read the log after :attr:`last`."""
        return bool(self._held)

    @property
    def held(self) -> int:
        return len(self._held)

    def offer(self, number: int, event: T) -> list[T]:
        if number <= self.last or number in self._held:
            self.repeats += 1
            return []
        if number != self.last + 1:
            if len(self._held) >= MAX_HELD:
                del self._held[min(self._held)]  # read back from the log once the gap is filled
            self._held[number] = event
            return []
        ready = [event]
        self.last = number
        while (following := self._held.pop(self.last + 1, None)) is not None:
            ready.append(following)
            self.last += 1
        return ready

    def restart(self, last: int = 0) -> None:
        """Start again after ``last`` (the dispatcher's log is not the one followed so far), nothing held."""
        self.last = last
        self._held.clear()
