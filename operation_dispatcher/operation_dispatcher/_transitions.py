"""Which state an operation may move to from which: the one table every change is checked against.

The dispatcher moves an operation only after looking its current state up
in :data:`ALLOWED_BY_VALUE` (keyed as the ledger's rows keep the state); a
move the table does not list is a bug or a race lost, and is refused with
:func:`refuse` before anything changed.
"""

from __future__ import annotations

from ._errors import InvalidStateError
from ._models import OperationState

Q, R, P = OperationState.QUEUED, OperationState.RUNNING, OperationState.PAUSED
C, F, X = OperationState.COMPLETED, OperationState.FAILED, OperationState.CANCELLED

ALLOWED: dict[OperationState, frozenset[OperationState]] = {
    # started; cancelled; ended because a dependency can no longer be met (cancelled or failed, configurable)
    Q: frozenset({R, X, F}),
    # done, failed, cancelled, paused; back to the queue (a retried failure, or interrupted by a restart)
    R: frozenset({C, F, X, P, Q}),
    P: frozenset({R, C, F, X, Q}),
    C: frozenset(),
    F: frozenset(),
    X: frozenset(),
}

ALLOWED_BY_VALUE = {state.value: targets for state, targets in ALLOWED.items()}
"""The same table keyed by state value, as the ledger's rows keep it (one lookup on the hot path)."""


def refuse(operation_id: str, current: OperationState, why: str) -> None:
    """The move the table does not list: InvalidStateError, before anything changed."""
    raise InvalidStateError(
        f"cannot {why} operation {operation_id!r}: it is {current.value}",
        operation_id=operation_id,
        state=current.value,
    )
