"""Listings read a page at a time, with a cursor that operations coming and going do not shift.

A listing is the dispatcher's operations in their useful order: the active
one, then the queue in dispatch order, then the finished ones newest first;
narrowed to one state, or to the history alone. A cursor names where the
last page ended by a key that does not move: the operation's place in line
(see ``DispatchQueue.page``) or its position in the history (which only
grows). So a reader paging through one state sees every operation that
stays in it exactly once, however many are added or finished between its
pages, and each page costs O(page + log n), not O(n).

The cursor is opaque to readers (URL-safe base64 of JSON) and checked on
the way back in: a cursor that is not one this code gave out, or that was
given out for another listing, is a ValidationError naming ``cursor``.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any, NamedTuple

from . import _limits as limits
from ._errors import ValidationError
from ._history import History
from ._ledger import Entry, Ledger
from ._models import OperationPage, OperationState
from ._queue import BLOCKED, GATED, READY, DispatchQueue

ACTIVE, QUEUE, HISTORY = "active", "queue", "history"
HISTORY_LISTING = "history"
_VERSION = 1
_TERMINAL = (OperationState.COMPLETED, OperationState.FAILED, OperationState.CANCELLED)


class Books(NamedTuple):
    """What a listing reads, held under the dispatcher's state lock while it does."""

    ledger: Ledger
    queue: DispatchQueue[Entry]
    history: History
    active: str | None


def check_state(state: OperationState | str | None) -> OperationState | None:
    if state is None:
        return None
    try:
        return OperationState(state)
    except ValueError:
        raise ValidationError(
            f"state must be one of {', '.join(s.value for s in OperationState)}; got {state!r}", field="state"
        ) from None


def _segments(listing: str, state: OperationState | None) -> tuple[str, ...]:
    if listing == HISTORY_LISTING or state in _TERMINAL:
        return (HISTORY,)
    if state is OperationState.QUEUED:
        return (QUEUE,)
    if state is not None:  # RUNNING, PAUSED
        return (ACTIVE,)
    return (ACTIVE, QUEUE, HISTORY)


def page(books: Books, listing: str, state: OperationState | None, limit: int, cursor: str | None) -> OperationPage:
    """One page of ``listing`` (a state's value, "all" or "history")."""
    segments = _segments(listing, state)
    segment, position = (segments[0], None) if cursor is None else _decode(cursor, listing, segments, books)
    ids: list[str] = []
    next_at: tuple[str, Any] | None = None
    for i in range(segments.index(segment), len(segments)):
        segment = segments[i]
        got, more = _read(books, segment, state, position, limit - len(ids))
        ids += got
        position = None
        if more is not None:
            next_at = (segment, more)
            break
        if len(ids) >= limit:
            rest = next((s for s in segments[i + 1 :] if _size(books, s, state)), None)
            next_at = None if rest is None else (rest, None)
            break
    counts = {s: books.ledger.count(s) for s in OperationState}
    if listing == HISTORY_LISTING:
        total = len(books.history)
    else:
        total = counts[state] if state is not None else sum(counts.values())
    return OperationPage(
        operations=[books.ledger.record(books.ledger[i]) for i in ids],
        next_cursor=None if next_at is None else _encode(listing, *next_at),
        total=total,
        counts=counts,
    )


def _read(books: Books, segment: str, state: OperationState | None, position: Any, limit: int) -> tuple[list[str], Any]:
    """Up to ``limit`` ids of one segment from ``position`` on, and where the next page starts in
    it (None: the segment is done)."""
    if segment == ACTIVE:
        active = books.active
        wanted = active is not None and (state is None or books.ledger[active].state is state)
        return ([active] if wanted and limit > 0 and active is not None else []), None
    if segment == QUEUE:
        entries, last = books.queue.page(position, limit)
        return [e.id for e in entries], None if last is None else list(last)
    terminal = state if state in _TERMINAL else None
    return books.history.newest(limit, terminal, position)


def _size(books: Books, segment: str, state: OperationState | None) -> int:
    if segment == ACTIVE:
        return int(books.active is not None)
    if segment == QUEUE:
        return len(books.queue)
    return books.ledger.count(state) if state in _TERMINAL else len(books.history)


def _encode(listing: str, segment: str, position: Any) -> str:
    raw = json.dumps([_VERSION, listing, segment, position], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode(cursor: str, listing: str, segments: tuple[str, ...], books: Books) -> tuple[str, Any]:
    if not isinstance(cursor, str) or not cursor or len(cursor) > limits.MAX_CURSOR_LENGTH:
        raise ValidationError("cursor must be a next_cursor of an earlier page of this listing", field="cursor")
    try:
        version, given_for, segment, position = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, TypeError, binascii.Error):
        raise ValidationError("cursor is not one this dispatcher gave out (a page's next_cursor)", field="cursor") from None
    if version == _VERSION and isinstance(given_for, str) and given_for != listing:
        raise ValidationError(f"cursor belongs to the listing {given_for!r}, not {listing!r}: start again without one", field="cursor")
    if version != _VERSION or segment not in segments or not _position_ok(segment, position, books):
        raise ValidationError("cursor is not one this dispatcher gave out (a page's next_cursor)", field="cursor")
    return segment, tuple(position) if segment == QUEUE and position is not None else position


def _position_ok(segment: str, position: Any, books: Books) -> bool:
    if position is None:
        return True
    if segment == HISTORY:
        return type(position) is int and position >= 0
    if segment != QUEUE or not isinstance(position, list) or len(position) < 3:
        return False
    kind, *middle, op_id = position
    sizes = {READY: len(books.queue.sort_rules) + 1, GATED: 2, BLOCKED: 1}
    return (
        type(kind) is int
        and sizes.get(kind) == len(middle)
        and all(type(v) in (int, float) for v in middle)
        and type(middle[-1]) is int
        and isinstance(op_id, str)
    )

