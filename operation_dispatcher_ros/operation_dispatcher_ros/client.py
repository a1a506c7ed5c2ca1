"""DispatcherClient: the dispatcher's ROS API from Python, without the traps.

In the spirit of nav2_simple_commander's BasicNavigator: one object, plain
blocking methods, ROS messages back. What it does so that its caller need
not (docs/ros.md, "Your own client"):

- every client and the ``dispatch_events`` subscription are created in the
  constructor, the readiness probe (``get_dispatcher_state``) last; a
  request is sent only after ``wait_for_service`` and after the dispatcher
  answered a request that changes nothing on that client (Fast DDS drops
  the first request or reply of a client the server has not matched yet);
  the dispatcher-control clients, which have no harmless request, are
  covered by the probe, created after them;
- every client uses ``SERVICES_QOS`` (deep reply history), the events
  subscription ``EVENTS_QOS``;
- an add is sent again while unanswered (adds are idempotent by id, and ids
  are fixed here, before the first copy is sent); nothing else is ever sent
  twice: a cancel, pause, resume or control call without an answer raises
  and says to ask :meth:`get` / :meth:`state` what happened; after any
  unanswered request every client is warmed again before its next one
  (the dispatcher may have restarted and must match this client anew);
- every call has a deadline and raises the core's exceptions:
  :class:`~operation_dispatcher.UnavailableError` when no dispatcher serves
  the name, :class:`~operation_dispatcher.RequestTimeoutError` when it does
  not answer, and for a refusal the exception of the service's
  ``error_code`` (``ValidationError`` with the field the message names,
  ``NotFoundError``, ``InvalidStateError``, ``DeniedError``, ...).

Threads: given a namespace, the client owns an rclpy context and a node in
that namespace, spun by a SingleThreadedExecutor in a background thread.
Given a Node, it adds its entities to that node and the caller spins it
(from another thread than the one calling the client: the calls block
until the executor delivers the answer). Either way, event callbacks run
on the executor's thread: keep them short and never call the client's
blocking methods from them.
"""

from __future__ import annotations

import builtins
import collections
import itertools
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, NamedTuple, TypeAlias

import rclpy
from rclpy.context import Context
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions

from operation_dispatcher import (
    DeniedError,
    DispatcherError,
    InvalidStateError,
    NotFoundError,
    Operation,
    OperationState,
    RequestTimeoutError,
    StorageError,
    UnavailableError,
    ValidationError,
    parse_operations,
)
from operation_dispatcher_interfaces import msg, srv

from . import conversions as conv
from .qos import EVENTS_HISTORY_DEPTH, EVENTS_QOS, SERVICES_QOS

DEFAULT_TIMEOUT = 10.0
"""Seconds a call may take in all (discovery, warm-up, answer) unless told otherwise."""
WARM_UP_ATTEMPT = 0.5
"""Seconds the first harmless request waits for its answer before another copy is sent (doubling)."""
ADD_RESEND_AFTER = 2.0
"""Seconds an add waits for its answer before the same add is sent again (doubling)."""
RECHECK_PERIOD = 2.0
"""``wait_for`` asks again after this long without an event, in case one was lost (volatile topic)."""
PROBE = "get_dispatcher_state"

OperationLike: TypeAlias = "Operation | dict[str, Any] | msg.Operation"


class AddOutcome(NamedTuple):
    """One operation of an add, as AddOperations answers it (the wire has no state, unlike the core's AddResult)."""

    operation_id: str
    added: bool  # False: an operation with this id was already known (or an earlier copy of this add took it)


