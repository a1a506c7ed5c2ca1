"""OperationRunner that drives a robot through the ``execute_operation`` action.

- start: send the goal and return once the server accepted it (a rejected
  goal or an absent server fails the start with a clear reason). A start
  that gives its goal up (no answer within ``goal_timeout``, or the start
  itself cancelled) leaves no goal running unseen: an acceptance that
  arrives later is cancelled the moment it arrives;
- feedback: progress goes to ``dispatcher.report_progress``;
- result: success completes the operation, anything else fails it with the
  robot's message and error code; a report the store could not write is
  made again, with back-off, until it is taken;
- cancel: cancel the goal and return only once the result arrived, i.e. the
  robot has stopped, so OPERATION_CANCELLED always follows the stop. A
  cancel that comes while the start still waits for the robot's answer is
  kept: the goal is cancelled as soon as it is accepted (or not sent at
  all), and cancel() returns once the robot has stopped it, all within
  ``cancel_timeout``. A robot that refuses (its answer does not list the
  goal among those canceling) fails the cancel at once, naming the
  refusal, unless the goal ended as the cancel was asked (see
  :func:`cancel_refusal`);
- pause / resume: the action has no pause, so the robot serves
  ``<action>/pause`` and ``<action>/resume`` (std_srvs/Trigger); a robot
  without them gets PAUSE_DENIED "executor could not pause: ...".

- watchdog: while the robot executes a goal, a RUNNING operation whose
  robot sent no feedback and no result for ``timeout`` seconds, or a
  RUNNING or PAUSED one whose action server has been gone from the graph
  that long, is FAILED "executor lost: ..." (a killed robot process never
  sends its result); the goal is cancelled for good measure and the
  dispatcher goes on with the next operation. ``timeout`` 0 turns it off
  (for a robot that sends no feedback while it drives).

Every wait is bounded by a configurable timeout. All methods run on the
core's asyncio loop; action callbacks arrive on executor threads.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from action_msgs.msg import GoalStatus
from action_msgs.srv import CancelGoal
from rclpy.action import ActionClient
from rclpy.node import Node
from std_srvs.srv import Trigger
from unique_identifier_msgs.msg import UUID

from operation_dispatcher import (
    MAX_STRING_LENGTH,
    InvalidStateError,
    NotFoundError,
    Operation,
    OperationDispatcher,
    OperationRunner,
    StorageError,
    shorten,
)
from operation_dispatcher_interfaces.action import ExecuteOperation

from .asyncio_bridge import await_rclpy_future, await_thread_future, wait_ready
from .conversions import operation_to_msg
from .qos import SERVICES_QOS

REPORT_RETRY_FIRST = 0.1  # seconds before a report the store refused is made again; doubles up to the max
REPORT_RETRY_MAX = 5.0
REFUSAL_GRACE = 0.5
"""Seconds a refused cancel waits for a result anyway: a goal that ended as the cancel was asked is not refused."""

_STATUS_NAMES = {
    GoalStatus.STATUS_SUCCEEDED: "succeeded",
    GoalStatus.STATUS_CANCELED: "canceled",
    GoalStatus.STATUS_ABORTED: "aborted",
}

_REFUSALS = {
    CancelGoal.Response.ERROR_NONE: "the goal is not among those it is canceling",  # rclpy's answer to a REJECT
    CancelGoal.Response.ERROR_REJECTED: "rejected",  # rclcpp's
    CancelGoal.Response.ERROR_UNKNOWN_GOAL_ID: "unknown goal id",
}


def cancel_refusal(answer: Any, goal_id: Any) -> str | None:
    """Why the robot's CancelGoal ``answer`` refuses to cancel goal ``goal_id``, or None when it does not.

    The return code alone does not tell: an rclpy action server whose
    cancel callback answers REJECT sends ERROR_NONE with an empty
    ``goals_canceling`` (rclcpp sends ERROR_REJECTED). So a cancel is taken
    only when the list holds the goal (UUID bytes, as rclpy compares them),
    or when the goal had already ended (ERROR_GOAL_TERMINATED: its result
    is on its way)."""
    code = answer.return_code
    if code == CancelGoal.Response.ERROR_GOAL_TERMINATED:
        return None
    wanted = bytes(goal_id.uuid)
    if code == CancelGoal.Response.ERROR_NONE and any(bytes(g.goal_id.uuid) == wanted for g in answer.goals_canceling):
        return None
    why = _REFUSALS.get(code, "an unknown return code")
    return f"the robot refused to cancel goal {wanted.hex()} (return code {code}: {why})"


@dataclass
class RobotSettings:
    action_name: str = "execute_operation"
    pause_service: str = "execute_operation/pause"
    resume_service: str = "execute_operation/resume"
    server_timeout: float = 5.0
    """How long a start waits for the action server to appear."""
    goal_timeout: float = 5.0
    """How long a start waits for the goal to be accepted or rejected."""
    cancel_timeout: float = 10.0
    """How long a cancel waits for the robot to stop (its result)."""
    service_timeout: float = 2.0
    """How long pause / resume wait for the robot's Trigger service and its answer."""
    timeout: float = 10.0
    """Watchdog: FAILED after this long without feedback or result (RUNNING) or without the server; 0 = off."""

    def longest(self, command: str) -> float:
        """The longest the runner's ``command`` (start, cancel, pause, resume) can take, every wait in it included.

        A start waits for a goal given up earlier to stop, for the server, then for the acceptance; a cancel,
        pause or resume keeps one deadline over all its waits. The runner's
        waits and dispatcher_node's service deadlines both come from here,
        so a service never gives up on a command the runner still carries out.
        """
        if command == "start":  # a goal an earlier start gave up stopping first (see ActionOperationRunner.start)
            return self.cancel_timeout + self.server_timeout + self.goal_timeout
        if command == "cancel":
            return self.cancel_timeout
        if command in ("pause", "resume"):
            return self.service_timeout
        raise ValueError(f"unknown command {command!r}")


