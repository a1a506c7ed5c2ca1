"""``BusinessLogicNode``: write your own dispatch rules as a ROS node in a few lines.

The dispatcher asks before it starts, cancels, pauses or resumes an
operation, by calling the handshake services this node serves
(operation_dispatcher_interfaces/srv/Handshake, relative names):
``handshake/start``, ``handshake/cancel``, ``handshake/pause`` and
``handshake/resume``. Subclass :class:`BusinessLogicNode` and override the
``decide_*`` methods you care about; the others approve::

    from operation_dispatcher_ros.business_logic import BusinessLogicNode, payload_of
    from operation_dispatcher_ros.node_main import run_node


    class HeavyLoadsNeedAPerson(BusinessLogicNode):
        def decide_start(self, event, operation):
            if payload_of(operation).get("mass_kg", 0) > 50:
                return False, "loads over 50 kg need a person at the dropoff"
            return True


    def main():
        return run_node(HeavyLoadsNeedAPerson)

A ``decide_*`` method gets the request's ``event``
(operation_dispatcher_interfaces/msg/DispatchEvent) and ``operation``
(operation_dispatcher_interfaces/msg/Operation) and answers as a request
callback of the core does (``Decision.coerce`` reads both): ``True`` /
``False``; ``(approved, reason)``; an ``operation_dispatcher.Decision``
(approved, reason, data) or a dict of its fields; ``Decision.later(reason,
retry_after=None)`` = not ready, ask again later (an input the rule needs
is missing: the start stays queued, uncounted, and is asked again soon; a
cancel, pause or resume is refused as UNAVAILABLE); or ``None`` = no
opinion, and this node's default is to approve. See docs/business_logic.md. A method that raises denies, with
the exception as the reason, and so does an answer that is no valid
decision (a reason that is not text, data that is not a JSON object of at
most 32 levels and 64 KiB...), with a reason saying what was wrong: a bug
in a rule stops the robot rather than crashing the node.

The node is spun by one thread (``executor_threads = 1``, honoured by
``run_node``): decisions and the node's own subscriptions never run
concurrently, so a rule may keep state (counters, last readings from its
own subscriptions) without locks, and a decision must not block (never
``Client.call()`` inside it). One thread because rclpy's
MultiThreadedExecutor spins hot for every callback it hands to its pool:
with a 100 Hz battery stream it took a whole core and answered handshakes
seconds late (see ``node_main``).

Each request is decided once: the dispatcher re-sends a handshake whose
answer Fast DDS may have dropped, and a copy of a request already decided
(same event id) gets the same answer again without asking the rule, so
counting rules count requests, not deliveries.

One node may serve several dispatchers: ``namespaces`` (default ``("",)``,
the node's own) lists where the four services are served, e.g.
``("/robot_1", "/robot_2")`` for ``/robot_1/handshake/start`` ... (the
fleet business logic, operation_dispatcher_fleet). A rule that must know
which dispatcher asked overrides :meth:`BusinessLogicNode.decide`, which
gets the namespace too; by default it calls ``decide_<kind>(event,
operation)``.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any, Union

from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.node import Node

from operation_dispatcher import Decision
from operation_dispatcher_interfaces.msg import DispatchEvent, Operation
from operation_dispatcher_interfaces.srv import Handshake

from .conversions import decision_to_response_fields
from .qos import SERVICES_QOS

DecisionLike = Union[Decision, bool, "tuple[bool, str | None]", "dict[str, Any]", None]
APPROVE_BY_DEFAULT = True
"""What a ``decide_*`` method's ``None`` means here (the dispatcher has its own default for no answer at all)."""

REMEMBERED_ANSWERS = 1024  # recent decisions kept to answer re-sent copies of a request

HANDSHAKES = ("start", "cancel", "pause", "resume")
"""Request kinds; each is served on ``handshake/<kind>`` and decided by ``decide_<kind>``."""


def payload_of(operation: Operation) -> dict[str, Any]:
    """The operation's payload as a dict; ``{}`` when empty or not a JSON object."""
    try:
        payload = json.loads(operation.payload_json) if operation.payload_json.strip() else {}
    except ValueError:
        return {}
    return payload if isinstance(payload, dict) else {}


