"""The status page's broken-now section and target table, rendered from a store."""

from __future__ import annotations

import base64
import hashlib

import pytest

from dataflow_exporter import status_page
from dataflow_exporter import store as store_mod
from dataflow_exporter.errors import Reason
from dataflow_exporter.records import BrokenEntity
from dataflow_exporter.snapshot import build_snapshot
from dataflow_exporter.status_page import SHORT_ERROR_CHARS, render_status_page
from dataflow_exporter.store import Store, TargetState

NOW = 1_700_000_000.0


def _store(*targets: tuple[str, tuple[BrokenEntity, ...], dict[str, int]]) -> Store:
    store = Store()
    for name, broken, entities in targets:
        store.add(TargetState(name, "etlworks", 30, 300, configured_at=NOW - 60))
        snapshot = build_snapshot([], (("target", name),), 10, entities, NOW - 5)
        store.record_success(name, snapshot, [], 0.1, (), {}, broken)
    return store


def _section(page: str, start: str, end: str = "</table>") -> str:
    begin = page.index(start)
    return page[begin : page.index(end, begin)]


def test_a_long_error_is_cut_with_the_whole_text_one_click_away_escaped_and_scrubbed() -> None:
    text = "<script>alert(1)</script> jdbc:mysql://etl:Hunter2pw@db/app " + "x" * 400
    flow = BrokenEntity("flow", (("flow_id", "7"), ("flow", "Load")), "error", text, NOW - 90)
    page = render_status_page(_store(("etl", (flow,), {"flows error": 1})), NOW)
    row = _section(page, 'id="broken"')
    assert "<script>" not in row
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in row
    assert "Hunter2pw" not in row
    summary = row[row.index("<summary>") + len("<summary>") : row.index("</summary>")]
    assert len(summary) < SHORT_ERROR_CHARS + 40, "the cut text is short"
    assert "x" * 400 in row[row.index("<pre>") :], "the whole text is in the <details>"
    assert "90s ago" in row, "since: the upstream's own time"


def test_a_target_that_is_up_but_holds_broken_entities_is_amber_not_green() -> None:
    flow = BrokenEntity("flow", (("flow_id", "7"), ("flow", "Load")), "error")
    page = render_status_page(_store(("a", (flow,), {"flows error": 1}), ("b", (), {})), NOW)
    assert '<tr class="partial" data-target="a">' in page
    assert '<tr class="up" data-target="b">' in page
    assert "UP (1 broken)" in page
    assert "(first seen)" in _section(page, 'id="broken"'), "no upstream time: the exporter's"


def test_healthy_but_quiet_reads_differently_from_no_data() -> None:
    quiet = render_status_page(_store(("etl", (), {})), NOW)
    assert 'id="all-healthy"' in quiet
    assert "none listed (the upstream reports no entities)" in quiet
    assert 'id="no-data"' not in quiet

    store = Store()
    store.add(TargetState("etl", "etlworks", 30, 300, configured_at=NOW - 60))
    store.record_failure("etl", Reason.AUTH, "HTTP 401", 0.1, NOW - 5)
    blind = render_status_page(store, NOW)
    assert 'id="all-healthy"' not in blind, "silence from a target that never answered"
    assert "etl (no data yet)" in _section(blind, 'id="no-data"', "</p>")


def test_a_failing_target_shows_its_backoff_and_when_the_next_poll_is_due() -> None:
    store = _store(("etl", (), {"flows success": 2}))
    for _ in range(3):
        store.record_failure("etl", Reason.HTTP_5XX, "HTTP 503", 0.1, NOW - 5)
    store.record_schedule("etl", NOW + 120, None)
    page = render_status_page(store, NOW)
    assert "in 2m" in page
    assert "backoff ×4 (3 failures)" in page


def test_rows_beyond_the_cap_are_one_line_saying_how_many_more(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(status_page, "MAX_BROKEN_ROWS", 1)
    flows = tuple(
        BrokenEntity("flow", (("flow_id", str(i)), ("flow", f"Load {i}")), "error")
        for i in range(3)
    )
    page = render_status_page(_store(("etl", flows, {"flows error": 3})), NOW)
    broken = _section(page, 'id="broken"')
    assert sum(f"Load {i}<" in broken for i in range(3)) == 1
    assert "etl: 2 more (see /api/v1/status?target=etl)" in broken


@pytest.mark.parametrize("since", [1e300, -1e300, 1e20, float("inf"), float("-inf"), float("nan")])
def test_any_time_an_entity_holds_renders_without_raising(since: float) -> None:
    flow = BrokenEntity("flow", (("flow_id", "7"), ("flow", "Load")), "error", "boom", since)
    page = render_status_page(_store(("etl", (flow,), {"flows error": 1})), NOW)
    row = _section(page, 'id="broken"')
    assert "Load" in row
    assert "boom" in row


def test_more_counts_the_entities_the_store_left_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_mod, "MAX_BROKEN_KEPT", 2)
    flows = tuple(
        BrokenEntity("flow", (("flow_id", str(i)), ("flow", f"Load {i}")), "error")
        for i in range(5)
    )
    page = render_status_page(_store(("etl", flows, {"flows error": 5})), NOW)
    broken = _section(page, 'id="broken"')
    assert sum(f"Load {i}<" in broken for i in range(5)) == 2
    assert "etl: 3 more (see /api/v1/status?target=etl)" in broken


def test_a_down_target_is_listed_as_not_known_now() -> None:
    store = _store(("etl", (), {"flows success": 2}), ("ok", (), {}))
    store.record_failure("etl", Reason.CONNECT, "refused", 0.1, NOW - 1)
    page = render_status_page(store, NOW)
    no_data = _section(page, 'id="no-data"', "</p>")
    assert "etl (down, showing its last good poll)" in no_data
    assert "ok (" not in no_data
    stale = render_status_page(store, NOW + 400)
    assert "etl (down, data too old to show)" in _section(stale, 'id="no-data"', "</p>")


def test_invisible_characters_are_shown_escaped_never_raw() -> None:
    flow = BrokenEntity("flow", (("flow_id", "7"), ("flow", "gnp\u202eexe.")), "error", "a\u200bb")
    page = render_status_page(_store(("etl", (flow,), {"flows error": 1})), NOW)
    assert "\u202e" not in page and "\u200b" not in page
    row = _section(page, 'id="broken"')
    assert "gnp&lt;U+202E&gt;exe." in row
    assert "a&lt;U+200B&gt;b" in row


def test_the_policy_allows_exactly_the_pages_own_style() -> None:
    page = render_status_page(_store(("etl", (), {})), NOW)
    style = page[page.index("<style>") + len("<style>") : page.index("</style>")]
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    policy = dict(
        part.strip().split(" ", 1) for part in status_page.CONTENT_SECURITY_POLICY.split(";")
    )
    assert policy["style-src"] == f"'sha256-{digest}'"
    assert (policy["default-src"], policy["frame-ancestors"]) == ("'none'", "'none'")
    assert "<script" not in page and " style=" not in page