# Every service, in the order the clients are created. The second item builds a request that
# changes nothing (docs/ros.md), or is None where there is none: those come first, so that the
# probe, created last, covers them. The probe is read-only and tells the resource id.
_SERVICES: dict[str, tuple[Any, Callable[[], Any] | None]] = {
    "dispatcher/start": (srv.DispatcherCommand, None),
    "dispatcher/stop": (srv.DispatcherCommand, None),
    "dispatcher/pause": (srv.DispatcherCommand, None),
    "dispatcher/resume": (srv.DispatcherCommand, None),
    "add_operations": (srv.AddOperations, lambda: srv.AddOperations.Request(operations=[])),
    **{
        name: (srv.OperationCommand, lambda: srv.OperationCommand.Request(operation_id=""))
        for name in ("cancel_operation", "pause_operation", "resume_operation", "complete_operation", "fail_operation")
    },
    "get_events": (srv.GetEvents, lambda: srv.GetEvents.Request(operation_id="")),
    "get_event_log": (srv.GetEventLog, lambda: srv.GetEventLog.Request(after_sequence=2**64 - 1, limit=1)),  # past the end: empty
    "list_operations": (srv.ListOperations, lambda: srv.ListOperations.Request(state="WARM_UP")),  # not a state: VALIDATION
    "get_operation": (srv.GetOperation, lambda: srv.GetOperation.Request(operation_id="")),
    "get_history": (srv.GetHistory, lambda: srv.GetHistory.Request(limit=1)),
    PROBE: (srv.GetDispatcherState, lambda: srv.GetDispatcherState.Request()),
}



def harmless_request(service: str) -> Any:
    """A request to the dispatcher's ``service`` (relative name) that changes nothing, or None when it has
    none (``dispatcher/*``): what warms a fresh client (docs/ros.md)."""
    entry = _SERVICES.get(service)
    return entry[1]() if entry is not None and entry[1] is not None else None


_CODE_NAMES = {number: name for name, number in conv.ERROR_CODES.items()}
_FIELD = re.compile(r"^([A-Za-z_]\w*(?:\[\d+\]|\.[A-Za-z_]\w*)*)(?::\s| must )")
_node_names = itertools.count()


_REFUSALS: dict[str, type[DispatcherError]] = {
    "INVALID_STATE": InvalidStateError, "DENIED": DeniedError, "TIMEOUT": RequestTimeoutError,
    "UNAVAILABLE": UnavailableError, "STORAGE": StorageError,
}


def error_from_response(response: Any, operation_id: str = "") -> DispatcherError:
    """A refused response (``success`` false) as the core's exception of its ``error_code``.

    The wire carries the code and the message only: a validation message
    starts with the field it names (``operations[1].id: ...``), which
    becomes ``field``; NOT_FOUND names the id that was asked for; INTERNAL
    (or a code this client does not know) is a plain DispatcherError."""
    name, text = _CODE_NAMES.get(response.error_code, "INTERNAL"), response.message
    if name == "VALIDATION":
        match = _FIELD.match(text)
        return ValidationError(text, field=match.group(1) if match else None)
    if name == "NOT_FOUND":
        return NotFoundError(operation_id)
    return _REFUSALS.get(name, DispatcherError)(text)


class EventStream:
    """The events published from its creation on, as an iterator.

    ``next()`` blocks until the next event (for ``operation_id``, when
    given); it raises RequestTimeoutError after ``timeout`` seconds without
    one, and iteration ends once the stream or its client is closed. Keeps
    at most ``EVENTS_HISTORY_DEPTH`` unread events (the oldest go first, as
    on the topic)."""

    def __init__(self, owner: DispatcherClient, operation_id: str | None, timeout: float | None) -> None:
        self._owner, self.operation_id, self.timeout = owner, operation_id, timeout
        self._items: collections.deque[msg.DispatchEvent] = collections.deque(maxlen=EVENTS_HISTORY_DEPTH)
        self._cond = threading.Condition()
        self.closed = False

    def _put(self, event: msg.DispatchEvent) -> None:
        if self.operation_id is None or event.operation_id == self.operation_id:
            with self._cond:
                self._items.append(event)
                self._cond.notify_all()

    def __iter__(self) -> Iterator[msg.DispatchEvent]:
        return self

    def __next__(self) -> msg.DispatchEvent:
        with self._cond:
            if not self._cond.wait_for(lambda: self._items or self.closed, self.timeout):
                what = f" for {self.operation_id!r}" if self.operation_id else ""
                raise RequestTimeoutError(f"no event{what} on {self._owner.name('dispatch_events')} within {self.timeout:g} s")
            if self._items:
                return self._items.popleft()
            raise StopIteration

    def close(self) -> None:
        self._owner._drop(self)
        with self._cond:
            self.closed = True
            self._cond.notify_all()

    def __enter__(self) -> EventStream:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


