"""The bad-input matrix: one table of cases, read by the test of every door.

Each :class:`Case` is one bad request in door-neutral terms (an ``action``
and its arguments) plus what every door must answer: the core's error code,
the words the message must contain (the field it names), the REST status.
The adapters below (:func:`python_call`, :func:`rest_request`,
:func:`mcp_call`, :func:`ros_call`) translate the SAME input for each door,
or say why that door cannot express it (:class:`NotExpressible`: a typed ROS
field cannot hold a string, JSON-RPC has no NaN...). Because the doors read
one table through these adapters, they cannot drift apart; ``docs/bad_input.md``
is generated from it by ``tools/bad_input_table.py`` (and a test checks it).

Every case runs against the same seeded state (:data:`SEED`): one COMPLETED,
one RUNNING and two QUEUED operations. After each refusal the queue, the
history and the events must be exactly as before (a full dump is compared),
except for the events a case lists in ``events`` (a denial records its
request and its denial, by design).

Pure data and plain functions: no rclpy, no server, so the table can be
rendered anywhere.
"""

from __future__ import annotations

import base64
import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

RESOURCE = "robot-1"
DOORS = ("python", "ros", "rest", "mcp")

# ------------------------------------------------------------------ the seed

DENY_CANCEL = "robot is carrying a load"
SEED: dict[str, dict[str, Any]] = {
    "done-1": {"id": "done-1", "resource_id": RESOURCE, "priority": 0, "payload": {"task": "charge"}},
    "running-1": {"id": "running-1", "resource_id": RESOURCE, "priority": 0, "payload": {"task": "pickup"}},
    "queued-1": {"id": "queued-1", "resource_id": RESOURCE, "priority": 5, "payload": {"task": "dropoff"}},
    "queued-2": {"id": "queued-2", "resource_id": RESOURCE, "priority": 1, "payload": {"task": "unload", "deny_cancel": DENY_CANCEL}},
}
SEED_STATES = {"done-1": "COMPLETED", "running-1": "RUNNING", "queued-1": "QUEUED", "queued-2": "QUEUED"}
"""How the seed is made, whichever door: add done-1, let it start, complete it;
add running-1, let it start; add queued-1 and queued-2 (they wait behind it).
The business logic approves everything but a cancel whose payload says ``deny_cancel``."""


# ------------------------------------------------------------------ the cases

@dataclass(frozen=True)
class Case:
    id: str
    description: str
    action: str
    """add, get, events, list, page, history, event_log, cancel, pause_operation, resume_operation,
    complete, fail, report_progress, pause_dispatcher, resume_dispatcher, raw_body."""
    args: dict[str, Any]
    code: str
    """VALIDATION, NOT_FOUND, INVALID_STATE, DENIED, or ALREADY_PRESENT (not an error: idempotent add)."""
    mentions: tuple[str, ...]
    """Words the error message must contain. For VALIDATION the first is the field, which doors
    with a structured error (Python, REST, MCP) must also report as ``details.field``."""
    rest_status: int
    events: tuple[str, ...] = ()
    """Events the refusal records by design (only a denial); everything else must be unchanged."""
    not_expressible: dict[str, str] = field(default_factory=dict)
    """Door -> why that door cannot carry this input (besides what the adapters detect)."""
    known_bugs: dict[str, str] = field(default_factory=dict)
    """Door -> the bug that makes this door answer wrongly (the test is xfail(strict=True))."""


def _cursor(fields: list[Any]) -> str:
    """A cursor as the dispatcher writes one (URL-safe base64 of JSON), for another listing than the one read."""
    return base64.urlsafe_b64encode(json.dumps(fields).encode()).decode().rstrip("=")


def _op(op_id: str, **fields: Any) -> dict[str, Any]:
    return {"id": op_id, "resource_id": RESOURCE, **fields}


def _add(*ops: Any) -> dict[str, Any]:
    return {"operations": list(ops)}


def _nested(depth: int) -> dict[str, Any]:
    """A JSON object nested ``depth`` deep ({} is 1, {"a": {}} is 2)."""
    value: dict[str, Any] = {}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


def _time(sec: int, nanosec: int) -> dict[str, int]:
    """A builtin_interfaces/Time as the ROS door sends it (the other doors take dates as ISO 8601 text)."""
    return {"sec": sec, "nanosec": nanosec}


_ONLY_ROS_TIMES = {door: "a date is ISO 8601 text; only a ROS Time has a nanosec field" for door in ("python", "rest", "mcp")}

_HTTP_BODY_LIMIT = 4 * 1024 * 1024  # operation_dispatcher.api.MAX_REQUEST_BODY_BYTES (this module imports no door)

