"""History: finished operations in the order they finished, read newest first, a page at a time.

Terminal states are final, so the history only grows: a position in it (or
in one terminal state's part of it) names the same operation for good,
which makes it a cursor that operations finishing between two pages do not
shift. Each terminal state keeps its own list, so a page of one state costs
the page, not the history.
"""

from __future__ import annotations

from collections.abc import Iterable

from ._models import OperationState


class History:
    def __init__(self, finished: Iterable[tuple[str, OperationState]] = ()) -> None:
        self._all: list[str] = []
        self._of: dict[OperationState, list[str]] = {}
        for op_id, state in finished:
            self.append(op_id, state)

    def append(self, op_id: str, state: OperationState) -> None:
        self._all.append(op_id)
        self._of.setdefault(state, []).append(op_id)

    def __len__(self) -> int:
        return len(self._all)

    def newest(self, limit: int, state: OperationState | None = None, before: int | None = None) -> tuple[list[str], int | None]:
        """Up to ``limit`` ids, newest first, of those finished before position ``before`` (None:
        from the newest); and the position to read on from, None when nothing older is left."""
        ids = self._all if state is None else self._of.get(state, [])
        end = len(ids) if before is None else min(before, len(ids))
        start = max(end - limit, 0)
        return ids[start:end][::-1], start if start > 0 else None
