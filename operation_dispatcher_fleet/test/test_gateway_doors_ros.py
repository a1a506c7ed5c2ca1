"""The gateway's doors as users meet them: MCP for an agent, bad input, a denying robot, the token, PostgreSQL.

Real robots (dispatcher, business logic, sim robot processes), a real
gateway process, its HTTP and MCP doors on loopback, the MCP SDK's own
client, and for the history a real PostgreSQL server (the ``postgres_dsn``
fixture; skips where Debian's postgresql or psycopg is missing).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from fleet_testing import Gateway, start_robot
from mcp import Client

pytestmark = pytest.mark.ros

DENY_FOREVER = {"rule": "deny_first_n", "deny_count": 1_000_000}


def structured(result: Any) -> Any:
    assert not result.is_error, result.content
    data = result.structured_content
    return data["result"] if isinstance(data, dict) and set(data) == {"result"} else data


def tool_error(result: Any) -> dict[str, Any]:
    import json

    assert result.is_error, result
    text = result.content[0].text
    error: dict[str, Any] = json.loads(text[text.index("{"):])["error"]
    return error


def _wait(condition: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _state(gw: Gateway, robot: str, operation_id: str) -> str:
    state: str = gw.get(f"/robots/{robot}/operations/{operation_id}")["execution"]["state"]
    return state


async def test_a_denying_robot_stalls_no_other_and_the_agent_reads_why(ros_processes: Any, ros_namespace: str, tmp_path: Path) -> None:
    worker, refuser = f"{ros_namespace}_work", f"{ros_namespace}_deny"
    start_robot(ros_processes, worker, x=0.0)
    start_robot(ros_processes, refuser, x=10.0, business_logic=DENY_FOREVER, dispatcher={"max_retries": 3})
    gw = Gateway(ros_processes, tmp_path)
    try:
        gw.wait_ready([worker, refuser])
        async with Client(f"{gw.url}/mcp", read_timeout_seconds=30) as agent:
            added = structured(await agent.call_tool("add_operations", {"robot": refuser, "operations": [{"id": "blocked"}]}))
            assert added == [{"operation_id": "blocked", "added": True, "state": "QUEUED", "robot": refuser}]
            for i in range(3):
                structured(await agent.call_tool("add_operations", {"robot": worker, "operations": [{"id": f"job-{i}", "payload": {"goal": {"x": 1.0, "y": 0.0}}}]}))
            # The refuser denies every start: after max_retries it pauses itself; the worker carries on.
            paused = gw.wait_robots(lambda rs: rs[refuser]["state"]["status"] == "PAUSED", 30.0, "the refuser pausing itself")
            assert "denied in a row" in paused[refuser]["state"]["paused_reason"], paused[refuser]
            assert paused[refuser]["health"]["level"] in ("WARN", "ERROR"), paused[refuser]
            _wait(lambda: all(_state(gw, worker, f"job-{i}") == "COMPLETED" for i in range(3)), 30.0, "the worker's three jobs")

            robots = {r["resource_id"]: r for r in structured(await agent.call_tool("list_robots", {}))}
            assert robots[worker]["state"]["counts"]["COMPLETED"] == 3 and robots[worker]["online"]
            assert robots[refuser]["state"]["status"] == "PAUSED"
            # A change reaches list_robots: pause the worker through its own route, and time it.
            before = time.monotonic()
            gw.post(f"/robots/{worker}/dispatcher/pause", {"reason": "lunch"})
            while robots[worker]["state"]["status"] != "PAUSED":
                assert time.monotonic() - before < 5.0, robots[worker]
                await asyncio.sleep(0.02)
                robots = {r["resource_id"]: r for r in structured(await agent.call_tool("list_robots", {}))}
            print(f"pause seen by MCP list_robots after {1000 * (time.monotonic() - before):.0f} ms")
            assert robots[worker]["state"]["paused_reason"] == "lunch"
            events = structured(await agent.call_tool("get_operation_events", {"robot": refuser, "operation_id": "blocked"}))
            denials = [e for e in events if e["event_type"] == "OPERATION_START_DENIED"]
            assert len(denials) == 3 and all("denied" in e["metadata"].get("reason", "") for e in denials), denials

            # Refusals name what is wrong, and change nothing.
            unknown = tool_error(await agent.call_tool("get_dispatcher_state", {"robot": "no_such_robot"}))
            assert unknown["code"] == "NOT_FOUND" and "no_such_robot" in unknown["message"]
            extra = tool_error(await agent.call_tool("list_robots", {"verbose": True}))
            assert extra["code"] == "VALIDATION" and extra["details"]["field"] == "verbose"
            bad = tool_error(await agent.call_tool("add_operations", {"operations": [{"id": "fine"}, {"priority": "high"}]}))
            assert bad["code"] == "VALIDATION" and bad["details"]["field"].startswith("operations[1].priority"), bad
        response = gw.http.get(f"/robots/{worker}/operations/fine")
        assert response.status_code == 404, "half of a refused fleet add was added"
    finally:
        gw.close()


def test_bad_input_at_the_fleet_door_is_refused_naming_the_field_and_changes_nothing(
    ros_processes: Any, ros_namespace: str, tmp_path: Path
) -> None:
    robot = f"{ros_namespace}_r1"
    start_robot(ros_processes, robot)
    gw = Gateway(ros_processes, tmp_path)
    try:
        gw.wait_ready([robot])
        cases: list[tuple[Any, int, str, str]] = [
            ([], 422, "VALIDATION", "operations"),
            ({"id": "not-a-list"}, 422, "VALIDATION", "operations"),
            ([{"id": "ok-1"}, {"priority": "high"}], 400, "VALIDATION", "operations[1].priority"),
            ([{"id": "ok-2"}, {"id": "bad id with spaces"}], 400, "VALIDATION", "operations[1].id"),
            ([{"id": "ok-3", "resource_id": "no_such_robot"}], 404, "NOT_FOUND", ""),
            ([{"id": "ok-4", "payload": "pickup at dock"}], 400, "VALIDATION", "operations[0].payload"),
        ]
        for body, status, code, field in cases:
            response = gw.http.post("/fleet/operations/add", json=body)
            assert response.status_code == status, (body, response.text)
            error = response.json()["error"]
            assert error["code"] == code, (body, error)
            if field:
                assert error["details"]["field"].startswith(field), (body, error)
        assert gw.get(f"/robots/{robot}/operations") == [], "a refused add left something behind"
        missing = gw.http.get("/robots/no_such_robot/operations")
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "NOT_FOUND"
        assert missing.json()["error"]["details"] == {"robot": "no_such_robot"}, missing.text
        assert missing.json()["error"]["message"].startswith("no robot 'no_such_robot'"), missing.text
        limit = gw.http.get(f"/robots/{robot}/operations", params={"limit": 0})
        assert limit.status_code == 422 and limit.json()["error"]["details"]["field"] == "limit", limit.text
        history = gw.http.get("/fleet/history", params={"state": "LOST"})
        assert history.status_code == 400 and history.json()["error"]["details"]["field"] == "state", history.text
    finally:
        gw.close()


def test_beyond_loopback_the_gateway_needs_a_token_and_then_asks_for_it(ros_processes: Any, ros_namespace: str, tmp_path: Path) -> None:
    refused = Gateway(ros_processes, tmp_path, {"http_host": "0.0.0.0"})
    try:
        assert refused.process.popen.wait(20.0) == 2
        log = refused.process.log_tail()
        assert "http_host" in log and "token" in log, log
    finally:
        refused.close()
    robot = f"{ros_namespace}_r1"
    start_robot(ros_processes, robot)
    gw = Gateway(ros_processes, tmp_path, {"http_token": "s3cret"})
    try:
        _wait(lambda: _answers(gw), 30.0, "the gateway serving")
        assert gw.http.get("/robots").status_code == 401
        assert gw.http.get(f"/robots/{robot}/operations").status_code == 401
        gw.http.headers["Authorization"] = "Bearer s3cret"
        gw.wait_ready([robot])
    finally:
        gw.close()


def _answers(gw: Gateway) -> bool:
    import httpx

    try:
        gw.http.get("/robots")
    except httpx.TransportError:
        return False
    return True


def test_the_same_fleet_run_leaves_the_same_rows_in_sqlite_and_in_postgresql(
    ros_processes: Any, ros_namespace: str, tmp_path: Path, postgres_dsn: str
) -> None:
    from operation_dispatcher_fleet.history import FleetHistory

    robots = [f"{ros_namespace}_r1", f"{ros_namespace}_r2"]
    for i, robot in enumerate(robots):
        start_robot(ros_processes, robot, x=5.0 * i)
    (tmp_path / "pg").mkdir()
    in_sqlite = Gateway(ros_processes, tmp_path)
    in_postgres = Gateway(ros_processes, tmp_path / "pg", {"history_dsn": postgres_dsn})
    try:
        for gw in (in_sqlite, in_postgres):
            gw.wait_ready(robots)
        placed = in_sqlite.post("/fleet/operations/add", [{"id": f"h-{i}", "payload": {"goal": {"x": 1.0, "y": 0.0}}} for i in range(6)], expect=201)
        for p in placed:
            _wait(lambda p=p: _state(in_sqlite, p["robot"], p["operation_id"]) == "COMPLETED", 30.0, f"{p['operation_id']} completed")
        sqlite_store = FleetHistory.open(sqlite_path=tmp_path / "fleet_history.db")
        postgres_store = FleetHistory.open(postgres_dsn)
        try:
            def same() -> Any:
                # Each gateway records in the order it hears the robots, so the two interleave the
                # robots differently: the same rows, each robot's in the same order, is the promise.
                rows = sorted(sqlite_store.rows())
                completed = sum(1 for row in rows if row[2] == "OPERATION_COMPLETED")
                return rows if completed == 6 and rows == sorted(postgres_store.rows()) else None

            rows = _wait(same, 20.0, "both histories to hold the run")
            print(f"{len(rows)} events recorded alike in SQLite and PostgreSQL")
            by_robot = {robot: {row[2] for row in rows if row[0] == robot} for robot in robots}
            assert {p["robot"] for p in placed} == set(robots)
            for robot in robots:
                assert {"OPERATION_ADDED", "OPERATION_STARTED", "OPERATION_COMPLETED"} <= by_robot[robot]
            for robot in robots:
                per_door = [
                    [e["id"] for e in gw.get("/fleet/history", robot=robot, limit=1000)["events"]] for gw in (in_sqlite, in_postgres)
                ]
                assert per_door[0] == per_door[1], f"{robot}'s events differ between the two stores"
            completed = in_postgres.get("/fleet/history", state="COMPLETED", limit=1000)["events"]
            assert sorted(e["operation_id"] for e in completed) == sorted(p["operation_id"] for p in placed)
        finally:
            sqlite_store.close()
            postgres_store.close()
    finally:
        in_sqlite.close()
        in_postgres.close()