CASES: list[Case] = [
    # --- add: shape of the request
    Case("add-empty-list", "add with an empty list of operations", "add", _add(),
         "VALIDATION", ("operations",), 422),
    Case("add-not-a-list", "add with a string instead of a list", "add", {"operations": "pickup"},
         "VALIDATION", ("operations",), 422,
         not_expressible={"ros": "AddOperations.operations is a typed Operation[]"}),
    Case("add-malformed-json", "add whose request body is truncated JSON", "raw_body",
         {"body": '[{"id": "m1", "resource_id": "robot-1", "payload": {'},
         "VALIDATION", ("operations", "JSON"), 422,
         not_expressible={"python": "no JSON text in a Python call",
                          "ros": "no JSON body (a malformed payload_json is add-payload-bad-json-text)"}),
    Case("add-body-too-large", "add whose request body is over 4 MiB (the HTTP doors' body limit)", "raw_body",
         {"body": json.dumps([_op("huge", payload={"blob": "x" * _HTTP_BODY_LIMIT})])},
         "VALIDATION", ("body", str(_HTTP_BODY_LIMIT)), 413,
         not_expressible={"python": "no request body in a Python call", "ros": "no HTTP body"}),
    Case("add-too-many", "add with 10,001 operations (limit 10,000)", "add",
         _add(*[_op(f"bulk-{i}") for i in range(10_001)]),
         "VALIDATION", ("operations", "10000"), 422),
    Case("add-one-bad-item-after-a-good-one", "a valid new operation, then one with priority 2,000,000: all or nothing",
         "add", _add(_op("fresh-1"), _op("fresh-2", priority=2_000_000)),
         "VALIDATION", ("operations[1].priority",), 422),
    # --- add: payload
    Case("add-payload-bad-json-text", "payload is truncated JSON text", "add",
         _add(_op("p-1", payload='{"task": "pickup", ')),
         "VALIDATION", ("operations[0].payload",), 422),
    Case("add-payload-not-an-object", "payload is a JSON array", "add", _add(_op("p-2", payload=[1, 2])),
         "VALIDATION", ("operations[0].payload",), 422),
    Case("add-payload-nan", "payload holds NaN", "add", _add(_op("p-3", payload={"x": math.nan})),
         "VALIDATION", ("operations[0].payload",), 422),
    Case("add-payload-number-overflow", "payload_json text {\"x\": 1e999} (a number that reads as infinity)", "add",
         _add(_op("p-7", payload='{"x": 1e999}')),
         "VALIDATION", ("operations[0].payload", "1e999"), 422,
         not_expressible={"python": "a Python payload is a dict, not JSON text",
                          "rest": "the payload is part of the request's JSON, not a text of its own",
                          "mcp": "the payload is part of the request's JSON, not a text of its own"}),
    Case("add-payload-oversize", "payload of 70,000 bytes (limit 65,536)", "add",
         _add(_op("p-4", payload={"blob": "x" * 70_000})),
         "VALIDATION", ("operations[0].payload", "65536"), 422),
    Case("add-payload-too-deep", "payload nested 40 deep (limit 32)", "add", _add(_op("p-5", payload=_nested(40))),
         "VALIDATION", ("operations[0].payload", "32"), 422),
    Case("add-payload-far-too-deep", "payload nested 600 deep (limit 32)",
         "add", _add(_op("p-6", payload=_nested(600))),
         "VALIDATION", ("operations[0].payload", "32"), 422,
         not_expressible={"mcp": "the SDK client cannot serialise a request nested past pydantic's limit (about 250)"}),
    # --- add: numbers
    Case("add-priority-wrong-type", "priority is a string", "add", _add(_op("n-1", priority="high")),
         "VALIDATION", ("operations[0].priority",), 422),
    Case("add-priority-numeric-string", "priority is the string '5' (no coercion)", "add", _add(_op("n-8", priority="5")),
         "VALIDATION", ("operations[0].priority",), 422),
    Case("add-priority-float", "priority is 5.0 (an integer field)", "add", _add(_op("n-9", priority=5.0)),
         "VALIDATION", ("operations[0].priority",), 422),
    Case("add-priority-bool", "priority is true", "add", _add(_op("n-10", priority=True)),
         "VALIDATION", ("operations[0].priority",), 422),
    Case("add-priority-above-max", "priority 2,000,000 (limit 1,000,000)", "add", _add(_op("n-2", priority=2_000_000)),
         "VALIDATION", ("operations[0].priority",), 422),
    Case("add-priority-below-min", "priority -2,000,000 (limit -1,000,000)", "add", _add(_op("n-3", priority=-2_000_000)),
         "VALIDATION", ("operations[0].priority",), 422),
    Case("add-priority-huge", "priority 10**30 (beyond any integer type)", "add", _add(_op("n-4", priority=10**30)),
         "VALIDATION", ("operations[0].priority",), 422),
    Case("add-duration-nan", "planned_duration is NaN", "add", _add(_op("n-5", planned_duration=math.nan)),
         "VALIDATION", ("operations[0].planned_duration",), 422),
    Case("add-duration-infinity", "planned_duration is infinity", "add", _add(_op("n-6", planned_duration=math.inf)),
         "VALIDATION", ("operations[0].planned_duration",), 422),
    Case("add-duration-negative", "planned_duration is -5 s", "add", _add(_op("n-7", planned_duration=-5.0)),
         "VALIDATION", ("operations[0].planned_duration",), 422),
    # --- add: dates
    Case("add-release-before-1970", "release_date 1969-12-31T23:58:20Z (range 1970..2200)", "add",
         _add(_op("d-1", release_date="1969-12-31T23:58:20Z")),
         "VALIDATION", ("operations[0].release_date",), 422),
    Case("add-due-after-2200", "due_date 2300-01-01 (range 1970..2200)", "add",
         _add(_op("d-2", due_date="2300-01-01T00:00:00Z")),
         "VALIDATION", ("operations[0].due_date",), 422),
    Case("add-release-year-1", "release_date 0001-01-01T00:00:00+01:00 (in UTC before year 1)", "add",
         _add(_op("d-4", release_date="0001-01-01T00:00:00+01:00")),
         "VALIDATION", ("operations[0].release_date",), 422),
    Case("add-due-year-9999", "due_date 9999-12-31T23:59:59-01:00 (in UTC after year 9999)", "add",
         _add(_op("d-5", due_date="9999-12-31T23:59:59-01:00")),
         "VALIDATION", ("operations[0].due_date",), 422),
    Case("add-due-before-release", "due_date 2030-01-01, a day before its release_date", "add",
         _add(_op("d-6", release_date="2030-01-02T00:00:00Z", due_date="2030-01-01T00:00:00Z")),
         "VALIDATION", ("operations[0].due_date", "release_date"), 422),
    Case("add-release-not-a-date", "release_date is 'next tuesday'", "add",
         _add(_op("d-3", release_date="next tuesday")),
         "VALIDATION", ("operations[0].release_date",), 422),
    # --- add: ROS Times (sec, nanosec); a nanosec of a second or more is refused, not carried into sec
    Case("add-release-nanosec-overflow", "release_date Time(sec=1893456000, nanosec=1,500,000,000)", "add",
         _add(_op("t-1", release_date=_time(1_893_456_000, 1_500_000_000))),
         "VALIDATION", ("operations[0].release_date.nanosec", "1000000000", "1500000000"), 422,
         not_expressible=_ONLY_ROS_TIMES),
    Case("add-due-nanosec-uint32-max", "due_date Time(sec=0, nanosec=4,294,967,295): not 4.29 s after 1970", "add",
         _add(_op("t-2", due_date=_time(0, 2**32 - 1))),
         "VALIDATION", ("operations[0].due_date.nanosec", "4294967295"), 422,
         not_expressible=_ONLY_ROS_TIMES),
    Case("add-created-nanosec-one-second", "a valid operation, then one with created_at nanosec exactly 1,000,000,000",
         "add", _add(_op("t-3"), _op("t-4", created_at=_time(1_900_000_000, 1_000_000_000))),
         "VALIDATION", ("operations[1].created_at.nanosec", "1000000000"), 422,
         not_expressible=_ONLY_ROS_TIMES),
    # --- add: ids, strings, fields
    Case("add-id-too-long", "id of 200 characters (limit 128)", "add", _add(_op("x" * 200)),
         "VALIDATION", ("operations[0].id",), 422),
    Case("add-id-bad-characters", "id 'pick up/1' (space and slash)", "add", _add(_op("pick up/1")),
         "VALIDATION", ("operations[0].id",), 422),
    Case("add-id-reserved", "id 'history' (a REST path)", "add", _add(_op("history")),
         "VALIDATION", ("operations[0].id", "reserved"), 422),
    Case("add-unknown-field", "an operation with a field 'colour'", "add", _add(_op("f-1", colour="red")),
         "VALIDATION", ("operations[0].colour",), 422),
    Case("add-another-resource", "resource_id 'robot-2' on robot-1's dispatcher", "add",
         _add(_op("r-1") | {"resource_id": "robot-2"}),
         "VALIDATION", ("operations[0].resource_id", "robot-2"), 400),
    # --- add: ids and dependencies across operations
    Case("add-duplicate-id-in-batch", "the same new id twice in one add", "add", _add(_op("twin"), _op("twin")),
         "VALIDATION", ("operations[1].id", "twice"), 400),
    Case("add-duplicate-id-resent", "queued-1 sent again: idempotent, not an error", "add", _add(SEED["queued-1"]),
         "ALREADY_PRESENT", ("queued-1",), 201),
    Case("add-unknown-dependency", "depends on 'ghost', which nobody added", "add",
         _add(_op("dep-1", dependencies=[{"operation_id": "ghost"}])),
         "VALIDATION", ("operations[0].dependencies", "ghost"), 400),
    Case("add-self-dependency", "an operation that depends on itself", "add",
         _add(_op("dep-2", dependencies=[{"operation_id": "dep-2"}])),
         "VALIDATION", ("operations[0].dependencies", "itself"), 422),
    Case("add-dependency-bad-type", "dependency type 7 (0 or 1, finish_to_start or start_to_start)", "add",
         _add(_op("dep-3", dependencies=[{"operation_id": "queued-1", "type": 7}])),
         "VALIDATION", ("operations[0].dependencies[0].type",), 422),
    # --- queries
    Case("get-unknown-id", "get 'ghost'", "get", {"operation_id": "ghost"}, "NOT_FOUND", ("ghost",), 404),
    Case("events-unknown-id", "events of 'ghost'", "events", {"operation_id": "ghost"}, "NOT_FOUND", ("ghost",), 404),
    Case("get-id-too-long", "get an id of 200 characters (limit 128)", "get", {"operation_id": "x" * 200},
         "VALIDATION", ("operation_id", "128"), 422),
    Case("cancel-empty-id", "cancel ''", "cancel", {"operation_id": ""}, "VALIDATION", ("operation_id",), 422,
         not_expressible={"rest": "an empty id leaves an empty path segment: another URL (/operations//cancel is 404)"}),
    Case("list-unknown-state", "list with state filter 'DONE'", "list", {"state": "DONE"}, "VALIDATION", ("state",), 422),
    Case("history-limit-zero", "history limit 0 (range 1..1000)", "history", {"limit": 0}, "VALIDATION", ("limit",), 422,
         not_expressible={"ros": "GetHistory.limit 0 means the default (50)"}),
    Case("history-limit-too-big", "history limit 1001 (range 1..1000)", "history", {"limit": 1001},
         "VALIDATION", ("limit",), 422),
    Case("history-limit-wrong-type", "history limit 'ten'", "history", {"limit": "ten"}, "VALIDATION", ("limit",), 422),
    Case("history-limit-bool", "history limit true (no integer)", "history", {"limit": True}, "VALIDATION", ("limit",), 422),
    Case("event-log-after-negative", "event log after -1 (numbers start at 1; 0 = from the first)", "event_log",
         {"after": -1, "limit": 10}, "VALIDATION", ("after",), 422,
         not_expressible={"ros": "GetEventLog.after_sequence is a uint64 field"}),
    Case("event-log-after-wrong-type", "event log after 'ten'", "event_log", {"after": "ten", "limit": 10},
         "VALIDATION", ("after",), 422),
    Case("event-log-after-bool", "event log after true (no integer)", "event_log", {"after": True, "limit": 10},
         "VALIDATION", ("after",), 422),
    Case("event-log-limit-zero", "event log limit 0 (range 1..1000)", "event_log", {"after": 0, "limit": 0},
         "VALIDATION", ("limit",), 422, not_expressible={"ros": "GetEventLog.limit 0 means the default (100)"}),
    Case("event-log-limit-too-big", "event log limit 1001 (range 1..1000)", "event_log", {"after": 0, "limit": 1001},
         "VALIDATION", ("limit",), 422),
    Case("page-limit-zero", "a page of the listing, limit 0 (range 1..1000)", "page", {"limit": 0}, "VALIDATION", ("limit",), 422,
         not_expressible={"ros": "ListOperations.limit 0 means every operation (the seed's listing)"}),
    Case("page-limit-too-big", "a page of the listing, limit 1001 (range 1..1000)", "page", {"limit": 1001},
         "VALIDATION", ("limit",), 422),
    Case("page-limit-bool", "a page of the listing, limit true (no integer)", "page", {"limit": True}, "VALIDATION", ("limit",), 422),
    Case("page-cursor-garbage", "a page after the cursor 'not a cursor!'", "page", {"limit": 10, "cursor": "not a cursor!"},
         "VALIDATION", ("cursor", "next_cursor"), 400),
    Case("page-cursor-too-long", "a page after a cursor of 1025 characters (limit 1024)", "page",
         {"limit": 10, "cursor": "x" * 1025}, "VALIDATION", ("cursor",), 422),
    Case("page-cursor-other-listing", "a page of QUEUED after a cursor of the whole listing", "page",
         {"state": "QUEUED", "limit": 10, "cursor": _cursor([1, "all", "queue", None])},
         "VALIDATION", ("cursor", "belongs to the listing 'all'"), 400),
    # --- handshaken control and illegal transitions
    Case("cancel-unknown-id", "cancel 'ghost'", "cancel", {"operation_id": "ghost"}, "NOT_FOUND", ("ghost",), 404),
    Case("cancel-finished", "cancel done-1, already COMPLETED", "cancel", {"operation_id": "done-1"},
         "INVALID_STATE", ("done-1", "COMPLETED"), 409),
    Case("cancel-denied", "cancel queued-2; the business logic says no", "cancel", {"operation_id": "queued-2"},
         "DENIED", (DENY_CANCEL,), 409, events=("OPERATION_CANCEL_REQUESTED", "OPERATION_CANCEL_DENIED")),
    Case("cancel-reason-too-long", "cancel queued-1 with a reason of 2,000 characters (limit 1024)", "cancel",
         {"operation_id": "queued-1", "reason": "r" * 2000}, "VALIDATION", ("reason",), 422),
    Case("cancel-unknown-field", "cancel queued-1 with an extra field force: true (refused, not ignored)", "cancel",
         {"operation_id": "queued-1", "force": True}, "VALIDATION", ("force",), 422,
         not_expressible={"python": "an unknown keyword is Python's TypeError, before the core",
                          "ros": "OperationCommand has no field force"}),
    Case("pause-queued", "pause queued-1, which is not RUNNING", "pause_operation", {"operation_id": "queued-1"},
         "INVALID_STATE", ("queued-1", "QUEUED"), 409),
    Case("resume-running", "resume running-1, which is not PAUSED", "resume_operation", {"operation_id": "running-1"},
         "INVALID_STATE", ("running-1", "RUNNING"), 409),
    Case("pause-unknown-id", "pause 'ghost'", "pause_operation", {"operation_id": "ghost"}, "NOT_FOUND", ("ghost",), 404),
    Case("complete-queued", "the executor reports queued-1 complete", "complete", {"operation_id": "queued-1"},
         "INVALID_STATE", ("queued-1", "QUEUED"), 409,
         not_expressible={"rest": "executors report through Python or ROS", "mcp": "executors report through Python or ROS"}),
    Case("fail-finished", "the executor reports done-1 failed", "fail", {"operation_id": "done-1"},
         "INVALID_STATE", ("done-1", "COMPLETED"), 409,
         not_expressible={"rest": "executors report through Python or ROS", "mcp": "executors report through Python or ROS"}),
    Case("progress-out-of-range", "progress 1.5 for running-1 (range 0..1)", "report_progress",
         {"operation_id": "running-1", "progress": 1.5}, "VALIDATION", ("progress",), 422,
         not_expressible={"rest": "progress comes from the executor", "mcp": "progress comes from the executor",
                          "ros": "progress comes from the action's feedback, not a service"}),
    Case("pause-dispatcher-reason-too-long", "pause the dispatcher with a reason of 2,000 characters (limit 1024)",
         "pause_dispatcher", {"reason": "r" * 2000}, "VALIDATION", ("reason",), 422),
    Case("resume-dispatcher-not-paused", "resume the dispatcher, which is not paused", "resume_dispatcher", {},
         "INVALID_STATE", ("not paused",), 409),
]
CASES_BY_ID = {case.id: case for case in CASES}
assert len(CASES_BY_ID) == len(CASES), "case ids must be unique"


