"""8 REST clients add 1,000 operations each at once: exactly 8,000, ids unique,
nothing dropped, every add answered, the queue in order.

A real uvicorn server on loopback with the dispatcher loop running; eight
threads, each with its own httpx client, mix single adds and batches.
Priorities come from a small set so that ties are common: the queue must
then go by created_at, then insertion order (``execution.sequence``).
"""

from __future__ import annotations

import random
import threading
import time
from datetime import datetime

import httpx
from doors_testing import LiveServer, make_dispatcher, op, wait_until

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
