"""The status page's broken-now section and target table, rendered from a store."""

from __future__ import annotations

import pytest

from dataflow_exporter import status_page
from dataflow_exporter.errors import Reason
from dataflow_exporter.snapshot import build_snapshot
from dataflow_exporter.sources.base import BrokenEntity
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
