"""event_recorder_node: every event of one dispatcher in a JSON-lines file, exactly once, in order.

The reference consumer of ``dispatch_events``, the seed's "callback-based
integration with external systems": a datastore or an analytics feed
needs every event, and the topic may drop some (its KEEP_LAST history
overflows in a burst, a reader starts late or restarts). The recorder
follows the topic, and reads from the dispatcher's event log
(``get_event_log``) what it did not receive:

- an event whose number is not the next one reveals a gap: it is held,
  and the log is read after the last event written, page by page, until
  the gap is filled (:class:`~operation_dispatcher_ros.event_order.InOrder`
  drops what comes twice);
- every ``check_period`` the log is asked for what follows the last event
  written: events lost at the end of a burst have no later event to reveal
  them;
- on start, it reads the last line of ``output_path`` and carries on after
  that event: a recorder restarted, or started after the dispatcher,
  misses nothing.

Each line is one event as the core's JSON (the same object as an item of
REST's ``GET /events/log``), with its ``sequence``. A dispatcher whose log
ends before the file's last event is not the one the file recorded (it was
restarted without its store): the recorder says so and records its events
from 1 on, after the old lines.

Parameters: ``output_path`` (default
``~/.ros/operation_dispatcher/{resource_id}.events.jsonl``, ``{resource_id}``
the namespace as the dispatcher makes its resource id), ``page_size``
(1..1000, default 500), ``check_period`` (s, default 2.0),
``request_timeout`` (s, default 2.0: a page request not answered by then is
sent again; it reads only).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import IO, Any

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.node import Node

from operation_dispatcher_interfaces import msg, srv

from . import conversions as conv
from .dispatcher_params import namespace_resource_id, store_file
from .event_order import InOrder
from .node_main import run_node
from .qos import EVENTS_QOS, SERVICES_QOS

DEFAULT_OUTPUT_PATH = "~/.ros/operation_dispatcher/{resource_id}.events.jsonl"


def last_recorded(path: Path) -> int:
    """The number of the last event in the file at ``path`` (0: no file, or no event in it yet)."""
    try:
        with open(path, "rb") as file:
            file.seek(0, os.SEEK_END)
            size = file.tell()
            file.seek(max(size - 64 * 1024, 0))  # an event line is far shorter (payload data is bounded at 64 KiB)
            lines = file.read().splitlines()
    except FileNotFoundError:
        return 0
    for line in reversed(lines):
        try:
            return int(json.loads(line)["sequence"])
        except (ValueError, KeyError, TypeError):
            continue  # a line cut short by a crash, or not an event
    return 0


class EventRecorderNode(Node):
    executor_threads = 1  # short callbacks only (see node_main)

    def __init__(self) -> None:
        super().__init__("event_recorder")
        path: str = self.declare_parameter(
            "output_path", DEFAULT_OUTPUT_PATH, ParameterDescriptor(description="JSON-lines file; {resource_id} is the namespace's")
        ).value
        self.page_size: int = self.declare_parameter(
            "page_size", 500, ParameterDescriptor(description="events per get_event_log page", integer_range=[IntegerRange(from_value=1, to_value=1000, step=1)])
        ).value
        check_period = self._seconds("check_period", 2.0, "s between reads of the log for events lost at the end of a burst")
        self.request_timeout = self._seconds("request_timeout", 2.0, "s before an unanswered page request is sent again")

        self.path = Path(store_file(path, namespace_resource_id(self.get_namespace())) or path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.order: InOrder[msg.DispatchEvent] = InOrder(last_recorded(self.path))
        self.live = self.read_back = 0  # events written as received on the topic / as read from the log
        self._file: IO[str] = open(self.path, "a", encoding="utf-8")
        self._asked_at: float | None = None  # when the page request in flight was sent
        self._log: Any = self.create_client(srv.GetEventLog, "get_event_log", qos_profile=SERVICES_QOS)
        self.create_subscription(msg.DispatchEvent, "dispatch_events", self._on_event, EVENTS_QOS)
        self.create_timer(check_period, self._read_log)
        where = f"after event {self.order.last}" if self.order.last else "from the first event"
        self.get_logger().info(f"recording to {self.path}, {where}")

    def _seconds(self, name: str, default: float, description: str) -> float:
        d = ParameterDescriptor(description=description, floating_point_range=[FloatingPointRange(from_value=0.05, to_value=3600.0, step=0.0)])
        return float(self.declare_parameter(name, default, d).value)

    def _on_event(self, event: msg.DispatchEvent) -> None:
        if event.sequence == 0:
            return  # a start request sent unrecorded: not in the log
        written = self._write(self.order.offer(event.sequence, event))
        self.live += written
        if self.order.gap:
            self._read_log()

    def _read_log(self) -> None:
        """Ask the log for a page after the last event written, unless a request is in flight."""
        now = time.monotonic()
        if self._asked_at is not None and now - self._asked_at < self.request_timeout:
            return
        if not self._log.service_is_ready():
            return  # no dispatcher yet: the timer asks again
        self._asked_at = now
        request = srv.GetEventLog.Request(after_sequence=self.order.last, limit=self.page_size)
        after = self.order.last
        self._log.call_async(request).add_done_callback(lambda future: self._on_page(future.result(), after))

    def _on_page(self, page: Any, after: int) -> None:
        self._asked_at = None
        if not page.success:
            self.get_logger().warning(f"get_event_log after {after}: {page.message}")
            return
        if page.last_sequence < self.order.last:
            self.get_logger().error(
                f"the dispatcher's event log ends at {page.last_sequence}, before event {self.order.last} of {self.path}: "
                "it is not the log this file recorded (a dispatcher restarted without its store?); recording its events from 1 on"
            )
            self.order.restart()
            self._read_log()
            return
        before = self.order.last
        for event in page.events:
            self.read_back += self._write(self.order.offer(event.sequence, event))
        if self.order.last > before:
            self.get_logger().debug(f"read back events {before + 1}..{self.order.last} from the log")
        if page.events and page.next_after_sequence < page.last_sequence:
            self._read_log()  # more to read

    def _write(self, events: list[msg.DispatchEvent]) -> int:
        for event in events:
            self._file.write(conv.event_from_msg(event).model_dump_json() + "\n")
        if events:
            self._file.flush()
        return len(events)

    def destroy_node(self) -> None:
        """Close the file and say what was recorded, once. The node may be destroyed twice: by
        rclpy with its context, then by run_node (whether the first happens races with the
        signal: the summary came twice in one CI run)."""
        file: IO[str] | None = getattr(self, "_file", None)  # None when __init__ failed before opening it
        first = file is not None and not file.closed
        if file is not None:
            file.close()
        super().destroy_node()
        if first:
            # Logged once the node is gone, so only to the console: after a signal the context is shut
            # down, and logging with the node still there fails to publish on /rosout.
            self.get_logger().info(
                f"recorded up to event {self.order.last}: {self.live} as received, {self.read_back} read back from the log, "
                f"{self.order.repeats} repeats dropped"
            )


def main(args: list[str] | None = None) -> int:
    return run_node(EventRecorderNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