class GoalSafeActionClient(ActionClient):
    """rclpy's ActionClient, whose goal answers are never taken while a goal is being sent.

    Jazzy's ``send_goal_async`` registers a request only after sending it;
    an executor thread that takes the robot's answer in between drops it
    ("Ignoring unexpected goal response"), and the start then waits for an
    answer that never comes while the robot drives (seen in CI). Kilted's
    rclpy closes this with a lock of its own; this one does the same on
    every distro.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sending = threading.Lock()

    def send_goal_async(self, *args: Any, **kwargs: Any) -> Any:
        with self._sending:
            return super().send_goal_async(*args, **kwargs)

    def take_data(self) -> Any:
        with self._sending:
            return super().take_data()


class _GoalRequest:
    """A goal sent to the robot whose handle the runner does not hold (yet).

    ``wanted`` turns False when the start gives the goal up (no answer in
    time, or the start cancelled): an acceptance arriving after that is
    cancelled at once. ``stop_wanted`` records a cancel() that came while the
    start waited. ``settled`` is done once nothing of this goal can run
    unseen: the start took its handle, nothing was sent, the robot refused
    it, or a late acceptance was cancelled and its result came.
    Fields change under the runner's lock.
    """

    __slots__ = ("answer", "answered", "goal_id", "op_id", "settled", "stop_wanted", "wanted")

    def __init__(self, op_id: str) -> None:
        self.op_id = op_id
        self.goal_id = UUID(uuid=list(uuid.uuid4().bytes))
        self.wanted = True
        self.stop_wanted = False
        self.answered = False
        self.answer: Any = None  # the ClientGoalHandle, once answered (None if the request itself failed)
        self.settled: concurrent.futures.Future[None] = concurrent.futures.Future()


class ActionOperationRunner(OperationRunner):
    def __init__(self, node: Node, settings: RobotSettings, callback_group: Any = None) -> None:
        self._node = node
        self.settings = settings
        self._client = GoalSafeActionClient(node, ExecuteOperation, settings.action_name, callback_group=callback_group)
        self._pause: Any = node.create_client(Trigger, settings.pause_service, qos_profile=SERVICES_QOS, callback_group=callback_group)
        self._resume: Any = node.create_client(Trigger, settings.resume_service, qos_profile=SERVICES_QOS, callback_group=callback_group)
        # The action's own cancel service, for a goal whose acceptance never arrived (no goal handle to cancel with).
        self._cancel_by_id: Any = node.create_client(
            CancelGoal, f"{settings.action_name}/_action/cancel_goal", qos_profile=SERVICES_QOS, callback_group=callback_group
        )
        self._lock = threading.Lock()
        self._goals: dict[str, Any] = {}  # operation id -> ClientGoalHandle, while the robot executes it
        self._requests: dict[str, _GoalRequest] = {}  # operation id -> its goal not settled yet (see _GoalRequest)
        self._given_up: set[_GoalRequest] = set()  # goals starts gave up, not settled yet: none may run unseen
        self._stopped: dict[str, tuple[asyncio.AbstractEventLoop, asyncio.Future[int]]] = {}  # cancels awaiting a result
        self._heard: dict[str, float] = {}  # operation id -> monotonic time of the last sign of life of its goal
        self._held: set[str] = set()  # operations the robot holds (paused): feedback silence is no sign of loss
        self._watchdogs: set[asyncio.Task[None]] = set()
        self.dispatcher: OperationDispatcher | None = None
        self.on_progress: Any = None  # called (without arguments) after each progress report

    # ------------------------------------------------------------- start

    async def start(self, operation: Operation) -> None:
        """Send the operation's goal and return once the robot accepted it.

        A goal an earlier start gave up (no answer in time) may still be
        accepted late, and is then cancelled: the new goal goes out only once
        that one can no longer run, so the robot never drives two operations,
        one of them unseen. A late goal that does not stop within
        ``cancel_timeout`` fails this start instead."""
        s = self.settings
        op_id = operation.id
        request = _GoalRequest(op_id)
        with self._lock:
            self._requests[op_id] = request
        try:
            await self._after_goals_given_up(s.cancel_timeout)
            if not await wait_ready(self._client.server_is_ready, s.server_timeout):
                raise RuntimeError(f"action server {self._full(s.action_name)} not available within {s.server_timeout:g} s")
            if request.stop_wanted:
                return  # cancelled before the goal went out: nothing runs, the waiting cancel ends the operation
            goal = ExecuteOperation.Goal(operation=operation_to_msg(operation))
            sent = self._client.send_goal_async(
                goal, feedback_callback=lambda fb: self._on_feedback(request, fb), goal_uuid=request.goal_id
            )
            sent.add_done_callback(lambda done: self._on_goal_answer(request, done))
            try:
                handle = await await_rclpy_future(sent, s.goal_timeout)
            except asyncio.TimeoutError:
                self._abandon(request)
                raise RuntimeError(f"{self._full(s.action_name)} did not accept or reject the goal within {s.goal_timeout:g} s") from None
            except asyncio.CancelledError:
                self._abandon(request)
                raise
            if not handle.accepted:
                if request.stop_wanted:
                    return  # nothing runs: the waiting cancel ends the operation
                raise RuntimeError(f"goal rejected by {self._full(s.action_name)}")
            self._track(op_id, handle)
        finally:
            if request.wanted:
                self._settle(request)  # a goal given up settles once its late answer is dealt with

    def _track(self, op_id: str, handle: Any) -> None:
        """The robot executes ``handle``: follow its feedback and result, watch it."""
        with self._lock:
            self._goals[op_id] = handle
            self._heard[op_id] = time.monotonic()
            self._held.discard(op_id)
        handle.get_result_async().add_done_callback(lambda done: self._on_result(op_id, done))
        task = asyncio.get_running_loop().create_task(self._watch(op_id, handle))
        self._watchdogs.add(task)
        task.add_done_callback(self._watchdogs.discard)

    # ------------------------------------------------------------- goals given up

    def _on_goal_answer(self, request: _GoalRequest, done: Any) -> None:
        """The robot answered the goal request (executor thread); a late acceptance is cancelled here."""
        try:
            handle = done.result()
        except Exception:  # the request failed: no goal runs
            handle = None
        with self._lock:
            request.answered, request.answer = True, handle
            late = not request.wanted
        if late:
            self._stop_late(request, handle)

    async def _after_goals_given_up(self, timeout: float) -> None:
        """Wait until no goal an earlier start gave up can run (see :meth:`start`)."""
        with self._lock:
            given_up = list(self._given_up)
        for request in given_up:
            try:
                await self._settled(request, timeout)
            except RuntimeError as exc:
                raise RuntimeError(f"the robot may still execute the goal of {request.op_id}, given up by its start: {exc}") from None
            with self._lock:
                self._given_up.discard(request)  # settled, or never answered: cancelled should it be accepted

    def _abandon(self, request: _GoalRequest) -> None:
        """The start gives its goal up: whenever the robot accepts it, it is cancelled."""
        with self._lock:
            request.wanted = False
            self._given_up.add(request)
            answered, handle = request.answered, request.answer
        if answered:
            self._stop_late(request, handle)  # the answer came as the start gave up
        else:
            # It may also have reached a robot whose answer got lost: ask it by id to cancel too.
            self._cancel_unanswered(request.goal_id)

    def _stop_late(self, request: _GoalRequest, handle: Any) -> None:
        """Cancel a goal accepted after its start gave it up; settled once its result arrives."""
        if handle is None or not handle.accepted:
            self._settle(request)
            return
        log = self._node.get_logger()
        log.warning(f"operation {request.op_id}: the robot accepted its goal after the start gave it up; cancelling it")

        def ended(done: Any) -> None:
            try:
                status = _STATUS_NAMES.get(done.result().status, f"status {done.result().status}")
            except Exception as exc:  # the result request itself failed
                status = f"no result ({exc})"
            log.info(f"operation {request.op_id}: the late goal ended {status}")
            self._settle(request)

        try:
            self._cancel_best_effort(request.op_id, handle, "the late goal")
            handle.get_result_async().add_done_callback(ended)
        except Exception as exc:  # context gone during shutdown
            log.warning(f"could not cancel the late goal of {request.op_id}: {exc}")
            self._settle(request)

    def _cancel_best_effort(self, op_id: str, handle: Any, what: str) -> None:
        """Ask the robot to cancel a goal nobody waits on; a refusal is logged, as it leaves the robot driving."""

        def answered(done: Any) -> None:
            try:
                refusal = cancel_refusal(done.result(), handle.goal_id)
            except Exception as exc:  # the request itself failed
                refusal = f"no answer to the cancel ({exc})"
            if refusal is not None:
                self._node.get_logger().warning(f"operation {op_id}: {refusal}; {what} runs until the robot ends it")

        handle.cancel_goal_async().add_done_callback(answered)

    def _settle(self, request: _GoalRequest) -> None:
        with self._lock:
            if self._requests.get(request.op_id) is request:
                del self._requests[request.op_id]
            self._given_up.discard(request)
        try:
            request.settled.set_result(None)
        except concurrent.futures.InvalidStateError:
            pass  # settled already

    def _on_feedback(self, request: _GoalRequest, feedback_msg: Any) -> None:
        op_id = request.op_id
        with self._lock:
            if not request.wanted:
                return  # a goal given up: its progress is not the operation's
            if op_id in self._heard:
                self._heard[op_id] = time.monotonic()
        progress = float(feedback_msg.feedback.progress)
        if not 0.0 <= progress <= 1.0:  # NaN or out of range from a confused robot: ignored, not clamped
            return
        try:
            self._require_dispatcher().report_progress(op_id, progress)
        except (InvalidStateError, NotFoundError):
            return  # a late feedback after the operation ended
        if self.on_progress is not None:
            self.on_progress()

    def live_goal(self, op_id: str) -> str | None:
        """The id (hex) of the goal the robot is executing for ``op_id``, or of the one its start is
        sending (the robot may accept it any moment: a fresh-clone run reported by hand in between
        and ended an operation the robot then drove); None when there is neither."""
        with self._lock:
            handle = self._goals.get(op_id)
            request = self._requests.get(op_id)
        if handle is not None:
            return bytes(handle.goal_id.uuid).hex()
        return bytes(request.goal_id.uuid).hex() if request is not None and request.wanted else None

    def _on_result(self, op_id: str, done: Any) -> None:
        with self._lock:
            self._goals.pop(op_id, None)
            self._heard.pop(op_id, None)
            self._held.discard(op_id)
            waiter = self._stopped.pop(op_id, None)
        try:
            response = done.result()
            status, result = response.status, response.result
        except Exception as exc:  # the result request itself failed
            status, result = GoalStatus.STATUS_UNKNOWN, ExecuteOperation.Result(message=f"no result: {exc}")
        if waiter is not None:
            loop, stopped = waiter
            try:
                loop.call_soon_threadsafe(_set_once, stopped, status)
            except RuntimeError:
                pass
            if status == GoalStatus.STATUS_CANCELED:
                return  # our cancel: the dispatcher marks it CANCELLED once cancel() returns
        self._report(op_id, status, result)

    def _report(self, op_id: str, status: int, result: Any) -> None:
        """The robot's result to the dispatcher; its message cut to the length the core takes (a
        robot may put a whole log in it: refused whole, the operation stayed RUNNING)."""
        dispatcher = self._require_dispatcher()
        if status == GoalStatus.STATUS_SUCCEEDED and result.success:
            outcome = shorten(result.message or "completed")
            self._tell_dispatcher(op_id, "result", lambda: dispatcher.complete(op_id, outcome=outcome))
        else:
            head, tail = f"executor {_STATUS_NAMES.get(status, f'status {status}')}: ", f" (error_code {result.error_code})"
            reason = head + shorten(result.message or "no message", MAX_STRING_LENGTH - len(head) - len(tail)) + tail
            self._tell_dispatcher(op_id, "result", lambda: dispatcher.fail(op_id, reason=reason))

    def _tell_dispatcher(self, op_id: str, what: str, report: Callable[[], None]) -> None:
        """Hand the dispatcher a fact about the robot (a result, a loss).

        A fact is not dropped because the store could not write it: the
        report is made again in the background, with back-off, until the
        store takes it, the operation has ended otherwise, or the node
        shuts down.
        """
        try:
            report()
        except (InvalidStateError, NotFoundError) as exc:
            self._node.get_logger().info(f"{what} for {op_id} ignored: {exc}")
        except StorageError as exc:
            self._node.get_logger().warning(f"{what} for {op_id} not stored ({exc.message}); reporting it again")
            threading.Thread(target=self._report_again, args=(op_id, what, report), name=f"report-{op_id}", daemon=True).start()

    def _report_again(self, op_id: str, what: str, report: Callable[[], None]) -> None:
        delay = REPORT_RETRY_FIRST
        while self._node.context.ok():
            time.sleep(delay)  # back-off between attempts, in this report's own thread
            try:
                report()
            except (InvalidStateError, NotFoundError) as exc:
                self._node.get_logger().info(f"{what} for {op_id} ignored: {exc}")
                return
            except StorageError:
                delay = min(delay * 2, REPORT_RETRY_MAX)
                continue
            self._node.get_logger().info(f"{what} for {op_id} stored")
            return

    def _cancel_unanswered(self, goal_id: Any) -> None:
        """Best effort: ask the action server to cancel a goal whose acceptance we never heard of."""
        request = CancelGoal.Request()
        request.goal_info.goal_id = goal_id
        try:
            self._cancel_by_id.call_async(request)
        except Exception as exc:
            self._node.get_logger().warning(f"could not cancel an unanswered goal: {exc}")

    # ------------------------------------------------------------- watchdog

    async def _watch(self, op_id: str, handle: Any) -> None:
        """Fail the operation when its robot has gone silent or away for ``settings.timeout`` seconds."""
        gone_since: float | None = None
        while True:
            timeout = self.settings.timeout
            await asyncio.sleep(min(max(timeout / 5.0, 0.05), 1.0) if timeout > 0 else 1.0)
            now = time.monotonic()
            with self._lock:
                if self._goals.get(op_id) is not handle:
                    return  # the result arrived (or the goal was given up)
                if timeout <= 0 or op_id in self._stopped:
                    gone_since = None  # off, or a cancel is waiting for the stop (with its own bound)
                    continue
                silent = now - self._heard.get(op_id, now)
                held = op_id in self._held
            name = self._full(self.settings.action_name)
            if self._client.server_is_ready():
                gone_since = None
            elif gone_since is None:
                gone_since = now
            if gone_since is not None and now - gone_since >= timeout:
                reason = f"executor lost: action server {name} gone for {timeout:g} s"
            elif not held and silent >= timeout:
                reason = f"executor lost: no feedback or result from {name} for {timeout:g} s"
            else:
                continue
            self._give_up(op_id, handle, reason)
            return

    def _give_up(self, op_id: str, handle: Any, reason: str) -> None:
        with self._lock:
            if op_id not in self._goals or self._goals[op_id] is not handle:
                return
            del self._goals[op_id]
            self._heard.pop(op_id, None)
            self._held.discard(op_id)
        self._node.get_logger().error(f"operation {op_id}: {reason}")
        try:
            self._cancel_best_effort(op_id, handle, "its goal")  # a robot that is alive but mute should stop too
        except Exception as exc:  # best effort only
            self._node.get_logger().warning(f"could not cancel the goal of {op_id}: {exc}")
        dispatcher = self._require_dispatcher()
        self._tell_dispatcher(op_id, "loss", lambda: dispatcher.fail(op_id, reason=reason))

    # ------------------------------------------------------------- cancel

    async def cancel(self, operation: Operation) -> None:
        """Cancel the goal and wait for the robot to stop: one deadline, ``settings.longest("cancel")``,
        over the wait for a start's goal to settle, the cancel request and the stop."""
        timeout = self.settings.longest("cancel")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        with self._lock:
            request = self._requests.get(operation.id)
            if request is not None:
                request.stop_wanted = True
        if request is not None:
            await self._settled(request, timeout)
        with self._lock:
            handle = self._goals.get(operation.id)
            if handle is None:
                return  # the robot is not executing it (never started, refused, or already finished)
            stopped: asyncio.Future[int] = loop.create_future()
            self._stopped[operation.id] = (loop, stopped)
        try:
            try:
                answer = await await_rclpy_future(handle.cancel_goal_async(), max(deadline - loop.time(), 0.0))
            except asyncio.TimeoutError:
                raise RuntimeError(f"no answer to the cancel request within {timeout:g} s") from None
            refusal = cancel_refusal(answer, handle.goal_id)
            if refusal is not None and handle.status not in _STATUS_NAMES:  # not seen ending either
                grace = min(REFUSAL_GRACE, max(deadline - loop.time(), 0.0))
                try:
                    await asyncio.wait_for(asyncio.shield(stopped), grace)
                except asyncio.TimeoutError:
                    raise RuntimeError(refusal) from None
                return  # it ended as the cancel was asked: its result is reported as usual
            try:
                await asyncio.wait_for(asyncio.shield(stopped), max(deadline - loop.time(), 0.0))
            except asyncio.TimeoutError:
                raise RuntimeError(f"the robot did not stop within {timeout:g} s") from None
        finally:
            with self._lock:
                self._stopped.pop(operation.id, None)

    async def _settled(self, request: _GoalRequest, timeout: float) -> None:
        """Wait until the goal of a start in flight is ours to cancel or not running (see _GoalRequest).

        Past ``timeout``: a start still waiting, or a late goal that does not
        stop, fails the cancel; a goal given up on and never answered does
        not (nothing runs that the robot confirmed; should it accept the goal
        after all, it is cancelled on arrival).
        """
        try:
            await await_thread_future(request.settled, timeout)
        except asyncio.TimeoutError:
            with self._lock:
                unanswered = not request.wanted and not request.answered
            if not unanswered:
                raise RuntimeError(f"the robot neither answered the goal nor stopped it within {timeout:g} s") from None
            self._node.get_logger().warning(
                f"operation {request.op_id}: no answer to its goal within {timeout:g} s; it is cancelled should it be accepted"
            )

    # ------------------------------------------------------------- pause / resume

    async def pause(self, operation: Operation) -> None:
        await self._trigger("pause", self._pause, self.settings.pause_service)
        with self._lock:
            if operation.id in self._goals:
                self._held.add(operation.id)

    async def resume(self, operation: Operation) -> None:
        await self._trigger("resume", self._resume, self.settings.resume_service)
        with self._lock:
            self._held.discard(operation.id)
            if operation.id in self._heard:
                self._heard[operation.id] = time.monotonic()  # the silence of the hold does not count

    async def _trigger(self, command: str, client: Any, name: str) -> None:
        """Call the robot's pause or resume Trigger: one deadline over discovery and answer."""
        timeout = self.settings.longest(command)
        deadline = time.monotonic() + timeout
        if not await wait_ready(client.service_is_ready, timeout):
            raise RuntimeError(f"{self._full(name)} not available within {timeout:g} s")
        try:
            answer = await await_rclpy_future(client.call_async(Trigger.Request()), max(deadline - time.monotonic(), 0.001))
        except asyncio.TimeoutError:
            raise RuntimeError(f"no answer from {self._full(name)} within {timeout:g} s") from None
        if not answer.success:
            raise RuntimeError(answer.message or f"{self._full(name)} refused")

    # ------------------------------------------------------------- helpers

    def _require_dispatcher(self) -> OperationDispatcher:
        if self.dispatcher is None:
            raise RuntimeError("runner used before a dispatcher was attached")
        return self.dispatcher

    def _full(self, name: str) -> str:
        return self._node.resolve_service_name(name) if hasattr(self._node, "resolve_service_name") else name

    def cancel_watchdogs(self) -> None:
        """Stop every watchdog (call on the dispatcher's loop, before it stops)."""
        for task in list(self._watchdogs):
            task.cancel()

    def destroy(self) -> None:
        self._client.destroy()


def _set_once(future: asyncio.Future[int], value: int) -> None:
    if not future.done():
        future.set_result(value)
