"""FleetHistory: every robot's dispatch events in one store, for fleet-wide queries.

The gateway copies each robot's event log here: SQLite by default,
PostgreSQL for a history that several machines read or that must outlive
the gateway's disk. Both run the same SQL (only the parameter marker, the
row-number column and the time column type differ, all in :class:`_Dialect`)
and return the same rows, so a fleet can move from one to the other and a
test on one speaks for the other.

Pure Python, never rclpy: the gateway node calls it, tests call it directly.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

import pydantic

from operation_dispatcher import DispatchEvent, EventType, OperationState, StorageError, UnavailableError, ValidationError

LIMIT_MAX = 1000  # events in one page, as the core's event log pages
ROBOT_MAX_LENGTH = 128  # as the core's ids
INT64_MAX = 2**63 - 1  # sequence and row numbers are BIGINT in both backends

STATE_EVENTS: dict[str, tuple[str, ...]] = {
    OperationState.QUEUED.value: (EventType.OPERATION_ADDED.value,),
    OperationState.RUNNING.value: (EventType.OPERATION_STARTED.value, EventType.OPERATION_RESUMED.value),
    OperationState.PAUSED.value: (EventType.OPERATION_PAUSED.value,),
    OperationState.COMPLETED.value: (EventType.OPERATION_COMPLETED.value,),
    OperationState.FAILED.value: (EventType.OPERATION_FAILED.value,),
    OperationState.CANCELLED.value: (EventType.OPERATION_CANCELLED.value,),
}
"""The events that put an operation into each state (the ``state`` filter of :meth:`FleetHistory.query`)."""

_COLUMNS = "row_no, robot, event_id, event_type, resource_id, operation_id, execution_id, created_at, sequence, metadata"
_INSERT = (
    "INSERT INTO fleet_events (robot, event_id, event_type, resource_id, operation_id, execution_id, created_at, sequence, metadata)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (robot, event_id) DO NOTHING"
)


def _iso(moment: datetime) -> str:
    """UTC with microseconds, always the same width: SQLite compares these as text, so text order must be time order."""
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds")


class _Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...
    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...


class _Connection(Protocol):
    """What both sqlite3 and psycopg connections offer, and all this module uses."""

    def execute(self, sql: str, params: Sequence[Any], /) -> _Cursor: ...
    def commit(self) -> None: ...
    def rollback(self) -> None: ...
    def close(self) -> None: ...


@dataclass(frozen=True)
class _Dialect:
    """Everything that differs between the backends; the SQL is written once, with ``?`` markers."""

    name: str
    marker: str
    row_column: str  # numbers rows in recording order, never reused: the paging cursor
    time_column: str
    to_db_time: Callable[[datetime], Any]
    from_db_time: Callable[[Any], str]
    errors: tuple[type[Exception], ...]
    is_lost: Callable[[Any], bool]  # the connection is gone (a server restart): open a new one next time


@dataclass(frozen=True)
class HistoryPage:
    """One page of :meth:`FleetHistory.query`: pass ``next_after`` as ``after`` for the next; None on the last page."""

    events: list[dict[str, Any]]
    next_after: int | None


class FleetHistory:
    """The fleet's event history; safe to call from several threads (one connection, one lock).

    A database failure (disk full, server gone) raises :class:`StorageError`
    and changes nothing; a lost PostgreSQL connection is opened again by the
    next call.
    """

    def __init__(self, dialect: _Dialect, connect: Callable[[], _Connection]) -> None:
        self.backend = dialect.name
        self._dialect = dialect
        self._connect = connect
        self._conn: _Connection | None = None
        self._closed = False
        self._lock = threading.Lock()
        with self._transaction() as execute:
            for statement in (
                f"CREATE TABLE IF NOT EXISTS fleet_events (row_no {dialect.row_column}, robot TEXT NOT NULL,"
                " event_id TEXT NOT NULL, event_type TEXT NOT NULL, resource_id TEXT NOT NULL, operation_id TEXT,"
                f" execution_id TEXT, created_at {dialect.time_column} NOT NULL, sequence BIGINT, metadata TEXT NOT NULL)",
                "CREATE UNIQUE INDEX IF NOT EXISTS fleet_events_by_event ON fleet_events (robot, event_id)",
                "CREATE INDEX IF NOT EXISTS fleet_events_by_robot_time ON fleet_events (robot, created_at)",
                "CREATE INDEX IF NOT EXISTS fleet_events_by_type ON fleet_events (event_type)",
                "CREATE INDEX IF NOT EXISTS fleet_events_by_operation ON fleet_events (operation_id)",
            ):
                execute(statement)

    @classmethod
    def open(cls, dsn: str | None = None, sqlite_path: str | os.PathLike[str] | None = None) -> FleetHistory:
        """PostgreSQL (psycopg 3) when ``dsn`` is given (a URL or ``key=value`` string), else SQLite at ``sqlite_path``.

        ``sqlite_path`` may be ``":memory:"``; its parent directories are
        created. The schema is created if missing.
        """
        if dsn:
            import psycopg  # only PostgreSQL users need it

            return cls(
                _Dialect(
                    name="postgresql",
                    marker="%s",
                    row_column="BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
                    time_column="TIMESTAMPTZ",
                    to_db_time=lambda moment: moment,
                    from_db_time=_iso,
                    errors=(psycopg.Error,),
                    is_lost=lambda conn: bool(conn.closed),
                ),
                lambda: psycopg.connect(dsn),
            )
        if sqlite_path is None:
            raise ValidationError("give dsn (PostgreSQL) or sqlite_path", field="sqlite_path")
        path = os.fspath(sqlite_path)

        def connect() -> sqlite3.Connection:
            if path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(path, check_same_thread=False)  # the lock serialises the threads
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            return conn

        return cls(
            _Dialect(
                name="sqlite",
                marker="?",
                row_column="INTEGER PRIMARY KEY AUTOINCREMENT",
                time_column="TEXT",
                to_db_time=_iso,
                from_db_time=str,
                errors=(sqlite3.Error, OSError),
                is_lost=lambda conn: False,
            ),
            connect,
        )

    def record(self, robot: str, events: Iterable[Mapping[str, Any]]) -> int:
        """Store ``events`` (``DispatchEvent.model_dump(mode="json")`` dicts) of ``robot``; returns how many were new.

        An event already stored for this robot (same id) is skipped: the
        gateway re-reads a robot's log after a gap or a restart. The whole
        batch is checked before anything is written, and written in one
        transaction: a bad event refuses all of them.
        """
        _check_text(robot, "robot", ROBOT_MAX_LENGTH)
        if isinstance(events, (str, bytes, Mapping)) or not isinstance(events, Iterable):
            raise ValidationError("events must be a list of event dicts", field="events")
        rows = [_row(robot, index, event, self._dialect) for index, event in enumerate(events)]
        new = 0
        with self._transaction() as execute:
            for row in rows:
                # ON CONFLICT alone would keep one copy, but both backends draw a row number for each attempt: every
                # re-delivery would leave a gap, equal in both only by a quirk of SQLite's AUTOINCREMENT. Asking first
                # keeps the rows numbered 1, 2, 3... in both; ON CONFLICT stays for a second writer on the same server.
                if execute("SELECT 1 FROM fleet_events WHERE robot = ? AND event_id = ?", row[:2]).fetchone() is None:
                    new += execute(_INSERT, row).rowcount
        return new

    def query(
        self,
        *,
        robot: str | None = None,
        event_type: str | None = None,
        state: str | None = None,
        operation_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        after: int = 0,
        limit: int = 100,
    ) -> HistoryPage:
        """Fleet-wide events in recording order (each robot's in its own order), filtered, one page.

        ``state``: the events that put an operation into that state
        (:data:`STATE_EVENTS`). ``since <= created_at < until``. ``after``: the
        ``row`` of the last event already read (``next_after`` of the page
        before). Each event is its dict as recorded plus ``robot`` and ``row``;
        ``created_at`` in UTC.
        """
        _check_int(after, "after", 0, INT64_MAX)
        _check_int(limit, "limit", 1, LIMIT_MAX)
        where: list[str] = ["row_no > ?"]
        params: list[Any] = [after]
        for column, value in (("robot", robot), ("operation_id", operation_id)):
            if value is not None:
                _check_text(value, column, None)
                where.append(f"{column} = ?")
                params.append(value)
        if event_type is not None:
            where.append("event_type = ?")
            params.append(_name(event_type, "event_type", [member.value for member in EventType]))
        if state is not None:
            types = STATE_EVENTS[_name(state, "state", list(STATE_EVENTS))]
            where.append(f"event_type IN ({', '.join('?' * len(types))})")
            params.extend(types)
        start = None if since is None else _utc(since, "since")
        end = None if until is None else _utc(until, "until")
        if start is not None and end is not None and start > end:
            raise ValidationError("until must not be earlier than since", field="until")
        for condition, moment in (("created_at >= ?", start), ("created_at < ?", end)):
            if moment is not None:
                where.append(condition)
                params.append(self._dialect.to_db_time(moment))
        sql = f"SELECT {_COLUMNS} FROM fleet_events WHERE {' AND '.join(where)} ORDER BY row_no LIMIT ?"
        with self._transaction() as execute:
            found = execute(sql, [*params, limit + 1]).fetchall()  # one more than asked: is there a next page?
        events = [self._event(row) for row in found[:limit]]
        return HistoryPage(events, events[-1]["row"] if len(found) > limit else None)

    def last_sequence(self, robot: str) -> int:
        """The highest event number recorded from ``robot`` (0: none): where reading its event log resumes."""
        _check_text(robot, "robot", None)
        with self._transaction() as execute:
            found = execute("SELECT MAX(sequence) FROM fleet_events WHERE robot = ?", [robot]).fetchone()
        return int(found[0]) if found and found[0] is not None else 0

    def rows(self) -> list[tuple[Any, ...]]:
        """Every row in recording order as plain values, to compare two stores.

        (robot, event id, event_type, operation_id, created_at ISO UTC,
        sequence, metadata JSON, resource_id, execution_id).
        """
        with self._transaction() as execute:
            found = execute(f"SELECT {_COLUMNS} FROM fleet_events ORDER BY row_no", ()).fetchall()
        return [
            (robot, event_id, event_type, operation_id, self._dialect.from_db_time(created_at), sequence, metadata, resource_id, execution_id)
            for _, robot, event_id, event_type, resource_id, operation_id, execution_id, created_at, sequence, metadata in found
        ]

    def close(self) -> None:
        """Close the connection; later calls are refused with UnavailableError."""
        with self._lock:
            self._closed = True
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _event(self, row: Sequence[Any]) -> dict[str, Any]:
        row_no, robot, event_id, event_type, resource_id, operation_id, execution_id, created_at, sequence, metadata = row
        return {
            "id": event_id,
            "event_type": event_type,
            "resource_id": resource_id,
            "operation_id": operation_id,
            "execution_id": execution_id,
            "created_at": self._dialect.from_db_time(created_at),
            "metadata": json.loads(metadata),
            "sequence": sequence,
            "robot": robot,
            "row": row_no,
        }

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[Callable[..., _Cursor]]:
        """One transaction under the lock; ``execute(sql, params)`` takes ``?`` markers in either backend."""
        with self._lock:
            if self._closed:
                raise UnavailableError("the fleet history is closed")
            try:
                if self._conn is None:
                    self._conn = self._connect()
                conn = self._conn
                yield lambda sql, params=(): conn.execute(sql.replace("?", self._dialect.marker), params)
                conn.commit()
            except BaseException as exc:
                if self._conn is not None:
                    with contextlib.suppress(*self._dialect.errors):
                        self._conn.rollback()
                    if self._dialect.is_lost(self._conn):
                        self._conn = None
                if isinstance(exc, self._dialect.errors):
                    raise StorageError(f"the fleet history ({self.backend}) failed: {exc}", cause=str(exc)) from exc
                raise


def _row(robot: str, index: int, event: Any, dialect: _Dialect) -> tuple[Any, ...]:
    """The columns of one event, or ValidationError naming ``events[index].<field>``."""
    field = f"events[{index}]"
    if not isinstance(event, Mapping):
        raise ValidationError(f"{field} must be an event dict", field=field)
    try:
        parsed = DispatchEvent.model_validate(event)
    except pydantic.ValidationError as exc:
        error = exc.errors()[0]
        name = "".join(f".{part}" for part in error["loc"])
        raise ValidationError(f"{field}{name}: {error['msg']}", field=f"{field}{name}") from None
    created_at = _utc(parsed.created_at, f"{field}.created_at")
    for name in ("id", "resource_id", "operation_id", "execution_id"):
        if (value := getattr(parsed, name)) is not None:
            _check_text(value, f"{field}.{name}", None)
    if parsed.sequence is not None:
        _check_int(parsed.sequence, f"{field}.sequence", 0, INT64_MAX)
    # ASCII JSON: a NUL or a lone surrogate is escaped, which PostgreSQL text (and jsonb) would refuse raw.
    metadata = json.dumps(parsed.model_dump(mode="json")["metadata"], sort_keys=True, separators=(",", ":"))
    return (
        robot,
        parsed.id,
        parsed.event_type.value,
        parsed.resource_id,
        parsed.operation_id,
        parsed.execution_id,
        dialect.to_db_time(created_at),
        parsed.sequence,
        metadata,
    )


def _check_text(value: object, field: str, max_length: int | None) -> None:
    """Non-empty text that both backends store as given (PostgreSQL refuses NUL; neither encodes a lone surrogate)."""
    if not isinstance(value, str) or not value or (max_length is not None and len(value) > max_length):
        size = f"1 to {max_length} characters" if max_length is not None else "a non-empty string"
        raise ValidationError(f"{field} must be {size}; got {value!r}", field=field)
    try:
        value.encode()
    except UnicodeEncodeError:
        raise ValidationError(f"{field} holds a lone surrogate", field=field) from None
    if "\x00" in value:
        raise ValidationError(f"{field} holds a NUL character", field=field)


def _check_int(value: object, field: str, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValidationError(f"{field} must be an integer within [{low}, {high}]; got {value!r}", field=field)


def _name(value: object, field: str, names: list[str]) -> str:
    if not isinstance(value, str) or value not in names:
        raise ValidationError(f"{field} must be one of {', '.join(names)}; got {value!r}", field=field)
    return names[names.index(value)]  # the plain name, also for an enum member


def _utc(value: object, field: str) -> datetime:
    """A timezone-aware datetime in UTC (naive ones are refused: their zone would be a guess)."""
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise ValidationError(f"{field} must be a datetime with a timezone; got {value!r}", field=field)
    try:
        return value.astimezone(timezone.utc)
    except OverflowError:
        raise ValidationError(f"{field} is out of range in UTC; got {value!r}", field=field) from None
