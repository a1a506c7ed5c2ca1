"""The event journal: event ids, the dispatcher's own event log, and fan-out to subscribers.

Events are created as plain rows while a change is built (see
``_change.py``), numbered after the events applied so far (``count``,
advanced only when their change is applied, so a change that could not be
written leaves no gap), and become models only for those who read them
(the store, subscribers, the business logic).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from ._ledger import EventRow, event_model
from ._models import DispatchEvent
from ._notify import NotificationCallback, Notifier


class Journal:
    def __init__(self, resource_id: str) -> None:
        self.resource_id = resource_id
        self.notifier = Notifier()
        self.dispatcher_rows: list[EventRow] = []  # OPERATION_DISPATCHER_* events, oldest first
        self.prefix = uuid.uuid4().hex[:12]  # of event and execution ids: unique per dispatcher instance
        self.count = 0  # events applied so far: the next event's number (ids are numbered when built, counted when applied)

    def model(self, row: EventRow) -> DispatchEvent:
        return event_model(row, self.resource_id)

    def publish(self, events: list[DispatchEvent]) -> None:
        for event in events:
            self.notifier.publish(event)

    def subscribe(self, callback: NotificationCallback) -> Callable[[], None]:
        return self.notifier.subscribe(callback)
