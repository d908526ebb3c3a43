"""The wait before a target's next poll: the interval, doubled per failure in a row up to a cap,
and never shorter than an upstream's `Retry-After`."""

from __future__ import annotations

from dataflow_exporter import backoff


def test_the_factor_is_one_until_a_failure_then_doubles_per_failure_up_to_eight() -> None:
    # Worked out by hand: 2 ** (failures - 1), capped at 8 intervals.
    assert [backoff.factor(n) for n in range(7)] == [1, 1, 2, 4, 8, 8, 8]


def test_the_delay_is_the_interval_times_the_factor() -> None:
    assert [backoff.delay(10, n, None) for n in range(6)] == [10, 10, 20, 40, 80, 80]


def test_a_retry_after_longer_than_the_backoff_is_waited_out() -> None:
    assert backoff.delay(10, 1, 300) == 300


def test_a_retry_after_shorter_than_the_interval_does_not_shorten_it() -> None:
    assert backoff.delay(10, 0, 2) == 10
    assert backoff.delay(10, 2, 19.5) == 20
