"""REST door against a real uvicorn server on loopback: every endpoint, every status code."""

from __future__ import annotations

import doors_testing
import pytest
from doors_testing import RESOURCE, op, wait_until

from operation_dispatcher import OperationState

start_server = doors_testing.start_server  # the fixture, shared by the door tests


def error_of(response):  # type: ignore[no-untyped-def]
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}, body
    return body["error"]


def test_add_then_query_every_operation_endpoint(start_server) -> None:  # type: ignore[no-untyped-def]
    live = start_server()
    d = live.dispatcher
    with live.client() as http:
        r = http.post("/operations/add", json=[op("a", priority=5, payload={"task": "pickup"}), op("b"), op("c")])
        assert r.status_code == 201
        assert [x["added"] for x in r.json()] == [True, True, True]
        again = http.post("/operations/add", json=[op("a")])
        assert again.status_code == 201 and again.json() == [{"operation_id": "a", "added": False, "state": again.json()[0]["state"]}]

        wait_until(lambda: d.current() is not None, what="a to start")
        current = http.get("/operations/current").json()
        assert current["operation"]["id"] == "a" and current["execution"]["state"] == "RUNNING"

        everything = http.get("/operations").json()
        assert [rec["operation"]["id"] for rec in everything] == ["a", "b", "c"]
        queued = http.get("/operations", params={"state": "QUEUED"}).json()
        assert [rec["operation"]["id"] for rec in queued] == ["b", "c"]

        one = http.get("/operations/b").json()
        assert one["operation"]["resource_id"] == RESOURCE and one["execution"]["state"] == "QUEUED"
        events = http.get("/operations/a/events").json()
        assert [e["event_type"] for e in events][:3] == ["OPERATION_ADDED", "OPERATION_START_REQUESTED", "OPERATION_STARTED"]

        paused = http.post("/operations/a/pause", json={"reason": "door open"})
        assert paused.status_code == 200 and paused.json()["execution"]["state"] == "PAUSED"
        resumed = http.post("/operations/a/resume")
        assert resumed.status_code == 200 and resumed.json()["execution"]["state"] == "RUNNING"
        cancelled = http.post("/operations/c/cancel", json={"reason": "not needed"})
        assert cancelled.status_code == 200
        assert cancelled.json()["execution"]["state"] == "CANCELLED"
        assert cancelled.json()["execution"]["termination_reason"] == "not needed"

        d.complete("a", outcome="delivered")
        history = http.get("/operations/history").json()
        assert [rec["operation"]["id"] for rec in history] == ["a", "c"]
        assert history[0]["execution"]["outcome"] == "delivered"


def test_dispatcher_endpoints(start_server) -> None:  # type: ignore[no-untyped-def]
    live = start_server()
    with live.client() as http:
        state = http.get("/dispatcher").json()
        assert state["status"] == "RUNNING" and state["resource_id"] == RESOURCE

        paused = http.post("/dispatcher/pause", json={"reason": "maintenance"})
        assert paused.status_code == 200 and paused.json()["paused_reason"] == "maintenance"
        assert http.post("/operations/add", json=[op("x")]).status_code == 201
        assert http.get("/operations/x").json()["execution"]["state"] == "QUEUED"  # paused: not started
        assert http.post("/dispatcher/resume").json()["status"] == "RUNNING"
        wait_until(lambda: live.dispatcher.current() is not None, what="x to start after resume")

        stopped = http.post("/dispatcher/stop")
        assert stopped.status_code == 200 and stopped.json()["status"] == "STOPPED"
        assert http.post("/dispatcher/stop").json()["status"] == "STOPPED"  # idempotent
        started = http.post("/dispatcher/start")
        assert started.status_code == 200
        wait_until(lambda: live.dispatcher.running, what="the loop to run again")
        assert http.post("/dispatcher/start").status_code == 200  # idempotent
        assert http.get("/dispatcher").json()["status"] == "RUNNING"


def test_400_for_input_the_core_refuses(start_server) -> None:  # type: ignore[no-untyped-def]
    live = start_server()
    with live.client() as http:
        r = http.post("/operations/add", json=[op("ok"), {"id": "other", "resource_id": "robot-9"}])
        assert r.status_code == 400
        err = error_of(r)
        assert err["code"] == "VALIDATION" and err["details"]["field"] == "operations[1].resource_id"
        r = http.post("/operations/add", json=[op("dep", dependencies=[{"operation_id": "ghost"}])])
        assert r.status_code == 400 and error_of(r)["details"]["field"] == "operations[0].dependencies"
        r = http.post("/operations/add", json=[op("twice"), op("twice")])
        assert r.status_code == 400 and error_of(r)["details"]["field"] == "operations[1].id"
        assert http.get("/operations").json() == []  # all or nothing: nothing was added


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("POST", "/operations/add", [op("p", priority="high")], "operations[0].priority"),
        ("POST", "/operations/add", [op("p", unknown=1)], "operations[0].unknown"),
        ("POST", "/operations/add", [{"id": "no-resource"}], "operations[0].resource_id"),
        ("POST", "/operations/add", [], "operations"),
        ("POST", "/operations/add", {"id": "not-a-list"}, "operations"),
        ("GET", "/operations?state=SLEEPING", None, "state"),
        ("GET", "/operations/history?limit=abc", None, "limit"),
        ("POST", "/dispatcher/pause", {"reason": "x" * 5000}, "reason"),
    ],
)
def test_422_names_the_field(start_server, method, path, body, field) -> None:  # type: ignore[no-untyped-def]
    live = start_server(run_dispatcher=False)
    with live.client() as http:
        r = http.request(method, path, json=body)
        assert r.status_code == 422, r.text
        err = error_of(r)
        assert err["code"] == "VALIDATION" and err["details"]["field"] == field and field in err["message"]


