"""FleetHistory on SQLite and on a real PostgreSQL server (conftest.py starts one).

Every main test runs on both backends; the last group records one fleet run
into both and compares them row for row and query for query.
"""

from __future__ import annotations

import itertools
import random
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from operation_dispatcher import DispatchEvent, EventType, StorageError, UnavailableError, ValidationError
from operation_dispatcher_fleet.history import LIMIT_MAX, STATE_EVENTS, FleetHistory

E = EventType
BASE = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)
_ids = itertools.count(1)

LIFECYCLE = (
    E.OPERATION_ADDED,
    E.OPERATION_START_REQUESTED,
    E.OPERATION_STARTED,
    E.OPERATION_PAUSE_REQUESTED,
    E.OPERATION_PAUSED,
    E.OPERATION_RESUME_REQUESTED,
    E.OPERATION_RESUMED,
)
ENDINGS = (E.OPERATION_COMPLETED, E.OPERATION_FAILED, E.OPERATION_CANCELLED)


def event(
    event_type: EventType,
    *,
    robot: str = "robot_1",
    operation_id: str | None = "op-1",
    at: datetime = BASE,
    sequence: int | None = None,
    metadata: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An event exactly as the gateway gets it from a robot: the core's model, dumped to JSON."""
    return DispatchEvent(
        id=f"ev-{next(_ids)}",
        event_type=event_type,
        resource_id=robot,
        operation_id=operation_id,
        execution_id=None if operation_id is None else f"{operation_id}-x1",
        created_at=at,
        metadata=metadata or {},
        sequence=sequence,
    ).model_dump(mode="json")


def robot_log(robot: str, operations: int, start: datetime, rng: random.Random) -> list[dict[str, Any]]:
    """A robot's event log: each operation from ADDED through pause and resume to an ending; times in mixed zones."""
    zones = [timezone.utc, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5, minutes=-30))]
    log: list[dict[str, Any]] = []
    at = start
    for number in range(operations):
        operation_id = f"{robot}-op{number}"
        for event_type in (*LIFECYCLE, ENDINGS[number % len(ENDINGS)]):
            at += timedelta(seconds=rng.randint(0, 3), microseconds=rng.randint(0, 999_999))
            metadata = {"step": len(log), "why": rng.choice(["ok", "é ✓", "a\x00b"]), "progress": rng.random()}
            log.append(event(event_type, robot=robot, operation_id=operation_id, at=at.astimezone(rng.choice(zones)), sequence=len(log) + 1, metadata=metadata))
    return log


def read_all(history: FleetHistory, limit: int = LIMIT_MAX, **filters: Any) -> list[dict[str, Any]]:
    """Every page of a query, put together; checks the cursor on the way."""
    events: list[dict[str, Any]] = []
    after = 0
    while True:
        page = history.query(after=after, limit=limit, **filters)
        assert len(page.events) <= limit
        events.extend(page.events)
        if page.next_after is None:
            return events
        assert len(page.events) == limit and page.next_after == page.events[-1]["row"]
        after = page.next_after


def ids(events: list[dict[str, Any]]) -> list[str]:
    return [item["id"] for item in events]


