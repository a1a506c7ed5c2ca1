"""dispatcher_node: the operation dispatcher core as a ROS 2 node.

Concurrency, one model only: the core's asyncio loop runs in one dedicated
thread; a MultiThreadedExecutor spins the node on the main thread. Service
callbacks hand work to the loop with ``asyncio.run_coroutine_threadsafe``
and wait (bounded) for it, which blocks one executor thread while the
others keep delivering the handshake answers and action results it waits
for; all callbacks share one reentrant callback group for that reason.

Services (relative names; the namespace comes from launch):
  add_operations, cancel_operation, pause_operation, resume_operation,
  complete_operation, fail_operation, list_operations, get_operation,
  get_history, get_events, get_dispatcher_state,
  dispatcher/start, dispatcher/stop, dispatcher/pause, dispatcher/resume
Topics: dispatch_events (every event), dispatcher_state (latched).
Clients: handshake/{start,cancel,pause,resume} (Handshake) and the
execute_operation action (see action_runner).

HTTP doors: with ``http_port`` set, the same dispatcher is also served over
REST/OpenAPI, the live dashboard and MCP, by uvicorn on the dispatcher's
own loop, so every door sees one queue and one set of handshakes.

Durability: ``store_path`` names an SQLite file (default
``~/.ros/operation_dispatcher/{resource_id}.db``, and ``resource_id``
defaults to the namespace, so robots in two namespaces never share one;
empty = memory only) that
keeps operations, history and events; its store holds it exclusively
(``<file>.lock``) and the node recovers from it on start, treating an operation left
RUNNING or PAUSED as ``on_interrupted`` says.

No service callback ever raises: failures become success=false with the
core's error code, numbered as in the core's ERROR_TABLE (INTERNAL plus the
message for anything unexpected); the node invents no codes of its own.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any

import rclpy
from rcl_interfaces.msg import SetParametersResult
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node

from operation_dispatcher import (
    DenialPolicy,
    DispatcherError,
    DispatchEvent,
    FailureRetryPolicy,
    InvalidStateError,
    OperationDispatcher,
    RequestTimeoutError,
    SQLiteStore,
    UnavailableError,
)
from operation_dispatcher_interfaces import msg, srv

from . import conversions as conv
from . import dispatcher_params
from .action_runner import ActionOperationRunner, ExecutorSettings
from .handshake_bridge import HandshakeBridge
from .node_main import ConfigurationError, run_node
from .qos import EVENTS_QOS, SERVICES_QOS, STATE_QOS

STOP_TIMEOUT = 5.0
STOP_GRACE = 1.0  # at shutdown, in-flight handshakes and starts get this long before they are cancelled
COMMAND_STORE_WRITES = 2  # a cancel / pause / resume records its request, then its outcome
COMMAND_SLACK = 1.0  # seconds for the hand-overs between threads and loops


class DispatcherNode(Node):
    def __init__(self, **node_kwargs: Any) -> None:
        super().__init__("dispatcher", **node_kwargs)
        p = dispatcher_params.declare(self)
        self._group = ReentrantCallbackGroup()

        self._loop = asyncio.new_event_loop()
        self._loop_thread = threading.Thread(target=self._loop.run_forever, name="dispatcher-asyncio", daemon=True)
        self._loop_thread.start()
        self._run_future: concurrent.futures.Future[None] | None = None
        self._http: Any = None  # uvicorn.Server of the HTTP doors, when http_port is set
        self._http_future: concurrent.futures.Future[None] | None = None

        self._events_pub = self.create_publisher(msg.DispatchEvent, "dispatch_events", EVENTS_QOS)
        self._state_pub = self.create_publisher(msg.DispatcherState, "dispatcher_state", STATE_QOS)
        self._state_lock = threading.Lock()
        self.store_file = dispatcher_params.store_file(p["store_path"], p["resource_id"])
        self._store: SQLiteStore | None = self._open_store(self.store_file, p["store_busy_timeout"]) if self.store_file else None

        self.runner = ActionOperationRunner(self, self._executor_settings(p), self._group)
        self.handshake = HandshakeBridge(
            self,
            {kind: p[f"handshake_{kind}_service"] for kind in ("start", "cancel", "pause", "resume")},
            p["handshake_timeout"],
            p["default_decision"] == "approve",
            self._group,
        )
        self.dispatcher = OperationDispatcher(
            p["resource_id"],
            on_request_callback=self.handshake,
            on_notification_callback=self._on_event,
            request_timeout=self._request_timeout(p["handshake_timeout"]),
            default_decision=p["default_decision"] == "approve",
            denial_policy=DenialPolicy(cooldown_seconds=p["cooldown_seconds"], max_retries=p["max_retries"]),
            failure_retry=self._failure_retry(p),
            runner=self.runner,
            store=self._store,
            on_interrupted=p["on_interrupted"],
        )
        self.runner.dispatcher = self.handshake.dispatcher = self.dispatcher
        self.runner.on_progress = self._on_progress
        self._params = p

        self._last_state_publish = 0.0
        self._progress_dirty = False
        self._state_timer = self.create_timer(p["state_publish_period"], self._publish_state_if_dirty, callback_group=self._group)
        self._create_services()
        self.add_on_set_parameters_callback(self._on_set_parameters)

        self._publish_state()
        if p["autostart"]:
            self._start_loop()
        if p["http_port"]:
            self._start_http(p["http_host"], p["http_port"], p["http_token"] or None)
        stored = (
            f"store {self.store_file} ({len(self.dispatcher.list_operations())} operations recovered, "
            f"interrupted ones: {p['on_interrupted']})" if self.store_file else "in-memory store"
        )
        self.get_logger().info(
            f"dispatcher for {p['resource_id']!r} up (default decision {p['default_decision']}, "
            f"handshake timeout {p['handshake_timeout']:g} s, {stored}, {'running' if p['autostart'] else 'stopped'})"
        )

    def _start_http(self, host: str, port: int, token: str | None) -> None:
        """Serve REST, dashboard and MCP over this dispatcher, on its loop (the node keeps owning run())."""
        try:
            from operation_dispatcher.api import build_server
        except ImportError as exc:
            raise ConfigurationError(f"http_port: the HTTP doors need operation_dispatcher[api,mcp] ({exc})") from None
        try:
            self._http = build_server(self.dispatcher, host, port, token, run_dispatcher=False, log_level="warning")
        except ValueError as exc:  # a non-loopback bind without a token
            raise ConfigurationError(f"http_host: {exc}") from None
        self._http_future = asyncio.run_coroutine_threadsafe(self._http.serve(), self._loop)
        deadline = time.monotonic() + STOP_TIMEOUT
        while not self._http.started and not self._http_future.done() and time.monotonic() < deadline:
            time.sleep(0.01)  # uvicorn binds within milliseconds
        if not self._http.started:
            error = self._http_future.exception() if self._http_future.done() else None
            raise ConfigurationError(f"http_port: could not serve on {host}:{port}: {error or 'timed out'}")
        self.get_logger().info(f"REST /docs, dashboard / and MCP /mcp on http://{host}:{port}")

    def _open_store(self, path: str, busy_timeout: float) -> SQLiteStore:
        """The SQLite store at ``path``; the store holds ``<file>.lock`` itself, so a second dispatcher is refused."""
        try:
            return SQLiteStore(path, busy_timeout=busy_timeout)
        except DispatcherError as exc:  # in use by another dispatcher process, cannot create, another schema...
            raise ConfigurationError(f"store_path: {exc.message}") from None

    # ------------------------------------------------------------ settings

    @staticmethod
    def _request_timeout(handshake_timeout: float) -> float:
        # The bridge answers within handshake_timeout; the core's own bound only guards against a bug in it.
        return min(handshake_timeout + 2.0, 3600.0)

    @staticmethod
    def _failure_retry(p: dict[str, Any]) -> FailureRetryPolicy | None:
        if not p["failure_retry_enabled"]:
            return None
        return FailureRetryPolicy(
            max_attempts=p["failure_retry_max_attempts"],
            initial_backoff_seconds=p["failure_retry_backoff"],
            multiplier=p["failure_retry_multiplier"],
            max_backoff_seconds=p["failure_retry_max_backoff"],
        )

    @staticmethod
    def _executor_settings(p: dict[str, Any]) -> ExecutorSettings:
        return ExecutorSettings(
            action_name=p["executor_action"],
            pause_service=p["executor_pause_service"],
            resume_service=p["executor_resume_service"],
            server_timeout=p["executor_server_timeout"],
            goal_timeout=p["executor_goal_timeout"],
            cancel_timeout=p["executor_cancel_timeout"],
            service_timeout=p["executor_service_timeout"],
            timeout=p["executor_timeout"],
        )

    def _on_set_parameters(self, changes: list[Any]) -> SetParametersResult:
        values = dict(self._params)
        values.update({c.name: c.value for c in changes})
        problem = dispatcher_params.check(values)
        if problem is None:
            try:
                denial = DenialPolicy(cooldown_seconds=values["cooldown_seconds"], max_retries=values["max_retries"])
                retry = self._failure_retry(values)
            except DispatcherError as exc:
                problem = exc.message
        if problem is not None:
            return SetParametersResult(successful=False, reason=problem)
        self._params = values
        d = self.dispatcher
        d.denial_policy, d.failure_retry = denial, retry
        d.default_decision = values["default_decision"] == "approve"
        d.request_timeout = self._request_timeout(values["handshake_timeout"])
        self.handshake.timeout = values["handshake_timeout"]
        self.handshake.default_approve = d.default_decision
        self.runner.settings = self._executor_settings(values)
        return SetParametersResult(successful=True)

    # ------------------------------------------------------------ loop control

    def _start_loop(self) -> None:
        if self.dispatcher.running or (self._run_future is not None and not self._run_future.done()):
            raise InvalidStateError("the dispatcher is already running")
        self._run_future = asyncio.run_coroutine_threadsafe(self.dispatcher.run(), self._loop)
        deadline = time.monotonic() + STOP_TIMEOUT
        while not self.dispatcher.running and not self._run_future.done() and time.monotonic() < deadline:
            time.sleep(0.005)  # run() sets running on its first step, microseconds away

    def _stop_loop(self, timeout: float = STOP_TIMEOUT) -> None:
        future = self._run_future
        if future is None or future.done():
            raise InvalidStateError("the dispatcher is not running")
        self.dispatcher.request_stop()
        try:
            future.result(timeout)
        except concurrent.futures.TimeoutError:
            raise RequestTimeoutError(f"the dispatch loop did not stop within {timeout:g} s") from None

    def command_deadline(self, command: str) -> float:
        """Seconds a cancel / pause / resume service waits for the core: the sum of every bounded wait
        the command can meet, each from the timeout that bounds it.

        In order: the handshake (the core's bound on it), the start in flight that the command lets
        return first (the executor turn), the one command ahead of it on that turn, the runner's own
        bound for this command (``ExecutorSettings.longest``, which the runner's waits use too), and
        the store's writes, each up to ``store_busy_timeout``.
        """
        s = self.runner.settings
        ahead = max(s.longest(c) for c in ("cancel", "pause", "resume"))
        store = COMMAND_STORE_WRITES * self._params["store_busy_timeout"] if self._store is not None else 0.0
        return self.dispatcher.request_timeout + s.longest("start") + ahead + s.longest(command) + store + COMMAND_SLACK

    def _command(self, command: str, coro: Coroutine[Any, Any, Any]) -> Any:
        """Run a handshaken command on the dispatcher's loop; wait for it up to :meth:`command_deadline`.

        Past the deadline the answer is TIMEOUT, and the command is NOT cut short: cancelled half-way,
        a robot told to stop would stop while the operation is FAILED by its late result. It goes on,
        and its events say how it ended.
        """
        if self._loop.is_closed() or not self._loop.is_running():
            coro.close()
            raise UnavailableError("the dispatcher is shutting down")
        timeout = self.command_deadline(command)
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            raise RequestTimeoutError(
                f"the {command} took longer than {timeout:g} s and goes on; see dispatch_events or get_operation for its outcome"
            ) from None

    def destroy_node(self) -> None:
        self.shutdown()
        super().destroy_node()

    def shutdown(self) -> None:
        """Stop the HTTP doors, the dispatch loop and its thread (idempotent)."""
        if self._http_future is not None and not self._http_future.done():
            self._http.should_exit = True
            try:
                self._http_future.result(STOP_TIMEOUT)
            except Exception as exc:  # shutting down anyway
                self.get_logger().warning(f"HTTP doors did not stop cleanly: {exc!r}")
        if self._run_future is not None and not self._run_future.done():
            self.dispatcher.request_stop()
            try:
                self._run_future.result(STOP_GRACE)
            except concurrent.futures.TimeoutError:
                # A handshake or a start in flight waits for a graph that is gone with the context:
                # cut it short. What it left RUNNING, the store recovers as interrupted (on_interrupted).
                self._run_future.cancel()
            except Exception as exc:  # shutting down anyway
                self.get_logger().warning(f"dispatch loop did not stop cleanly: {exc}")
            deadline = time.monotonic() + STOP_TIMEOUT
            while self.dispatcher.running and time.monotonic() < deadline:
                time.sleep(0.01)  # the cancelled run() leaves through its finally (STOPPED event)
        if self._loop.is_running():
            self._loop.call_soon_threadsafe(self.runner.cancel_watchdogs)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._loop_thread.join(STOP_TIMEOUT)
        if self._store is not None:
            self._store.close()
            self._store = None

    # ------------------------------------------------------------ events and state

    def _on_event(self, event: DispatchEvent) -> None:
        """Core notification (its own thread, in order): publish the event and the new state."""
        try:
            self._events_pub.publish(conv.event_to_msg(event))
            if hasattr(self, "dispatcher"):  # not for events of the recovery, while the dispatcher is being built
                self._publish_state()
        except Exception as exc:  # context gone during shutdown
            if rclpy.ok(context=self.context):
                self.get_logger().error(f"could not publish {event.event_type}: {exc}")

    def _on_progress(self) -> None:
        with self._state_lock:
            self._progress_dirty = True

    def _publish_state_if_dirty(self) -> None:
        with self._state_lock:
            dirty, self._progress_dirty = self._progress_dirty, False
        if dirty:
            self._publish_state()

    def _state_msg(self) -> msg.DispatcherState:
        current = self.dispatcher.current()
        return conv.snapshot_to_msg(self.dispatcher.snapshot(), current.execution.progress if current else 0.0)

    def _publish_state(self) -> None:
        with self._state_lock:
            self._state_pub.publish(self._state_msg())

    # ------------------------------------------------------------ services

    def _create_services(self) -> None:
        services: list[tuple[Any, str, Callable[[Any, Any], object]]] = [
            (srv.AddOperations, "add_operations", self._add),
            (srv.OperationCommand, "cancel_operation", lambda q, r: self._command("cancel", self.dispatcher.cancel(q.operation_id, q.reason or None))),
            (srv.OperationCommand, "pause_operation", lambda q, r: self._command("pause", self.dispatcher.pause_operation(q.operation_id, q.reason or None))),
            (srv.OperationCommand, "resume_operation", lambda q, r: self._command("resume", self.dispatcher.resume_operation(q.operation_id, q.reason or None))),
            (srv.OperationCommand, "complete_operation", lambda q, r: self.dispatcher.complete(q.operation_id, q.reason or None)),
            (srv.OperationCommand, "fail_operation", lambda q, r: self.dispatcher.fail(q.operation_id, q.reason or None)),
            (srv.ListOperations, "list_operations", self._list),
            (srv.GetOperation, "get_operation", self._get),
            (srv.GetHistory, "get_history", self._history),
            (srv.GetEvents, "get_events", self._events),
            (srv.GetDispatcherState, "get_dispatcher_state", lambda q, r: None),
            (srv.DispatcherCommand, "dispatcher/start", lambda q, r: self._start_loop()),
            (srv.DispatcherCommand, "dispatcher/stop", lambda q, r: self._stop_loop()),
            (srv.DispatcherCommand, "dispatcher/pause", lambda q, r: self.dispatcher.pause(q.reason or None)),
            (srv.DispatcherCommand, "dispatcher/resume", lambda q, r: self.dispatcher.resume()),
        ]
        for srv_type, name, work in services:  # rclpy's Node keeps them (its own _services list)
            self.create_service(srv_type, name, self._guarded(work), qos_profile=SERVICES_QOS, callback_group=self._group)

    def _guarded(self, work: Callable[[Any, Any], object]) -> Callable[[Any, Any], Any]:
        """Wrap a service body: fill success / error_code / message, never raise."""

        def callback(request: Any, response: Any) -> Any:
            try:
                work(request, response)
                response.success, response.error_code = True, conv.ERROR_CODES["NONE"]
            except Exception as exc:
                response.success, response.error_code, response.message = False, conv.error_code(exc), conv.error_message(exc)
                if not isinstance(exc, DispatcherError):
                    self.get_logger().error(f"service failed unexpectedly: {exc!r}")
                _clear_lists(response)
            if hasattr(response, "state"):
                response.state = self._state_msg()
            return response

        return callback

    def _add(self, request: Any, response: Any) -> None:
        operations = conv.operations_from_msgs(request.operations, self.dispatcher.resource_id)
        results = self.dispatcher.add(operations)
        response.operation_ids = [r.operation_id for r in results]
        response.already_present = [not r.added for r in results]

    def _list(self, request: Any, response: Any) -> None:
        response.operations = conv.records_to_statuses(self.dispatcher.list_operations(conv.state_filter_from_msg(request.state)))

    def _get(self, request: Any, response: Any) -> None:
        record = self.dispatcher.get(request.operation_id) if request.operation_id else self.dispatcher.current()
        if record is None:
            raise InvalidStateError("cannot get the current operation: none is RUNNING or PAUSED")
        response.status = conv.record_to_status(record)

    def _history(self, request: Any, response: Any) -> None:
        response.operations = conv.records_to_statuses(self.dispatcher.history(request.limit or 50))

    def _events(self, request: Any, response: Any) -> None:
        response.events = [conv.event_to_msg(e) for e in self.dispatcher.events(request.operation_id)]


def _clear_lists(response: Any) -> None:
    """On failure, list fields stay empty (as the .srv files promise)."""
    for name in ("operation_ids", "already_present", "operations", "events"):
        if hasattr(response, name):
            setattr(response, name, [])


def main(args: list[str] | None = None) -> int:
    return run_node(DispatcherNode, args, num_threads=8)


if __name__ == "__main__":
    raise SystemExit(main())
