"""Concurrent dispatcher/start and dispatcher/stop (issue 11, item 3): six clients ask to start
the stopped loop at the same moment; exactly one answers success, the others INVALID_STATE, the
state is RUNNING, and dispatcher/stop then always stops it. Before the node serialised them, two
of the same moment could both answer success, and stop could then answer "not running" while the
state said RUNNING, for good.

Real processes: the installed dispatcher_node, six client nodes in this process released together
by a barrier, several rounds.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

pytestmark = pytest.mark.ros

CLIENTS = 6
ROUNDS = 4


def test_exactly_one_of_concurrent_starts_succeeds_and_stop_always_works(bringup: Any, ros_context: Any, ros_namespace: str) -> None:
    import ros_testing

    from operation_dispatcher_interfaces.srv import DispatcherCommand, GetDispatcherState
    from operation_dispatcher_ros.conversions import ERROR_CODES

    bringup(sim_robot=None, business_logic=None)
    clients = [ros_testing.RosClient(ros_context, name=f"starter_{c}", namespace=ros_namespace) for c in range(CLIENTS)]
    try:
        for client in clients:
            client.wait_for_service(DispatcherCommand, "dispatcher/start", 20.0)
        control = clients[0]
        control.wait_for_service(DispatcherCommand, "dispatcher/stop", 20.0)
        control.wait_for_service(GetDispatcherState, "get_dispatcher_state", 20.0)
        for round_ in range(ROUNDS):
            stopped = control.call(DispatcherCommand, "dispatcher/stop", timeout=30.0)
            assert stopped.success, f"round {round_}: stop refused: {stopped.message}"
            assert control.call(GetDispatcherState, "get_dispatcher_state").state.status_name == "STOPPED"

            answers: list[Any] = [None] * CLIENTS
            go = threading.Barrier(CLIENTS)

            def start(c: int, go: threading.Barrier, answers: list[Any]) -> None:
                go.wait(10)
                answers[c] = clients[c].call(DispatcherCommand, "dispatcher/start", timeout=30.0)

            threads = [threading.Thread(target=start, args=(c, go, answers)) for c in range(CLIENTS)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
            assert all(a is not None for a in answers), f"round {round_}: a start was not answered"
            winners = [a for a in answers if a.success]
            assert len(winners) == 1, f"round {round_}: {len(winners)} starts answered success: {[a.message for a in answers]}"
            for a in answers:
                if not a.success:
                    assert "already running" in a.message and a.error_code == ERROR_CODES["INVALID_STATE"], a.message
            assert control.call(GetDispatcherState, "get_dispatcher_state").state.status_name == "RUNNING"
        final = control.call(DispatcherCommand, "dispatcher/stop", timeout=30.0)
        assert final.success, final.message
        assert control.call(GetDispatcherState, "get_dispatcher_state").state.status_name == "STOPPED"
    finally:
        for client in clients:
            client.close()
