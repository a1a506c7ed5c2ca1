"""Paged listings at the REST and MCP doors (issue 13): the core's pages, carried as each door carries them.

A real uvicorn server on loopback, the MCP SDK's own client over streamable
HTTP. REST keeps the seed's body (a list) and says where to read on in
headers (``X-Next-Cursor``, ``Link``, ``X-Total-Count``); a plain
``GET /operations`` still lists everything. A reader pages through the queue
while another thread adds operations and the loop starts and finishes
others (at MCP, between the pages): every operation that stays queued throughout
is on exactly one page.
"""

from __future__ import annotations

import threading

import doors_testing
from doors_testing import op, wait_until
from mcp import Client
from test_mcp_server import structured, tool_error

start_server = doors_testing.start_server  # the fixture, shared by the door tests


def test_rest_pages_of_the_queue_see_each_operation_that_stays_once_while_work_goes_on(start_server) -> None:  # type: ignore[no-untyped-def]
    live = start_server()
    d = live.dispatcher
    d.pause("hold the queue while it fills")
    d.add([op(f"op-{i:03d}", priority=i % 3) for i in range(300)])
    low = {f"op-{i:03d}" for i in range(300) if i % 3 == 0}  # at the back: they stay queued throughout
    stop = threading.Event()

    def come_and_go() -> None:  # adds at every priority; the loop starts and finishes from the front
        n = 0
        while not stop.is_set() and n < 200:
            d.add(op(f"new-{n:03d}", priority=n % 3))
            current = d.current()
            if current is not None:
                d.complete(current.operation.id)
            n += 1

    with live.client() as http:
        everything = http.get("/operations")
        assert everything.status_code == 200 and len(everything.json()) == 300  # the seed's listing, whole
        assert "X-Next-Cursor" not in everything.headers
        d.resume()
        worker = threading.Thread(target=come_and_go)
        worker.start()
        seen, cursor, pages = [], None, 0
        try:
            while True:
                params = {"state": "QUEUED", "limit": 17, **({"cursor": cursor} if cursor else {})}
                page = http.get("/operations", params=params)
                assert page.status_code == 200, page.text
                body = page.json()
                assert len(body) <= 17 and int(page.headers["X-Total-Count"]) >= 0
                assert all(r["execution"]["state"] == "QUEUED" for r in body)
                seen += [r["operation"]["id"] for r in body]
                pages += 1
                cursor = page.headers.get("X-Next-Cursor")
                if cursor is None:
                    assert "Link" not in page.headers
                    break
                link = page.headers["Link"]
                assert link.endswith('>; rel="next"') and "limit=17" in link and "state=QUEUED" in link
        finally:
            stop.set()
            worker.join(30)
    assert pages > 10
    assert len(seen) == len(set(seen)), "an operation is on two pages"
    assert low <= set(seen), sorted(low - set(seen))[:5]


def test_rest_history_pages_and_refusals_name_the_field(start_server) -> None:  # type: ignore[no-untyped-def]
    live = start_server()
    d = live.dispatcher
    for i in range(7):
        d.add(op(f"op-{i}"))
        wait_until(lambda i=i: d.get(f"op-{i}").execution.state.value == "RUNNING", what=f"op-{i} to start")
        d.complete(f"op-{i}")
    with live.client() as http:
        first = http.get("/operations/history", params={"limit": 4})
        assert [r["operation"]["id"] for r in first.json()] == ["op-6", "op-5", "op-4", "op-3"]
        assert first.headers["X-Total-Count"] == "7"
        rest = http.get("/operations/history", params={"limit": 4, "cursor": first.headers["X-Next-Cursor"]})
        assert [r["operation"]["id"] for r in rest.json()] == ["op-2", "op-1", "op-0"] and "X-Next-Cursor" not in rest.headers
        d.pause("hold")
        d.add([op(f"q-{i}") for i in range(3)])
        queued_cursor = http.get("/operations", params={"state": "QUEUED", "limit": 1}).headers["X-Next-Cursor"]
        # 422: the query does not fit the schema; 400: it fits, but the core refuses it (as for a body)
        for path, params, field, status in (
            ("/operations", {"limit": 0}, "limit", 422),
            ("/operations", {"limit": 1001}, "limit", 422),
            ("/operations", {"limit": "ten"}, "limit", 422),
            ("/operations", {"cursor": "x" * 1025}, "cursor", 422),
            ("/operations", {"cursor": "garbage!"}, "cursor", 400),
            ("/operations", {"state": "COMPLETED", "cursor": queued_cursor}, "cursor", 400),
            ("/operations/history", {"cursor": queued_cursor}, "cursor", 400),
        ):
            refused = http.get(path, params=params)
            assert refused.status_code == status, (path, params, refused.text)
            assert refused.json()["error"]["details"]["field"] == field, refused.json()


