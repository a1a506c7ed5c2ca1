"""SIGKILL the dispatcher NODE mid-flight, restart it on the same SQLite file: nothing lost.

Real processes: the installed dispatcher_node (store_path in the test's tmp
folder), the business logic approving everything and the sim robot driving
fast. 1,000 operations are added over ``add_operations`` in batches of 50
while the dispatcher runs them; the events topic picks the moment of the
kill:

- ``during_add``: at the OPERATION_ADDED of op-0420, while batches are
  still being sent;
- ``during_start``: the robot is stopped, the next operation is STARTED and
  its start waits for the robot; the dispatcher is killed inside that start
  (and restarted with ``on_interrupted: fail``);
- ``during_completion``: right at the 30th operation's OPERATION_COMPLETED,
  while the next start is on its way.

The node is then started again on the same file (autostart off, configured:
inactive) and checked
over its services only: every operation exactly once, every confirmed add
and every completion seen before the kill kept, nothing left active, the
queue in dispatch order, the interrupted operation treated as documented
(its last event an OPERATION_FAILED with interrupted / requeued metadata,
read with get_events). Re-sending the adds is answered ``already_present``
where the store kept them; dispatch then continues, completing operations
that had not been completed before, each once.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
from lifecycle_testing import activate, configure
from ros_testing import RosClient, event_metadata, wait_until

from operation_dispatcher_ros.processes import NodeProcess

pytestmark = pytest.mark.ros

COUNT, BATCH = 1000, 50
PAYLOAD = json.dumps({"pickup": {"x": 0.1, "y": 0.0}, "dropoff": {"x": 0.3, "y": 0.0}})
ROBOT = {"speed": 100.0, "rate_hz": 200.0, "battery_drain_per_m": 0.0}  # hundreds of trips: no empty battery
KILL_POINTS = {"during_add": "requeue", "during_start": "fail", "during_completion": "requeue"}


def _op_id(i: int) -> str:
    return f"op-{i:04d}"


def _batch(b: int) -> list[Any]:
    from operation_dispatcher_interfaces.msg import Operation

    return [Operation(id=_op_id(i), priority=i % 7, payload_json=PAYLOAD) for i in range(b * BATCH, (b + 1) * BATCH)]


class Adder(threading.Thread):
    """Sends the batches one after another; remembers which ones were confirmed."""

    def __init__(self, client: RosClient) -> None:
        super().__init__(daemon=True)
        self.client = client
        self.confirmed: list[int] = []
        self.error: str | None = None

    def run(self) -> None:
        from operation_dispatcher_interfaces.srv import AddOperations

        for b in range(COUNT // BATCH):
            try:
                response = self.client.call(AddOperations, "add_operations", operations=_batch(b), timeout=5.0)
            except AssertionError as exc:  # the dispatcher died under this call
                self.error = str(exc)
                return
            if not response.success:
                self.error = response.message
                return
            self.confirmed.append(b)


def _dispatcher_params(store: str, **extra: Any) -> dict[str, Any]:
    return {
        "store_path": store,
        "robot_timeout": 2.0,
        "robot_server_timeout": 30.0,  # during_start: the start waits for the robot, long enough to be killed in
        "robot_goal_timeout": 30.0,
        # A loaded 2-core CI machine stalls DDS for seconds at times; the business logic is not
        # under test here, so neither a slow answer nor a pause after denials may stop the run.
        "handshake_timeout": 10.0,
        "max_retries": 1000,
        **extra,
    }


@pytest.mark.parametrize("kill_at", list(KILL_POINTS))
def test_sigkill_dispatcher_node_and_restart_lose_nothing(
    kill_at, bringup, ros_client, ros_processes, ros_context, ros_namespace, tmp_path
):
    store = str(tmp_path / "dispatcher.db")
    procs = bringup(dispatcher=_dispatcher_params(store), business_logic={"rule": "approve_all"}, sim_robot=ROBOT)
    events = ros_client.record_events()
    adder = Adder(ros_client)
    adder.start()

    interrupted_in_start: str | None = None
    # The moments are picked by an event for a given operation, not by counting events: a
    # subscriber that falls behind a burst of 1,000 ADDED loses some (KEEP_LAST history).
    if kill_at == "during_add":
        events.wait_for(lambda e: e.event_type == "OPERATION_ADDED" and _index(e) >= 420, 30.0, "ADDED of op-0420 or later")
    elif kill_at == "during_completion":
        adder.join(60.0)
        assert adder.confirmed == list(range(COUNT // BATCH)), adder.error
        events.wait_for(lambda e: e.event_type == "OPERATION_COMPLETED" and _nth_to_run(e) >= 30, 30.0, "the 30th completion")
    else:  # during_start
        adder.join(60.0)
        assert adder.confirmed == list(range(COUNT // BATCH)), adder.error
        events.wait_for(lambda e: e.event_type == "OPERATION_COMPLETED" and _nth_to_run(e) >= 10, 30.0, "the 10th completion")
        procs["sim_robot"].stop()
        robot_gone = time.time()
        # The operation the robot had is aborted or lost (watchdog); the next one is STARTED after
        # the robot is gone and its start waits for a robot (robot_server_timeout). The events
        # topic lags behind a fast robot, so ask the dispatcher itself which operation that is.
        interrupted_in_start = wait_until(lambda: _started_after(ros_client, robot_gone), 60.0, "a start waiting for the robot")

    before = events.snapshot()
    assert procs["dispatcher"].kill() == -9
    adder.join(10.0)
    assert not adder.is_alive()
    added_seen = {e.operation_id for e in before if e.event_type == "OPERATION_ADDED"}
    completed_seen = {e.operation_id for e in before if e.event_type == "OPERATION_COMPLETED"}

    # ---- restart on the same file, stopped, and look at it through the services only
    on_interrupted = KILL_POINTS[kill_at]
    restarted = [procs["sim_robot"]]
    if kill_at == "during_start":
        restarted = [ros_processes.start("sim_robot_node", ros_namespace, ROBOT)]
    # The restarted node waits for its robot no longer than by default: the test is about what the
    # store kept, and a start whose goal answer got lost in the new DDS graph then fails after 5 s
    # and the next one runs, instead of outwaiting the test.
    restarted.append(
        ros_processes.start(
            "dispatcher_node",
            ros_namespace,
            _dispatcher_params(
                store, autostart=False, on_interrupted=on_interrupted, robot_server_timeout=5.0, robot_goal_timeout=5.0
            ),
        )
    )
    check = RosClient(ros_context, name="crash_check", namespace=ros_namespace)  # fresh client for the new server
    try:
        configure(check)
        _wait_serving(check)
        _check_recovered(check, kill_at, on_interrupted, adder.confirmed, added_seen, completed_seen, interrupted_in_start)
        _continue_after_restart(check, adder.confirmed, completed_seen, restarted)
    finally:
        check.close()


def _index(event: Any) -> int:
    return int(event.operation_id[3:])


def _nth_to_run(event: Any) -> int:
    """Where the event's operation stands in the dispatch order of all 1,000 (1 = first)."""
    i = _index(event)
    return sum(1 for j in range(COUNT) if (-(j % 7), j) <= (-(i % 7), i))


