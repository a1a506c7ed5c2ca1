"""Input limits shared by every door (Python, ROS, REST, MCP).

They exist so that a typo or a hostile client gets a clear refusal instead
of a dispatcher that is slow, huge or unable to persist what it accepted.
"""

from __future__ import annotations

from datetime import datetime, timezone

MAX_ID_LENGTH = 128
MAX_STRING_LENGTH = 1024
MAX_PAYLOAD_BYTES = 64 * 1024
"""Bytes of a payload (or a decision's data) as compact UTF-8 JSON."""
MAX_JSON_DEPTH = 32
"""Nesting of a payload (or a decision's data): a flat object is depth 1, ``{"a": [1]}`` depth 2.
What is accepted must be read back through every door, and readers nest it
further (a record holds the operation, a list holds records); JSON parsers
stop at a few hundred levels (pydantic's at about 200), so 32 leaves room."""
MAX_OPERATIONS_PER_ADD = 10_000
MAX_DEPENDENCIES = 64
PRIORITY_MIN = -1_000_000
PRIORITY_MAX = 1_000_000
MAX_DURATION_SECONDS = 366 * 24 * 3600.0
EARLIEST_DATE = datetime(1970, 1, 1, tzinfo=timezone.utc)
LATEST_DATE = datetime(2200, 1, 1, tzinfo=timezone.utc)
HISTORY_LIMIT_DEFAULT = 50
HISTORY_LIMIT_MAX = 1000
EVENT_LOG_LIMIT_DEFAULT = 100
"""Events in a page of the event log when a reader names no limit."""
EVENT_LOG_LIMIT_MAX = 1000
OPERATIONS_PAGE_DEFAULT = 100
"""Operations in a page of a listing when a reader names no limit (MCP: 50, an agent's context)."""
OPERATIONS_PAGE_MAX = 1000
MAX_CURSOR_LENGTH = 1024


def shorten(text: str, limit: int = MAX_STRING_LENGTH) -> str:
    """``text`` cut to at most ``limit`` characters, saying so at its end.

    For text from peers (a business logic's reason, a robot's message):
    refusing it would fail the handshake or lose the report it is part of,
    so it is kept, bounded, and the cut is visible (with the original length).
    """
    if len(text) <= limit:
        return text
    marker = f" [... truncated: {len(text)} characters]"
    return text[: max(limit - len(marker), 0)] + marker[: limit]
