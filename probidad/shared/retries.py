"""Waiting between attempts at something sent out (an e-mail, a webhook, an xAPI statement): pure, no I/O.

One rule for every loop that retries: the wait doubles after each failure, up to a ceiling, with a little jitter
so what failed together is not tried again in the same instant; past a time limit the thing is given up (parked).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


def doubling_wait_s(base_s: float, max_s: float, failures: int) -> float:
    """The wait after the ``failures``-th failure in a row (1: the first): ``base_s`` doubled per earlier failure,
    at most ``max_s``."""
    return min(base_s * 2 ** max(failures - 1, 0), max_s)


@dataclass(frozen=True)
class RetryPolicy:
    base_s: float  # the wait after the first failure, doubled on each further one
    max_s: float  # the longest wait between two attempts
    retry_for_s: float  # how long after its creation a thing is still tried
    jitter: float = 0.1  # at most this share of a wait is added at random

    def wait(self, failures: int, spread: float = 0.0) -> timedelta:
        """The wait after the ``failures``-th failure in a row; ``spread`` in [0, 1) picks the jitter, so the wait
        is never shorter than the doubling says."""
        seconds = doubling_wait_s(self.base_s, self.max_s, failures)
        return timedelta(seconds=seconds * (1 + self.jitter * min(max(spread, 0.0), 1.0)))

    def retry_at(self, *, created_at: datetime, attempts: int, now: datetime,
                 spread: float = 0.0) -> datetime | None:
        """After the ``attempts``-th failed attempt: when to try again, or None when that would come later than
        ``retry_for_s`` after the thing was created (it is parked, or given up)."""
        retry_at = now + self.wait(attempts, spread)
        return None if retry_at > created_at + timedelta(seconds=self.retry_for_s) else retry_at
