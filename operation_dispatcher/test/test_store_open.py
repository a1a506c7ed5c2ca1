"""Opening an SQLiteStore: one dispatcher per file, and no write before the schema is known.

Two dispatchers on one file would both start the same operation, so the
store holds ``<file>.lock`` from opening to close(); tried here across two
real processes. A file of another schema, another program or no database at
all is refused naming the file, byte for byte as it was found.
"""

from __future__ import annotations

import hashlib
import os
import re
import select
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from operation_dispatcher import Operation, SQLiteStore, StorageError, UnavailableError, ValidationError

HOLDER = """
import sys
from operation_dispatcher import SQLiteStore
store = SQLiteStore(sys.argv[1])
print("open", flush=True)
sys.stdin.read()  # held until the test kills this process
"""


def test_a_second_process_cannot_open_a_store_held_by_another_until_it_dies(tmp_path):
    path = tmp_path / "d.db"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None
        ready, _, _ = select.select([holder.stdout], [], [], 30.0)
        assert ready and holder.stdout.readline().strip() == "open", "the holder did not open the store"
        started = time.monotonic()
        with pytest.raises(UnavailableError) as refused:
            SQLiteStore(path)
        assert time.monotonic() - started < 1.0  # refused at once, not after a busy wait
        assert refused.value.message == f"{path} is in use by another dispatcher process (pid {holder.pid})"
        assert refused.value.details == {"path": str(path), "pid": holder.pid}
        assert refused.value.to_dict()["code"] == "UNAVAILABLE"
    finally:
        holder.kill()  # however the holder dies, the kernel releases its lock
        holder.wait(10)
    store = SQLiteStore(path)
    assert Path(f"{path}.lock").read_text().split() == [str(os.getpid())]
    store.close()


def test_one_store_per_file_in_one_process_too_and_close_releases_it(tmp_path):
    path = tmp_path / "d.db"
    first = SQLiteStore(path)
    with pytest.raises(UnavailableError, match="this process: another SQLiteStore on the file is still open"):
        SQLiteStore(path)
    first.close()
    first.close()  # closing again does nothing
    second = SQLiteStore(path)
    second.write(operations=[Operation(id="a", resource_id="robot-1")])
    with pytest.raises(StorageError):
        first.write(operations=[Operation(id="b", resource_id="robot-1")])
    second.close()


def _sqlite_file(path: Path, *statements: str) -> None:
    conn = sqlite3.connect(path)  # rollback journal: switching it to WAL would change the file's header
    with conn:
        for statement in statements:
            conn.execute(statement)
    conn.close()


META = "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
REFUSED_FILES = {
    "newer-schema": (
        lambda p: _sqlite_file(p, META, "INSERT INTO meta VALUES ('schema_version', '2')", "CREATE TABLE jobs (id TEXT)"),
        r"has store schema '2'; this version reads schema 1 only",
    ),
    "schema-abc": (
        lambda p: _sqlite_file(p, META, "INSERT INTO meta VALUES ('schema_version', 'abc')"),
        r"has store schema 'abc'; this version reads schema 1 only",
    ),
    "another-program": (
        lambda p: _sqlite_file(p, "CREATE TABLE photos (id INTEGER)"),
        r"is not a dispatcher store \(tables photos, no schema version\)",
    ),
    "not-a-database": (lambda p: p.write_text("operations: [a, b]\n" * 200), "file is not a database"),
}


@pytest.mark.parametrize("kind", list(REFUSED_FILES))
def test_a_file_that_is_not_this_store_is_refused_and_left_byte_for_byte(tmp_path, kind):
    path = tmp_path / "d.db"
    build, message = REFUSED_FILES[kind]
    build(path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    for _ in range(2):  # and refused the same way again: the failed open released the file's lock
        with pytest.raises(ValidationError, match=message) as refused:
            SQLiteStore(path)
        assert refused.value.field == "store_path" and str(path) in refused.value.message
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.db", "d.db.lock"]  # no journal, WAL or shm left behind
    if kind == "newer-schema":
        assert refused.value.details["found"] == "2" and refused.value.details["supported"] == 1


def test_a_new_file_gets_the_whole_schema(tmp_path):
    SQLiteStore(tmp_path / "d.db").close()
    conn = sqlite3.connect(tmp_path / "d.db")
    tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"meta", "operations", "executions", "events", "dispatcher"} <= tables
    assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == ("1",)
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    conn.close()
    SQLiteStore(tmp_path / "d.db").close()  # and opens again


def test_a_store_that_cannot_be_created_names_the_path(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    with pytest.raises(ValidationError, match=re.escape(f"cannot create {blocker / 'd.db'}: ")) as refused:
        SQLiteStore(blocker / "d.db")
    assert refused.value.field == "store_path"


def test_a_path_that_is_a_folder_cannot_be_opened_and_says_so(tmp_path):
    with pytest.raises(ValidationError, match=re.escape(f"cannot open {tmp_path}: unable to open database file")) as refused:
        SQLiteStore(tmp_path)
    assert refused.value.field == "store_path" and refused.value.details["cause"] == "unable to open database file"


@pytest.mark.parametrize("busy_timeout", [-0.1, float("nan"), float("inf"), 1e9, True, "5"])
def test_busy_timeout_must_be_a_sane_number_of_seconds(tmp_path, busy_timeout):
    with pytest.raises(ValidationError, match="busy_timeout must be a number of seconds from 0 to 3600") as refused:
        SQLiteStore(tmp_path / "d.db", busy_timeout=busy_timeout)
    assert refused.value.field == "busy_timeout"
    assert not (tmp_path / "d.db").exists()


def test_busy_timeout_zero_is_allowed(tmp_path):
    SQLiteStore(tmp_path / "d.db", busy_timeout=0).close()
