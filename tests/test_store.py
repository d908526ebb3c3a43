"""The store: counters accumulate across polls, and staleness starts strictly after
`stale_after` (at exactly `stale_after` the data is still shown)."""

from __future__ import annotations

from types import MappingProxyType

from dataflow_exporter.store import Snapshot, Store, TargetState
from dataflow_exporter.upstream import Reason

TAKEN_AT = 1_700_000_000.0
STALE_AFTER = 300.0


def _snapshot(dropped: int, taken_at: float = TAKEN_AT) -> Snapshot:
    empty = MappingProxyType({})
    return Snapshot(empty, empty, series=10, dropped=dropped, entities=empty, taken_at=taken_at)


def _store_with(name: str = "pg") -> Store:
    store = Store()
    store.add(TargetState(name, "peerdb", interval=30.0, stale_after=STALE_AFTER))
    return store


def test_dropped_series_accumulate_over_polls() -> None:
    store = _store_with()
    for dropped in (3, 4, 0, 5):
        store.record_success("pg", _snapshot(dropped), [], duration=0.1)
    assert store.targets["pg"].dropped_total == 12


def test_a_good_snapshot_is_not_stale_at_exactly_stale_after() -> None:
    store = _store_with()
    store.record_success("pg", _snapshot(0), [], duration=0.1)
    store.record_failure("pg", Reason.TIMEOUT, "timed out", duration=1.0, now=TAKEN_AT + 1)
    state = store.targets["pg"]
    assert not state.stale(TAKEN_AT + STALE_AFTER)
    assert state.stale(TAKEN_AT + STALE_AFTER + 0.5)


def test_a_target_that_never_succeeded_is_not_stale_at_exactly_stale_after() -> None:
    state = TargetState("pg", "peerdb", 30.0, STALE_AFTER, configured_at=TAKEN_AT)
    assert not state.stale(TAKEN_AT + STALE_AFTER)
    assert state.stale(TAKEN_AT + STALE_AFTER + 0.5)


def test_an_up_target_is_never_stale() -> None:
    store = _store_with()
    store.record_success("pg", _snapshot(0), [], duration=0.1)
    assert not store.targets["pg"].stale(TAKEN_AT + 10 * STALE_AFTER)


def test_failures_are_counted_by_reason_over_polls() -> None:
    store = _store_with()
    for reason in (Reason.TIMEOUT, Reason.AUTH, Reason.TIMEOUT, Reason.TIMEOUT):
        store.record_failure("pg", reason, "failed", duration=1.0, now=TAKEN_AT)
    state = store.targets["pg"]
    assert dict(state.errors_total) == {"timeout": 3, "auth": 1}
    assert (state.polls_total, state.consecutive_failures) == (4, 4)
