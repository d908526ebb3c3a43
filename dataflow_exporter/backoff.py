"""How long a target waits before its next poll: the interval, stretched after consecutive
failures and by an upstream's `Retry-After`.

One policy, read by the scheduler (which sleeps it) and by the status view (which shows it); the
store only counts the failures in a row.
"""

from __future__ import annotations

FACTOR_CAP = 8  # a failing target is polled at least every 8 intervals


def factor(failures: int) -> int:
    """How many intervals the next poll waits after `failures` consecutive failures."""
    return min(2 ** (failures - 1), FACTOR_CAP) if failures > 0 else 1


def delay(interval: float, failures: int, retry_after: float | None) -> float:
    """Seconds until the next poll, before jitter: at least as long as `retry_after` asks."""
    seconds = interval * factor(failures)
    if retry_after is not None:
        seconds = max(seconds, retry_after)
    return seconds
