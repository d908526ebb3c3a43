"""Rows of lines of panels become Grafana grid positions: widths are shares of the 24 columns,
lines stack by their height, ids count every panel and row header in order."""

from __future__ import annotations

from typing import Any

import pytest

from grafana.layout import GRID_WIDTH, Line, Row, place
from grafana.panels import Panel


def panels(count: int) -> list[Panel]:
    return [{"title": f"p{i}"} for i in range(count)]


def positions(placed: list[Panel]) -> list[tuple[Any, ...]]:
    return [(p["title"], *p["gridPos"].values()) for p in placed]


def test_panels_of_a_line_share_the_grid_equally() -> None:
    assert Line(8, panels(3)).widths() == [8, 8, 8]


def test_one_panel_fills_the_grid() -> None:
    assert Line(8, panels(1)).widths() == [GRID_WIDTH]


def test_weights_give_panels_their_share() -> None:
    assert Line(8, panels(2), weights=(5, 7)).widths() == [10, 14]


def test_slots_keep_a_short_line_as_wide_as_a_full_one() -> None:
    assert Line(5, panels(2), slots=4).widths() == [6, 6]


def test_a_line_filling_exactly_its_slots_is_accepted() -> None:
    assert Line(5, panels(4), slots=4).widths() == [6, 6, 6, 6]


def test_a_share_that_is_no_whole_column_is_refused() -> None:
    with pytest.raises(ValueError, match=r"do not split 24 columns"):
        Line(8, panels(5)).widths()


def test_an_unequal_share_that_is_no_whole_column_is_refused() -> None:
    with pytest.raises(ValueError, match=r"weights \[1, 4\] of 5"):
        Line(8, panels(2), weights=(1, 4)).widths()


def test_more_panels_than_slots_are_refused() -> None:
    with pytest.raises(ValueError, match=r"of 2 do not split"):
        Line(8, panels(3), slots=2).widths()


def test_a_weight_per_panel_is_required() -> None:
    with pytest.raises(ValueError, match=r"3 weights for 2 panels"):
        Line(8, panels(2), weights=(1, 1, 2)).widths()


def test_panels_go_left_to_right_and_lines_top_to_bottom_under_their_row() -> None:
    a, b, c, d = panels(4)
    placed = place([Row("R", [Line(4, [a, b, c]), Line(7, [d])])])
    # (title, h, w, x, y), in Grafana's key order
    assert positions(placed) == [
        ("R", 1, 24, 0, 0),
        ("p0", 4, 8, 0, 1),
        ("p1", 4, 8, 8, 1),
        ("p2", 4, 8, 16, 1),
        ("p3", 7, 24, 0, 5),
    ]


def test_a_row_starts_below_the_last_line_of_the_one_before() -> None:
    a, b = panels(2)
    placed = place([Row("R1", [Line(9, [a])]), Row("R2", [Line(3, [b])])])
    assert positions(placed)[2:] == [("R2", 1, 24, 0, 10), ("p1", 3, 24, 0, 11)]


def test_ids_count_row_headers_and_panels_from_one() -> None:
    placed = place([Row("R1", [Line(4, panels(2))]), Row("R2", [Line(4, panels(1))])])
    assert [p["id"] for p in placed] == [1, 2, 3, 4, 5]


def test_a_row_header_is_an_open_row() -> None:
    (header,) = place([Row("Mirrors", [])])
    assert header == {
        "collapsed": False,
        "gridPos": {"h": 1, "w": 24, "x": 0, "y": 0},
        "id": 1,
        "panels": [],
        "title": "Mirrors",
        "type": "row",
    }


def test_position_and_id_follow_the_panels_own_keys() -> None:
    # The committed dashboards have them last; a different order would rewrite every file.
    (_, placed) = place([Row("R", [Line(4, [{"type": "stat", "title": "t"}])])])
    assert list(placed) == ["type", "title", "gridPos", "id"]


def test_placing_leaves_the_declared_panels_untouched() -> None:
    declared: Panel = {"title": "t"}
    place([Row("R", [Line(4, [declared])])])
    assert declared == {"title": "t"}
