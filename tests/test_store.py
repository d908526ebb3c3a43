"""The store: each target's last good snapshot and poll health, what changes `version` (the
exposition cache's key), readiness, staleness, and the cap on unknown-value counters."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

import pytest

from dataflow_exporter import store as store_mod
from dataflow_exporter.errors import Reason
from dataflow_exporter.families import MetricSpec
from dataflow_exporter.records import BrokenEntity, DetailFailure
from dataflow_exporter.snapshot import Snapshot
from dataflow_exporter.store import (
    MAX_UNKNOWN_FIELDS,
    OTHER_FIELD,
    Store,
    TargetState,
)

UP = MetricSpec("demo_up", "gauge", "Up.")


def snapshot(taken_at: float, dropped: int = 0) -> Snapshot:
    """A snapshot of one rendered series."""
    block = b'demo_up{target="pg"} 1.0\n'
    return Snapshot({"demo_up": block}, {"demo_up": UP}, 1, dropped, {"mirrors": 1}, taken_at)


def store_with(*names: str) -> Store:
    store = Store()
    for name in names:
        store.add(TargetState(name, "peerdb", 30.0, 300.0))
    return store


def test_ready_only_once_every_target_has_finished_a_poll() -> None:
    store = store_with("a", "b")
    assert not store.ready()
    store.record_success("a", snapshot(1.0), [], 0.1)
    assert not store.ready()
    store.record_failure("b", Reason.TIMEOUT, "timed out", 5.0, 2.0)
    assert store.ready()


def test_every_change_that_shows_in_metrics_bumps_the_version() -> None:
    store = Store()
    versions = [store.version]
    store.add(TargetState("a", "peerdb", 30.0, 300.0))
    versions.append(store.version)
    store.record_success("a", snapshot(1.0), [], 0.1)
    versions.append(store.version)
    store.record_failure("a", Reason.HTTP_5XX, "500", 0.1, 2.0)
    versions.append(store.version)
    store.record_reload(False, 3.0)
    versions.append(store.version)
    store.remove("a")
    versions.append(store.version)
    assert versions == sorted(set(versions))  # strictly increasing


def test_what_does_not_show_in_metrics_leaves_the_version() -> None:
    store = store_with("a")
    for now in (1.0, 2.0):  # two failures in a row: the next poll waits two intervals
        store.record_failure("a", Reason.TIMEOUT, "timed out", 5.0, now)
    before = store.version
    store.record_schedule("a", next_poll_at=60.0, retry_after=None)
    store.remove("gone")
    store.record_success("gone", snapshot(1.0), [], 0.1)
    store.record_failure("gone", Reason.TIMEOUT, "timed out", 5.0, 2.0)
    assert store.version == before
    assert store.targets["a"].consecutive_failures == 2
    assert set(store.targets) == {"a"}


def test_a_failure_keeps_the_last_good_snapshot_and_counts_by_reason() -> None:
    store = store_with("a")
    good = snapshot(1.0)
    store.record_success("a", good, [], 0.1)
    store.record_failure("a", Reason.AUTH, "401", 0.2, 2.0)
    store.record_failure("a", Reason.AUTH, "401", 0.2, 3.0)
    state = store.targets["a"]
    assert state.snapshot is good
    assert (state.up, state.last_success, state.last_poll_at) == (False, 1.0, 3.0)
    assert (state.last_error_reason, state.errors_total["auth"]) == ("auth", 2)
    assert (state.polls_total, state.consecutive_failures) == (3, 2)


def test_a_success_clears_the_error_and_resets_consecutive_failures() -> None:
    store = store_with("a")
    store.record_failure("a", Reason.CONNECT, "refused", 0.1, 1.0)
    store.record_success("a", snapshot(2.0, dropped=3), [], 0.1)
    store.record_success("a", snapshot(3.0, dropped=4), [], 0.1)
    state = store.targets["a"]
    assert (state.up, state.last_error_reason, state.last_error) == (True, None, None)
    assert state.consecutive_failures == 0
    assert state.errors_total["connect"] == 1  # a counter: the failure stays counted
    assert state.dropped_total == 7


def test_a_target_is_stale_only_when_its_last_success_is_older_than_stale_after() -> None:
    store = store_with("a")
    store.record_success("a", snapshot(1000.0), [], 0.1)
    store.record_failure("a", Reason.TIMEOUT, "timed out", 5.0, 1010.0)
    state = store.targets["a"]
    assert not state.stale(1000.0 + 300.0)
    assert state.stale(1000.0 + 300.5)


def test_a_target_up_now_is_never_stale() -> None:
    store = store_with("a")
    store.record_success("a", snapshot(1000.0), [], 0.1)
    assert not store.targets["a"].stale(1_000_000.0)


def test_a_target_that_never_succeeded_goes_stale_after_its_configuration() -> None:
    state = TargetState("a", "peerdb", 30.0, 300.0, configured_at=1000.0)
    assert not state.stale(1300.0)
    assert state.stale(1300.5)
    assert not TargetState("b", "peerdb", 30.0, 300.0).stale(1e9)  # no time to count from


def test_a_broken_entity_keeps_the_time_it_was_first_seen() -> None:
    store = store_with("a")
    broken = BrokenEntity("mirror", (("mirror", "m1"),), "STATUS_FAILED")
    store.record_success("a", snapshot(10.0), [], 0.1, broken=(broken,))
    store.record_success("a", snapshot(40.0), [], 0.1, broken=(broken,))
    key = ("mirror", (("mirror", "m1"),), "STATUS_FAILED")
    assert store.targets["a"].seen_since(key) == 10.0
    store.record_success("a", snapshot(70.0), [], 0.1)
    assert store.targets["a"].seen_since(key) is None


def test_unknown_values_count_per_system_and_field() -> None:
    store = store_with("a", "b")
    store.record_success("a", snapshot(1.0), [("flow_status", "NEW"), ("flow_status", "X")], 0.1)
    store.record_success("b", snapshot(1.0), [("flow_status", "NEW")], 0.1)
    assert store.unknown_values == {("peerdb", "flow_status"): 3}


def test_field_names_beyond_the_cap_count_under_other() -> None:
    store = store_with("a")
    unknown = [(f"field_{i}", "v") for i in range(MAX_UNKNOWN_FIELDS + 5)]
    store.record_success("a", snapshot(1.0), unknown, 0.1)
    store.record_success("a", snapshot(2.0), [("field_0", "v")], 0.1)
    assert len(store.unknown_values) == MAX_UNKNOWN_FIELDS + 1
    assert store.unknown_values[("peerdb", OTHER_FIELD)] == 5
    assert store.unknown_values[("peerdb", "field_0")] == 2


TAKEN_AT = 1_700_000_000.0
STALE_AFTER = 300.0


def _snapshot(dropped: int, taken_at: float = TAKEN_AT) -> Snapshot:
    empty: MappingProxyType[str, Any] = MappingProxyType({})
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


def test_failures_are_counted_by_reason_over_polls() -> None:
    store = _store_with()
    for reason in (Reason.TIMEOUT, Reason.AUTH, Reason.TIMEOUT, Reason.TIMEOUT):
        store.record_failure("pg", reason, "failed", duration=1.0, now=TAKEN_AT)
    state = store.targets["pg"]
    assert dict(state.errors_total) == {"timeout": 3, "auth": 1}
    assert (state.polls_total, state.consecutive_failures) == (4, 4)


def test_broken_entities_beyond_the_cap_are_counted_not_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(store_mod, "MAX_BROKEN_KEPT", 2)
    store = store_with("a")
    broken = tuple(
        BrokenEntity("mirror", (("mirror", f"m{i}"),), "STATUS_FAILED") for i in range(3)
    )
    store.record_success("a", snapshot(10.0), [], 0.1, broken=broken)
    state = store.targets["a"]
    assert state.broken == broken[:2]
    assert state.broken_omitted == 1


def test_a_copy_keeps_the_state_it_was_taken_at() -> None:
    store = Store()
    store.add(TargetState("pg", "peerdb", 30, 300))
    copy = store.copy()
    store.record_failure("pg", Reason.CONNECT, "refused", 0.1, 1.0)
    store.remove("pg")
    (state,) = copy.targets.values()
    assert (state.polled, state.last_error, copy.version) == (False, None, 1)


def test_long_upstream_texts_are_kept_up_to_a_bound() -> None:
    store = Store()
    store.add(TargetState("pg", "peerdb", 30, 300))
    huge = "e" * (10 * 1024 * 1024)
    entity = BrokenEntity("mirror", (("mirror", "m"),), "STATUS_FAILED", huge)
    failure = DetailFailure("mirror m", "mirror_status", Reason.HTTP_5XX, huge)
    snapshot = Snapshot({}, {}, 1, 0, {}, 1.0)
    store.record_success("pg", snapshot, [], 0.1, (failure,), broken=(entity,))
    state = store.targets["pg"]
    assert len(state.broken[0].error) == store_mod.MAX_TEXT_KEPT
    assert len(state.detail_failures[0].message) == store_mod.MAX_TEXT_KEPT
    store.record_failure("pg", Reason.INTERNAL, huge, 0.1, 2.0)
    assert len(state.last_error or "") == store_mod.MAX_TEXT_KEPT


def test_a_text_as_long_as_the_bound_is_kept_whole() -> None:
    store = Store()
    store.add(TargetState("pg", "peerdb", 30, 300))
    text = "e" * store_mod.MAX_TEXT_KEPT
    entity = BrokenEntity("mirror", (("mirror", "m"),), "STATUS_FAILED", text)
    store.record_success("pg", Snapshot({}, {}, 1, 0, {}, 1.0), [], 0.1, broken=(entity,))
    assert store.targets["pg"].broken[0] is entity