# ------------------------------------------------------------------ door adapters

class NotExpressible(Exception):
    """This door cannot carry this input; the message says why."""


def _check_listed(case: Case, door: str) -> None:
    if door in case.not_expressible:
        raise NotExpressible(case.not_expressible[door])


def _has_non_finite(value: Any) -> bool:
    pending = [value]  # a list, not recursion: some cases nest deeper than Python's stack
    while pending:
        item = pending.pop()
        if isinstance(item, float) and not math.isfinite(item):
            return True
        if isinstance(item, dict):
            pending.extend(item.values())
        elif isinstance(item, (list, tuple)):
            pending.extend(item)
    return False


def python_call(case: Case) -> tuple[str, tuple[Any, ...]]:
    """(method name of OperationDispatcher, positional args). Coroutine methods are awaited by the test."""
    _check_listed(case, "python")
    a = case.args
    calls: dict[str, tuple[str, tuple[Any, ...]]] = {
        "add": ("add", (a.get("operations"),)),
        "get": ("get", (a.get("operation_id"),)),
        "events": ("events", (a.get("operation_id"),)),
        "list": ("list_operations", (a.get("state"),)),
        "history": ("history", (a.get("limit"),)),
        "page": ("page_operations", (a.get("state"), a.get("limit"), a.get("cursor"))),
        "event_log": ("events_after", (a.get("after"), a.get("limit"))),
        "cancel": ("cancel", (a.get("operation_id"), a.get("reason"))),
        "pause_operation": ("pause_operation", (a.get("operation_id"), a.get("reason"))),
        "resume_operation": ("resume_operation", (a.get("operation_id"), a.get("reason"))),
        "complete": ("complete", (a.get("operation_id"),)),
        "fail": ("fail", (a.get("operation_id"),)),
        "report_progress": ("report_progress", (a.get("operation_id"), a.get("progress"))),
        "pause_dispatcher": ("pause", (a.get("reason"),)),
        "resume_dispatcher": ("resume", ()),
    }
    if case.action not in calls:
        raise NotExpressible(f"no Python call for {case.action}")
    return calls[case.action]


