"""SQLiteStore: the embedded default for anything that must survive a restart.

Standard-library sqlite3 in WAL mode, one transaction per dispatcher change,
so a process killed at any instant leaves either the whole change or none of
it. ``synchronous=NORMAL`` survives a killed process; pass ``"FULL"`` to
also survive a power cut, at the price of an fsync per change.

One file serves one dispatcher: two dispatchers on a file would both start
the same operation. The store itself holds the file (an exclusive flock on
``<file>.lock``, POSIX), so every user of the core is protected, not only
the ROS node. The kernel drops a flock when its process dies, however it
dies, so a crash never leaves a stale lock behind.

Nothing is written to a file before its schema version is known to be this
one: a newer store, a foreign SQLite file or a file that is no database at
all is refused exactly as it was found. Within a file of this schema, a row
this version cannot load (not JSON, nested too deep, a state it does not
know, filed under another id) is reported and left in the file as it is
(see ``docs/durability.md``): one row never keeps a dispatcher down.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import IO, TypeVar

import pydantic
from pydantic import BaseModel

from . import _limits as limits
from ._errors import StorageError, UnavailableError, ValidationError
from ._models import DispatchEvent, Operation, OperationExecution, OperationRecord, validation_error_from
from ._store import SkippedRow, Store, StoredState

SCHEMA_VERSION = 1
READ_CHUNK = 1000  # rows read from the file at a time while recovering
MAX_BUSY_TIMEOUT = 3600.0  # seconds; SQLite takes the wait in int milliseconds, and no change should wait longer

_SCHEMA = (
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE operations (id TEXT PRIMARY KEY, resource_id TEXT NOT NULL, body TEXT NOT NULL)",
    "CREATE TABLE executions ("
    " operation_id TEXT PRIMARY KEY REFERENCES operations(id), sequence INTEGER NOT NULL, body TEXT NOT NULL)",
    "CREATE TABLE events (seq INTEGER PRIMARY KEY AUTOINCREMENT, resource_id TEXT NOT NULL, body TEXT NOT NULL)",
    "CREATE TABLE dispatcher (resource_id TEXT PRIMARY KEY, paused INTEGER NOT NULL, paused_reason TEXT)",
    "CREATE INDEX operations_by_resource ON operations(resource_id)",
    "CREATE INDEX events_by_resource ON events(resource_id, seq)",
)


class SQLiteStore(Store):
    """Durable store in one SQLite file (created if missing), held exclusively from opening to :meth:`close`.

    A second store on the same file, in this process or another, is refused
    with :class:`UnavailableError` naming the file and the pid holding it:
    the file is fine and becomes available as soon as its holder closes or
    dies, which is what UNAVAILABLE ("try again") means and VALIDATION
    ("this field is wrong") does not.

    :meth:`write` is synchronous and may block up to ``busy_timeout`` seconds
    while another connection holds the file's write lock; the dispatcher calls
    it off its event loop. A write that fails (disk full, file locked past
    ``busy_timeout``, I/O error, a change that cannot be encoded) raises
    :class:`StorageError` carrying SQLite's own message as ``cause`` and
    leaves the file exactly as it was; the connection stays usable, so the
    next write succeeds once the cause is gone.
    """

    def __init__(
        self, path: str | os.PathLike[str], *, synchronous: str = "NORMAL", busy_timeout: float = 5.0
    ) -> None:
        if synchronous not in ("NORMAL", "FULL"):
            raise ValidationError("synchronous must be NORMAL or FULL", field="synchronous")
        if isinstance(busy_timeout, bool) or not isinstance(busy_timeout, (int, float)) or not (
            0 <= busy_timeout <= MAX_BUSY_TIMEOUT
        ):
            raise ValidationError(
                f"busy_timeout must be a number of seconds from 0 to {MAX_BUSY_TIMEOUT:g}; got {busy_timeout!r}",
                field="busy_timeout",
            )
        self.path = os.fspath(path)
        self._lock = threading.Lock()
        self._holder = _hold_exclusively(self.path)
        try:
            self._conn = self._open(synchronous, busy_timeout)
        except BaseException:
            self._holder.close()
            raise

    def _open(self, synchronous: str, busy_timeout: float) -> sqlite3.Connection:
        """Connect, check the schema version reading only, then create the tables if the file is new."""
        try:
            conn = sqlite3.connect(self.path, timeout=busy_timeout, check_same_thread=False, isolation_level=None)
            try:
                if self._schema_version(conn) is None:
                    with _transaction(conn):
                        for statement in _SCHEMA:
                            conn.execute(statement)
                        conn.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute(f"PRAGMA synchronous={synchronous}")
                conn.execute("PRAGMA foreign_keys=ON")
            except BaseException:
                conn.close()
                raise
        except sqlite3.Error as exc:  # not a database, unreadable, locked past busy_timeout...
            raise ValidationError(f"cannot open {self.path}: {exc}", field="store_path", cause=str(exc)) from exc
        return conn

    def _schema_version(self, conn: sqlite3.Connection) -> str | None:
        """The file's schema version, None for a new (empty) file; refuses anything but this version."""
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not tables:
            return None
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() if "meta" in tables else None
        if row is None:
            raise ValidationError(
                f"{self.path} is not a dispatcher store (tables {', '.join(sorted(tables))}, no schema version); left as it was",
                field="store_path",
            )
        if row[0] != str(SCHEMA_VERSION):
            raise ValidationError(
                f"{self.path} has store schema {row[0]!r}; this version reads schema {SCHEMA_VERSION} only; left as it was",
                field="store_path",
                found=row[0],
                supported=SCHEMA_VERSION,
            )
        return str(row[0])

    def load(self, resource_id: str) -> StoredState:
        """Everything stored for ``resource_id``, read row by row as recovery takes it (see
        :class:`StoredState`): a row that does not load is reported in ``skipped`` and left in
        the file; a file SQLite cannot read raises StorageError, also part-way through."""
        state = self._fetch(lambda: self._conn.execute(
            "SELECT paused, paused_reason FROM dispatcher WHERE resource_id = ?", (resource_id,)
        ).fetchone())
        loaded = StoredState(
            paused=bool(state[0]) if state else False,
            paused_reason=None if not state or state[1] is None else str(state[1]),
        )
        loaded.records = self._records(resource_id, loaded.skipped)
        loaded.events = self._events(resource_id, loaded.skipped)
        return loaded

    def _records(self, resource_id: str, skipped: list[SkippedRow]) -> Iterator[OperationRecord]:
        rows = self._rows(
            "SELECT o.id, o.body, e.body FROM operations o LEFT JOIN executions e ON e.operation_id = o.id "
            "WHERE o.resource_id = ? ORDER BY e.sequence",
            (resource_id,),
        )
        for op_id, op_body, ex_body in rows:
            try:
                yield _record(op_id, resource_id, op_body, ex_body)
            except _Unreadable as exc:
                skipped.append(SkippedRow("operations", str(op_id), str(exc), operation_id=str(op_id)))

    def _events(self, resource_id: str, skipped: list[SkippedRow]) -> Iterator[DispatchEvent]:
        for seq, body in self._rows("SELECT seq, body FROM events WHERE resource_id = ? ORDER BY seq", (resource_id,)):
            try:
                yield _read(DispatchEvent, "events", body)
            except _Unreadable as exc:
                skipped.append(SkippedRow("events", str(seq), str(exc)))

    def _rows(self, query: str, args: tuple[object, ...]) -> Iterator[tuple[object, ...]]:
        """The rows of ``query``, :data:`READ_CHUNK` at a time (the lock taken per chunk)."""
        cursor = self._fetch(lambda: self._conn.execute(query, args))
        while chunk := self._fetch(lambda: cursor.fetchmany(READ_CHUNK)):
            yield from chunk

    def _fetch(self, read: Callable[[], R]) -> R:
        try:
            with self._lock:
                return read()
        except sqlite3.Error as exc:
            raise StorageError(f"{self.path}: could not read the store: {exc}", cause=str(exc)) from exc

    def write(
        self,
        *,
        operations: Iterable[Operation] = (),
        executions: Iterable[OperationExecution] = (),
        events: Iterable[DispatchEvent] = (),
        paused: tuple[bool, str | None] | None = None,
    ) -> None:
        try:  # encoded before the transaction, so a change that cannot be encoded leaves nothing to roll back
            op_rows = [(op.id, op.resource_id, op.model_dump_json()) for op in operations]
            ex_rows = [(ex.operation_id, ex.sequence, ex.model_dump_json()) for ex in executions]
            ev_rows = [(ev.resource_id, ev.model_dump_json()) for ev in events]
        except (ValueError, RecursionError) as exc:  # e.g. a payload too deep or with a lone surrogate
            cause = f"{type(exc).__name__}: {exc}"
            raise StorageError(f"{self.path}: the change was not written: cannot encode it: {cause}", cause=cause) from exc
        resource = op_rows[0][1] if op_rows else ev_rows[0][0] if ev_rows else None
        with self._lock:
            try:
                with _transaction(self._conn):
                    self._conn.executemany("INSERT INTO operations VALUES (?, ?, ?)", op_rows)
                    self._conn.executemany("INSERT OR REPLACE INTO executions VALUES (?, ?, ?)", ex_rows)
                    self._conn.executemany("INSERT INTO events (resource_id, body) VALUES (?, ?)", ev_rows)
                    if paused is not None and resource is not None:
                        self._conn.execute(
                            "INSERT OR REPLACE INTO dispatcher VALUES (?, ?, ?)", (resource, int(paused[0]), paused[1])
                        )
            except (sqlite3.Error, ValueError) as exc:  # ValueError: a text SQLite cannot bind (a lone surrogate)
                raise StorageError(f"{self.path}: the change was not written: {exc}", cause=str(exc)) from exc

    def close(self) -> None:
        """Close the file and release it to the next dispatcher; closing again does nothing."""
        with self._lock:
            self._conn.close()
            self._holder.close()


