"""REST door against a real uvicorn server on loopback: every endpoint, every status code."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time

import doors_testing
import pytest
from doors_testing import RESOURCE, make_dispatcher, op, wait_until

from operation_dispatcher import DispatchEvent, EventType, OperationDispatcher, OperationState
from operation_dispatcher.api import create_app, serve
from operation_dispatcher.api._errors import STATUS_BY_CODE

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
        ("POST", "/operations/add", [{"id": "null-resource", "resource_id": None}], "operations[0].resource_id"),
        ("POST", "/operations/add", [], "operations"),
        ("POST", "/operations/add", {"id": "not-a-list"}, "operations"),
        ("GET", "/operations?state=SLEEPING", None, "state"),
        ("GET", "/operations/history?limit=abc", None, "limit"),
        ("POST", "/dispatcher/pause", {"reason": "x" * 5000}, "reason"),
        ("POST", "/dispatcher/pause", {"reason": "lunch", "until": "13:00"}, "until"),
        ("POST", "/operations/x/cancel", {"force": True}, "force"),
        ("POST", "/operations/x/pause", {"reason": "door open", "force": True}, "force"),
        ("POST", "/operations/x/resume", {"now": True}, "now"),
        ("POST", "/dispatcher/start", {"force": True}, "force"),
        ("POST", "/dispatcher/stop", {"now": True}, "now"),
        ("POST", "/dispatcher/resume", {"force": True}, "force"),
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


def test_an_unknown_field_in_a_cancel_body_changes_nothing(start_server) -> None:  # type: ignore[no-untyped-def]
    live = start_server(run_dispatcher=False)
    with live.client() as http:
        http.post("/operations/add", json=[op("kept")])
        r = http.post("/operations/kept/cancel", json={"reason": "gone", "force": True})
        assert r.status_code == 422 and error_of(r)["details"]["field"] == "force"
        assert http.get("/operations/kept").json()["execution"]["state"] == "QUEUED"


def test_add_without_resource_id_takes_the_dispatchers_own(start_server) -> None:  # type: ignore[no-untyped-def]
    live = start_server(run_dispatcher=False)
    with live.client() as http:
        r = http.post("/operations/add", json=[{"id": "first", "payload": {"task": "pickup"}}, {"id": "second", "resource_id": RESOURCE}])
        assert r.status_code == 201, r.text
        assert [a["added"] for a in r.json()] == [True, True]
        assert http.get("/operations/first").json()["operation"]["resource_id"] == RESOURCE
        other = http.post("/operations/add", json=[{"id": "elsewhere", "resource_id": "robot-9"}])
        assert other.status_code == 400 and error_of(other)["details"]["field"] == "operations[0].resource_id"
        spec = http.get("/openapi.json").json()
    body = spec["paths"]["/operations/add"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    item = spec["components"]["schemas"][body["items"]["$ref"].rsplit("/", 1)[-1]]
    assert "resource_id" in item["properties"] and "resource_id" not in item.get("required", [])


def test_error_statuses_follow_the_core_table() -> None:
    assert {code: STATUS_BY_CODE[code] for code in ("VALIDATION", "NOT_FOUND", "INVALID_STATE", "DENIED")} == {
        "VALIDATION": 400, "NOT_FOUND": 404, "INVALID_STATE": 409, "DENIED": 409}
    assert (STATUS_BY_CODE["STORAGE"], STATUS_BY_CODE["UNAVAILABLE"], STATUS_BY_CODE["TIMEOUT"], STATUS_BY_CODE["INTERNAL"]) == (503, 503, 504, 500)
    spec = create_app(make_dispatcher(), mcp=False).openapi()
    for path in ("/operations/add", "/operations/{operation_id}/cancel", "/dispatcher/pause", "/dispatcher/start"):
        unavailable = spec["paths"][path]["post"]["responses"]["503"]
        assert "STORAGE" in unavailable["description"] and "Retry-After" in unavailable["headers"], path
    assert "504" in spec["paths"]["/dispatcher/stop"]["post"]["responses"]
    assert "413" in spec["paths"]["/operations/add"]["post"]["responses"]


def test_a_stop_that_cannot_finish_in_time_answers_504_timeout(start_server) -> None:  # type: ignore[no-untyped-def]
    release = threading.Event()

    async def slow_business_logic(event: DispatchEvent) -> bool:
        if event.event_type is EventType.OPERATION_START_REQUESTED:
            await asyncio.to_thread(release.wait, 20)  # still thinking about the start
        return True

    dispatcher = OperationDispatcher(RESOURCE, on_request_callback=slow_business_logic, request_timeout=30)
    live = start_server(dispatcher=dispatcher)
    live.app.state.lifecycle.timeout = 0.3
    try:
        with live.client() as http:
            http.post("/operations/add", json=[op("slow")])
            wait_until(lambda: len(dispatcher.events("slow")) >= 2, what="the start request")
            r = http.post("/dispatcher/stop")
            assert r.status_code == 504, r.text
            assert error_of(r)["code"] == "TIMEOUT" and "0.3 s" in error_of(r)["message"]
            release.set()
            wait_until(lambda: not dispatcher.running, what="the loop to stop once the handshake ended")
            assert http.post("/dispatcher/stop").json()["status"] == "STOPPED"
    finally:
        release.set()


def test_build_server_leaves_the_dispatchers_loop_to_its_owner(start_server) -> None:  # type: ignore[no-untyped-def]
    live = start_server(run_dispatcher=False)  # build_server's default
    assert not live.dispatcher.running
    with live.client() as http:
        assert http.get("/dispatcher").json()["status"] == "STOPPED"
        assert http.post("/operations/add", json=[op("waits")]).status_code == 201
        assert http.get("/operations/waits").json()["execution"]["state"] == "QUEUED"
    assert [e.event_type for e in live.dispatcher.events()] == []  # no DISPATCHER_STARTED, ever


def test_serve_runs_the_dispatchers_loop_while_it_serves() -> None:
    dispatcher = make_dispatcher()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    async def serve_until_it_runs() -> None:
        serving = asyncio.create_task(serve(dispatcher, "127.0.0.1", port, mcp=False, dashboard=False))
        try:
            while not dispatcher.running:  # bounded by the wait_for below
                assert not serving.done(), serving
                await asyncio.sleep(0.01)
        finally:
            serving.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await serving

    asyncio.run(asyncio.wait_for(serve_until_it_runs(), 10))
    assert EventType.OPERATION_DISPATCHER_STARTED in [e.event_type for e in dispatcher.events()]


def test_sse_state_keeps_coming_while_events_stream_without_a_pause(start_server) -> None:  # type: ignore[no-untyped-def]
    """The state message (progress has no event) is due every state_interval even when events
    come faster than that: a busy robot's dashboard must not freeze its progress bar."""
    live = start_server(state_interval=0.2)
    stop = threading.Event()

    def keep_adding() -> None:
        with live.client() as http:
            i = 0
            while not stop.is_set():
                http.post("/operations/add", json=[op(f"busy-{i}")])
                i += 1
                stop.wait(0.02)

    adder = threading.Thread(target=keep_adding, daemon=True)
    with live.client() as http, http.stream("GET", "/events") as stream:
        adder.start()
        try:
            kinds: list[str] = []
            deadline = time.monotonic() + 20
            for line in stream.iter_lines():
                assert time.monotonic() < deadline, f"too few state messages among {len(kinds)}: {kinds[-20:]}"
                if line.startswith("event: "):
                    kinds.append(line.removeprefix("event: "))
                dispatches = kinds.count("dispatch")
                states_after_events = kinds[kinds.index("dispatch"):].count("state") if "dispatch" in kinds else 0
                if dispatches >= 40 and states_after_events >= 3:
                    break
        finally:
            stop.set()
            adder.join(5)
    assert states_after_events >= 3