def rest_request(case: Case) -> tuple[str, str, dict[str, Any], bytes | None]:
    """(method, path, query params, JSON body bytes or None). NaN / Infinity go out as the JSON tokens
    Python's json module writes (what a sloppy client sends)."""
    _check_listed(case, "rest")
    a = case.args
    if case.action == "raw_body":
        return "POST", "/operations/add", {}, a["body"].encode()
    if case.action == "add":
        return "POST", "/operations/add", {}, json.dumps(a["operations"]).encode()
    if case.action in ("get", "events"):
        return "GET", f"/operations/{a['operation_id']}" + ("/events" if case.action == "events" else ""), {}, None
    if case.action == "list":
        return "GET", "/operations", {"state": a["state"]}, None
    if case.action == "history":
        return "GET", "/operations/history", {"limit": a["limit"]}, None
    if case.action == "event_log":
        return "GET", "/events/log", {"after": a["after"], "limit": a["limit"]}, None
    if case.action == "page":
        return "GET", "/operations", {k: a[k] for k in ("state", "limit", "cursor") if a.get(k) is not None}, None
    if case.action in ("cancel", "pause_operation", "resume_operation"):
        verb = case.action.removesuffix("_operation")
        fields = {k: v for k, v in a.items() if k != "operation_id" and v is not None}  # reason, or a field it has not
        body = json.dumps(fields).encode() if fields else None
        return "POST", f"/operations/{a['operation_id']}/{verb}", {}, body
    if case.action == "pause_dispatcher":
        return "POST", "/dispatcher/pause", {}, json.dumps({"reason": a["reason"]}).encode()
    if case.action == "resume_dispatcher":
        return "POST", "/dispatcher/resume", {}, None
    raise NotExpressible(f"no REST endpoint for {case.action}")