def handshake_service(kind: str, namespace: str = "") -> str:
    """The name ``handshake/<kind>`` is served under in ``namespace`` ("" = the node's own, relative;
    "/robot_1" = absolute, "robot_1" = relative to the node's namespace)."""
    prefix = namespace.rstrip("/")
    return f"{prefix}/handshake/{kind}" if prefix else ("/" if namespace.startswith("/") else "") + f"handshake/{kind}"


def _fill(response: Any, fields: dict[str, Any]) -> Any:
    for name, value in fields.items():
        setattr(response, name, value)
    return response


class BusinessLogicNode(Node):
    """Serves the four handshake services; override ``decide_*`` to set the rules."""

    executor_threads = 1
    """``run_node`` spins this node on a SingleThreadedExecutor (see the module's docstring)."""

    def __init__(self, node_name: str = "business_logic", namespaces: Sequence[str] | None = ("",), **kwargs: Any) -> None:
        """``namespaces``: where to serve (see the module's docstring); None = not yet, a subclass that
        learns them from its parameters calls :meth:`serve_handshakes` itself."""
        super().__init__(node_name, **kwargs)
        self._decisions = MutuallyExclusiveCallbackGroup()  # serialised also on a multi-threaded executor of your own
        # (namespace, event id) -> response fields: event ids are unique per dispatcher, the key makes sure
        self._answers: OrderedDict[tuple[str, str], dict[str, Any]] = OrderedDict()
        if namespaces is not None:
            self.serve_handshakes(namespaces)

    def serve_handshakes(self, namespaces: Sequence[str]) -> None:
        """Serve the four handshake services in each of ``namespaces`` ("" = the node's own namespace)."""
        if isinstance(namespaces, str) or not namespaces:
            raise ValueError(f"namespaces: a non-empty sequence of namespaces is expected, got {namespaces!r}")
        for namespace in namespaces:
            for kind in HANDSHAKES:
                self.create_service(
                    Handshake,
                    handshake_service(kind, namespace),
                    self._handshake_callback(kind, namespace),
                    qos_profile=SERVICES_QOS,
                    callback_group=self._decisions,
                )

    def decide(self, kind: str, namespace: str, event: DispatchEvent, operation: Operation) -> DecisionLike:
        """Every request, with the ``namespace`` (as given to the constructor) whose service it came on;
        ``kind`` is one of :data:`HANDSHAKES`. Default: ``decide_<kind>(event, operation)``."""
        decide: Callable[[DispatchEvent, Operation], DecisionLike] = getattr(self, f"decide_{kind}")
        return decide(event, operation)

    def decide_start(self, event: DispatchEvent, operation: Operation) -> DecisionLike:
        """May the operation start now? Default: yes."""
        return None

    def decide_cancel(self, event: DispatchEvent, operation: Operation) -> DecisionLike:
        """May the operation (queued or active) be cancelled? Default: yes."""
        return None

    def decide_pause(self, event: DispatchEvent, operation: Operation) -> DecisionLike:
        """May the active operation be paused? Default: yes."""
        return None

    def decide_resume(self, event: DispatchEvent, operation: Operation) -> DecisionLike:
        """May the paused operation resume? Default: yes."""
        return None

    def _handshake_callback(self, kind: str, namespace: str) -> Callable[[Any, Any], Any]:
        asked_by = f" from {namespace}" if namespace else ""

        def callback(request: Any, response: Any) -> Any:
            key = (namespace, request.event.id)
            if request.event.id and key in self._answers:  # a re-sent copy: same answer, rule not asked again
                return _fill(response, self._answers[key])
            try:
                decision = Decision.coerce(self.decide(kind, namespace, request.event, request.operation), APPROVE_BY_DEFAULT)
            except Exception as exc:
                self.get_logger().error(f"decide_{kind} raised {exc!r}; denying")
                decision = Decision(approved=False, reason=f"business logic error in decide_{kind}: {exc}")
            fields = decision_to_response_fields(decision)
            if request.event.id:
                self._answers[key] = fields
                if len(self._answers) > REMEMBERED_ANSWERS:
                    self._answers.popitem(last=False)
            why = decision.reason or "no reason given"
            verdict = "approved" if decision.approved else f"not ready: {why}" if decision.not_ready else f"denied: {why}"
            self.get_logger().info(f"{kind} of operation {request.operation.id or request.event.operation_id}{asked_by}: {verdict}")
            return _fill(response, fields)

        return callback