class _Unreadable(Exception):
    """A stored row that does not load; its message says why, in one line."""


M = TypeVar("M", bound=BaseModel)
R = TypeVar("R")


def _read(model: type[M], table: str, body: object) -> M:
    """One stored body as ``model``, or _Unreadable naming the table, the field and the value found."""
    try:
        return model.model_validate_json(body)  # type: ignore[arg-type]  # a damaged row may hold any SQLite value
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        found = first.get("input")
        shown = f" (found {found!r})" if isinstance(found, (str, int, float)) and len(repr(found)) <= 80 else ""
        raise _Unreadable(limits.shorten(f"{table} row: {validation_error_from(exc).message}{shown}")) from None
    except (ValueError, TypeError, RecursionError) as exc:
        raise _Unreadable(limits.shorten(f"{table} row: {type(exc).__name__}: {exc}")) from None


def _record(op_id: object, resource_id: str, op_body: object, ex_body: object) -> OperationRecord:
    """An operation row with its execution row, or _Unreadable: either missing or unreadable, or
    its body not of the id (or resource) it is filed under."""
    operation = _read(Operation, "operations", op_body)
    if ex_body is None:
        raise _Unreadable("executions row: missing (an operation is stored with its execution)")
    execution = _read(OperationExecution, "executions", ex_body)
    for table, what, found, filed in (
        ("operations", "operation", operation.id, op_id),
        ("operations", "resource", operation.resource_id, resource_id),
        ("executions", "operation", execution.operation_id, op_id),
    ):
        if found != filed:
            raise _Unreadable(f"{table} row: holds {what} {found!r}, filed under {filed!r}")
    return OperationRecord(operation=operation, execution=execution)