def mcp_call(case: Case) -> tuple[str, dict[str, Any]]:
    """(tool name, arguments) for the MCP door, or (``"raw"``, {"body": text}) for a raw JSON-RPC POST."""
    _check_listed(case, "mcp")
    a = case.args
    if case.action == "raw_body":
        return "raw", {"body": '{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": ' + a["body"]}
    if _has_non_finite(a):
        raise NotExpressible("JSON-RPC has no NaN or infinity (the SDK client sends null)")
    tools: dict[str, tuple[str, dict[str, Any]]] = {
        "add": ("add_operations", {"operations": a.get("operations")}),
        "get": ("get_operation", {"operation_id": a.get("operation_id")}),
        "events": ("get_operation_events", {"operation_id": a.get("operation_id")}),
        "list": ("list_operations", {"state": a.get("state")}),
        "history": ("get_history", {"limit": a.get("limit")}),
        "event_log": ("get_event_log", {"after": a.get("after"), "limit": a.get("limit")}),
        "page": ("list_operations", {k: a[k] for k in ("state", "limit", "cursor") if a.get(k) is not None}),
        "cancel": ("cancel_operation", dict(a)),  # every argument, a tool's unknown ones too
        "pause_operation": ("pause_operation", {k: v for k, v in a.items() if k in ("operation_id", "reason")}),
        "resume_operation": ("resume_operation", {k: v for k, v in a.items() if k in ("operation_id", "reason")}),
        "pause_dispatcher": ("pause_dispatcher", {"reason": a.get("reason")}),
        "resume_dispatcher": ("resume_dispatcher", {}),
    }
    if case.action not in tools:
        raise NotExpressible(f"no MCP tool for {case.action}")
    return tools[case.action]