async def test_mcp_pages_of_the_queue_see_each_operation_that_stays_once_while_work_goes_on(start_server) -> None:  # type: ignore[no-untyped-def]
    """The REST test's reader, as an agent pages: between two pages, three adds at every
    priority and the running operation finished, so the line moves under the cursor."""
    live = start_server()
    d = live.dispatcher
    d.pause("hold the queue while it fills")
    d.add([op(f"op-{i:03d}", priority=i % 3) for i in range(120)])
    low = {f"op-{i:03d}" for i in range(120) if i % 3 == 0}  # at the back: they stay queued throughout
    d.resume()
    seen, cursor, added = [], None, 0
    async with Client(f"{live.url}/mcp", read_timeout_seconds=20) as client:
        while True:
            arguments = {"state": "QUEUED", "limit": 13, **({"cursor": cursor} if cursor else {})}
            page = structured(await client.call_tool("list_operations", arguments))
            assert all(r["execution"]["state"] == "QUEUED" for r in page["operations"])
            seen += [r["operation"]["id"] for r in page["operations"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
            for _ in range(3):
                d.add(op(f"new-{added:03d}", priority=added % 3))
                added += 1
            current = d.current()
            if current is not None:
                d.complete(current.operation.id)
    assert added > 20
    assert len(seen) == len(set(seen)), "an operation is on two pages"
    assert low <= set(seen), sorted(low - set(seen))[:5]


async def test_mcp_lists_a_page_of_50_with_a_summary_of_every_state(start_server) -> None:  # type: ignore[no-untyped-def]
    live = start_server(run_dispatcher=False)
    live.dispatcher.add([op(f"op-{i:03d}") for i in range(120)])
    async with Client(f"{live.url}/mcp", read_timeout_seconds=20) as client:
        page = structured(await client.call_tool("list_operations", {}))
        assert len(page["operations"]) == 50 and page["total"] == 120 and page["counts"]["QUEUED"] == 120
        assert page["summary"] == "120 QUEUED. This page: 50 of 120 operations; more with cursor=next_cursor."
        seen = [r["operation"]["id"] for r in page["operations"]]
        while page["next_cursor"]:
            page = structured(await client.call_tool("list_operations", {"limit": 50, "cursor": page["next_cursor"]}))
            seen += [r["operation"]["id"] for r in page["operations"]]
        assert seen == [f"op-{i:03d}" for i in range(120)]
        assert page["summary"].endswith("This page: 20 of 120 operations.")
        queued = structured(await client.call_tool("list_operations", {"state": "QUEUED", "limit": 5}))
        assert queued["summary"] == "120 QUEUED. This page: 5 of 120 QUEUED; more with cursor=next_cursor."
        for bad, field in (({"limit": 0}, "limit"), ({"limit": True}, "limit"), ({"cursor": "nope"}, "cursor"), ({"cursor": ""}, "cursor")):
            refused = tool_error(await client.call_tool("list_operations", bad))
            assert refused["code"] == "VALIDATION" and refused["details"]["field"] == field, (bad, refused)
