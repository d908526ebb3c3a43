"""Series rendering reused from poll to poll: the bytes must always equal a fresh rendering,
and only the last poll's series are remembered."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client.utils import floatToGoString

from dataflow_exporter.exposition import SeriesRenderer, format_value
from dataflow_exporter.families import Family, MetricSpec
from dataflow_exporter.snapshot import build_snapshot

LAG = MetricSpec("demo_partition_lag", "gauge", "Lag (polled).", ("topic", "partition"))
UP = MetricSpec("demo_up", "gauge", "Up (polled).")
LABELS = (("target", "t{1}"), ("env", 'pr"od'))

label_values = st.sampled_from(["a", "b", 'q"uote', "back\\slash", "new\nline", "{x}", "ü" * 3])
values = st.floats(allow_nan=True, allow_infinity=True) | st.integers(-(2**70), 2**70).map(float)
samples = st.lists(st.tuples(st.tuples(label_values, label_values), values), max_size=30)


def _family(spec: MetricSpec, items: list[tuple[tuple[str, ...], float]]) -> Family:
    return Family(spec, list(items))


@given(values)
def test_values_are_formatted_exactly_as_prometheus_client_formats_them(value: float) -> None:
    expected = "0.0" if value == 0.0 else floatToGoString(value)  # type: ignore[no-untyped-call]
    assert format_value(value) == expected


def test_special_values_use_the_exposition_spellings() -> None:
    assert [format_value(v) for v in (math.inf, -math.inf, math.nan)] == ["+Inf", "-Inf", "NaN"]
    assert [format_value(v) for v in (1e6, 1234567.0, 999999.0, -1e7)] == [
        "1e+06",
        "1.234567e+06",
        "999999.0",
        "-10000000.0",
    ]


@settings(max_examples=200, deadline=None)
@given(st.lists(samples, min_size=1, max_size=5))
def test_a_reused_renderer_renders_every_poll_as_a_fresh_one_would(polls: list) -> None:
    reused = SeriesRenderer(LABELS)
    for items in polls:
        families = [_family(LAG, items), _family(UP, [((), float(len(items)))])]
        again = build_snapshot(families, LABELS, 10_000, {}, 0.0, reused)
        fresh = build_snapshot(families, LABELS, 10_000, {}, 0.0)
        assert again.blocks == fresh.blocks
        assert again.series == fresh.series


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(values, min_size=6, max_size=6), min_size=2, max_size=5))
def test_unchanged_label_sets_with_changing_values_render_as_fresh(polls: list) -> None:
    keys = [("a", "0"), ("a", "1"), ('q"uote', "0"), ("b", "0"), ("{x}", "9"), ("ü", "0")]
    reused = SeriesRenderer(LABELS)
    for poll in polls:
        families = [_family(LAG, list(zip(keys, poll, strict=True)))]
        again = build_snapshot(families, LABELS, 10_000, {}, 0.0, reused)
        assert again.blocks == build_snapshot(families, LABELS, 10_000, {}, 0.0).blocks


def test_a_repeated_label_set_keeps_its_first_sample_even_when_remembered() -> None:
    renderer = SeriesRenderer(LABELS)
    first = renderer.render(_family(LAG, [(("a", "0"), 5.0)]))
    renderer.finish()
    again = renderer.render(_family(LAG, [(("a", "0"), 5.0), (("a", "0"), 7.0)]))
    assert again == first


def test_a_label_set_repeated_across_two_families_of_one_name_is_exported_once() -> None:
    families = [_family(LAG, [(("a", "0"), 1.0)]), _family(LAG, [(("a", "0"), 2.0)])]
    snapshot = build_snapshot(families, LABELS, 10_000, {}, 0.0, SeriesRenderer(LABELS))
    assert snapshot.series == 1
    assert snapshot.blocks[LAG.name].endswith(b" 1.0\n")


def test_two_families_of_one_name_export_the_series_of_both() -> None:
    families = [_family(LAG, [(("a", "0"), 1.0)]), _family(LAG, [(("b", "0"), 2.0)])]
    renderer = SeriesRenderer(LABELS)
    for _poll in range(2):
        snapshot = build_snapshot(families, LABELS, 10_000, {}, 0.0, renderer)
        assert snapshot.series == 2
        assert snapshot.blocks[LAG.name].count(b"\n") == 2


def test_series_gone_upstream_are_forgotten_after_the_next_poll() -> None:
    renderer = SeriesRenderer(LABELS)
    many = [((f"topic-{i}", "0"), 1.0) for i in range(100)]
    build_snapshot([_family(LAG, many)], LABELS, 10_000, {}, 0.0, renderer)
    assert len(renderer) == 100
    build_snapshot([_family(LAG, many[:3])], LABELS, 10_000, {}, 0.0, renderer)
    assert len(renderer) == 3


def test_label_values_that_render_alike_are_one_series() -> None:
    family = _family(LAG, [(("\ud800", "0"), 1.0), (("\udc00", "0"), 2.0), (("?", "0"), 3.0)])
    snapshot = build_snapshot([family], LABELS, 10_000, {}, 0.0, SeriesRenderer(LABELS))
    assert snapshot.series == 1
    assert snapshot.blocks[LAG.name].endswith(b'topic="?",partition="0"} 1.0\n')


def test_a_sample_with_the_wrong_number_of_label_values_fails_the_render() -> None:
    with pytest.raises(ValueError, match="label values"):
        build_snapshot([_family(LAG, [(("a", "0", "extra"), 1.0)])], LABELS, 10, {}, 0.0)
