"""The core's request callback, answered by the business-logic node over ROS.

Each ``*_REQUESTED`` event becomes a Handshake service call. The whole
exchange (waiting for the service to be discovered, then for the answer)
is bounded by ``timeout``. When the business logic does not answer in
time, because it is not running or died mid-call, the configured default
decision applies, and the decision says so in its reason and data, so the
resulting ``*_DENIED`` or STARTED event shows "business logic unavailable,
default applied".

A handshake is a pure question, so a request without an answer is sent
again (every ``resend_after`` seconds, within the same budget): Fast DDS
drops the reply to a request that reaches the business logic before it
has matched the dispatcher's reply reader, which happens to the first
request after the business logic (re)appears. A slow answer may therefore
meet a second copy of the request; the copies carry the same event (type,
operation, stamp), so a business logic that counts requests can tell.

The business logic may answer "not ready" (Handshake.Response.not_ready):
the bridge hands it on as ``Decision.later``; the core keeps a start queued
and asks again, uncounted.

Shutdown is no answer: once the node's context is shut down (SIGINT /
SIGTERM reach rclpy first) a handshake in flight fails (RCLError "context
is invalid", a timeout) or is cancelled by the node's stop. That is not the
business logic's verdict, so it becomes neither a denial nor the default
decision: the bridge answers "not ready" (data ``{"shutdown": true}``), the
operation stays QUEUED with its counters as they were, and the dispatcher,
stopping, never asks again.

For the node's diagnostics the bridge keeps what it saw of the last
handshake (:attr:`last_answered`, :attr:`last_latency`); a handshake cut
short by shutdown changes neither.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from rclpy.node import Node

from operation_dispatcher import Decision, DispatchEvent, EventType, NotFoundError, OperationDispatcher
from operation_dispatcher_interfaces.srv import Handshake

from .asyncio_bridge import call_query, wait_ready
from .conversions import decision_from_response, event_to_msg, operation_to_msg
from .qos import SERVICES_QOS

UNAVAILABLE = "business logic unavailable, default applied"
SPLIT = "more than one business logic serves the handshake"
SPLIT_RETRY_AFTER = 1.0
"""Seconds before a start met by more than one handshake server is asked again."""
SHUTTING_DOWN = "dispatcher shutting down, request not decided"
SHUTDOWN_RETRY_AFTER = 10.0
"""The not-ready wait of a handshake cut short by shutdown: the loop stops long before it ends."""
RESEND_AFTER = 0.25
"""Seconds without an answer before a handshake is sent again, doubling per copy (3 tries within a 1 s timeout)."""

_KINDS = {
    EventType.OPERATION_START_REQUESTED: "start",
    EventType.OPERATION_CANCEL_REQUESTED: "cancel",
    EventType.OPERATION_PAUSE_REQUESTED: "pause",
    EventType.OPERATION_RESUME_REQUESTED: "resume",
}


class HandshakeBridge:
    def __init__(
        self,
        node: Node,
        service_names: dict[str, str],
        timeout: float,
        default_approve: bool,
        callback_group: Any = None,
    ) -> None:
        self._node = node
        self.timeout = timeout
        self.default_approve = default_approve
        self._names = dict(service_names)
        self._clients: dict[str, Any] = {
            kind: node.create_client(Handshake, name, qos_profile=SERVICES_QOS, callback_group=callback_group) for kind, name in service_names.items()
        }
        self.dispatcher: OperationDispatcher | None = None
        self._answered: bool | None = None
        self._latency: float | None = None

    @property
    def last_answered(self) -> bool | None:
        """Whether the business logic answered the last handshake (None: none asked yet)."""
        return self._answered

    @property
    def start_service(self) -> str:
        return str(self._clients["start"].srv_name)

    def start_servers(self) -> int:
        """Business logics on this node's graph serving the start handshake now (more than one decides nothing)."""
        return int(self._node.count_services(self._clients["start"].srv_name))

    @property
    def last_latency(self) -> float | None:
        """Seconds from sending the last answered handshake to its answer (resends included)."""
        return self._latency

    async def __call__(self, event: DispatchEvent) -> Decision | None:
        kind = _KINDS.get(event.event_type)
        if kind is None:
            return None
        try:
            return await self._ask(kind, event)
        except Exception as exc:  # e.g. RCLError "context is invalid" from a graph query during shutdown
            if self._shutting_down():
                return self._not_decided(f"{type(exc).__name__}: {exc}")
            raise  # a bug: the core turns it into a denial that names it

    async def _ask(self, kind: str, event: DispatchEvent) -> Decision:
        client, name = self._clients[kind], self._names[kind]
        deadline = time.monotonic() + self.timeout
        if not await wait_ready(client.service_is_ready, self.timeout):
            return self._unanswered(f"{name} not available within {self.timeout:g} s")
        servers = self._node.count_services(client.srv_name)
        if servers > 1:
            return self._split(client.srv_name, servers)
        request = Handshake.Request(event=event_to_msg(event))
        operation = self._operation(event)
        if operation is not None:
            request.operation = operation
        sent = time.monotonic()
        left = max(deadline - sent, 0.001)
        try:
            response = await call_query(client, request, left, min(RESEND_AFTER, self.timeout / 3))
        except asyncio.TimeoutError:
            return self._unanswered(f"no answer from {name} within {self.timeout:g} s")
        except Exception as exc:
            return self._unanswered(f"call to {name} failed: {exc}")
        self._answered, self._latency = True, time.monotonic() - sent
        return decision_from_response(response.approved, response.reason, response.data_json, response.not_ready, response.retry_after)

    def _shutting_down(self) -> bool:
        return not self._node.context.ok()

    def _unanswered(self, detail: str) -> Decision:
        """No answer came: the default decision, unless the node is shutting down (then nobody decided)."""
        if self._shutting_down():
            return self._not_decided(detail)
        self._answered = False
        return self._default(detail)

    def _not_decided(self, detail: str) -> Decision:
        return Decision.later(f"{SHUTTING_DOWN} ({detail})", retry_after=SHUTDOWN_RETRY_AFTER, data={"shutdown": True, "detail": detail})

    def _operation(self, event: DispatchEvent) -> Any:
        if self.dispatcher is None or event.operation_id is None:
            return None
        try:
            return operation_to_msg(self.dispatcher.get(event.operation_id).operation)
        except NotFoundError:
            return None

    def _split(self, service: str, servers: int) -> Decision:
        """More than one server on the handshake service: each would get the request and the first reply
        would win. Nobody decides on a split answer: not ready, asked again, never a denial (the default
        decision would burn the denial budget while a killed business logic's stale entry lingers on the
        graph, up to the DDS lease, after its respawn)."""
        reason = f"{servers} business logics serve {service}; only one may decide"
        self._node.get_logger().warning(f"{reason}: not deciding until one is left")
        return Decision.later(reason, retry_after=SPLIT_RETRY_AFTER, data={"business_logic": SPLIT, "servers": servers})

    def _default(self, detail: str) -> Decision:
        word = "approve" if self.default_approve else "deny"
        self._node.get_logger().warning(f"{UNAVAILABLE} ({word}): {detail}")
        return Decision(
            approved=self.default_approve,
            reason=f"{UNAVAILABLE} ({word}): {detail}",
            data={"business_logic": UNAVAILABLE, "default_decision": word, "detail": detail},
        )