def test_422_for_a_body_that_is_not_json(start_server) -> None:  # type: ignore[no-untyped-def]
    live = start_server(run_dispatcher=False)
    with live.client() as http:
        r = http.post("/operations/add", content=b"[{not json", headers={"Content-Type": "application/json"})
        assert r.status_code == 422 and error_of(r)["code"] == "VALIDATION"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/operations/ghost"),
        ("GET", "/operations/ghost/events"),
        ("POST", "/operations/ghost/cancel"),
        ("POST", "/operations/ghost/pause"),
        ("POST", "/operations/ghost/resume"),
    ],
)
def test_404_for_an_unknown_id(start_server, method, path) -> None:  # type: ignore[no-untyped-def]
    live = start_server(run_dispatcher=False)
    with live.client() as http:
        r = http.request(method, path)
        assert r.status_code == 404
        assert error_of(r) == {"code": "NOT_FOUND", "message": "operation 'ghost' not found", "details": {"operation_id": "ghost"}}


def test_404_for_an_unknown_route_has_the_same_shape(start_server) -> None:  # type: ignore[no-untyped-def]
    live = start_server(run_dispatcher=False)
    with live.client() as http:
        assert error_of(http.get("/nowhere"))["code"] == "NOT_FOUND"


def test_409_carries_the_business_logic_reason(start_server) -> None:  # type: ignore[no-untyped-def]
    live = start_server()
    with live.client() as http:
        http.post("/operations/add", json=[op("loaded", payload={"deny_cancel": "robot is carrying a load", "deny_pause": "on a ramp"})])
        wait_until(lambda: live.dispatcher.current() is not None, what="loaded to start")
        r = http.post("/operations/loaded/cancel")
        assert r.status_code == 409
        err = error_of(r)
        assert err["code"] == "DENIED"
        assert err["details"]["reason"] == "robot is carrying a load"
        assert err["details"]["data"] == {"rule": "deny_cancel"}
        r = http.post("/operations/loaded/pause")
        assert r.status_code == 409 and error_of(r)["details"]["reason"] == "on a ramp"
        assert http.get("/operations/loaded").json()["execution"]["state"] == "RUNNING"  # nothing changed
        types = [e["event_type"] for e in http.get("/operations/loaded/events").json()]
        assert "OPERATION_CANCEL_DENIED" in types and "OPERATION_PAUSE_DENIED" in types


def test_409_for_an_illegal_state(start_server) -> None:  # type: ignore[no-untyped-def]
    live = start_server(run_dispatcher=False)
    with live.client() as http:
        http.post("/operations/add", json=[op("waiting")])
        r = http.post("/operations/waiting/pause")
        assert r.status_code == 409 and error_of(r)["code"] == "INVALID_STATE"
        assert error_of(r)["details"]["state"] == "QUEUED"
        assert http.post("/operations/waiting/resume").status_code == 409
        assert http.post("/operations/waiting/cancel").status_code == 200
        assert error_of(http.post("/operations/waiting/cancel"))["code"] == "INVALID_STATE"
        assert error_of(http.post("/dispatcher/resume"))["code"] == "INVALID_STATE"
        assert http.post("/dispatcher/pause").status_code == 200
        assert http.post("/dispatcher/pause").status_code == 409


@pytest.mark.parametrize(("limit", "status", "count"), [(0, 422, None), (1, 200, 1), (1000, 200, 3), (1001, 422, None), (None, 200, 3)])
def test_history_limit_bounds(start_server, limit, status, count) -> None:  # type: ignore[no-untyped-def]
    live = start_server(run_dispatcher=False)
    with live.client() as http:
        http.post("/operations/add", json=[op("h1"), op("h2"), op("h3")])
        for op_id in ("h1", "h2", "h3"):
            assert http.post(f"/operations/{op_id}/cancel").status_code == 200
        r = http.get("/operations/history", params={} if limit is None else {"limit": limit})
        assert r.status_code == status
        if count is None:
            assert error_of(r)["details"]["field"] == "limit"
        else:
            assert [rec["operation"]["id"] for rec in r.json()] == ["h3", "h2", "h1"][:count]


def test_state_filter_covers_every_state(start_server) -> None:  # type: ignore[no-untyped-def]
    live = start_server(run_dispatcher=False)
    with live.client() as http:
        http.post("/operations/add", json=[op("s1")])
        for state in OperationState:
            r = http.get("/operations", params={"state": state.value})
            assert r.status_code == 200
            assert len(r.json()) == (1 if state is OperationState.QUEUED else 0)
