"""The fleet gateway over real robots: three namespaced dispatchers with their sim robots, one gateway.

Everything is a real process on one ROS domain (LOCALHOST discovery); the
test talks to the gateway over HTTP on loopback, as a web user or an agent
would, and to nothing else.
"""

from __future__ import annotations

import collections
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from fleet_testing import Gateway, start_dispatcher, start_robot

pytestmark = pytest.mark.ros

STATE_LATENCY_LIMIT = 5.0
"""Seconds GET /robots may take to show a change; the figure is printed (one second is the goal, timing is not asserted tightly)."""


def _names(ros_namespace: str, count: int) -> list[str]:
    return [f"{ros_namespace}_r{i}" for i in range(1, count + 1)]


@pytest.fixture
def fleet(ros_processes: Any, ros_namespace: str, tmp_path: Path) -> Any:
    """``fleet(count, **robot_options)``: start the robots and a gateway; the Gateway, once all are RUNNING."""
    gateways: list[Gateway] = []

    def start(
        count: int = 3, gateway: dict[str, Any] | None = None, robots: dict[str, dict[str, Any]] | None = None
    ) -> tuple[Gateway, list[str], dict[str, dict[str, Any]]]:
        names = _names(ros_namespace, count)
        procs = {name: start_robot(ros_processes, name, x=10.0 * i, **(robots or {}).get(name, {})) for i, name in enumerate(names)}
        gw = Gateway(ros_processes, tmp_path, gateway)
        gateways.append(gw)
        gw.wait_ready(names)
        return gw, names, procs

    try:
        yield start
    finally:
        for gw in gateways:
            gw.close()


