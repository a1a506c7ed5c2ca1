"""Retry policies: what happens after a denied start and after a failure."""

from __future__ import annotations

from dataclasses import dataclass

from ._errors import ValidationError

MIN_COOLDOWN_SECONDS = 0.1
"""The shortest wait after a denied start (cooldown_seconds 0 included)."""


@dataclass(frozen=True)
class DenialPolicy:
    """A denied start is asked again after ``cooldown_seconds``; after
    ``max_retries`` denials in a row the dispatcher pauses itself."""

    cooldown_seconds: float = 1.0
    max_retries: int = 5

    @property
    def waited(self) -> float:
        """Seconds actually waited after a denial: at least :data:`MIN_COOLDOWN_SECONDS`, so a
        business logic that denies at once cannot make the dispatcher ask hundreds of times a second."""
        return max(self.cooldown_seconds, MIN_COOLDOWN_SECONDS)

    def __post_init__(self) -> None:
        if not 0 <= self.cooldown_seconds <= 3600:
            raise ValidationError("cooldown_seconds must be within [0, 3600]", field="cooldown_seconds")
        if self.max_retries < 1:
            raise ValidationError("max_retries must be at least 1", field="max_retries")


@dataclass(frozen=True)
class FailureStreakPolicy:
    """After ``max_failures`` operations failed in a row (none completed in between) the
    dispatcher pauses itself, as after a denial streak: a robot that rejects or aborts every
    goal would otherwise fail the whole queue in seconds. 0 = never pause for failures."""

    max_failures: int = 5

    def __post_init__(self) -> None:
        if isinstance(self.max_failures, bool) or not isinstance(self.max_failures, int) or self.max_failures < 0:
            raise ValidationError("max_failures must be a whole number >= 0 (0 = never pause)", field="max_failures")

    def pauses(self, failures: int) -> bool:
        """Whether ``failures`` in a row pause the dispatcher."""
        return 0 < self.max_failures <= failures


@dataclass(frozen=True)
class FailureRetryPolicy:
    """Opt-in: a FAILED operation is queued again after an exponential
    back-off, until it has been started ``max_attempts`` times."""

    max_attempts: int = 3
    initial_backoff_seconds: float = 1.0
    multiplier: float = 2.0
    max_backoff_seconds: float = 60.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValidationError("max_attempts must be at least 1", field="max_attempts")
        if self.initial_backoff_seconds < 0 or self.max_backoff_seconds < 0 or self.multiplier < 1:
            raise ValidationError("back-off must be >= 0 and multiplier >= 1", field="initial_backoff_seconds")

    def backoff(self, attempts: int) -> float | None:
        """Seconds to wait after the ``attempts``-th start failed, or None when out of attempts."""
        if attempts >= self.max_attempts:
            return None
        return min(self.initial_backoff_seconds * self.multiplier ** (attempts - 1), self.max_backoff_seconds)


@dataclass(frozen=True)
class NotReadyPolicy:
    """When to ask again after a business logic answered a start "not ready" (``Decision.later``)
    without saying when: after ``first_seconds``, doubling per not-ready answer in a row, up to
    ``max_seconds``. Short on purpose: the first start should follow within a second of the
    input the business logic waited for (say, the robot's first battery reading). Each answer
    costs a handshake and two events (START_REQUESTED, START_DEFERRED) in the operation's log.
    Not-ready answers never count as denials and never pause the dispatcher."""

    first_seconds: float = 0.1
    max_seconds: float = 0.5

    def __post_init__(self) -> None:
        if not 0 < self.first_seconds <= self.max_seconds <= 3600:
            raise ValidationError("not-ready back-off must satisfy 0 < first_seconds <= max_seconds <= 3600", field="first_seconds")

    def backoff(self, streak: int) -> float:
        """Seconds to wait after the ``streak``-th not-ready answer in a row (1 = the first)."""
        return min(self.first_seconds * 2.0 ** min(streak - 1, 64), self.max_seconds)
