"""The event journal: event numbers and ids, the dispatcher's event log, and fan-out to subscribers.

Events are created as plain rows while a change is built (see
``_change.py``), numbered after the events applied so far (``count``,
advanced only when their change is applied, so a change that could not be
written leaves no gap), and become models only for those who read them
(the store, subscribers, the business logic).

The number (``DispatchEvent.sequence``) is the event's place in the log
of everything the dispatcher recorded: 1 for the first event ever, one
more for each next one, carried on after a restart with a store. A
subscriber on a lossy transport (a ROS topic, an SSE stream that fell
behind) sees the numbers it missed and reads them back with :meth:`after`.
"""

from __future__ import annotations

import bisect
import uuid
from collections.abc import Callable

from ._ledger import EventRow, event_model, event_sequence
from ._models import DispatchEvent
from ._notify import NotificationCallback, Notifier


class Journal:
    def __init__(self, resource_id: str) -> None:
        self.resource_id = resource_id
        self.notifier = Notifier()
        self.dispatcher_rows: list[EventRow] = []  # OPERATION_DISPATCHER_* events, oldest first
        self.log: list[EventRow] = []  # every recorded event, by sequence (recovery may leave gaps: rows set aside)
        self.prefix = uuid.uuid4().hex[:12]  # of event and execution ids: unique per dispatcher instance
        self._id_prefix = self.prefix + "-"
        self.count = 0  # the number of the last event applied; a change numbers its events after it

    def restore(self, log: list[EventRow], dispatcher_rows: list[EventRow]) -> None:
        """The log as recovered (by sequence); numbering carries on after its last event."""
        self.log, self.dispatcher_rows = log, dispatcher_rows
        self.count = event_sequence(log[-1]) if log else 0

    def event_id(self, sequence: int) -> str:
        """The id of the event numbered ``sequence``: the prefix and the number, nine digits at least."""
        return self._id_prefix + str(sequence).zfill(9)  # as f"{prefix}-{sequence:09d}", at half its cost

    def record(self, rows: list[EventRow]) -> None:
        """Append an applied change's events (numbered ``count + 1`` on)."""
        self.log += rows
        self.count += len(rows)

    def after(self, sequence: int, limit: int) -> list[EventRow]:
        """Up to ``limit`` events numbered above ``sequence``, oldest first."""
        start = bisect.bisect_right(self.log, sequence, key=event_sequence)
        return self.log[start : start + limit]

    def model(self, row: EventRow) -> DispatchEvent:
        return event_model(row, self.resource_id)

    def publish(self, events: list[DispatchEvent]) -> None:
        for event in events:
            self.notifier.publish(event)

    def subscribe(self, callback: NotificationCallback) -> Callable[[], None]:
        return self.notifier.subscribe(callback)