def _wait_serving(client: RosClient, timeout: float = 20.0) -> None:
    """Until the restarted node answers. The killed one stays on the DDS graph for a while, so
    wait_for_service proves nothing: wait for the new node's latched state (its publisher matched
    this client), then for a first answer (a request sent before the server matched this client
    is lost; a query is safe to send again)."""
    from ros_testing import STATE_QOS

    from operation_dispatcher_interfaces.msg import DispatcherState
    from operation_dispatcher_interfaces.srv import GetDispatcherState

    client.record(DispatcherState, "dispatcher_state", STATE_QOS).wait_for(lambda m: True, timeout, "the restarted node's state")
    deadline = time.monotonic() + timeout
    while True:
        try:
            client.call(GetDispatcherState, "get_dispatcher_state", timeout=2.0)
            return
        except AssertionError:
            if time.monotonic() > deadline:
                raise


def _started_after(client: RosClient, since: float) -> str | None:
    """The current operation if it is RUNNING and started after ``since`` (wall clock), else None."""
    from operation_dispatcher_interfaces.srv import GetOperation

    current = client.call(GetOperation, "get_operation", operation_id="")
    started = current.status.started_at.sec + current.status.started_at.nanosec * 1e-9
    if current.success and current.status.state_name == "RUNNING" and started > since:
        return current.status.operation.id
    return None


def _list(client: RosClient, state: str = "") -> list[Any]:
    from operation_dispatcher_interfaces.srv import ListOperations

    response = client.call(ListOperations, "list_operations", state=state, timeout=15.0)
    assert response.success, response.message
    return list(response.operations)


