"""Repeated answers to starts: counted, not recorded, after the first few.

A business logic that denies an operation for a reason that lasts (a
closed door, a flat battery) is asked again after every cooldown; with a
short cooldown and a large ``max_retries`` that is up to ten requests a
second, each recorded as two events (the request and its answer) in the
store and in the operation's history: megabytes an hour saying the same.
A not-ready answer while an input is missing repeats the same way.

So after :data:`RECORDED_REPEATS` identical answers in a row to one
operation's starts (same kind, reason and data), the dispatcher goes on
asking but stops recording: the request goes out unrecorded (its event id
ends in ``-unrecorded-N``), an identical answer is only counted (a denial
still raises ``retry_count`` and the denial streak, and a denial that
pauses the dispatcher is always recorded), and the first answer that
differs (an approval, another reason) is recorded with its request and
``unrecorded_repeats``: how many request/answer pairs were left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ._models import Decision

RECORDED_REPEATS = 3
"""Identical answers in a row to one operation's starts recorded as events; later ones are counted."""


@dataclass
class AnswerRun:
    """The answers in a row, all alike, to the starts of one operation."""

    operation_id: str
    not_ready: bool
    reason: str | None
    data: dict[str, Any]
    count: int = 1  # answers in the run, recorded or not
    unrecorded: int = 0  # ... of them left out

    @classmethod
    def of(cls, operation_id: str, decision: Decision) -> AnswerRun:
        return cls(operation_id, decision.not_ready, decision.reason, decision.data)

    def quiet(self, operation_id: str) -> bool:
        """Whether the next start request of ``operation_id`` goes out unrecorded."""
        return operation_id == self.operation_id and self.count >= RECORDED_REPEATS

    def repeated_by(self, operation_id: str, decision: Decision) -> bool:
        """Whether ``decision`` (not an approval) on ``operation_id`` says what the run says."""
        return (operation_id, decision.not_ready, decision.reason, decision.data) == (
            self.operation_id, self.not_ready, self.reason, self.data,
        )  # fmt: skip
