"""SQLiteStore under real faults: a write that fails says why and changes nothing.

The faults are real, on real SQLite files: a full disk (a small tmpfs filled
to the last page, when this machine lets the test mount one, and SQLite's own
page limit, which is the same SQLITE_FULL path and runs anywhere), a file
locked by another connection past ``busy_timeout``, and a change that cannot
be encoded. Each time: StorageError naming the file, SQLite's message as its
cause, the file's content exactly as before, and the next write succeeding
once the cause is gone, on the same connection.
"""

from __future__ import annotations

import errno
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from operation_dispatcher import (
    DispatchEvent,
    EventType,
    Operation,
    OperationExecution,
    SQLiteStore,
    StorageError,
)

RESOURCE = "robot-1"


def change(store: SQLiteStore, op: Operation, **kw) -> None:
    """What the dispatcher writes for an add: the operation, its execution and its event, in one call."""
    store.write(
        operations=[op],
        executions=[OperationExecution(operation_id=op.id)],
        events=[DispatchEvent(id=f"ev-{op.id}", event_type=EventType.OPERATION_ADDED, resource_id=RESOURCE, operation_id=op.id)],
        **kw,
    )


def op(name: str, **payload) -> Operation:
    return Operation(id=name, resource_id=RESOURCE, payload=payload)


def content(path: Path) -> list[str]:
    """Everything in the file (database and WAL), read through a connection of its own."""
    conn = sqlite3.connect(path)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


@dataclass
class FullDisk:
    store: SQLiteStore
    fill: Callable[[], None]
    free: Callable[[], None]


def _tmpfs(tmp_path: Path) -> Iterator[FullDisk]:
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount_point)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()} (the page-limit case covers SQLITE_FULL)")
    filler = mount_point / "filler"

    def fill() -> None:
        with open(filler, "wb", buffering=0) as f:
            try:
                while True:
                    f.write(b"\0" * 4096)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC

    store = SQLiteStore(mount_point / "d.db")
    try:
        yield FullDisk(store, fill, filler.unlink)
    finally:
        store.close()
        subprocess.run(["umount", "-l", str(mount_point)], check=True)


def _page_limit(tmp_path: Path) -> Iterator[FullDisk]:
    """SQLite's max_page_count, set on the store's own connection (per connection, so only there)."""
    store = SQLiteStore(tmp_path / "d.db")

    def limit(pages: int | None) -> None:
        conn = store._conn  # the test's hook: the limit exists only on the connection that writes
        conn.execute(f"PRAGMA max_page_count={pages or conn.execute('PRAGMA page_count').fetchone()[0]}")

    try:
        yield FullDisk(store, lambda: limit(None), lambda: limit(2**30))
    finally:
        store.close()


@pytest.fixture(params=[_tmpfs, _page_limit], ids=["tmpfs", "page-limit"])
def full_disk(request, tmp_path) -> Iterator[FullDisk]:
    yield from request.param(tmp_path)


def test_a_full_disk_fails_the_write_honestly_and_the_next_one_succeeds(full_disk):
    store = full_disk.store
    path = Path(store.path)
    change(store, op("before"))
    before = content(path)
    full_disk.fill()
    with pytest.raises(StorageError) as refused:
        change(store, op("big", text="x" * 20_000), paused=(True, "shift change"))
    assert refused.value.cause == "database or disk is full"
    assert str(path) in refused.value.message and "database or disk is full" in refused.value.message
    assert refused.value.to_dict()["code"] == "STORAGE"
    assert content(path) == before
    full_disk.free()
    change(store, op("big", text="x" * 20_000), paused=(True, "shift change"))
    loaded = store.load(RESOURCE)
    assert [r.operation.id for r in loaded.records] == ["before", "big"]
    assert [e.operation_id for e in loaded.events] == ["before", "big"]
    assert loaded.paused and loaded.paused_reason == "shift change"


def test_a_file_locked_past_busy_timeout_fails_the_write_and_it_succeeds_once_released(tmp_path):
    path = tmp_path / "d.db"
    store = SQLiteStore(path, busy_timeout=0.3)
    change(store, op("before"))
    before = content(path)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another writer holds the file's write lock
    try:
        started = time.monotonic()
        with pytest.raises(StorageError) as refused:
            change(store, op("next"))
        waited = time.monotonic() - started
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert refused.value.cause == "database is locked"
    assert str(path) in refused.value.message
    assert 0.3 <= waited < 3.0  # it waited busy_timeout, not the 5 s default
    assert content(path) == before
    change(store, op("next"))
    assert [r.operation.id for r in store.load(RESOURCE).records] == ["before", "next"]
    store.close()


def _deep(depth: int) -> object:
    value: object = 1
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("payload", "cause"),
    [({"x": _deep(300)}, "depth"), ({"x": "\ud800"}, "surrogates not allowed")],
    ids=["nested-300-deep", "lone-surrogate"],
)
def test_a_change_that_cannot_be_encoded_is_a_storage_error_and_writes_nothing(tmp_path, payload, cause):
    path = tmp_path / "d.db"
    store = SQLiteStore(path)
    change(store, op("before"))
    before = content(path)
    # built past validation: whatever the doors accept, the store must never raise a raw encoder error
    unencodable = Operation.model_construct(id="odd", resource_id=RESOURCE, payload=payload)
    with pytest.raises(StorageError, match=str(path)) as refused:
        change(store, unencodable)
    assert cause in (refused.value.cause or "")
    assert content(path) == before
    change(store, op("after"))
    assert [r.operation.id for r in store.load(RESOURCE).records] == ["before", "after"]
    store.close()


def test_a_failure_inside_the_transaction_rolls_back_what_it_had_written(tmp_path):
    """The event row is inserted, then the pause reason cannot be bound: neither stays."""
    path = tmp_path / "d.db"
    store = SQLiteStore(path)
    change(store, op("before"))
    before = content(path)
    with pytest.raises(StorageError, match="surrogates not allowed"):
        change(store, op("next"), paused=(True, "\ud800"))
    assert content(path) == before
    change(store, op("next"), paused=(True, "ok"))
    assert store.load(RESOURCE).paused_reason == "ok"
    store.close()


def test_a_row_that_no_longer_parses_is_skipped_by_load_and_left_in_the_file(tmp_path):
    """Row by row: the others load, the bad one is reported with why (test_recovery_bad_rows.py has the dispatcher's side)."""
    path = tmp_path / "d.db"
    store = SQLiteStore(path)
    change(store, op("a"))
    change(store, op("b"))
    other = sqlite3.connect(path)
    with other:
        other.execute("UPDATE operations SET body = '{\"id\": 5' WHERE id = 'a'")
    other.close()
    loaded = store.load(RESOURCE)
    assert [r.operation.id for r in loaded.records] == ["b"]
    assert [(s.table, s.row_id, s.operation_id) for s in loaded.skipped] == [("operations", "a", "a")]
    assert loaded.skipped[0].reason.startswith("operations row: Invalid JSON")
    again = store.load(RESOURCE)
    assert [r.operation.id for r in again.records] == ["b"]
    assert again.skipped == loaded.skipped  # nothing was changed by reading
    store.close()


def test_a_closed_store_refuses_writes_and_reads_with_a_storage_error(tmp_path):
    store = SQLiteStore(tmp_path / "d.db")
    store.close()
    with pytest.raises(StorageError, match="closed"):
        change(store, op("a"))
    with pytest.raises(StorageError, match="closed"):
        store.load(RESOURCE)
