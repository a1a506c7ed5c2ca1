"""/diagnostics from a real dispatcher_node: one DiagnosticStatus named after the node, its level
following the documented rules (diagnostics.py): OK while healthy, WARN on a denial streak (the
business logic's rule deny_first_n), ERROR once the dispatcher paused itself after max_retries
denials, OK again after dispatcher/resume, when the operation completes."""

from __future__ import annotations

from typing import Any

import pytest
from test_e2e_transport import transport

pytestmark = pytest.mark.ros

MAX_RETRIES = 3


def test_levels_follow_a_denial_streak_a_self_pause_and_the_resume(bringup: Any, ros_client: Any, ros_namespace: str) -> None:
    from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus

    from operation_dispatcher_interfaces.srv import AddOperations, DispatcherCommand

    name = f"/{ros_namespace}/dispatcher"
    diagnostics = ros_client.record(DiagnosticArray, "/diagnostics")
    bringup(dispatcher={"max_retries": MAX_RETRIES}, business_logic={"rule": "deny_first_n", "deny_count": MAX_RETRIES})
    events = ros_client.record_events()

    def ours(message: Any) -> DiagnosticStatus | None:
        return next((s for s in message.status if s.name == name), None)

    def level(wanted: bytes, status: str = "RUNNING", after: set[int] = frozenset()) -> Any:
        """Our first status at ``wanted`` with dispatcher ``status``, among the messages not in ``after``."""

        def match(message: Any) -> bool:
            found = ours(message)
            return id(message) not in after and found is not None and found.level == wanted and _value(found, "status") == status

        return ours(diagnostics.wait_for(match, 30.0, f"a status of {name} at level {wanted!r}"))

    healthy = level(DiagnosticStatus.OK)
    assert _value(healthy, "queue_length") == "0" and _value(healthy, "store") == "ok"
    assert healthy.hardware_id == ros_namespace

    assert ros_client.call(AddOperations, "add_operations", operations=[transport("denied", 0)]).success
    warn = level(DiagnosticStatus.WARN)
    assert "starts denied in a row" in warn.message, warn.message
    error = level(DiagnosticStatus.ERROR, status="PAUSED")
    assert "paused itself" in error.message, error.message
    assert _value(error, "consecutive_denials") == str(MAX_RETRIES)

    before = {id(m) for m in diagnostics.snapshot()}
    assert ros_client.call(DispatcherCommand, "dispatcher/resume").success
    events.wait_event("OPERATION_COMPLETED", "denied", timeout=30.0)
    recovered = level(DiagnosticStatus.OK, after=before)
    assert _value(recovered, "business_logic") == "answering" and _value(recovered, "consecutive_denials") == "0"


def _value(status: Any, key: str) -> str:
    return next(kv.value for kv in status.values if kv.key == key)