@pytest.fixture(params=["sqlite", "postgresql"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    """Where a store lives, as FleetHistory.open's arguments (SQLite in directories that do not exist yet)."""
    if request.param == "sqlite":
        return {"sqlite_path": tmp_path / "fleet" / "history" / "events.db"}
    return {"dsn": request.getfixturevalue("postgres_dsn")}


@pytest.fixture
def history(location: dict[str, Any]) -> Iterator[FleetHistory]:
    store = FleetHistory.open(**location)
    yield store
    store.close()


def test_open_creates_the_schema_and_a_reopened_store_keeps_its_rows(location: dict[str, Any]) -> None:
    first = FleetHistory.open(**location)
    assert first.backend == ("sqlite" if "sqlite_path" in location else "postgresql")
    assert first.rows() == []
    assert first.record("robot_1", [event(E.OPERATION_ADDED)]) == 1
    rows = first.rows()
    first.close()
    again = FleetHistory.open(**location)
    assert again.rows() == rows
    assert again.record("robot_1", [event(E.OPERATION_STARTED)]) == 1
    assert [row[2] for row in again.rows()] == ["OPERATION_ADDED", "OPERATION_STARTED"]
    again.close()


def test_record_is_idempotent(history: FleetHistory) -> None:
    log = [event(E.OPERATION_ADDED, sequence=1), event(E.OPERATION_STARTED, sequence=2), event(E.OPERATION_COMPLETED, sequence=3)]
    assert history.record("robot_1", log[:2]) == 2
    assert history.record("robot_1", log[:2]) == 0  # re-read after a gap
    assert history.record("robot_1", log) == 1  # a window overlapping what is stored
    assert history.record("robot_1", [log[0], log[0]]) == 0
    assert history.record("robot_1", []) == 0
    stored = history.rows()
    assert [(row[0], row[1]) for row in stored] == [("robot_1", item["id"]) for item in log]
    # The same event id from another robot is another event (ids are unique per robot, not per fleet).
    assert history.record("robot_2", [log[0], log[0]]) == 1
    assert history.rows()[:3] == stored
    assert history.rows()[3][:3] == ("robot_2", log[0]["id"], "OPERATION_ADDED")
    assert len(history.rows()) == 4
    assert [item["row"] for item in read_all(history)] == [1, 2, 3, 4]  # re-deliveries leave no gaps


def test_last_sequence_is_where_a_robots_event_log_resumes(history: FleetHistory) -> None:
    assert history.last_sequence("robot_1") == 0
    history.record("robot_1", [event(E.OPERATION_ADDED, sequence=1), event(E.OPERATION_STARTED, sequence=7)])
    history.record("robot_2", [event(E.OPERATION_ADDED, sequence=40)])
    assert (history.last_sequence("robot_1"), history.last_sequence("robot_2"), history.last_sequence("robot_3")) == (7, 40, 0)


def test_an_event_reads_back_as_recorded_in_utc(history: FleetHistory) -> None:
    at = datetime(2025, 3, 1, 14, 30, 5, 123456, tzinfo=timezone(timedelta(hours=2)))
    metadata = {"reason": "battery é ✓", "nul": "a\x00b", "nested": {"list": [1, 2.5, None, True]}, "big": 2**62}
    recorded = event(E.OPERATION_FAILED, at=at, sequence=7, metadata=metadata)
    no_operation = event(E.OPERATION_DISPATCHER_PAUSED, operation_id=None)
    history.record("robot_1", [recorded, no_operation])
    got, plain = history.query().events
    assert got == {**recorded, "created_at": "2025-03-01T12:30:05.123456+00:00", "robot": "robot_1", "row": got["row"]}
    assert got["metadata"] == metadata
    assert plain["operation_id"] is None and plain["execution_id"] is None and plain["sequence"] is None
    assert plain["created_at"] == "2025-03-01T12:00:00.000000+00:00"
    assert plain["row"] > got["row"]


def test_filters(history: FleetHistory) -> None:
    rng = random.Random(1)
    logs = {robot: robot_log(robot, 3, BASE, rng) for robot in ("robot_1", "robot_2")}
    for robot, log in logs.items():
        history.record(robot, log)
    everything = logs["robot_1"] + logs["robot_2"]
    assert ids(read_all(history)) == ids(everything)
    assert ids(read_all(history, robot="robot_2")) == ids(logs["robot_2"])
    assert read_all(history, robot="robot_9") == []
    assert ids(read_all(history, event_type="OPERATION_PAUSED")) == [
        item["id"] for item in everything if item["event_type"] == "OPERATION_PAUSED"
    ]
    assert ids(read_all(history, operation_id="robot_1-op2")) == [
        item["id"] for item in everything if item["operation_id"] == "robot_1-op2"
    ]
    assert ids(read_all(history, robot="robot_1", event_type=E.OPERATION_STARTED)) == [
        item["id"] for item in logs["robot_1"] if item["event_type"] == "OPERATION_STARTED"
    ]
    for state, types in STATE_EVENTS.items():
        expected = [item["id"] for item in everything if item["event_type"] in types]
        assert expected, state
        assert ids(read_all(history, state=state)) == expected, state
    assert len(read_all(history, state="RUNNING")) == 2 * len(read_all(history, state="QUEUED"))  # started and resumed
    # With event_type, state narrows further: both hold.
    assert read_all(history, state="RUNNING", event_type="OPERATION_RESUMED") == read_all(history, event_type="OPERATION_RESUMED")
    assert read_all(history, state="RUNNING", event_type="OPERATION_PAUSED") == []


def test_time_range_includes_since_and_excludes_until(history: FleetHistory) -> None:
    times = [BASE + timedelta(microseconds=step) for step in range(5)]
    log = [event(E.OPERATION_ADDED, operation_id=f"op-{n}", at=at.astimezone(timezone(timedelta(hours=9)))) for n, at in enumerate(times)]
    history.record("robot_1", log)
    assert ids(read_all(history, since=times[1], until=times[3])) == ids(log[1:3])
    assert ids(read_all(history, since=times[4])) == ids(log[4:])
    assert ids(read_all(history, until=times[1])) == ids(log[:1])
    assert read_all(history, since=times[2], until=times[2]) == []
    # The bounds in another zone mean the same instants.
    later = timezone(timedelta(hours=-7))
    assert ids(read_all(history, since=times[1].astimezone(later), until=times[3].astimezone(later))) == ids(log[1:3])


@pytest.mark.parametrize("limit", [1, 4, 7, 12, LIMIT_MAX])
def test_pages_put_together_are_every_event_once(history: FleetHistory, limit: int) -> None:
    rng = random.Random(2)
    logs = {robot: robot_log(robot, 2, BASE, rng) for robot in ("robot_1", "robot_2", "robot_3")}
    for position in range(16):  # interleaved, as robots report
        for robot, log in logs.items():
            history.record(robot, log[position : position + 1])
    everything = read_all(history, limit=LIMIT_MAX)
    assert len(everything) == 48
    paged = read_all(history, limit=limit)
    assert paged == everything
    assert len({item["row"] for item in paged}) == 48
    assert ids(read_all(history, limit=limit, robot="robot_3")) == ids(logs["robot_3"])
    last = history.query(after=everything[-1]["row"], limit=limit)
    assert last.events == [] and last.next_after is None
    page = history.query(limit=12)  # exactly the rest: a full page that is the last
    assert history.query(after=everything[-13]["row"], limit=12).next_after is None
    assert page.next_after == everything[11]["row"]


@pytest.mark.parametrize(
    ("filters", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": LIMIT_MAX + 1}, "limit"),
        ({"limit": True}, "limit"),
        ({"limit": "10"}, "limit"),
        ({"after": -1}, "after"),
        ({"after": 2**63}, "after"),
        ({"after": 1.5}, "after"),
        ({"event_type": "OPERATION_EXPLODED"}, "event_type"),
        ({"event_type": "operation_added"}, "event_type"),
        ({"state": "DONE"}, "state"),
        ({"state": 3}, "state"),
        ({"robot": ""}, "robot"),
        ({"robot": 1}, "robot"),
        ({"operation_id": "a\x00b"}, "operation_id"),
        ({"since": datetime(2025, 1, 1)}, "since"),
        ({"since": "2025-01-01T00:00:00Z"}, "since"),
        ({"until": datetime(2025, 1, 1)}, "until"),
        ({"since": BASE, "until": BASE - timedelta(microseconds=1)}, "until"),
    ],
)
def test_a_bad_query_is_refused_naming_the_field(history: FleetHistory, filters: dict[str, Any], field: str) -> None:
    history.record("robot_1", [event(E.OPERATION_ADDED)])
    before = history.rows()
    with pytest.raises(ValidationError) as refused:
        history.query(**filters)
    assert refused.value.field == field
    assert field in refused.value.message
    assert history.rows() == before


def _without(key: str) -> dict[str, Any]:
    bad = event(E.OPERATION_ADDED)
    del bad[key]
    return bad


@pytest.mark.parametrize(
    ("robot", "bad", "field"),
    [
        ("", event(E.OPERATION_ADDED), "robot"),
        ("r" * 129, event(E.OPERATION_ADDED), "robot"),
        ("robot\x00", event(E.OPERATION_ADDED), "robot"),
        (None, event(E.OPERATION_ADDED), "robot"),
        ("robot_1", _without("id"), "events[1].id"),
        ("robot_1", {**event(E.OPERATION_ADDED), "event_type": "OPERATION_EXPLODED"}, "events[1].event_type"),
        ("robot_1", {**event(E.OPERATION_ADDED), "created_at": "2025-03-01T12:00:00"}, "events[1].created_at"),
        ("robot_1", {**event(E.OPERATION_ADDED), "created_at": "yesterday"}, "events[1].created_at"),
        ("robot_1", {**event(E.OPERATION_ADDED), "created_at": "0001-01-01T00:00:00+01:00"}, "events[1].created_at"),
        ("robot_1", {**event(E.OPERATION_ADDED), "sequence": 2**63}, "events[1].sequence"),
        ("robot_1", {**event(E.OPERATION_ADDED), "sequence": -1}, "events[1].sequence"),
        ("robot_1", {**event(E.OPERATION_ADDED), "operation_id": "op\x00"}, "events[1].operation_id"),
        ("robot_1", {**event(E.OPERATION_ADDED), "id": "\ud800"}, "events[1].id"),
        ("robot_1", {**event(E.OPERATION_ADDED), "robot": "robot_1"}, "events[1].robot"),
        ("robot_1", "OPERATION_ADDED", "events[1]"),
    ],
)
def test_a_bad_batch_is_refused_whole_naming_the_field(history: FleetHistory, robot: Any, bad: Any, field: str) -> None:
    history.record("robot_1", [event(E.OPERATION_ADDED)])
    before = history.rows()
    with pytest.raises(ValidationError) as refused:
        history.record(robot, [event(E.OPERATION_STARTED), bad, event(E.OPERATION_COMPLETED)])
    assert refused.value.field == field
    assert history.rows() == before


@pytest.mark.parametrize("events", [None, "not events", event(E.OPERATION_ADDED)])
def test_events_that_are_not_a_list_are_refused(history: FleetHistory, events: Any) -> None:
    with pytest.raises(ValidationError) as refused:
        history.record("robot_1", events)
    assert refused.value.field == "events"
    assert history.rows() == []


def test_a_closed_store_refuses_calls(history: FleetHistory) -> None:
    history.close()
    with pytest.raises(UnavailableError):
        history.query()
    history.close()  # twice is fine


def test_readers_never_see_half_a_batch(history: FleetHistory) -> None:
    """The gateway records from one thread while HTTP workers query: each reader sees whole batches, in order."""
    batches = [[event(E.OPERATION_ADDED, operation_id=f"op-{n}-{k}") for k in range(5)] for n in range(30)]
    done = threading.Event()

    def write() -> None:
        try:
            for batch in batches:
                assert history.record("robot_1", batch) == 5
        finally:
            done.set()

    def read() -> int:
        seen = 0
        while True:
            finished = done.is_set()
            events = history.query(limit=LIMIT_MAX).events
            assert len(events) % 5 == 0 and len(events) >= seen
            assert ids(events) == [item["id"] for batch in batches for item in batch][: len(events)]
            seen = len(events)
            if finished:
                return seen

    with ThreadPoolExecutor(4) as pool:
        readers = [pool.submit(read) for _ in range(3)]
        pool.submit(write).result()
        assert [reader.result() for reader in readers] == [150, 150, 150]


def test_open_needs_a_location() -> None:
    with pytest.raises(ValidationError) as refused:
        FleetHistory.open()
    assert refused.value.field == "sqlite_path"


def test_an_sqlite_file_that_cannot_be_opened_is_a_storage_error(tmp_path: Path) -> None:
    with pytest.raises(StorageError) as failed:
        FleetHistory.open(sqlite_path=tmp_path)  # a directory
    assert failed.value.cause


def test_sqlite_in_memory() -> None:
    history = FleetHistory.open(sqlite_path=":memory:")
    assert history.record("robot_1", [event(E.OPERATION_ADDED)]) == 1
    assert len(history.rows()) == 1
    history.close()


def test_postgresql_over_its_unix_socket(postgres_server: Any, postgres_dsn: str) -> None:
    dbname = postgres_dsn.rsplit("/", 1)[1]
    by_url = FleetHistory.open(dsn=postgres_dsn)
    by_socket = FleetHistory.open(dsn=postgres_server.socket_dsn(dbname))
    assert by_url.record("robot_1", [event(E.OPERATION_ADDED)]) == 1
    assert by_socket.rows() == by_url.rows() != []
    by_url.close()
    by_socket.close()


def test_a_lost_postgresql_connection_fails_one_call_and_is_opened_again(postgres_dsn: str) -> None:
    import psycopg

    history = FleetHistory.open(dsn=postgres_dsn)
    history.record("robot_1", [event(E.OPERATION_ADDED)])
    with psycopg.connect(postgres_dsn, autocommit=True) as admin:
        ended = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
        ).fetchall()
    assert ended == [(True,)]
    with pytest.raises(StorageError):
        history.record("robot_1", [event(E.OPERATION_STARTED)])
    assert history.record("robot_1", [event(E.OPERATION_COMPLETED)]) == 1
    assert [row[2] for row in history.rows()] == ["OPERATION_ADDED", "OPERATION_COMPLETED"]
    history.close()


def fleet_run(seed: int) -> list[tuple[str, list[dict[str, Any]]]]:
    """What a gateway receives from three robots: interleaved chunks of their logs, overlapping windows, a full re-read."""
    rng = random.Random(seed)
    logs = {robot: robot_log(robot, 4, BASE + timedelta(seconds=offset), rng) for offset, robot in enumerate(("robot_1", "robot_2", "robot_3"))}
    read = dict.fromkeys(logs, 0)
    deliveries: list[tuple[str, list[dict[str, Any]]]] = []
    while any(read[robot] < len(log) for robot, log in logs.items()):
        robot = rng.choice([robot for robot, log in logs.items() if read[robot] < len(log)])
        start = max(0, read[robot] - rng.choice([0, 0, 2]))  # sometimes re-read the last two (a gap)
        end = min(len(logs[robot]), read[robot] + rng.randint(1, 6))
        deliveries.append((robot, logs[robot][start:end]))
        read[robot] = end
    deliveries.append(("robot_2", logs["robot_2"]))  # robot_2's gateway link restarted: its whole log again
    return deliveries


def test_the_same_fleet_run_leaves_the_same_rows_in_sqlite_and_postgresql(tmp_path: Path, postgres_dsn: str) -> None:
    deliveries = fleet_run(seed=14)
    sqlite = FleetHistory.open(sqlite_path=tmp_path / "history.db")
    postgresql = FleetHistory.open(dsn=postgres_dsn)
    counts = {store.backend: [store.record(robot, events) for robot, events in deliveries] for store in (sqlite, postgresql)}
    assert counts["sqlite"] == counts["postgresql"]
    assert sum(counts["sqlite"]) == len({(robot, item["id"]) for robot, events in deliveries for item in events}) == 96
    assert sqlite.rows() == postgresql.rows()
    assert len(sqlite.rows()) == 96
    times = sorted(row[4] for row in sqlite.rows())
    since, until = datetime.fromisoformat(times[20]), datetime.fromisoformat(times[70])
    queries: list[dict[str, Any]] = [
        {},
        {"robot": "robot_2"},
        {"event_type": "OPERATION_RESUMED"},
        {"operation_id": "robot_3-op1"},
        {"since": since},
        {"until": until},
        {"since": since, "until": until, "robot": "robot_1"},
        {"since": since + timedelta(microseconds=1)},
        *({"state": state} for state in STATE_EVENTS),
        {"state": "RUNNING", "robot": "robot_3"},
    ]
    for filters in queries:
        for limit in (5, LIMIT_MAX):
            answers = [read_all(store, limit=limit, **filters) for store in (sqlite, postgresql)]
            assert answers[0] == answers[1], filters
            assert answers[0], filters
    assert len(read_all(sqlite, since=since, until=until)) == 50
    sqlite.close()
    postgresql.close()