def _check_recovered(
    client: RosClient,
    kill_at: str,
    on_interrupted: str,
    confirmed: list[int],
    added_seen: set[str],
    completed_seen: set[str],
    interrupted_in_start: str | None,
) -> None:
    from operation_dispatcher_interfaces.srv import GetEvents, GetOperation

    statuses = _list(client)
    ids = [s.operation.id for s in statuses]
    by_id = {s.operation.id: s for s in statuses}
    # every operation exactly once
    assert len(ids) == len(set(ids)), "an operation is listed twice"
    confirmed_ids = {_op_id(i) for b in confirmed for i in range(b * BATCH, (b + 1) * BATCH)}
    assert confirmed_ids <= set(ids), sorted(confirmed_ids - set(ids))[:5]
    assert added_seen <= set(ids), sorted(added_seen - set(ids))[:5]
    extra = set(ids) - confirmed_ids
    assert len(extra) in (0, BATCH), f"{len(extra)} unconfirmed: only a whole batch (the one in flight) may be extra"
    if kill_at != "during_add":
        assert len(ids) == COUNT
    # every completion reported before the kill is kept
    assert all(by_id[i].state_name == "COMPLETED" for i in completed_seen)
    # nothing is left active
    current = client.call(GetOperation, "get_operation", operation_id="")
    assert not current.success and current.error_code == current.INVALID_STATE, current.status.operation.id

    # the interrupted operation, as documented
    interrupted = [s for s in statuses if s.termination_reason == "interrupted"]
    assert len(interrupted) <= 1, [s.operation.id for s in interrupted]
    if kill_at == "during_start":
        assert [s.operation.id for s in interrupted] == [interrupted_in_start]
    for status in interrupted:
        assert status.state_name == ("QUEUED" if on_interrupted == "requeue" else "FAILED")
        trail = client.call(GetEvents, "get_events", operation_id=status.operation.id).events
        kinds = [e.event_type for e in trail]
        assert kinds[-1] == "OPERATION_FAILED" and kinds.count("OPERATION_STARTED") == 1, kinds
        assert event_metadata(trail[-1]) == {
            "reason": "interrupted",
            "interrupted": True,
            "requeued": on_interrupted == "requeue",
            "previous_state": "RUNNING",
        }

    # the queue is in dispatch order: priority descending, then the order they were added in
    queued = [s.operation.id for s in _list(client, "QUEUED")]
    assert queued == sorted(queued, key=lambda i: (-(int(i[3:]) % 7), int(i[3:])))
    assert {i for i, s in by_id.items() if s.state_name == "QUEUED"} == set(queued)
    # a sample of life cycles read back: each completed one started and completed once
    for op_id in sorted(completed_seen)[:10]:
        kinds = [e.event_type for e in client.call(GetEvents, "get_events", operation_id=op_id).events]
        assert kinds.count("OPERATION_ADDED") == kinds.count("OPERATION_COMPLETED") == 1, (op_id, kinds)
        assert kinds.index("OPERATION_ADDED") < kinds.index("OPERATION_STARTED") < kinds.index("OPERATION_COMPLETED")


def _continue_after_restart(
    client: RosClient, confirmed: list[int], completed_seen: set[str], restarted: list[NodeProcess]
) -> None:
    from operation_dispatcher_interfaces.srv import AddOperations, GetEvents

    # re-send what was not confirmed: the store's answer says what it kept, batch by batch all or nothing
    for b in range(COUNT // BATCH):
        if b in confirmed:
            continue
        response = client.call(AddOperations, "add_operations", operations=_batch(b), timeout=10.0)
        assert response.success, response.message
        assert len(set(response.already_present)) == 1, f"batch {b} was kept in part"
    assert len(_list(client)) == COUNT

    events = client.record_events()
    completed_before = {s.operation.id for s in _list(client, "COMPLETED")}
    activate(client)
    try:
        fresh = events.wait_for_count(lambda e: e.event_type == "OPERATION_COMPLETED", 5, 60.0, "5 completions after the restart")
    except AssertionError as exc:  # the node logs, in the one line a CI summary keeps
        tails = "\n".join(f"--- {p.executable} (pid {p.pid}):\n{p.log_tail(8)}" for p in restarted)
        raise AssertionError(f"{exc}\n{tails}") from None
    assert not {e.operation_id for e in fresh} & (completed_before | completed_seen), "an operation completed twice"
    for event in fresh[:3]:
        kinds = [e.event_type for e in client.call(GetEvents, "get_events", operation_id=event.operation_id).events]
        assert kinds.count("OPERATION_COMPLETED") == 1, kinds


def test_second_dispatcher_on_the_same_store_exits_with_2(ros_processes, ros_client, ros_namespace, tmp_path):
    """One file, one dispatcher: the second one stops at once and says why; the first one goes on."""
    from operation_dispatcher_interfaces.srv import AddOperations

    store = str(tmp_path / "shared.db")
    first = ros_processes.start("dispatcher_node", ros_namespace, {"store_path": store})
    ros_client.wait_for_service(AddOperations, "add_operations", 20.0)
    second = ros_processes.start("dispatcher_node", f"{ros_namespace}_b", {"store_path": store})
    assert second.popen.wait(20.0) == 2
    assert f"store_path: {store} is in use by another dispatcher process" in second.log_path.read_text()
    assert first.alive()
    assert ros_client.call(AddOperations, "add_operations", operations=_batch(0)[:1]).success


def test_store_that_cannot_be_created_exits_with_2(ros_processes, ros_namespace, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    proc = ros_processes.start("dispatcher_node", ros_namespace, {"store_path": str(blocker / "queue.db")})
    assert proc.popen.wait(20.0) == 2
    assert f"store_path: cannot create {blocker / 'queue.db'}" in proc.log_path.read_text()