# ROS: plain field values; the ROS test turns them into messages.
_INT32 = (-(2**31), 2**31 - 1)
_UINT16_MAX = 2**16 - 1
_DEPENDENCY_TYPES = {"finish_to_start": 0, "start_to_start": 1}


def _ros_time(value: Any, name: str) -> tuple[int, int]:
    if isinstance(value, dict) and set(value) == {"sec", "nanosec"}:  # a Time as it is (see _time)
        return value["sec"], value["nanosec"]
    if not isinstance(value, str):
        raise NotExpressible(f"{name} is a builtin_interfaces/Time")
    try:
        stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise NotExpressible(f"{name} is a builtin_interfaces/Time; {value!r} is no time") from None
    stamp = stamp if stamp.tzinfo else stamp.replace(tzinfo=timezone.utc)
    delta = stamp - datetime(1970, 1, 1, tzinfo=timezone.utc)
    sec = delta.days * 86400 + delta.seconds
    if not _INT32[0] <= sec <= _INT32[1]:
        raise NotExpressible(f"{name}: Time.sec is int32 (1901..2038)")
    return sec, delta.microseconds * 1000


def ros_operation_fields(op: Any) -> dict[str, Any]:
    """A door-neutral operation dict -> Operation.msg field values (Times as (sec, nanosec))."""
    if not isinstance(op, dict):
        raise NotExpressible("Operation.msg is typed")
    fields: dict[str, Any] = {}
    for key, value in op.items():
        if key in ("id", "resource_id"):
            if not isinstance(value, str):
                raise NotExpressible(f"{key} is a string field")
            fields[key] = value
        elif key == "payload":
            # A string is sent as the payload_json text itself (so broken JSON stays broken).
            fields["payload_json"] = value if isinstance(value, str) else json.dumps(value)
        elif key == "priority":
            if isinstance(value, bool) or not isinstance(value, int):
                raise NotExpressible("priority is an int32 field")
            if not _INT32[0] <= value <= _INT32[1]:
                raise NotExpressible("priority is int32")
            fields["priority"] = value
        elif key == "planned_duration":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise NotExpressible("planned_duration is a float64 field")
            fields["planned_duration"] = float(value)
        elif key in ("release_date", "due_date", "created_at"):
            fields[key] = _ros_time(value, key)
        elif key == "dependencies":
            deps = []
            for dep in value:
                kind = dep.get("type", "finish_to_start")
                kind = _DEPENDENCY_TYPES.get(kind, kind) if isinstance(kind, str) else kind
                if not isinstance(kind, int) or not 0 <= kind <= 255:
                    raise NotExpressible("Dependency.type is a uint8 constant")
                deps.append({"operation_id": dep["operation_id"], "type": kind})
            fields["dependencies"] = deps
        else:
            raise NotExpressible(f"Operation.msg has no field {key!r}")
    return fields


