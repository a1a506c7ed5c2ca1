"""The event journal: event ids, the dispatcher's own event log, and fan-out to subscribers.

Events are created as plain rows while a change is built (see
``_change.py``), become models only for those who read them (the store,
subscribers, the business logic), and are numbered only once their change
has been applied, so a change that could not be written leaves no gap.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from ._ledger import EventRow, event_model, event_row
from ._models import DispatchEvent, EventType
from ._notify import NotificationCallback, Notifier


class Journal:
    def __init__(self, resource_id: str) -> None:
        self.resource_id = resource_id
        self.notifier = Notifier()
        self.dispatcher_rows: list[EventRow] = []  # OPERATION_DISPATCHER_* events, oldest first
        self.prefix = uuid.uuid4().hex[:12]  # of event and execution ids: unique per dispatcher instance
        self._count = 0  # events applied so far

    def row(
        self,
        offset: int,
        event_type: EventType,
        operation_id: str | None,
        execution_id: str | None,
        metadata: dict[str, Any],
        at: datetime | None = None,
    ) -> EventRow:
        """The ``offset``-th new event of the change being built (its id follows the applied ones)."""
        return event_row(f"{self.prefix}-{self._count + offset:09d}", event_type, operation_id, execution_id, metadata, at)

    def applied(self, count: int) -> None:
        self._count += count

    def model(self, row: EventRow) -> DispatchEvent:
        return event_model(row, self.resource_id)

    def publish(self, events: list[DispatchEvent]) -> None:
        for event in events:
            self.notifier.publish(event)

    @property
    def has_subscribers(self) -> bool:
        return self.notifier.has_subscribers

    def subscribe(self, callback: NotificationCallback) -> Callable[[], None]:
        return self.notifier.subscribe(callback)
