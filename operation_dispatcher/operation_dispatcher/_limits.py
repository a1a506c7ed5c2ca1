"""Input limits shared by every door (Python, ROS, REST, MCP).

They exist so that a typo or a hostile client gets a clear refusal instead
of a dispatcher that is slow, huge or unable to persist what it accepted.
"""

from __future__ import annotations

from datetime import datetime, timezone

MAX_ID_LENGTH = 128
MAX_STRING_LENGTH = 1024
MAX_PAYLOAD_BYTES = 64 * 1024
MAX_OPERATIONS_PER_ADD = 10_000
MAX_DEPENDENCIES = 64
PRIORITY_MIN = -1_000_000
PRIORITY_MAX = 1_000_000
MAX_DURATION_SECONDS = 366 * 24 * 3600.0
EARLIEST_DATE = datetime(1970, 1, 1, tzinfo=timezone.utc)
LATEST_DATE = datetime(2200, 1, 1, tzinfo=timezone.utc)
HISTORY_LIMIT_DEFAULT = 50
HISTORY_LIMIT_MAX = 1000
