"""Many REST clients at once against a real uvicorn server on loopback.

8 clients add 1,000 operations each at once: exactly 8,000, ids unique,
nothing dropped, every add answered, the queue in order. Eight threads,
each with its own httpx client, mix single adds and batches. Priorities
come from a small set so that ties are common: the queue must then go by
created_at, then insertion order (``execution.sequence``).

50 starts at once, then 50 stops at once: every start that answers 200
has seen the loop run, every such stop has seen it stop, and one loop ran.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from datetime import datetime

import httpx
from doors_testing import LiveServer, make_dispatcher, op, wait_until

from operation_dispatcher import EventType

CLIENTS = 8
PER_CLIENT = 1000
BATCHES = (1, 1, 1, 1, 5, 20, 50)  # chunk sizes a client cycles through


def chunks(client: int) -> list[list[dict[str, object]]]:
    rng = random.Random(client)
    ops = [op(f"c{client}-{i:04d}", priority=rng.randrange(5)) for i in range(PER_CLIENT)]
    out, i = [], 0
    for size in BATCHES * PER_CLIENT:
        if i >= len(ops):
            break
        out.append(ops[i : i + size])
        i += size
    return out


def test_eight_clients_add_one_thousand_each_at_once() -> None:
    live = LiveServer(make_dispatcher()).start()
    try:
        answered: dict[int, list[dict[str, object]]] = {c: [] for c in range(CLIENTS)}
        errors: list[str] = []
        go = threading.Barrier(CLIENTS)

        def client(c: int) -> None:
            try:
                with httpx.Client(base_url=live.url, timeout=30) as http:
                    go.wait(10)
                    for chunk in chunks(c):
                        r = http.post("/operations/add", json=chunk)
                        if r.status_code != 201:
                            errors.append(f"client {c}: {r.status_code} {r.text[:200]}")
                            return
                        answered[c].extend(r.json())
            except Exception as exc:
                errors.append(f"client {c}: {exc!r}")

        started = time.monotonic()
        threads = [threading.Thread(target=client, args=(c,), name=f"rest-client-{c}") for c in range(CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not any(t.is_alive() for t in threads), "a client did not finish within 60 s"
        elapsed = time.monotonic() - started
        assert not errors, errors[:5]

        for c in range(CLIENTS):  # every add answered, in order, all added
            assert [a["operation_id"] for a in answered[c]] == [f"c{c}-{i:04d}" for i in range(PER_CLIENT)]
            assert all(a["added"] is True for a in answered[c])

        # The runner does nothing: the first operation the loop took stays RUNNING, the rest queue.
        wait_until(lambda: live.dispatcher.current() is not None, 10, "one operation to start")
        with httpx.Client(base_url=live.url, timeout=30) as http:
            records = http.get("/operations").json()
            queued = http.get("/operations", params={"state": "QUEUED"}).json()
        ids = [r["operation"]["id"] for r in records]
        assert len(ids) == CLIENTS * PER_CLIENT and len(set(ids)) == len(ids)
        assert set(ids) == {f"c{c}-{i:04d}" for c in range(CLIENTS) for i in range(PER_CLIENT)}
        assert len(queued) == CLIENTS * PER_CLIENT - 1

        def key(r: dict[str, dict[str, object]]) -> tuple[object, ...]:
            created = datetime.fromisoformat(str(r["operation"]["created_at"]).replace("Z", "+00:00"))
            return (-int(r["operation"]["priority"]), created, int(r["execution"]["sequence"]))  # type: ignore[call-overload]

        assert [key(r) for r in queued] == sorted(key(r) for r in queued), "queue out of order"
        sequences = [r["execution"]["sequence"] for r in records]
        assert len(set(sequences)) == len(sequences)
        print(f"\n{CLIENTS} REST clients x {PER_CLIENT} operations: {elapsed:.2f} s")
    finally:
        live.stop()


async def post_at_once(url: str, paths: list[str]) -> list[httpx.Response]:
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=httpx.Limits(max_connections=len(paths))) as http:
        return list(await asyncio.gather(*(http.post(path) for path in paths)))


def assert_one_loop_at_a_time(events: list[EventType]) -> None:
    """The dispatcher's own events: STARTED and STOPPED strictly alternate (never two loops)."""
    expected = [EventType.OPERATION_DISPATCHER_STARTED, EventType.OPERATION_DISPATCHER_STOPPED] * len(events)
    assert events == expected[: len(events)], events


def test_fifty_starts_then_fifty_stops_at_once_each_answer_what_it_did() -> None:
    live = LiveServer(make_dispatcher(), run_dispatcher=False).start()
    try:
        starts = asyncio.run(post_at_once(live.url, ["/dispatcher/start"] * 50))
        assert [r.status_code for r in starts] == [200] * 50, [r.text for r in starts if r.status_code != 200][:3]
        assert {r.json()["status"] for r in starts} <= {"RUNNING", "PAUSED"}
        assert all(r.json()["running"] for r in starts)
        assert live.dispatcher.running

        stops = asyncio.run(post_at_once(live.url, ["/dispatcher/stop"] * 50))
        assert [r.status_code for r in stops] == [200] * 50, [r.text for r in stops if r.status_code != 200][:3]
        assert {r.json()["status"] for r in stops} == {"STOPPED"}
        assert not live.dispatcher.running

        events = [e.event_type for e in live.dispatcher.events()]
        assert events == [EventType.OPERATION_DISPATCHER_STARTED, EventType.OPERATION_DISPATCHER_STOPPED], events  # one loop ran
    finally:
        live.stop()


def test_starts_and_stops_mixed_at_once_each_answer_what_it_did() -> None:
    live = LiveServer(make_dispatcher(), run_dispatcher=False).start()
    try:
        paths = ["/dispatcher/start", "/dispatcher/stop"] * 38
        random.Random(7).shuffle(paths)
        answers = asyncio.run(post_at_once(live.url, paths))
        assert [r.status_code for r in answers] == [200] * len(paths), [r.text for r in answers if r.status_code != 200][:3]
        wrong = [(path, r.json()["status"]) for path, r in zip(paths, answers, strict=True)
                 if r.json()["status"] not in (("RUNNING", "PAUSED") if path.endswith("start") else ("STOPPED",))]
        assert not wrong, f"{len(wrong)} of {len(paths)} answered the other state: {wrong[:5]}"
        assert_one_loop_at_a_time([e.event_type for e in live.dispatcher.events()])
    finally:
        live.stop()