def ros_call(case: Case) -> tuple[str, str, dict[str, Any]]:
    """(srv type name, service name, request fields); operations as lists of field dicts."""
    _check_listed(case, "ros")
    a = case.args
    if case.action == "add":
        if not isinstance(a["operations"], list):
            raise NotExpressible("AddOperations.operations is a typed Operation[]")
        return "AddOperations", "add_operations", {"operations": [ros_operation_fields(op) for op in a["operations"]]}
    if case.action == "get":
        return "GetOperation", "get_operation", {"operation_id": a["operation_id"]}
    if case.action == "events":
        return "GetEvents", "get_events", {"operation_id": a["operation_id"]}
    if case.action == "list":
        return "ListOperations", "list_operations", {"state": a["state"]}
    if case.action == "page":
        limit = a["limit"]
        if isinstance(limit, bool) or not isinstance(limit, int) or not 0 <= limit <= _UINT16_MAX:
            raise NotExpressible("ListOperations.limit is a uint16 field")
        return "ListOperations", "list_operations", {"state": a.get("state") or "", "limit": limit, "cursor": a.get("cursor") or ""}
    if case.action == "history":
        limit = a["limit"]
        if isinstance(limit, bool) or not isinstance(limit, int) or not 0 <= limit <= _UINT16_MAX:
            raise NotExpressible("GetHistory.limit is a uint16 field")
        return "GetHistory", "get_history", {"limit": limit}
    if case.action == "event_log":
        fields = {"after_sequence": a["after"], "limit": a["limit"]}
        for name, value in fields.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise NotExpressible(f"GetEventLog.{name} is an unsigned integer field")
        if fields["limit"] > _UINT16_MAX:
            raise NotExpressible("GetEventLog.limit is a uint16 field")
        return "GetEventLog", "get_event_log", fields
    if case.action in ("cancel", "pause_operation", "resume_operation", "complete", "fail"):
        service = case.action if case.action.endswith("_operation") else f"{case.action}_operation"
        return "OperationCommand", service, {"operation_id": a["operation_id"], "reason": a.get("reason") or ""}
    if case.action == "pause_dispatcher":
        return "DispatcherCommand", "dispatcher/pause", {"reason": a["reason"]}
    if case.action == "resume_dispatcher":
        return "DispatcherCommand", "dispatcher/resume", {}
    raise NotExpressible(f"no ROS service for {case.action}")


def door_input(case: Case, door: str) -> Any:
    """The door's request for ``case``; raises NotExpressible."""
    return {"python": python_call, "ros": ros_call, "rest": rest_request, "mcp": mcp_call}[door](case)


def expressible(case: Case, door: str) -> bool:
    try:
        door_input(case, door)
    except NotExpressible:
        return False
    return True


def cases_for(door: str) -> list[Case]:
    return [case for case in CASES if expressible(case, door)]


# ------------------------------------------------------------------ the table

ROS_CODES = {"VALIDATION": 1, "NOT_FOUND": 2, "INVALID_STATE": 3, "DENIED": 4}


def _cell(case: Case, door: str) -> str:
    try:
        door_input(case, door)
    except NotExpressible as why:
        return f"n/a: {why}"
    if case.code == "ALREADY_PRESENT":
        answer = {"python": "AddResult added=False", "ros": "success, already_present=[true]",
                  "rest": "201, added: false", "mcp": "added: false"}[door]
    else:
        answer = {
            "python": _python_class(case.code),
            "ros": f"success=false, error_code {case.code} ({ROS_CODES[case.code]})",
            "rest": f"{case.rest_status} {case.code}",
            "mcp": f"tool error {case.code}",
        }[door]
        if door == "mcp" and case.action == "raw_body":  # refused by HTTP before JSON-RPC, or by its parser
            answer = f"HTTP 413 {case.code}" if case.rest_status == 413 else "JSON-RPC parse error -32700"
    if door in case.known_bugs:
        answer = f"**xfail** (known bug, see below); should be {answer}"
    return answer


def _python_class(code: str) -> str:
    return {"VALIDATION": "ValidationError", "NOT_FOUND": "NotFoundError", "INVALID_STATE": "InvalidStateError",
            "DENIED": "DeniedError"}.get(code, code)