class DispatcherClient:
    """The dispatcher's services and events, for one dispatcher (one namespace).

    ``DispatcherClient("robot_1")`` owns its context, node and spin thread;
    ``DispatcherClient(node, namespace="robot_1")`` uses ``node`` (spun by
    the caller), talking to the dispatcher in ``namespace`` (default: the
    node's own). ``timeout`` is every call's default deadline in seconds.
    Close it (or use ``with``) to release what it created.
    """

    def __init__(
        self, node_or_namespace: Node | str = "", *, namespace: str | None = None, timeout: float = DEFAULT_TIMEOUT,
        node_name: str = "dispatcher_client",
    ) -> None:
        self.timeout = timeout
        self._context: Context | None = None
        self._executor: SingleThreadedExecutor | None = None
        self._spin_thread: threading.Thread | None = None
        if isinstance(node_or_namespace, Node):
            self.node = node_or_namespace
            self._namespace = namespace.strip("/") if namespace is not None else None
        else:
            self._context = Context()
            # Not rclpy's signal handlers: Ctrl-C stays the application's KeyboardInterrupt.
            rclpy.init(context=self._context, signal_handler_options=SignalHandlerOptions.NO)
            ns = (namespace if namespace is not None else node_or_namespace).strip("/")
            self.node = Node(f"{node_name}_{os.getpid()}_{next(_node_names)}", namespace=f"/{ns}", context=self._context)
            self._namespace = None  # relative names resolve in the node's namespace
        self._lock = threading.Lock()
        self._warm: set[str] = set()
        self._resource_id: str | None = None
        self._streams: set[EventStream] = set()
        self._callbacks: list[Callable[[msg.DispatchEvent], None]] = []
        self._watches: dict[str, set[threading.Event]] = {}
        self._closed = False
        # Subscription first, then the clients, the probe last: see the module docstring.
        self._events_sub = self.node.create_subscription(msg.DispatchEvent, self.name("dispatch_events"), self._on_event, EVENTS_QOS)
        self._clients: dict[str, Any] = {
            name: self.node.create_client(srv_type, self.name(name), qos_profile=SERVICES_QOS) for name, (srv_type, _h) in _SERVICES.items()
        }
        if self._context is not None:
            self._executor = SingleThreadedExecutor(context=self._context)
            self._executor.add_node(self.node)
            self._spin_thread = threading.Thread(target=self._spin, name="dispatcher-client", daemon=True)
            self._spin_thread.start()

    def _spin(self) -> None:
        assert self._executor is not None
        try:
            self._executor.spin()
        except ExternalShutdownException:  # the context went down under it at close
            pass

    def name(self, relative: str) -> str:
        """The full ROS name of one of the dispatcher's services or topics."""
        ns = self._namespace if self._namespace is not None else self.node.get_namespace().strip("/")
        return f"/{ns}/{relative}" if ns else f"/{relative}"

    # ------------------------------------------------------------ operations

    def add(self, operations: Iterable[OperationLike], timeout: float | None = None) -> builtins.list[AddOutcome]:
        """Queue operations (core ``Operation`` models, dicts in the REST shape, or Operation messages), all or nothing.

        Validated here by the core's rules first (ValidationError naming
        ``operations[i].<field>``, nothing sent); a missing id is generated
        here, so the add can safely be sent again while its answer is due."""
        deadline = self._deadline(timeout)
        self._ready("add_operations", deadline)
        resource_id = self._resource_id or ""
        items = [
            conv.operation_from_msg(item, resource_id, f"operations[{i}]") if isinstance(item, msg.Operation) else item
            for i, item in enumerate(operations)
        ]
        request = srv.AddOperations.Request(
            operations=[conv.operation_to_msg(op) for op in parse_operations(items, default_resource_id=resource_id)]
        )
        response = self._call("add_operations", request, deadline, resend_after=ADD_RESEND_AFTER)
        return [AddOutcome(op_id, not present) for op_id, present in zip(response.operation_ids, response.already_present, strict=True)]

    def cancel(self, operation_id: str, reason: str | None = None, timeout: float | None = None) -> None:
        """Cancel a queued or active operation (asks the business logic; returns once it is CANCELLED)."""
        self._command("cancel_operation", operation_id, reason, timeout)

    def pause(self, operation_id: str, reason: str | None = None, timeout: float | None = None) -> None:
        """Hold the active operation (asks the business logic and the robot)."""
        self._command("pause_operation", operation_id, reason, timeout)

    def resume(self, operation_id: str, reason: str | None = None, timeout: float | None = None) -> None:
        """Continue a paused operation."""
        self._command("resume_operation", operation_id, reason, timeout)

    def complete(self, operation_id: str, reason: str | None = None, timeout: float | None = None) -> None:
        """Report the active operation done (for robots without the action)."""
        self._command("complete_operation", operation_id, reason, timeout)

    def fail(self, operation_id: str, reason: str | None = None, timeout: float | None = None) -> None:
        """Report the active operation failed (for robots without the action)."""
        self._command("fail_operation", operation_id, reason, timeout)

    def _command(self, service: str, operation_id: str, reason: str | None, timeout: float | None) -> None:
        request = srv.OperationCommand.Request(operation_id=operation_id, reason=reason or "")
        self._call(service, request, self._deadline(timeout), operation_id=operation_id)

    # ------------------------------------------------------------ queries

    def get(self, operation_id: str = "", timeout: float | None = None) -> msg.OperationStatus:
        """One operation's status; ``""`` = the RUNNING or PAUSED one (InvalidStateError when there is none)."""
        response = self._call("get_operation", srv.GetOperation.Request(operation_id=operation_id), self._deadline(timeout), operation_id=operation_id)
        return response.status

    def list(self, state: OperationState | str | None = None, timeout: float | None = None) -> builtins.list[msg.OperationStatus]:
        """Every tracked operation, in queue / tracking order, optionally only those in ``state``."""
        request = srv.ListOperations.Request(state=state.value if isinstance(state, OperationState) else state or "")
        return builtins.list(self._call("list_operations", request, self._deadline(timeout)).operations)

    def list_page(
        self, state: OperationState | str | None = None, limit: int = 100, cursor: str = "", timeout: float | None = None
    ) -> Any:
        """One page of :meth:`list`, for a long queue: the ListOperations response (``operations``,
        ``next_cursor``, ``total``); read on with ``cursor=response.next_cursor`` until it is ``""``."""
        request = srv.ListOperations.Request(
            state=state.value if isinstance(state, OperationState) else state or "", limit=limit, cursor=cursor
        )
        return self._call("list_operations", request, self._deadline(timeout))

    def history(self, limit: int = 50, timeout: float | None = None) -> builtins.list[msg.OperationStatus]:
        """The last ``limit`` finished operations."""
        return builtins.list(self.history_page(limit, timeout=timeout).operations)

    def history_page(self, limit: int = 50, cursor: str = "", timeout: float | None = None) -> Any:
        """One page of finished operations, newest first: the GetHistory response (``operations``,
        ``next_cursor``, ``total``); read on with ``cursor=response.next_cursor`` until it is ``""``."""
        return self._call("get_history", srv.GetHistory.Request(limit=limit, cursor=cursor), self._deadline(timeout))

    def get_events(
        self, operation_id: str, after: int = 0, limit: int = 0, timeout: float | None = None
    ) -> builtins.list[msg.DispatchEvent]:
        """The events the dispatcher recorded for one operation (also those published before this client
        existed): all of them, or at most ``limit`` numbered above ``after``."""
        request = srv.GetEvents.Request(operation_id=operation_id, after_sequence=after, limit=limit)
        response = self._call("get_events", request, self._deadline(timeout), operation_id=operation_id)
        return builtins.list(response.events)

    def get_event_log(self, after: int = 0, limit: int = 0, timeout: float | None = None) -> Any:
        """A page of the dispatcher's event log: the events numbered above ``after`` (0: from the first),
        at most ``limit`` (0: the dispatcher's default, 100). The GetEventLog response: ``events``,
        ``next_after_sequence`` (the ``after`` of the next page) and ``last_sequence``."""
        return self._call("get_event_log", srv.GetEventLog.Request(after_sequence=after, limit=limit), self._deadline(timeout))

    def state(self, timeout: float | None = None) -> msg.DispatcherState:
        """The dispatcher's state now."""
        return self._call(PROBE, srv.GetDispatcherState.Request(), self._deadline(timeout)).state

    # ------------------------------------------------------------ the dispatcher

    def start_dispatcher(self, timeout: float | None = None) -> msg.DispatcherState:
        return self._control("dispatcher/start", None, timeout)

    def stop_dispatcher(self, timeout: float | None = None) -> msg.DispatcherState:
        return self._control("dispatcher/stop", None, timeout)

    def pause_dispatcher(self, reason: str | None = None, timeout: float | None = None) -> msg.DispatcherState:
        """Start no new operation (the active one carries on)."""
        return self._control("dispatcher/pause", reason, timeout)

    def resume_dispatcher(self, timeout: float | None = None) -> msg.DispatcherState:
        return self._control("dispatcher/resume", None, timeout)

    def _control(self, service: str, reason: str | None, timeout: float | None) -> msg.DispatcherState:
        request = srv.DispatcherCommand.Request(reason=reason or "")
        return self._call(service, request, self._deadline(timeout)).state

    # ------------------------------------------------------------ waiting and events

    def wait_until_ready(self, timeout: float | None = None) -> msg.DispatcherState:
        """Block until the dispatcher serves and has matched this client (like BasicNavigator.waitUntilNav2Active)."""
        return self.state(timeout)

    def wait_for(self, operation_id: str, state: OperationState | str, timeout: float = 60.0) -> msg.OperationStatus:
        """Block until the operation is in ``state``; its status then.

        Woken by the operation's events on ``dispatch_events`` (each one
        followed by one ``get``), and every RECHECK_PERIOD without one. An
        operation that ends in another state raises InvalidStateError, one
        still elsewhere at the deadline RequestTimeoutError."""
        target = self._state(state)
        deadline = time.monotonic() + timeout
        woken = threading.Event()
        with self._lock:
            self._watches.setdefault(operation_id, set()).add(woken)
        try:
            while True:
                woken.clear()  # before the get: an event from now on wakes the wait below
                status = self.get(operation_id, timeout=max(deadline - time.monotonic(), 0.1))
                now = OperationState(status.state_name)
                if now is target:
                    return status
                if now.is_terminal:
                    why = f" ({status.termination_reason})" if status.termination_reason else ""
                    raise InvalidStateError(f"operation {operation_id!r} ended {now.value}{why} while waiting for {target.value}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise RequestTimeoutError(f"operation {operation_id!r} not {target.value} within {timeout:.3g} s: it is {now.value}")
                woken.wait(min(left, RECHECK_PERIOD))
                if self._closed:
                    raise UnavailableError("the client was closed")
        finally:
            with self._lock:
                self._watches[operation_id].discard(woken)
                if not self._watches[operation_id]:
                    del self._watches[operation_id]

    def events(self, operation_id: str | None = None, timeout: float | None = None) -> EventStream:
        """Events published from now on (see :class:`EventStream`); create it before the add you want to follow."""
        if self._closed:
            raise UnavailableError("the client was closed")
        stream = EventStream(self, operation_id, timeout)
        with self._lock:
            self._streams.add(stream)
        return stream

    def on_event(self, callback: Callable[[msg.DispatchEvent], None]) -> Callable[[], None]:
        """Call ``callback(event)`` for every event (on the executor's thread: short, never blocking); returns the undo."""
        with self._lock:
            self._callbacks.append(callback)

        def remove() -> None:
            with self._lock:
                if callback in self._callbacks:
                    self._callbacks.remove(callback)

        return remove

    def _drop(self, stream: EventStream) -> None:
        with self._lock:
            self._streams.discard(stream)

    def _on_event(self, event: msg.DispatchEvent) -> None:
        with self._lock:
            streams, callbacks = builtins.list(self._streams), builtins.list(self._callbacks)
            for woken in self._watches.get(event.operation_id, ()):
                woken.set()
        for stream in streams:
            stream._put(event)
        for callback in callbacks:
            try:
                callback(event)
            except Exception as exc:  # a caller's bug must not stop the executor
                self.node.get_logger().error(f"on_event callback {callback!r} raised {exc!r}")

    # ------------------------------------------------------------ calls

    def _deadline(self, timeout: float | None) -> float:
        return time.monotonic() + (self.timeout if timeout is None else timeout)

    @staticmethod
    def _state(state: OperationState | str) -> OperationState:
        try:
            return OperationState(state.upper() if isinstance(state, str) else state)
        except ValueError:
            names = ", ".join(s.value for s in OperationState)
            raise ValidationError(f"state: must be one of {names}; got {state!r}", field="state") from None

    def _call(self, service: str, request: Any, deadline: float, resend_after: float | None = None, operation_id: str = "") -> Any:
        """Send ``request`` once (an add: again every ``resend_after``, doubling) on a warm client; the answer, or raise."""
        self._ready(service, deadline)
        response = self._exchange(service, request, deadline, resend_after)
        if response is None:
            with self._lock:  # the dispatcher may have restarted: warm up again before the next request
                self._warm.clear()
            again = "; the add may be sent again" if resend_after else f"; it may have been carried out: ask {PROBE} / get_operation"
            raise RequestTimeoutError(f"no answer from {self.name(service)} before the deadline{again}")
        if not response.success:
            raise error_from_response(response, operation_id)
        return response

    def _ready(self, service: str, deadline: float) -> None:
        """Wait for ``service`` and warm its client (once; again after a timeout)."""
        if self._closed:
            raise UnavailableError("the client was closed")
        if self._spin_thread is threading.current_thread():
            raise RuntimeError("DispatcherClient calls block: do not call them from an on_event callback")
        with self._lock:
            if service in self._warm:
                return
        if PROBE not in self._warm:
            self._resource_id = self._warm_up(PROBE, deadline).state.resource_id
            with self._lock:
                self._warm.add(PROBE)
            self.node.get_logger().debug(f"dispatcher {self._resource_id!r} at {self.name(PROBE)} answers")
        if service not in self._warm:
            # Our side: wait_for_service. The dispatcher's side: the harmless request, or, where there is
            # none, the probe answered above (created after this client, so matched after it).
            self._warm_up(service, deadline)
            with self._lock:
                self._warm.add(service)

    def _warm_up(self, service: str, deadline: float) -> Any:
        """Wait for ``service``, then send its harmless request until one copy is answered; that answer."""
        client, (_type, harmless) = self._clients[service], _SERVICES[service]
        left = deadline - time.monotonic()
        if not client.wait_for_service(timeout_sec=max(left, 0.0)):
            raise UnavailableError(
                f"no dispatcher serves {self.name(service)} (waited {max(left, 0.0):.3g} s): is dispatcher_node running "
                f"in that namespace, with ROS_DOMAIN_ID={os.environ.get('ROS_DOMAIN_ID', '0')} and the same discovery range?"
            )
        if harmless is None:
            return None
        answer = self._exchange(service, harmless(), deadline, WARM_UP_ATTEMPT)
        if answer is None:
            raise RequestTimeoutError(f"{self.name(service)} is served but answered no warm-up request before the deadline")
        return answer

    def _exchange(self, service: str, request: Any, deadline: float, resend_after: float | None) -> Any:
        """Send ``request``, and again every ``resend_after`` s (doubling) while no copy is answered; the first
        answer, or None at ``deadline``. Every copy stays pending, so a slow first answer still counts."""
        client = self._clients[service]
        answered = threading.Event()
        futures = []
        wait = resend_after
        try:
            while True:
                future = client.call_async(request)
                future.add_done_callback(lambda _f: answered.set())
                futures.append(future)
                left = deadline - time.monotonic()
                answered.wait(max(min(left, wait) if wait is not None else left, 0.0))
                done = [f for f in futures if f.done()]
                if done:
                    return done[0].result()
                if wait is None or time.monotonic() >= deadline or self._closed:
                    return None
                if len(futures) == 1:
                    self.node.get_logger().warning(f"no answer from {self.name(service)} within {wait:g} s: sending it again")
                wait *= 2
        finally:
            for future in futures:
                if not future.done():
                    client.remove_pending_request(future)

    # ------------------------------------------------------------ end

    def close(self) -> None:
        """End every stream and wait, destroy what this client created (its node and context, when it owns them)."""
        if self._closed:
            return
        self._closed = True
        with self._lock:
            streams, watches = builtins.list(self._streams), [w for ws in self._watches.values() for w in ws]
        for stream in streams:
            stream.close()
        for woken in watches:
            woken.set()
        if self._executor is not None and self._context is not None:
            self._executor.shutdown(timeout_sec=2.0)
            if self._spin_thread is not None:
                self._spin_thread.join(3.0)
            self.node.destroy_node()
            self._context.try_shutdown()
        else:
            for client in self._clients.values():
                self.node.destroy_client(client)
            self.node.destroy_subscription(self._events_sub)

    def __enter__(self) -> DispatcherClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
