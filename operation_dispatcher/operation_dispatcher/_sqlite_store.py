"""SQLiteStore: the embedded default for anything that must survive a restart.

Standard-library sqlite3 in WAL mode, one transaction per dispatcher change,
so a process killed at any instant leaves either the whole change or none of
it. ``synchronous=NORMAL`` survives a killed process; pass ``"FULL"`` to
also survive a power cut, at the price of an fsync per change.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterable

from ._errors import ValidationError
from ._models import DispatchEvent, Operation, OperationExecution, OperationRecord
from ._store import Store, StoredState

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS operations (
    id TEXT PRIMARY KEY,
    resource_id TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS executions (
    operation_id TEXT PRIMARY KEY REFERENCES operations(id),
    sequence INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    resource_id TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS dispatcher (
    resource_id TEXT PRIMARY KEY,
    paused INTEGER NOT NULL,
    paused_reason TEXT
);
CREATE INDEX IF NOT EXISTS operations_by_resource ON operations(resource_id);
CREATE INDEX IF NOT EXISTS events_by_resource ON events(resource_id, seq);
"""


class SQLiteStore(Store):
    """Durable store in one SQLite file (created if missing)."""

    def __init__(self, path: str | os.PathLike[str], *, synchronous: str = "NORMAL") -> None:
        if synchronous not in ("NORMAL", "FULL"):
            raise ValidationError("synchronous must be NORMAL or FULL", field="synchronous")
        self.path = os.fspath(path)
        directory = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(directory, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute(f"PRAGMA synchronous={synchronous}")
        self._conn.execute("PRAGMA foreign_keys=ON")
        with self._conn:
            self._conn.executescript(_SCHEMA)
            row = self._conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            if row is None:
                self._conn.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            elif int(row[0]) != SCHEMA_VERSION:
                raise ValidationError(
                    f"{self.path} has store schema {row[0]}; this version reads {SCHEMA_VERSION}", field="store_path"
                )

    def load(self, resource_id: str) -> StoredState:
        with self._lock:
            rows = self._conn.execute(
                "SELECT o.body, e.body FROM operations o JOIN executions e ON e.operation_id = o.id "
                "WHERE o.resource_id = ? ORDER BY e.sequence",
                (resource_id,),
            ).fetchall()
            events = self._conn.execute(
                "SELECT body FROM events WHERE resource_id = ? ORDER BY seq", (resource_id,)
            ).fetchall()
            state = self._conn.execute(
                "SELECT paused, paused_reason FROM dispatcher WHERE resource_id = ?", (resource_id,)
            ).fetchone()
        return StoredState(
            records=[
                OperationRecord(
                    operation=Operation.model_validate_json(op), execution=OperationExecution.model_validate_json(ex)
                )
                for op, ex in rows
            ],
            events=[DispatchEvent.model_validate_json(body) for (body,) in events],
            paused=bool(state[0]) if state else False,
            paused_reason=state[1] if state else None,
        )

    def write(
        self,
        *,
        operations: Iterable[Operation] = (),
        executions: Iterable[OperationExecution] = (),
        events: Iterable[DispatchEvent] = (),
        paused: tuple[bool, str | None] | None = None,
    ) -> None:
        op_rows = [(op.id, op.resource_id, op.model_dump_json()) for op in operations]
        ex_rows = [(ex.operation_id, ex.sequence, ex.model_dump_json()) for ex in executions]
        ev_rows = [(ev.resource_id, ev.model_dump_json()) for ev in events]
        resource = (op_rows[0][1] if op_rows else ev_rows[0][0] if ev_rows else None)
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.executemany("INSERT INTO operations VALUES (?, ?, ?)", op_rows)
                self._conn.executemany("INSERT OR REPLACE INTO executions VALUES (?, ?, ?)", ex_rows)
                self._conn.executemany("INSERT INTO events (resource_id, body) VALUES (?, ?)", ev_rows)
                if paused is not None and resource is not None:
                    self._conn.execute(
                        "INSERT OR REPLACE INTO dispatcher VALUES (?, ?, ?)", (resource, int(paused[0]), paused[1])
                    )
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise

    def close(self) -> None:
        with self._lock:
            self._conn.close()