def _completed(gw: Gateway, robot: str, operation_id: str, timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    record: dict[str, Any] = {}
    while time.monotonic() < deadline:
        record = gw.get(f"/robots/{robot}/operations/{operation_id}")
        if record["execution"]["state"] == "COMPLETED":
            return record
        time.sleep(0.1)
    raise AssertionError(f"{operation_id} on {robot} did not complete: {record}")


def test_each_robot_runs_only_its_own_operations_and_the_gateway_sees_every_change(fleet: Any) -> None:
    gw, names, _ = fleet(3)
    robots = gw.robots()
    assert sorted(robots) == names
    assert all(r["health"]["level"] == "OK" for r in robots.values()), robots

    for name in names:
        added = gw.post(f"/robots/{name}/operations/add", [{"id": f"op-{name}", "payload": {"goal": {"x": 1.0, "y": 0.0}}}], expect=201)
        assert added == [{"operation_id": f"op-{name}", "added": True, "state": "QUEUED"}]
    for name in names:
        record = _completed(gw, name, f"op-{name}")
        assert record["operation"]["resource_id"] == name
        events = gw.get(f"/robots/{name}/operations/op-{name}/events")
        assert {e["resource_id"] for e in events} == {name}
        for other in names:
            if other != name:
                response = gw.http.get(f"/robots/{other}/operations/op-{name}")
                assert response.status_code == 404, response.text

    # A change on one robot reaches GET /robots: pause robot 2 through its own route, time it.
    before = time.monotonic()
    gw.post(f"/robots/{names[1]}/dispatcher/pause", {"reason": "inspection"})
    seen = gw.wait_robots(lambda rs: rs[names[1]]["state"]["status"] == "PAUSED", STATE_LATENCY_LIMIT, "the pause in GET /robots")
    print(f"pause seen in GET /robots after {1000 * (time.monotonic() - before):.0f} ms")
    assert seen[names[1]]["state"]["paused_reason"] == "inspection"
    assert [seen[n]["state"]["status"] for n in (names[0], names[2])] == ["RUNNING", "RUNNING"]


def test_a_robot_killed_mid_operation_shows_as_lost_and_comes_back_with_its_queue(
    fleet: Any, ros_processes: Any, ros_namespace: str, tmp_path: Path
) -> None:
    lost = _names(ros_namespace, 3)[2]
    store = {"store_path": str(tmp_path / "lost.db")}
    gw, names, procs = fleet(3, robots={lost: {"dispatcher": store, "sim_robot": {"speed": 0.2}}})
    gw.post(f"/robots/{lost}/operations/add", [{"id": f"long-{i}", "payload": {"goal": {"x": 50.0, "y": 0.0}}} for i in range(3)], expect=201)
    gw.wait_robots(lambda rs: rs[lost]["state"]["current_operation_id"] == "long-0", 20.0, "long-0 running")

    os.kill(procs[lost]["dispatcher"].pid, signal.SIGKILL)
    killed = time.monotonic()
    robots = gw.wait_robots(lambda rs: not rs[lost]["online"], 60.0, f"{lost} shown as lost")
    print(f"killed dispatcher shown as lost after {time.monotonic() - killed:.1f} s")
    assert robots[lost]["health"]["level"] == "STALE"
    assert all(robots[n]["online"] for n in names if n != lost), robots
    refused = gw.http.get(f"/robots/{lost}/operations")
    assert refused.status_code == 503 and refused.json()["error"]["code"] == "UNAVAILABLE", refused.text

    start_dispatcher(ros_processes, lost, store)
    back = gw.wait_robots(lambda rs: rs[lost]["online"] and (rs[lost]["state"] or {}).get("status") == "RUNNING", 60.0, f"{lost} back")
    assert back[lost]["health"]["level"] in ("OK", "WARN"), back[lost]
    listed = {r["operation"]["id"]: r["execution"]["state"] for r in gw.get(f"/robots/{lost}/operations")}
    assert set(listed) == {"long-0", "long-1", "long-2"}, listed  # the queue is back (what runs next is the robot's matter)


def test_fleet_add_spreads_thirty_operations_and_each_completes_once(fleet: Any) -> None:
    gw, names, _ = fleet(3, gateway={"placement": "least_queued"})
    operations = [{"id": f"fleet-{i:02d}", "payload": {"goal": {"x": 0.5, "y": 0.0}}} for i in range(30)]
    placed = gw.post("/fleet/operations/add", operations, expect=201)
    assert [p["operation_id"] for p in placed] == [op["id"] for op in operations]
    split = collections.Counter(p["robot"] for p in placed)
    print(f"least_queued split of 30: {dict(sorted(split.items()))}")
    # The robots work while the batch is placed (each finishes in its own time), so the split is
    # not exactly even; a robot left out, or one taking most, would be the policy failing.
    assert set(split) == set(names) and min(split.values()) >= 6, split
    for p in placed:
        _completed(gw, p["robot"], p["operation_id"], timeout=60.0)
    for name in names:
        state = gw.robots()[name]["state"]
        assert state["counts"]["COMPLETED"] == split[name], state
    deadline = time.monotonic() + 10.0  # the gateway records in its writer thread
    while len(completions := gw.get("/fleet/history", state="COMPLETED", limit=1000)["events"]) < 30 and time.monotonic() < deadline:
        time.sleep(0.1)
    once = collections.Counter((e["robot"], e["operation_id"]) for e in completions)
    assert once == collections.Counter((p["robot"], p["operation_id"]) for p in placed), "an operation completed twice, or elsewhere"


def test_nearest_idle_sends_each_pickup_to_the_idle_robot_beside_it(fleet: Any) -> None:
    gw, names, _ = fleet(3)  # robots at x = 0, 10, 20 (the fleet fixture), all idle
    gw.wait_robots(lambda rs: all(rs[n]["pose"] is not None for n in names), 20.0, "every robot's pose")  # without one: least_queued
    pickups = {names[2]: 19.0, names[0]: 1.0, names[1]: 11.0}
    placed = gw.post(
        "/fleet/operations/add",
        [{"id": f"near-{robot}", "payload": {"pickup": {"x": x, "y": 0.5}}} for robot, x in pickups.items()],
        expect=201,
    )
    chose = {p["operation_id"]: p["robot"] for p in placed}
    print(f"nearest_idle: {chose}")
    assert chose == {f"near-{robot}": robot for robot in pickups}, chose


def test_a_gateway_started_late_reads_what_the_robots_did_before_and_names_them_by_resource_id(
    ros_processes: Any, ros_namespace: str, tmp_path: Path
) -> None:
    from operation_dispatcher_ros.client import DispatcherClient

    namespace = f"{ros_namespace}_ns"
    start_robot(ros_processes, namespace, dispatcher={"resource_id": "amr_7"})
    with DispatcherClient(namespace, timeout=30.0) as robot:
        robot.add([{"id": f"early-{i}", "payload": {"goal": {"x": 0.5, "y": 0.0}}} for i in range(2)])
        for i in range(2):
            robot.wait_for(f"early-{i}", "COMPLETED", timeout=30.0)
    gw = Gateway(ros_processes, tmp_path)
    try:
        robots = gw.wait_ready(["amr_7"])
        assert robots["amr_7"]["namespace"] == f"/{namespace}"
        deadline = time.monotonic() + 10.0  # the history is read in the gateway's writer thread, after discovery
        while (completed := [e["operation_id"] for e in gw.get("/fleet/history", robot="amr_7", state="COMPLETED")["events"]]) != [
            "early-0",
            "early-1",
        ] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert completed == ["early-0", "early-1"], gw.processes.logs()
        assert gw.get("/fleet/history", robot=namespace)["events"] == [], "events recorded under the namespace, not the resource id"
        assert gw.get("/robots/amr_7/operations/early-1")["execution"]["state"] == "COMPLETED"
    finally:
        gw.close()
