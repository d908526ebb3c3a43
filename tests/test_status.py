"""The status both the page and the JSON API show: targets needing attention first, each
target's health and what its data is, broken entities with "since when", and upstream text made
safe to show."""

from __future__ import annotations

from dataflow_exporter import redact
from dataflow_exporter.errors import Reason
from dataflow_exporter.snapshot import Snapshot
from dataflow_exporter.sources.base import BrokenEntity, DetailFailure
from dataflow_exporter.status import API_VERSION, MAX_ERROR_CHARS, status_view
from dataflow_exporter.store import Store, TargetState

NOW = 1_700_000_000.0


def snapshot(taken_at: float) -> Snapshot:
    return Snapshot({}, {}, 4, 0, {"mirrors/STATUS_RUNNING": 4}, taken_at)


def add(store: Store, name: str) -> None:
    store.add(TargetState(name, "peerdb", 30.0, 300.0, configured_at=NOW - 600))


def test_targets_needing_attention_come_first_then_by_name() -> None:
    store = Store()
    for name in ("a-up", "b-pending", "c-down", "d-degraded", "e-down"):
        add(store, name)
    for name in ("a-up", "d-degraded"):
        broken = (BrokenEntity("mirror", (("mirror", "m"),), "STATUS_FAILED"),)
        store.record_success(name, snapshot(NOW), [], 0.1, broken=broken if "deg" in name else ())
    for name in ("c-down", "e-down"):
        store.record_failure(name, Reason.CONNECT, "refused", 0.1, NOW)
    view = status_view(store, NOW)
    assert [(t.name, t.health) for t in view.targets] == [
        ("c-down", "down"),
        ("e-down", "down"),
        ("d-degraded", "degraded"),
        ("b-pending", "pending"),
        ("a-up", "up"),
    ]
    assert (view.api_version, view.generated_at) == (API_VERSION, NOW)


def test_a_failing_detail_call_makes_a_target_degraded() -> None:
    store = Store()
    add(store, "pg")
    failure = DetailFailure("mirror m", "mirror_status", Reason.HTTP_5XX, "500")
    store.record_success("pg", snapshot(NOW), [], 0.1, detail_failures=(failure,))
    (target,) = status_view(store, NOW).targets
    assert (target.health, target.broken) == ("degraded", 1)


def test_data_says_whether_the_series_are_current_old_or_withheld() -> None:
    store = Store()
    add(store, "pg")
    assert status_view(store, NOW).targets[0].data == "none"
    store.record_success("pg", snapshot(NOW - 100), [], 0.1)
    assert status_view(store, NOW).targets[0].data == "current"
    store.record_failure("pg", Reason.TIMEOUT, "timed out", 5.0, NOW)
    target = status_view(store, NOW).targets[0]
    assert (target.data, target.stale, target.series) == ("last_success", False, 4)
    target = status_view(store, NOW + 300).targets[0]
    assert (target.data, target.stale, target.series) == ("withheld", True, 0)


def test_broken_entities_of_a_down_target_are_shown_as_not_current_until_stale() -> None:
    store = Store()
    add(store, "pg")
    broken = BrokenEntity("mirror", (("mirror", "m"),), "STATUS_FAILED", "boom", since=NOW - 50)
    store.record_success("pg", snapshot(NOW - 100), [], 0.1, broken=(broken,))
    store.record_failure("pg", Reason.TIMEOUT, "timed out", 5.0, NOW)
    (shown,) = status_view(store, NOW).broken
    assert (shown.current, shown.since, shown.since_source) == (False, NOW - 50, "upstream")
    assert status_view(store, NOW + 300).broken == []


def test_without_an_upstream_time_since_is_when_the_exporter_first_saw_it() -> None:
    store = Store()
    add(store, "pg")
    broken = BrokenEntity("mirror", (("mirror", "m"),), "STATUS_FAILED")
    store.record_success("pg", snapshot(NOW - 60), [], 0.1, broken=(broken,))
    store.record_success("pg", snapshot(NOW), [], 0.1, broken=(broken,))
    (shown,) = status_view(store, NOW).broken
    assert (shown.since, shown.since_source, shown.current) == (NOW - 60, "exporter", True)


def test_error_texts_are_scrubbed_of_secrets_and_cut() -> None:
    redact.register("known-secret-5e1f")
    store = Store()
    add(store, "pg")
    message = "login known-secret-5e1f failed at jdbc:postgresql://u:pw123@db/x " + "y" * 5000
    store.record_failure("pg", Reason.AUTH, message, 0.1, NOW)
    error = status_view(store, NOW).targets[0].last_error
    assert error is not None
    assert error.reason == "auth"
    assert "known-secret-5e1f" not in error.message and "pw123" not in error.message
    assert len(error.message) == MAX_ERROR_CHARS
    assert error.message.endswith("…")


def test_a_lone_surrogate_in_upstream_text_becomes_a_question_mark() -> None:
    store = Store()
    add(store, "pg")
    broken = BrokenEntity("mirror", (("mirror", "m\ud800"),), "BAD\udc00", "e\ud800")
    store.record_success("pg", snapshot(NOW), [], 0.1, broken=(broken,))
    (shown,) = status_view(store, NOW).broken
    assert (shown.names, shown.state, shown.error) == ({"mirror": "m?"}, "BAD?", "e?")


def test_broken_entities_come_critical_first_then_warnings_then_failing_detail_calls() -> None:
    store = Store()
    for name in ("a", "b"):
        add(store, name)
    failure = DetailFailure("mirror m", "mirror_status", Reason.HTTP_5XX, "500")
    paused = BrokenEntity("mirror", (("mirror", "paused"),), "STATUS_PAUSED")
    store.record_success("a", snapshot(NOW), [], 0.1, detail_failures=(failure,), broken=(paused,))
    critical = (
        BrokenEntity("mirror", (("mirror", "failed"),), "STATUS_FAILED"),
        BrokenEntity("link", (("link", "l"),), "UNAVAILABLE"),
        BrokenEntity("input connector", (("connector", "c"),), "fatal error, Unhealthy"),
        BrokenEntity("pipeline", (("pipeline", "p"),), "Stopped", "deployment failed"),
        BrokenEntity("flow", (("flow", "f"),), "running for 3.0h"),
    )
    store.record_success("b", snapshot(NOW), [], 0.1, broken=critical)
    order = [(v.target, v.state) for v in status_view(store, NOW).broken]
    assert order == [
        ("b", "STATUS_FAILED"),
        ("b", "UNAVAILABLE"),
        ("b", "fatal error, Unhealthy"),
        ("b", "Stopped"),
        ("a", "STATUS_PAUSED"),
        ("b", "running for 3.0h"),
        ("a", "failing (http_5xx)"),
    ]
