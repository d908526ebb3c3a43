"""The status both the page and the JSON API show: targets needing attention first, each
target's health and what its data is, broken entities with "since when", and upstream text made
safe to show."""

from __future__ import annotations

import pytest

from dataflow_exporter import credential_text, known_secrets, status
from dataflow_exporter import store as store_mod
from dataflow_exporter.errors import Reason
from dataflow_exporter.records import BrokenEntity, DetailFailure
from dataflow_exporter.snapshot import Snapshot
from dataflow_exporter.status import (
    API_VERSION,
    MAX_ERROR_CHARS,
    MAX_NAME_CHARS,
    OVER_BUDGET_ERROR_CHARS,
    TextMemo,
    name_text,
    shown_text,
    status_view,
)
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
    known_secrets.register("known-secret-5e1f")
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


# Each end of every range of invisible characters, as the issue lists them.
INVISIBLE = [
    "\u202a", "\u202e", "\u2066", "\u2069",  # bidi embeddings, overrides, isolates
    "\u200b", "\u200d", "\ufeff",  # zero-width space and joiner, byte-order mark
    "\x00", "\x1b", "\x1f", "\x7f", "\x80", "\x9f",  # C0, DEL, C1
]  # fmt: skip


@pytest.mark.parametrize("char", INVISIBLE)
def test_invisible_characters_are_shown_as_their_code_point(char: str) -> None:
    code = f"<U+{ord(char):04X}>"
    store = Store()
    add(store, "pg")
    broken = BrokenEntity("mirror", (("mirror", f"a{char}b"),), f"S{char}", f"e{char}f")
    store.record_success("pg", snapshot(NOW), [], 0.1, broken=(broken,))
    (shown,) = status_view(store, NOW).broken
    assert (shown.names["mirror"], shown.state, shown.error) == (
        f"a{code}b",
        f"S{code}",
        f"e{code}f",
    )


def test_error_texts_keep_their_lines_and_tabs_but_names_do_not() -> None:
    assert shown_text("at x\n\tat y") == "at x\n\tat y"
    assert name_text("a\nb\tc") == "a<U+000A>b<U+0009>c"
    assert name_text("café 日本") == "café 日本"


def test_names_are_cut_to_a_readable_length() -> None:
    assert len(name_text("n" * 10_000)) == MAX_NAME_CHARS


def test_a_credential_the_shown_length_cuts_is_not_shown_in_part() -> None:
    # Cut first, the URL would lose its `@` and the scrubber could not know it for a credential.
    text = "x" * (MAX_ERROR_CHARS - 25) + " postgres://orders:Sup3rS3cretPassw0rd@db:5432/app"
    shown = shown_text(text + " y" * 100)
    assert "Sup3r" not in shown and "orders:" not in shown
    assert len(shown) <= MAX_ERROR_CHARS and shown.endswith("…")


def test_only_a_bounded_head_of_a_huge_text_is_scrubbed(monkeypatch: pytest.MonkeyPatch) -> None:
    lengths: list[int] = []
    real = credential_text.scrub

    def measured(text: str) -> str:
        lengths.append(len(text))
        return real(text)

    monkeypatch.setattr(credential_text, "scrub", measured)
    shown = shown_text("e " * 5_000_000)
    assert len(lengths) == 1 and lengths[0] <= credential_text.read_bound(MAX_ERROR_CHARS + 1)
    assert len(shown) == MAX_ERROR_CHARS