def render_table() -> str:
    """docs/bad_input.md, generated from :data:`CASES` (tools/bad_input_table.py writes it)."""
    lines = [
        "# Bad input: the refusal matrix",
        "",
        "<!-- Generated by tools/bad_input_table.py from operation_dispatcher/test/bad_inputs.py; do not edit. -->",
        "",
        "Every case is sent through every door that can express it, against the same state",
        "(done-1 COMPLETED, running-1 RUNNING, queued-1 and queued-2 QUEUED). Each refusal must carry",
        "the core's error code and name the field (or id) in its message, and afterwards the queue, the",
        "history and the events must be unchanged: a full dump is compared before and after (a denial",
        "records its request and denial events, nothing else). The tests:",
        "`operation_dispatcher/test/test_bad_input_{python,rest,mcp}.py` and",
        "`operation_dispatcher_ros/test/test_bad_input_ros.py`.",
        "",
        "Door answers: Python raises the error class (its `.code` is the code); ROS answers",
        "`success=false` with the `error_code` constant and a message; REST answers the status with",
        '`{"error": {"code", "message", "details": {"field"}}}`; MCP returns a tool error whose text',
        "is the same JSON. *n/a* means the door cannot carry that input at all (a typed field).",
        "",
        "Bad values from peers are not here: a business logic's answer (its reason, its `data_json`), a",
        "robot's feedback or its answer to a cancel is no request a door answers with an error code, but",
        "something the dispatcher copes with while it works (a denial saying why, a value ignored, a",
        "cancel refused at once); docs/ros.md (Faults) and docs/business_logic.md say what it does.",
        "",
        "| case | input | code | message names | Python | ROS | REST | MCP |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for case in CASES:
        names = ", ".join(f"`{m}`" for m in case.mentions)
        cells = [_cell(case, door) for door in DOORS]
        lines.append(f"| `{case.id}` | {case.description} | {case.code} | {names} | " + " | ".join(cells) + " |")
    counts = {door: len(cases_for(door)) for door in DOORS}
    lines += [
        "",
        f"{len(CASES)} cases; per door: " + ", ".join(f"{door} {n}" for door, n in counts.items()) + ".",
        "",
        "## Known bugs (xfail, strict)",
        "",
    ]
    bugs = sorted({(bug, door) for case in CASES for door, bug in case.known_bugs.items()})
    by_bug: dict[str, list[str]] = {}
    for bug, door in bugs:
        by_bug.setdefault(bug, []).append(door)
    for bug, doors in by_bug.items():
        where = ", ".join(f"`{c.id}`" for c in CASES if any(c.known_bugs.get(d) == bug for d in doors))
        lines.append(f"- {bug} ({', '.join(doors)}; {where}).")
    if not by_bug:
        lines.append("None.")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ checks shared by the doors

def assert_unchanged(before: dict[str, Any], after: dict[str, Any], case: Case) -> None:
    """``after`` equals ``before``, except for the events ``case.events`` says a refusal records.

    A dump is ``{"operations": [...], "history": [...], "events": {key: [event dicts]}, ...}``;
    each event dict has an ``event_type``. The recorded events belong to the operation the case names.
    """
    if case.events:
        key = case.args["operation_id"]
        old, new = before["events"][key], after["events"][key]
        assert new[: len(old)] == old, f"{case.id}: earlier events of {key} changed"
        added = [e["event_type"] for e in new[len(old):]]
        assert added == list(case.events), f"{case.id}: expected the refusal to record {list(case.events)}, got {added}"
        after = {**after, "events": {**after["events"], key: old}}
    for part in before:
        assert after[part] == before[part], f"{case.id}: {part} changed by a refused request"
    assert set(after) == set(before)


def assert_message(case: Case, message: str) -> None:
    for word in case.mentions:
        assert word in message, f"{case.id}: {word!r} missing from the error message {message[:300]!r}"


def core_dump(dispatcher: Any) -> dict[str, Any]:
    """Everything a refusal could have changed, read through the core: every operation in list order,
    the history, every event (per operation, and the dispatcher's own), the snapshot without its stamp."""
    records = dispatcher.list_operations()
    events = {r.operation.id: [e.model_dump(mode="json") for e in dispatcher.events(r.operation.id)] for r in records}
    events[""] = [e.model_dump(mode="json") for e in dispatcher.events()]
    snapshot = dispatcher.snapshot().model_dump(mode="json")
    snapshot.pop("stamp")
    return {
        "operations": [r.model_dump(mode="json") for r in records],
        "history": [r.model_dump(mode="json") for r in dispatcher.history(1000)],
        "events": events,
        "snapshot": snapshot,
    }


def seed_core(dispatcher: Any, timeout: float = 5.0) -> None:
    """Make :data:`SEED` on a dispatcher whose loop runs (in another thread) and whose runner does nothing."""
    import time

    def wait_state(op_id: str, state: str) -> None:
        deadline = time.monotonic() + timeout
        while dispatcher.get(op_id).execution.state.value != state:
            assert time.monotonic() < deadline, f"seed: {op_id} did not become {state}"
            time.sleep(0.005)

    dispatcher.add(SEED["done-1"])
    wait_state("done-1", "RUNNING")
    dispatcher.complete("done-1", outcome="delivered")
    dispatcher.add(SEED["running-1"])
    wait_state("running-1", "RUNNING")
    dispatcher.add([SEED["queued-1"], SEED["queued-2"]])
    assert {op_id: dispatcher.get(op_id).execution.state.value for op_id in SEED} == SEED_STATES


def core_seed_intact(dispatcher: Any) -> bool:
    try:
        return {op_id: dispatcher.get(op_id).execution.state.value for op_id in SEED} == SEED_STATES and len(
            dispatcher.list_operations()
        ) == len(SEED)
    except Exception:
        return False
