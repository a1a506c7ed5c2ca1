"""Security of the HTTP doors: bearer token, loopback bind, CORS, browser guard."""

from __future__ import annotations

import time

import doors_testing
import httpx
import pytest
from doors_testing import TOKEN, make_dispatcher, op

from operation_dispatcher.api import InsecureBindError, build_server, create_app

start_server = doors_testing.start_server  # the fixture, shared by the door tests

GUARDED = [
    ("GET", "/operations"),
    ("GET", "/operations/current"),
    ("GET", "/operations/history"),
    ("GET", "/operations/x"),
    ("GET", "/operations/x/events"),
    ("POST", "/operations/add"),
    ("POST", "/operations/x/cancel"),
    ("POST", "/operations/x/pause"),
    ("POST", "/operations/x/resume"),
    ("GET", "/dispatcher"),
    ("POST", "/dispatcher/start"),
    ("POST", "/dispatcher/stop"),
    ("POST", "/dispatcher/pause"),
    ("POST", "/dispatcher/resume"),
    ("GET", "/events"),
    ("GET", "/events/log"),
    ("POST", "/mcp"),
    ("GET", "/mcp"),
]


def test_guarded_list_covers_every_rest_path() -> None:
    spec = create_app(make_dispatcher(), mcp=False).openapi()
    documented = {(method.upper(), path.replace("{operation_id}", "x")) for path, item in spec["paths"].items() for method in item}
    assert documented <= set(GUARDED)


def test_with_a_token_every_endpoint_needs_it(start_server) -> None:  # type: ignore[no-untyped-def]
    live = start_server(token=TOKEN)
    with live.client(authorized=False) as anonymous:
        for method, path in GUARDED:
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
                r = anonymous.request(method, path, headers=headers)
                assert r.status_code == 401, (method, path, headers, r.status_code)
                assert r.headers["www-authenticate"] == "Bearer"
                assert r.json()["error"]["code"] == "UNAUTHORIZED"
        for public in ("/", "/docs", "/openapi.json", "/dashboard/static/app.js"):
            assert anonymous.get(public).status_code == 200, public
    with live.client() as http:
        assert http.post("/operations/add", json=[op("t")]).status_code == 201
        assert http.get("/operations/t").status_code == 200
        assert http.get("/dispatcher").status_code == 200


def test_the_bearer_scheme_name_is_matched_in_any_letter_case(start_server) -> None:  # type: ignore[no-untyped-def]
    live = start_server(token=TOKEN)
    with live.client(authorized=False) as http:
        for scheme in ("Bearer", "bearer", "BEARER", "bEaReR"):
            for method, path in (("GET", "/dispatcher"), ("POST", "/dispatcher/pause"), ("POST", "/dispatcher/resume")):
                r = http.request(method, path, headers={"authorization": f"{scheme} {TOKEN}"})
                assert r.status_code == 200, (scheme, path, r.text)
        for refused in (f"Bearer {TOKEN.upper()}", f"Bearer {TOKEN}x", f"Basic {TOKEN}", f"Bearer{TOKEN}", "Bearer", TOKEN):
            assert http.get("/dispatcher", headers={"authorization": refused}).status_code == 401, refused


def test_openapi_declares_the_bearer_scheme_only_with_a_token() -> None:
    with_token = create_app(make_dispatcher(), token=TOKEN, mcp=False).openapi()
    assert with_token["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert "401" in with_token["paths"]["/operations"]["get"]["responses"]
    without = create_app(make_dispatcher(), mcp=False).openapi()
    assert "securitySchemes" not in without.get("components", {})


def test_without_a_token_on_loopback_no_header_is_needed(start_server) -> None:  # type: ignore[no-untyped-def]
    live = start_server()
    with live.client(authorized=False) as http:
        assert http.get("/dispatcher").status_code == 200
        assert http.post("/operations/add", json=[op("open")]).status_code == 201


def test_a_non_loopback_bind_without_token_refuses_to_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPERATION_DISPATCHER_TOKEN", raising=False)
    for host in ("0.0.0.0", "192.0.2.10", "::", "robot.example"):
        with pytest.raises(InsecureBindError, match="without a token"):
            build_server(make_dispatcher(), host=host, port=8000)
    assert build_server(make_dispatcher(), host="0.0.0.0", port=8000, token=TOKEN) is not None
    monkeypatch.setenv("OPERATION_DISPATCHER_TOKEN", TOKEN)
    assert build_server(make_dispatcher(), host="0.0.0.0", port=8000) is not None
    for host in ("127.0.0.1", "localhost", "::1", "127.0.0.2"):
        assert build_server(make_dispatcher(), host=host, port=8000) is not None


def test_cors_is_off_unless_origins_are_given(start_server) -> None:  # type: ignore[no-untyped-def]
    preflight = {"Origin": "http://ui.example", "Access-Control-Request-Method": "POST"}
    closed = start_server()
    with closed.client() as http:
        r = http.options("/dispatcher/pause", headers=preflight)
        assert "access-control-allow-origin" not in r.headers
        assert "access-control-allow-origin" not in http.get("/dispatcher", headers={"Origin": "http://ui.example"}).headers
    opened = start_server(cors_origins=["http://ui.example"])
    with opened.client() as http:
        r = http.options("/dispatcher/pause", headers=preflight)
        assert r.headers["access-control-allow-origin"] == "http://ui.example"
        assert http.post("/dispatcher/pause", headers={"Origin": "http://ui.example"}).status_code == 200


def test_other_sites_cannot_drive_the_dispatcher_through_a_browser(start_server) -> None:  # type: ignore[no-untyped-def]
    live = start_server()
    with live.client() as http:
        r = http.post("/dispatcher/pause", headers={"Origin": "http://evil.example"})
        assert r.status_code == 403 and r.json()["error"]["code"] == "FORBIDDEN"
        r = http.get("/operations", headers={"Host": "evil.example"})  # DNS rebinding
        assert r.status_code == 403
        assert http.post("/dispatcher/pause", headers={"Origin": live.url}).status_code == 200  # the dashboard itself


def test_sse_stream_needs_the_token_and_then_streams(start_server) -> None:  # type: ignore[no-untyped-def]
    live = start_server(token=TOKEN)
    with httpx.Client(base_url=live.url, timeout=10) as anonymous:
        assert anonymous.get("/events").status_code == 401
    with live.client() as http, http.stream("GET", "/events") as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        http.post("/operations/add", json=[op("streamed")])
        seen, deadline = [], time.monotonic() + 5
        for line in stream.iter_lines():
            assert time.monotonic() < deadline, "OPERATION_ADDED never came over SSE"
            seen.append(line)
            if '"operation_id":"streamed"' in line and '"OPERATION_ADDED"' in line:
                break
        assert "event: state" in seen