def test_each_distinct_text_is_scrubbed_once_across_views(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[str] = []
    real = credential_text.scrub

    def counted(text: str) -> str:
        calls.append(text)
        return real(text)

    monkeypatch.setattr(credential_text, "scrub", counted)
    store = Store()
    add(store, "pg")
    broken = tuple(
        BrokenEntity("mirror", (("mirror", f"m{i}"),), "STATUS_FAILED", "same error")
        for i in range(3)
    )
    store.record_success("pg", snapshot(NOW), [], 0.1, broken=broken)
    memo = TextMemo()
    status_view(store, NOW, memo)
    status_view(store, NOW, memo)
    assert calls == ["same error"]


def test_past_a_targets_error_budget_errors_are_cut_short(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(status, "MAX_TARGET_ERROR_CHARS", 2 * MAX_ERROR_CHARS)
    store = Store()
    add(store, "pg")
    broken = tuple(
        BrokenEntity("mirror", (("mirror", f"m{i}"),), "STATUS_FAILED", f"{i} " * 4500)
        for i in range(4)
    )
    store.record_success("pg", snapshot(NOW), [], 0.1, broken=broken)
    lengths = [len(b.error) for b in status_view(store, NOW).broken]
    assert lengths == [
        MAX_ERROR_CHARS,
        MAX_ERROR_CHARS,
        OVER_BUDGET_ERROR_CHARS,
        OVER_BUDGET_ERROR_CHARS,
    ]


def test_a_stale_target_leaves_nothing_out_of_the_nothing_it_lists(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(store_mod, "MAX_BROKEN_KEPT", 1)
    store = Store()
    add(store, "pg")
    broken = tuple(
        BrokenEntity("mirror", (("mirror", f"m{i}"),), "STATUS_FAILED") for i in range(3)
    )
    store.record_success("pg", snapshot(NOW), [], 0.1, broken=broken)
    store.record_failure("pg", Reason.TIMEOUT, "timed out", 1.0, NOW + 1)
    view = status_view(store, NOW + 301)  # past stale_after: its data is withheld
    (target,) = view.targets
    assert (target.stale, view.broken, target.broken_omitted) == (True, [], 0)


def test_entries_beyond_the_listed_cap_are_counted_as_omitted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(status, "MAX_LISTED", 2)
    monkeypatch.setattr(store_mod, "MAX_BROKEN_KEPT", 3)
    store = Store()
    add(store, "pg")
    broken = tuple(
        BrokenEntity("mirror", (("mirror", f"m{i}"),), "STATUS_FAILED") for i in range(4)
    )
    failure = DetailFailure("mirror m9", "mirror_status", Reason.HTTP_5XX, "500")
    store.record_success("pg", snapshot(NOW), [], 0.1, (failure,), broken=broken)
    view = status_view(store, NOW)
    assert [b.names for b in view.broken] == [{"mirror": "m0"}, {"mirror": "m1"}]
    # One beyond the store's cap; one mirror and the failing detail call beyond the view's.
    (target,) = view.targets
    assert (target.broken, target.broken_omitted) == (4, 3)


def test_detail_failures_fill_the_listed_cap_after_broken_entities(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(status, "MAX_LISTED", 2)
    store = Store()
    add(store, "pg")
    broken = (BrokenEntity("mirror", (("mirror", "m"),), "STATUS_FAILED"),)
    failures = tuple(
        DetailFailure(f"mirror m{i}", "mirror_status", Reason.HTTP_5XX, "500") for i in range(2)
    )
    store.record_success("pg", snapshot(NOW), [], 0.1, failures, broken=broken)
    view = status_view(store, NOW)
    assert [b.kind for b in view.broken] == ["mirror", "detail call"]
    assert view.targets[0].broken_omitted == 1


def test_the_store_keeps_more_of_a_text_than_the_view_scrubs() -> None:
    assert credential_text.read_bound(MAX_ERROR_CHARS + 1) < store_mod.MAX_TEXT_KEPT
    store = Store()
    add(store, "pg")
    text = "x " * ((store_mod.MAX_TEXT_KEPT - 20) // 2) + " postgres://u:Sup3rS3cret@db/app"
    broken = BrokenEntity("mirror", (("mirror", "m"),), "STATUS_FAILED", text * 100)
    store.record_success("pg", snapshot(NOW), [], 0.1, broken=(broken,))
    (shown,) = status_view(store, NOW).broken
    assert "Sup3r" not in shown.error and shown.error.endswith("…")


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