@contextlib.contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """One write transaction: committed whole, or rolled back with the first error raised, never a rollback's."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:  # SQLite rolls back by itself after a full disk or an I/O error
            with contextlib.suppress(sqlite3.Error):  # the error that failed the change is the one to report
                conn.execute("ROLLBACK")
        raise


def _hold_exclusively(path: str) -> IO[str]:
    """``<path>.lock`` opened and flocked, with this process's pid in it; refused while another store holds it."""
    lock_path = f"{path}.lock"
    try:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        holder = open(lock_path, "a+")  # held until close()
    except OSError as exc:
        raise ValidationError(f"cannot create {path}: {exc.strerror or exc}", field="store_path") from None
    try:
        fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        holder.seek(0)
        written = holder.read().strip()
        holder.close()
        if not isinstance(exc, BlockingIOError):
            raise ValidationError(f"cannot lock {lock_path}: {exc.strerror or exc}", field="store_path") from None
        pid = int(written) if written.isdigit() else None
        who = f"pid {pid}" if pid is not None else "pid not written yet"
        if pid == os.getpid():
            who += ", this process: another SQLiteStore on the file is still open"
        raise UnavailableError(f"{path} is in use by another dispatcher process ({who})", path=path, pid=pid) from None
    holder.seek(0)
    holder.truncate()
    holder.write(f"{os.getpid()}\n")
    holder.flush()
    return holder
