"""dispatcher_node: the operation dispatcher core as a ROS 2 node.

Concurrency, one model only: the core's asyncio loop runs in one dedicated
thread; a MultiThreadedExecutor spins the node on the main thread. Service
callbacks hand work to the loop with ``asyncio.run_coroutine_threadsafe``
and wait (bounded) for it, which blocks one executor thread while the
others keep delivering the handshake answers and action results it waits
for; all callbacks share one reentrant callback group for that reason.

Every thread of the process, and what it may do (this is the whole list):

- main: the executor's spin, waiting in the wait set and handing each ready
  callback to the pool. It rebuilds the wait set from every entity of the
  node on each pass, the dispatcher's largest cost per message (bench/goals.py);
- 8 executor pool threads (``run_node(num_threads=8)``): the callbacks, i.e.
  services, the action client's and handshake clients' answers, timers. They
  call the core's sync methods (thread-safe: its write lock serialises
  changes, its state lock guards reads) or wait on the loop as above;
- ``dispatcher-asyncio``: the core's loop, i.e. the dispatch loop, the
  handshakes (an rclpy future bridged with ``add_done_callback`` and
  ``call_soon_threadsafe``, never awaited directly), the action runner's
  coroutines, the HTTP doors when on, the progress timer;
- ``store-<resource>`` (with a store): writes the loop's own changes, so the
  loop never waits on the disk;
- ``notify-_on_event``: the core's fan-out to this node, which publishes
  ``dispatch_events``, ``dispatcher_state``, diagnostics and markers from it,
  so the loop never waits on a publish;
- ``report-<operation>`` (rare, short-lived): a robot's result the store
  refused, reported again with back-off until it is taken.

Services (relative names; the namespace comes from launch):
  add_operations, cancel_operation, pause_operation, resume_operation,
  complete_operation, fail_operation, list_operations, get_operation,
  get_history, get_events, get_event_log, get_dispatcher_state,
  dispatcher/start, dispatcher/stop, dispatcher/pause, dispatcher/resume
Topics: dispatch_events (every event), dispatcher_state (latched), dispatch_markers
(latched visualization_msgs/MarkerArray for RViz: queued goals numbered, the active
route, a state label; see markers.py).
Clients: handshake/{start,cancel,pause,resume} (Handshake) and the
execute_operation action (see action_runner).

Managed node (rclpy.lifecycle), as Nav2's nodes are:

- the constructor only declares the parameters;
- ``configure`` validates them, opens the store (recovery), builds the
  bridge, runner and core, the asyncio loop's thread, the publishers and the
  services; it FAILS (reason logged, node stays unconfigured) on a bad
  value or a store held by another dispatcher, and can be tried again;
- ``activate`` starts the dispatch loop and the HTTP doors;
- ``deactivate`` stops them: nothing new starts, the operation on the robot
  finishes, the queue is kept; every service keeps answering, and writes
  act as after ``dispatcher/stop`` (adds queue, cancel / pause / resume /
  complete / fail work; ``dispatcher/start`` is refused INVALID_STATE until
  ``activate``); the topics keep publishing;
- ``cleanup`` closes the store and destroys what configure made;
- ``shutdown`` (from any state) does what is left of both, then the process
  exits with status 0.

``autostart`` (default true) walks the node to active when the process
starts, and the process exits with status 2 when that fails; false leaves
it unconfigured for ``ros2 lifecycle set``. ``dispatcher/stop`` and
``dispatcher/start`` stop and start the loop within the active state.
Diagnostics on ``/diagnostics`` from configure on (see diagnostics.py).

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
import contextlib
import threading
from collections.abc import Callable, Coroutine
from typing import Any

import rclpy
from rcl_interfaces.msg import SetParametersResult
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.client import Client
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.publisher import Publisher
from rclpy.service import Service
from rclpy.timer import Timer

from operation_dispatcher import (
    DenialPolicy,
    DispatcherError,
    DispatchEvent,
    FailureRetryPolicy,
    FailureStreakPolicy,
    InvalidStateError,
    NotReadyPolicy,
    OperationDispatcher,
    OperationPage,
    RequestTimeoutError,
    SQLiteStore,
    UnavailableError,
)
from operation_dispatcher_interfaces import msg, srv

from . import conversions as conv
from . import dispatcher_params, markers
from .action_runner import ActionOperationRunner, RobotSettings
from .diagnostics import DiagnosticsPublisher
from .handshake_bridge import HandshakeBridge
from .node_main import ConfigurationError, run_node, shut_down_context
from .qos import EVENTS_QOS, SERVICES_QOS, STATE_QOS

STOP_TIMEOUT = 5.0
STOP_GRACE = 1.0  # at process shutdown, in-flight handshakes and starts get this long before they are cancelled
COMMAND_STORE_WRITES = 2  # a cancel / pause / resume records its request, then its outcome
COMMAND_SLACK = 1.0  # seconds for the hand-overs between threads and loops
SUCCESS, FAILURE = TransitionCallbackReturn.SUCCESS, TransitionCallbackReturn.FAILURE


class DispatcherNode(LifecycleNode):
    # Built by configure, gone after cleanup (see the module's docstring).
    dispatcher: OperationDispatcher
    runner: ActionOperationRunner
    handshake: HandshakeBridge
    diagnostics: DiagnosticsPublisher

    def __init__(self, **node_kwargs: Any) -> None:
        super().__init__("dispatcher", **node_kwargs)
        dispatcher_params.declare(self)
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self.store_file: str | None = None
        self.transition_error = ""  # why the last configure or activate failed
        self._params: dict[str, Any] | None = None  # the values configure read, kept up to date
        self._configured = self._active = False
        self._before: set[Any] | None = None  # the node's entities before configure: cleanup destroys the others
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: threading.Thread | None = None
        self._store: SQLiteStore | None = None
        self._run_future: concurrent.futures.Future[None] | None = None
        self._http: Any = None  # uvicorn.Server of the HTTP doors, when http_port is set (one per activation)
        self._http_future: concurrent.futures.Future[None] | None = None
        self._state_lock = threading.Lock()
        self._loop_control = threading.RLock()  # one dispatcher/start or stop at a time (reentrant service callbacks)

    def autostart(self) -> None:
        """With ``autostart``: configure and activate now; ConfigurationError (exit 2) when either fails."""
        if not self.get_parameter("autostart").value:
            self.get_logger().info("autostart is false: unconfigured, waiting for `ros2 lifecycle set ... configure`")
            return
        for trigger in (self.trigger_configure, self.trigger_activate):
            if trigger() != SUCCESS:
                raise ConfigurationError(self.transition_error)

    # ------------------------------------------------------------ lifecycle

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        return self._transition("configure", self._configure, self._teardown)

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        return self._transition("activate", self._activate, lambda: self._halt(STOP_TIMEOUT))

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._halt(self._stop_deadline())
        self.get_logger().info(f"inactive: dispatching stopped, {self.dispatcher.snapshot().queue_length} operations kept queued")
        return SUCCESS

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._teardown()
        self.get_logger().info("unconfigured: store closed")
        return SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        """From any state: stop and close what is there, then end the process (status 0)."""
        self.shutdown(self._stop_deadline() if self._configured else STOP_TIMEOUT)
        # After the transition has answered: the lifecycle services share this one
        # mutually exclusive group, so the timer runs once the response is sent.
        self._exit_timer = self.create_timer(0.0, self._exit, callback_group=self.default_callback_group)
        return SUCCESS

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.shutdown(STOP_GRACE)
        return SUCCESS  # back to unconfigured; configure may be tried again

    def _exit(self) -> None:
        self._exit_timer.cancel()
        self.get_logger().info("finalized: the process ends")
        shut_down_context(self.context)

    def _transition(self, name: str, work: Callable[[], None], undo: Callable[[], None]) -> TransitionCallbackReturn:
        """Run a transition's work; on any error undo it, log the reason and FAIL (the state stays)."""
        try:
            work()
        except Exception as exc:
            self.transition_error = _reason(exc)
            self.get_logger().error(f"{name} failed: {self.transition_error}")
            undo()
            return FAILURE
        return SUCCESS

    def _configure(self) -> None:
        self._before = self._entities()
        p = dispatcher_params.values(self)
        self._group = ReentrantCallbackGroup()
        self._events_pub = self.create_publisher(msg.DispatchEvent, "dispatch_events", EVENTS_QOS)
        self._state_pub = self.create_publisher(msg.DispatcherState, "dispatcher_state", STATE_QOS)
        self._markers_pub = self.create_publisher(markers.MarkerArray, "dispatch_markers", STATE_QOS)
        self.store_file = dispatcher_params.store_file(p["store_path"], p["resource_id"])
        self._store = self._open_store(self.store_file, p["store_busy_timeout"]) if self.store_file else None

        self.runner = ActionOperationRunner(self, self._robot_settings(p), self._group)
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
            failure_streak=FailureStreakPolicy(p["max_consecutive_failures"]),
            not_ready_policy=self._not_ready(p),
            runner=self.runner,
            store=self._store,
            on_interrupted=p["on_interrupted"],
        )
        self.runner.dispatcher = self.handshake.dispatcher = self.dispatcher
        self.runner.on_progress = self._on_progress
        self._params = p
        self._http = self._http_server() if p["http_port"] else None

        self._loop = asyncio.new_event_loop()
        self._loop_thread = threading.Thread(target=self._loop.run_forever, name="dispatcher-asyncio", daemon=True)
        self._loop_thread.start()
        self._progress_out = Coalesced(self._loop, p["state_publish_period"], lambda: self._publish("the dispatcher state", self._publish_state))
        self._markers_out = Coalesced(self._loop, markers.PERIOD, lambda: self._publish("the dispatch markers", self._publish_markers))
        self.diagnostics = DiagnosticsPublisher(self, self.dispatcher, self.handshake, self._group)
        self._create_services()
        self._configured = True
        self._publish_state()
        self._markers_out.ask()
        self.diagnostics.publish()
        stored = (
            f"store {self.store_file} ({sum(self.dispatcher.snapshot().counts.values())} operations recovered, "
            f"interrupted ones: {p['on_interrupted']})" if self.store_file else "in-memory store"
        )
        self.get_logger().info(
            f"inactive: dispatcher for {p['resource_id']!r} configured (default decision {p['default_decision']}, "
            f"handshake timeout {p['handshake_timeout']:g} s, {stored})"
        )

    def _activate(self) -> None:
        self._active = True
        if not self.dispatcher.running:
            self._start_loop()
        if self._http is not None:
            self._serve_http()
        self.get_logger().info("active: dispatching")

    def _halt(self, grace: float) -> None:
        """Stop the HTTP doors and the dispatch loop (idempotent); the queue stays as it is.

        The loop gets ``grace`` seconds to finish its step (a handshake, a start in flight);
        past that the step is cut short and what it left RUNNING is recovered as interrupted."""
        self._active = False
        if self._http_future is not None and not self._http_future.done():
            self._http.should_exit = True
            try:
                self._http_future.result(STOP_TIMEOUT)
            except Exception as exc:  # stopping anyway
                self.get_logger().warning(f"HTTP doors did not stop cleanly: {exc!r}")
            self._http_future = None
            self._http = self._http_server()  # a uvicorn.Server serves once: the next activate gets a fresh one
        future = self._run_future
        if future is None or future.done():
            return
        self.dispatcher.request_stop()
        try:
            future.result(grace)
        except concurrent.futures.TimeoutError:
            # A handshake or a start in flight waits for a graph that is gone with the context: cut it short.
            future.cancel()
            try:
                self._on_loop(_until, lambda: not self.dispatcher.running, STOP_TIMEOUT)  # run() leaves through its finally
            except concurrent.futures.TimeoutError:  # stopping anyway: the loop's thread stops with it (seen once in ~20 stops)
                self.get_logger().warning(f"dispatch loop still running {STOP_TIMEOUT:g} s after it was cancelled; stopping its thread")
        except Exception as exc:  # stopping anyway
            self.get_logger().warning(f"dispatch loop did not stop cleanly: {exc}")

    def _teardown(self) -> None:
        """Undo configure (idempotent, also half-way): the loop's thread, the store, the entities."""
        self._configured = False
        loop, self._loop = self._loop, None
        if loop is not None and loop.is_running():
            loop.call_soon_threadsafe(self.runner.cancel_watchdogs)
            loop.call_soon_threadsafe(loop.stop)
            if self._loop_thread is not None:
                self._loop_thread.join(STOP_TIMEOUT)
        if loop is not None and not loop.is_running():
            loop.close()
        if self._store is not None:
            self._store.close()
            self._store = None
        if getattr(self, "runner", None) is not None:
            self.runner.destroy()  # its action client (the node's other entities go below)
            del self.runner
        if self._before is not None:
            for entity in self._entities() - self._before:
                _destroy(self, entity)
            self._before = None
        self._http = self._params = None

    def shutdown(self, grace: float = STOP_GRACE) -> None:
        """Stop and close whatever is there, from any state (idempotent)."""
        if self._before is not None:  # configure has run and not been undone
            self._halt(grace)
            self._teardown()

    def destroy_node(self) -> None:
        self.shutdown()
        super().destroy_node()

    def _entities(self) -> set[Any]:
        return {*self.publishers, *self.clients, *self.services, *self.timers}

    def _http_server(self) -> Any:
        """The HTTP doors over this dispatcher, not serving yet (ConfigurationError on a bad setting)."""
        assert self._params is not None
        try:
            from operation_dispatcher.api import build_server
        except ImportError as exc:
            raise ConfigurationError(f"http_port: the HTTP doors need operation_dispatcher[api,mcp] ({exc})") from None
        p = self._params
        try:
            return build_server(self.dispatcher, p["http_host"], p["http_port"], p["http_token"] or None, run_dispatcher=False, log_level="warning")
        except ValueError as exc:  # a non-loopback bind without a token
            raise ConfigurationError(f"http_host: {exc}") from None

    def _serve_http(self) -> None:
        """Serve REST, dashboard and MCP on the dispatcher's loop (the node keeps owning run())."""
        assert self._loop is not None and self._params is not None
        host, port = self._params["http_host"], self._params["http_port"]
        self._http_future = asyncio.run_coroutine_threadsafe(self._http.serve(), self._loop)
        started = self._on_loop(_until, lambda: self._http.started or self._http_future.done(), STOP_TIMEOUT)
        if not started or not self._http.started:
            error = self._http_future.exception() if self._http_future.done() else None
            raise ConfigurationError(f"http_port: could not serve on {host}:{port}: {error or 'timed out'}")
        self.get_logger().info(f"REST /docs, dashboard / and MCP /mcp on http://{host}:{port}")

    def _on_loop(self, coroutine: Callable[..., Coroutine[Any, Any, Any]], *args: Any) -> Any:
        """Run ``coroutine(*args)`` on the dispatcher's loop and wait for it (behind what is queued there)."""
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coroutine(*args), self._loop).result(STOP_TIMEOUT + 1.0)

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
    def _robot_settings(p: dict[str, Any]) -> RobotSettings:
        return RobotSettings(
            action_name=p["robot_action"],
            pause_service=p["robot_pause_service"],
            resume_service=p["robot_resume_service"],
            server_timeout=p["robot_server_timeout"],
            goal_timeout=p["robot_goal_timeout"],
            cancel_timeout=p["robot_cancel_timeout"],
            service_timeout=p["robot_service_timeout"],
            timeout=p["robot_timeout"],
        )

    @staticmethod
    def _not_ready(p: dict[str, Any]) -> NotReadyPolicy:
        return NotReadyPolicy(first_seconds=p["not_ready_first_seconds"], max_seconds=p["not_ready_max_seconds"])

    def _on_set_parameters(self, changes: list[Any]) -> SetParametersResult:
        """Validate a change; once configured, apply it to the running parts (unconfigured, configure reads it)."""
        values = dict(self._params) if self._params is not None else {n: self.get_parameter(n).value for n in dispatcher_params.SPECS}
        values.update({dispatcher_params.current_name(c.name): c.value for c in changes})
        for c in changes:
            if c.name in dispatcher_params.DEPRECATED:
                self.get_logger().warning(f"parameter {c.name} is deprecated: use {dispatcher_params.current_name(c.name)}")
        problem = dispatcher_params.check(values)
        if problem is None:
            try:
                denial = DenialPolicy(cooldown_seconds=values["cooldown_seconds"], max_retries=values["max_retries"])
                retry, not_ready = self._failure_retry(values), self._not_ready(values)
                streak = FailureStreakPolicy(values["max_consecutive_failures"])
            except DispatcherError as exc:
                problem = exc.message
        if problem is not None:
            return SetParametersResult(successful=False, reason=problem)
        if self._params is None:
            return SetParametersResult(successful=True)
        self._params = values
        d = self.dispatcher
        d.denial_policy, d.failure_retry, d.failure_streak, d.not_ready_policy = denial, retry, streak, not_ready
        d.default_decision = values["default_decision"] == "approve"
        d.request_timeout = self._request_timeout(values["handshake_timeout"])
        self.handshake.timeout = values["handshake_timeout"]
        self.handshake.default_approve = d.default_decision
        self.runner.settings = self._robot_settings(values)
        self._markers_out.ask()  # markers_* apply from the next picture
        return SetParametersResult(successful=True)

    # ------------------------------------------------------------ loop control

    def _start_loop(self) -> None:
        """dispatcher/start, and activate: run the core's loop (only in the active state)."""
        with self._loop_control:  # two clients at once: exactly one start succeeds
            if not self._active:
                raise InvalidStateError("the node is inactive: activate it (ros2 lifecycle set <node> activate) to dispatch")
            if self.dispatcher.running or (self._run_future is not None and not self._run_future.done()):
                raise InvalidStateError("the dispatcher is already running")
            assert self._loop is not None
            self._run_future = asyncio.run_coroutine_threadsafe(self.dispatcher.run(), self._loop)
            self._on_loop(asyncio.sleep, 0)  # queued behind run(), whose first step sets running

    def _stop_loop(self) -> None:
        """dispatcher/stop: let the loop finish its step (a start in flight) and return; the node stays active."""
        with self._loop_control:
            future = self._run_future
            if future is None or future.done():
                raise InvalidStateError("the dispatcher is not running")
            self.dispatcher.request_stop()
            timeout = self._stop_deadline()
            try:
                future.result(timeout)
            except concurrent.futures.TimeoutError:
                raise RequestTimeoutError(f"the dispatch loop did not stop within {timeout:g} s") from None

    def _stop_deadline(self) -> float:
        """Seconds the loop may take to finish its step when asked to stop: a handshake, then a start."""
        return self.dispatcher.request_timeout + self.runner.settings.longest("start") + STOP_TIMEOUT

    def command_deadline(self, command: str) -> float:
        """Seconds a cancel / pause / resume service waits for the core: the sum of every bounded wait
        the command can meet, each from the timeout that bounds it.

        In order: the handshake (the core's bound on it), the start in flight that the command lets
        return first (the executor turn), the one command ahead of it on that turn, the runner's own
        bound for this command (``RobotSettings.longest``, which the runner's waits use too), and
        the store's writes, each up to ``store_busy_timeout``.
        """
        assert self._params is not None
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
        loop = self._loop
        if loop is None or loop.is_closed() or not loop.is_running():
            coro.close()
            raise UnavailableError("the dispatcher is shutting down")
        timeout = self.command_deadline(command)
        future = asyncio.run_coroutine_threadsafe(coro, loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            raise RequestTimeoutError(
                f"the {command} took longer than {timeout:g} s and goes on; see dispatch_events or get_operation for its outcome"
            ) from None

    # ------------------------------------------------------------ events and state

    def _on_event(self, event: DispatchEvent) -> None:
        """Core notification (its own thread, in order): publish the event, the new state and a new level."""
        try:
            self._events_pub.publish(conv.event_to_msg(event))
            if self._configured:  # not for events of the recovery, while the dispatcher is being built
                self._publish_state()
                self._markers_out.ask()
                self.diagnostics.on_event(event)
        except Exception as exc:  # context gone during shutdown
            if rclpy.ok(context=self.context):
                self.get_logger().error(f"could not publish {event.event_type}: {exc}")

    def _on_progress(self) -> None:
        """The robot's progress goes out with the state at most once per ``state_publish_period``,
        and in the markers' label at most once per ``markers.PERIOD`` (see :class:`Coalesced`)."""
        self._progress_out.ask()
        self._markers_out.ask()

    def _publish(self, what: str, publish: Callable[[], None]) -> None:
        try:
            publish()
        except Exception as exc:  # context gone during shutdown
            if rclpy.ok(context=self.context):
                self.get_logger().error(f"could not publish {what}: {exc}")

    def _publish_markers(self) -> None:
        """On the dispatcher's loop only (via ``_markers_out``), so the pictures go out in order."""
        p = self._params
        if p is not None:  # None: cleaned up meanwhile
            picture = markers.from_dispatcher(self.dispatcher, p["markers_frame"], p["markers_max_goals"], p["markers_label_offset"])
            self._markers_pub.publish(picture)

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
            (srv.OperationCommand, "complete_operation", lambda q, r: self._report_by_hand(self.dispatcher.complete, "complete", q)),
            (srv.OperationCommand, "fail_operation", lambda q, r: self._report_by_hand(self.dispatcher.fail, "fail", q)),
            (srv.ListOperations, "list_operations", self._list),
            (srv.GetOperation, "get_operation", self._get),
            (srv.GetHistory, "get_history", self._history),
            (srv.GetEvents, "get_events", self._events),
            (srv.GetEventLog, "get_event_log", self._event_log),
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

    def _report_by_hand(self, report: Callable[[str | None, str | None], None], verb: str, request: Any) -> None:
        """complete_operation / fail_operation: for robots without the action. An operation the robot is
        executing is refused (INVALID_STATE naming its goal): ending it here would leave the robot driving."""
        current = self.dispatcher.current() if not request.operation_id else None
        op_id = request.operation_id or (current.operation.id if current else "")
        goal = self.runner.live_goal(op_id) if op_id else None
        if goal is not None:
            raise InvalidStateError(
                f"cannot {verb} operation {op_id!r} by hand: the robot is executing it (goal {goal}); "
                "cancel it with cancel_operation, or let the robot report its result"
            )
        report(request.operation_id, request.reason or None)

    def _add(self, request: Any, response: Any) -> None:
        operations = conv.operations_from_msgs(request.operations, self.dispatcher.resource_id)
        results = self.dispatcher.add(operations)
        response.operation_ids = [r.operation_id for r in results]
        response.already_present = [not r.added for r in results]

    def _list(self, request: Any, response: Any) -> None:
        state = conv.state_filter_from_msg(request.state)
        if not request.limit and not request.cursor:
            response.operations = conv.records_to_statuses(self.dispatcher.list_operations(state))
            response.total = len(response.operations)
            return
        _page_to(response, self.dispatcher.page_operations(state, cursor=request.cursor or None, **_limit(request)))

    def _get(self, request: Any, response: Any) -> None:
        record = self.dispatcher.get(request.operation_id) if request.operation_id else self.dispatcher.current()
        if record is None:
            raise InvalidStateError("cannot get the current operation: none is RUNNING or PAUSED")
        response.status = conv.record_to_status(record)

    def _history(self, request: Any, response: Any) -> None:
        _page_to(response, self.dispatcher.history_page(cursor=request.cursor or None, **_limit(request)))

    def _events(self, request: Any, response: Any) -> None:
        page = self.dispatcher.events(request.operation_id, after=request.after_sequence, limit=request.limit or None)
        response.events = [conv.event_to_msg(e) for e in page]

    def _event_log(self, request: Any, response: Any) -> None:
        page = self.dispatcher.events_after(request.after_sequence, **_limit(request))
        response.events = [conv.event_to_msg(e) for e in page.events]
        response.next_after_sequence, response.last_sequence = page.next_after, page.last_sequence


class Coalesced:
    """``publish`` at most once per ``period``, however often :meth:`ask` is called: the first ask
    after a quiet spell arms a one-shot ``call_later`` on the dispatcher's loop, and the asks until
    it fires ride along (it publishes what is true then). No timer runs while nothing changes, so
    an idle node's executor is never woken (a 5 Hz rclpy timer was 0.7 % of a core, idle)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, period: float, publish: Callable[[], None]) -> None:
        self._loop, self._period, self._publish = loop, period, publish
        self._lock = threading.Lock()
        self._armed = False

    def ask(self) -> None:
        """From any thread."""
        with self._lock:
            if self._armed:
                return
            self._armed = True
        with contextlib.suppress(RuntimeError):  # the loop closed while deactivating
            self._loop.call_soon_threadsafe(self._loop.call_later, self._period, self._fire)
            return
        with self._lock:
            self._armed = False

    def _fire(self) -> None:
        with self._lock:
            self._armed = False
        self._publish()


def _limit(request: Any) -> dict[str, int]:
    """A request's ``limit`` as the core's keyword: 0 (a ROS message's default) means the core's default."""
    return {"limit": request.limit} if request.limit else {}


def _page_to(response: Any, page: OperationPage) -> None:
    response.operations = conv.records_to_statuses(page.operations)
    response.next_cursor, response.total = page.next_cursor or "", page.total


def _clear_lists(response: Any) -> None:
    """On failure, list fields stay empty (as the .srv files promise)."""
    for name in ("operation_ids", "already_present", "operations", "events"):
        if hasattr(response, name):
            setattr(response, name, [])


def _reason(exc: Exception) -> str:
    if isinstance(exc, DispatcherError):
        return exc.message
    return str(exc) if isinstance(exc, ConfigurationError) else f"{type(exc).__name__}: {exc}"


def _destroy(node: DispatcherNode, entity: Any) -> None:
    if isinstance(entity, Publisher):
        node.destroy_publisher(entity)
    elif isinstance(entity, Client):
        node.destroy_client(entity)
    elif isinstance(entity, Service):
        node.destroy_service(entity)
    elif isinstance(entity, Timer):
        node.destroy_timer(entity)


async def _until(predicate: Callable[[], bool], timeout: float) -> bool:
    """On the loop: whether ``predicate`` came true within ``timeout`` (checked every 10 ms)."""
    end = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > end:
            return False
        await asyncio.sleep(0.01)
    return True


def started_node() -> DispatcherNode:
    """The console script's node, walked to active when ``autostart`` says so (else ConfigurationError: exit 2)."""
    node = DispatcherNode()
    try:
        node.autostart()
    except BaseException:
        node.destroy_node()
        raise
    return node


def main(args: list[str] | None = None) -> int:
    return run_node(started_node, args, num_threads=8)


if __name__ == "__main__":
    raise SystemExit(main())
