"""8 rclpy clients add 1,000 operations each at once through the dispatcher_node's
add_operations service: exactly 8,000, ids unique, nothing dropped, every add
answered, the queue in order (priority desc, then created_at, then insertion).

The installed dispatcher_node runs as its own process (autostart off and
configured: inactive, so the queue holds everything); the eight clients are eight nodes in this process,
each spun by its own executor thread, all released at once by a barrier.

Lost responses, and why there are none: with Fast DDS every client of a
service receives every reply on the reply topic and throws away the ones
not meant for it; with the default services QoS (KEEP_LAST 10) replies to
the seven other clients pushed a client's own reply out of its history
(measured: 7-10 of 8,000 lost per run, also against a trivial echo
server). The clients here use operation_dispatcher_ros.qos.SERVICES_QOS
(depth 1,000), are warmed before the barrier (ros_testing.RosClient.warm),
and send every request exactly once: a missing answer fails the test.
"""

from __future__ import annotations

import random
import threading
import time
from typing import Any

import pytest

pytestmark = pytest.mark.ros

CLIENTS = 8
PER_CLIENT = 1000
BATCHES = (1, 1, 1, 1, 5, 20, 50)
RESPONSE_TIMEOUT = 5.0


def chunks(client: int) -> list[list[tuple[str, int]]]:
    rng = random.Random(client)
    ops = [(f"c{client}-{i:04d}", rng.randrange(5)) for i in range(PER_CLIENT)]
    out, i = [], 0
    for size in BATCHES * PER_CLIENT:
        if i >= len(ops):
            break
        out.append(ops[i : i + size])
        i += size
    return out


def test_eight_ros_clients_add_one_thousand_each_at_once(bringup: Any, ros_context: Any, ros_namespace: str) -> None:
    import ros_testing

    from operation_dispatcher_interfaces.msg import Operation
    from operation_dispatcher_interfaces.srv import AddOperations, ListOperations

    bringup(sim_robot=None, business_logic=None, dispatcher={"autostart": False})
    clients = [ros_testing.RosClient(ros_context, name=f"adder_{c}", namespace=ros_namespace) for c in range(CLIENTS)]
    try:
        for client in clients:
            client.wait_for_service(AddOperations, "add_operations", 20.0)  # and warmed
        answered: dict[int, list[tuple[str, bool]]] = {c: [] for c in range(CLIENTS)}
        errors: list[str] = []
        go = threading.Barrier(CLIENTS)

        def run(c: int) -> None:
            try:
                go.wait(10)
                for chunk in chunks(c):
                    request = AddOperations.Request(operations=[Operation(id=i, priority=p) for i, p in chunk])
                    response = clients[c].call(AddOperations, "add_operations", request, timeout=RESPONSE_TIMEOUT)
                    if not response.success:
                        errors.append(f"client {c}: {response.error_code} {response.message}")
                        return
                    answered[c] += list(zip(response.operation_ids, response.already_present, strict=True))
            except Exception as exc:
                errors.append(f"client {c}: {exc!r}")

        started = time.monotonic()
        threads = [threading.Thread(target=run, args=(c,), name=f"ros-adder-{c}") for c in range(CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(90)
        assert not any(t.is_alive() for t in threads), "a client did not finish within 90 s"
        elapsed = time.monotonic() - started
        assert not errors, errors[:5]
        for c in range(CLIENTS):  # every add answered once, in order, each one new
            assert [i for i, _ in answered[c]] == [f"c{c}-{i:04d}" for i in range(PER_CLIENT)]
            assert not any(present for _, present in answered[c])

        listed = clients[0].call(ListOperations, "list_operations", state="", timeout=60.0)
        assert listed.success, listed.message
        statuses = list(listed.operations)
        ids = [s.operation.id for s in statuses]
        assert len(ids) == CLIENTS * PER_CLIENT and len(set(ids)) == len(ids)
        assert set(ids) == {f"c{c}-{i:04d}" for c in range(CLIENTS) for i in range(PER_CLIENT)}
        assert all(s.state_name == "QUEUED" for s in statuses)

        def key(s: Any) -> tuple[int, int, int]:
            created = s.operation.created_at
            return (-s.operation.priority, created.sec, created.nanosec)

        keys = [key(s) for s in statuses]
        assert keys == sorted(keys), "queue out of order (priority desc, created_at asc)"
        # Insertion order breaks exact ties: within one client, its own submission order.
        position = {op_id: n for n, op_id in enumerate(ids)}
        for c in range(CLIENTS):
            mine = [f"c{c}-{i:04d}" for i in range(PER_CLIENT)]
            by_key: dict[tuple[int, int, int], list[str]] = {}
            for op_id in mine:
                by_key.setdefault(key(statuses[position[op_id]]), []).append(op_id)
            for tied in by_key.values():
                assert [position[i] for i in tied] == sorted(position[i] for i in tied), f"tie out of insertion order: {tied}"
        print(f"\n{CLIENTS} ROS clients x {PER_CLIENT} operations: {elapsed:.2f} s, {len(chunks(0)) * CLIENTS} requests, none lost")
    finally:
        for client in clients:
            client.close()
