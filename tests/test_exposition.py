"""Rendering: pre-rendered sample lines must equal what prometheus_client would expose, and a
`SeriesRenderer` reused from poll to poll must always give the bytes of a fresh rendering while
remembering only the last poll's series."""

from __future__ import annotations

import gzip
import math
from collections.abc import Sequence
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.openmetrics.parser import text_string_to_metric_families as om_families
from prometheus_client.utils import floatToGoString

from dataflow_exporter.exposition import SeriesRenderer, format_value, format_values, header
from dataflow_exporter.exposition_cache import ExpositionCache
from dataflow_exporter.families import MAX_LABEL_VALUE_LENGTH, Family, MetricSpec, StateSet
from dataflow_exporter.snapshot import build_snapshot
from dataflow_exporter.store import Store, TargetState
from tests.support.helpers import Labels, promtool_check_metrics, samples

GAUGE = MetricSpec("demo_thing_status", "gauge", "Thing state (polled).", ("thing", "status"))
COUNTER = MetricSpec("demo_rows_total", "counter", "Rows (polled).", ("thing",))
INFO = MetricSpec("demo_thing_info", "info", "Thing identity.", ("thing", "kind"))
HOSTILE = [
    'quote"d',
    "back\\slash",
    "new\nline",
    "{braces}",
    "ünïcødé ✓",
    "x" * 1000,
    "x" * 999 + "y",
]


def _families() -> list[Family]:
    status = Family(GAUGE)
    rows = Family(COUNTER)
    info = Family(INFO)
    for i, name in enumerate(HOSTILE):
        StateSet(("UP", "DOWN")).one_hot(status, (name,), "UP")
        rows.add((name,), i * 1.5e9)
        info.add((name, "k"), 1)
    return [status, rows, info]


def _store_with(families: list[Family], target: str = "t1") -> Store:
    store = Store()
    store.add(TargetState(target, "demo", 30, 300))
    snap = build_snapshot(families, (("target", target),), 100_000, {}, 1000.0)
    store.record_success(target, snap, [], 0.1)
    return store


def _reference(families: list[Family]) -> str:
    """The same families through prometheus_client's own renderer."""

    class Fixed:
        def collect(self) -> list[GaugeMetricFamily | CounterMetricFamily]:
            out: list[GaugeMetricFamily | CounterMetricFamily] = []
            for fam in families:
                labels = ["target", *fam.spec.labels]
                if fam.spec.kind == "counter":
                    m: GaugeMetricFamily | CounterMetricFamily = CounterMetricFamily(
                        fam.spec.name, fam.spec.help, labels=labels
                    )
                else:
                    m = GaugeMetricFamily(fam.spec.name, fam.spec.help, labels=labels)
                for values, v in fam.samples:
                    m.add_metric(["t1", *values], v)
                out.append(m)
            return out

    registry = CollectorRegistry()
    registry.register(Fixed())
    return generate_latest(registry).decode()


def _upstream_only(text: str) -> dict[tuple[str, Labels], float]:
    return {k: v for k, v in samples(text).items() if k[0].startswith("demo_")}


def test_rendered_samples_equal_prometheus_client_for_ordinary_names() -> None:
    fams = _families()
    ours = ExpositionCache(_store_with(fams)).exposition().decode()
    theirs = _reference(fams)
    short = {
        k: v for k, v in _upstream_only(theirs).items() if len(dict(k[1]).get("thing", "")) < 200
    }
    assert short.items() <= _upstream_only(ours).items()


def test_hostile_label_values_are_escaped_and_accepted_by_promtool() -> None:
    text = ExpositionCache(_store_with(_families())).exposition().decode()
    things = {dict(labels)["thing"] for name, labels in samples(text) if name == "demo_rows_total"}
    assert {'quote"d', "back\\slash", "new\nline", "{braces}", "ünïcødé ✓"} <= things
    promtool_check_metrics(text)


def test_long_label_values_are_capped_and_stay_distinct() -> None:
    text = ExpositionCache(_store_with(_families())).exposition().decode()
    long_things = [
        dict(labels)["thing"]
        for name, labels in samples(text)
        if name == "demo_rows_total" and dict(labels)["thing"].startswith("xxx")
    ]
    assert len(long_things) == 2
    assert len(set(long_things)) == 2
    assert all(len(t) <= MAX_LABEL_VALUE_LENGTH for t in long_things)


def test_a_repeated_label_set_keeps_only_its_first_sample() -> None:
    fam = Family(COUNTER)
    fam.add(("same",), 1)
    fam.add(("same",), 2)
    text = ExpositionCache(_store_with([fam])).exposition().decode()
    assert _upstream_only(text) == {
        ("demo_rows_total", frozenset({("target", "t1"), ("thing", "same")})): 1.0
    }


def test_openmetrics_output_parses_and_names_counters_without_total() -> None:
    body = ExpositionCache(_store_with(_families())).exposition(openmetrics=True).decode()
    assert body.endswith("# EOF\n")
    assert "# TYPE demo_rows counter" in body
    assert "# TYPE demo_thing info" in body
    names = {f.name for f in om_families(body)}
    assert {"demo_rows", "demo_thing", "demo_thing_status", "dataflow_exporter_target_up"} <= names


def test_text_headers_keep_total_and_show_info_as_gauge() -> None:
    assert header(COUNTER, openmetrics=False).decode().endswith("# TYPE demo_rows_total counter\n")
    assert header(INFO, openmetrics=False).decode().endswith("# TYPE demo_thing_info gauge\n")


def test_families_of_several_targets_share_one_header_block() -> None:
    store = _store_with(_families(), "t1")
    store.add(TargetState("t2", "demo", 30, 300))
    store.record_success(
        "t2", build_snapshot(_families(), (("target", "t2"),), 10_000, {}, 1.0), [], 0.1
    )
    text = ExpositionCache(store).exposition().decode()
    assert text.count("# TYPE demo_rows_total counter") == 1
    targets = {dict(ls)["target"] for n, ls in samples(text) if n == "demo_rows_total"}
    assert targets == {"t1", "t2"}
    promtool_check_metrics(text)


def test_gzip_body_decompresses_to_the_plain_body() -> None:
    cache = ExpositionCache(_store_with(_families()))
    assert gzip.decompress(cache.exposition(gzipped=True)) == cache.exposition()


# SeriesRenderer reused from poll to poll.

LAG = MetricSpec("demo_partition_lag", "gauge", "Lag (polled).", ("topic", "partition"))
UP = MetricSpec("demo_up", "gauge", "Up (polled).")
LABELS = (("target", "t{1}"), ("env", 'pr"od'))

label_values = st.sampled_from(["a", "b", 'q"uote', "back\\slash", "new\nline", "{x}", "ü" * 3])
float_values = st.floats(allow_nan=True, allow_infinity=True) | st.integers(-(2**70), 2**70).map(
    float
)
sample_lists = st.lists(st.tuples(st.tuples(label_values, label_values), float_values), max_size=30)


def _family(spec: MetricSpec, items: Sequence[tuple[tuple[str, ...], float]]) -> Family:
    return Family.of(spec, items)


@given(float_values)
def test_values_are_formatted_exactly_as_prometheus_client_formats_them(value: float) -> None:
    expected = "0.0" if value == 0.0 else floatToGoString(value)  # type: ignore[no-untyped-call]
    assert format_value(value) == expected


@given(st.integers(10**6, 10**16 - 1).map(float))
def test_whole_numbers_with_an_exponent_match_prometheus_client(value: float) -> None:
    # They take a shorter path than other values (their digits from `str` of the int).
    assert format_value(value) == floatToGoString(value)  # type: ignore[no-untyped-call]


def test_special_values_use_the_exposition_spellings() -> None:
    assert [format_value(v) for v in (math.inf, -math.inf, math.nan)] == ["+Inf", "-Inf", "NaN"]
    assert [format_value(v) for v in (1e6, 1234567.0, 999999.0, -1e7)] == [
        "1e+06",
        "1.234567e+06",
        "999999.0",
        "-10000000.0",
    ]


def test_whole_numbers_from_a_million_are_written_with_an_exponent_and_no_trailing_zeros() -> None:
    wholes = (
        1e6,
        1_230_000_000.0,
        1_000_000_001.0,
        9_007_199_254_740_992.0,
        9_999_999_999_999_998.0,
    )
    assert [format_value(v) for v in wholes] == [
        "1e+06",
        "1.23e+09",
        "1.000000001e+09",
        "9.007199254740992e+15",
        "9.999999999999998e+15",
    ]
    assert [format_value(v) for v in (1_230_000.5, 10_000_000.25)] == [
        "1.2300005e+06",
        "1.000000025e+07",
    ]


@given(st.lists(float_values | st.floats(-1e-3, 1e-3) | st.floats(0, 1e6), max_size=40))
def test_many_values_are_formatted_as_each_is_alone(values: list[float]) -> None:
    assert format_values(values) == [format_value(v).encode() for v in values]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.0, b"0.0"),
        (-0.0, b"0.0"),
        (5e-5, b"5e-05"),
        (1e-4, b"0.0001"),
        (-0.05, b"-0.05"),
        (999999.5, b"999999.5"),
        (1e6, b"1e+06"),
        (1742471944.5, b"1.7424719445e+09"),
        (1e16, b"1e+16"),
        (math.nan, b"NaN"),
        (-math.inf, b"-Inf"),
        (7, b"7.0"),  # an int slipped into a sample
        (Decimal("2.50"), b"2.5"),  # a number msgspec would write as a string
    ],
)
def test_each_spelling_the_exposition_differs_in_is_kept_among_many_values(
    value: float, text: bytes
) -> None:
    # Among values that take the all-in-C path, one of each spelling that must not.
    assert format_values([12.5, value, 3.0]) == [b"12.5", text, b"3.0"]


def test_a_family_whose_values_all_change_renders_as_fresh_poll_after_poll() -> None:
    # Most values changed: the block is refilled from a template of the label sets, whose
    # label values may hold the template's own `%`.
    keys = [("a", "0"), ("100%", "%s"), ("%%d", "{}")]
    renderer = SeriesRenderer(LABELS)
    polls = ([1.0, 2.0, 3.0], [4.0, 5e-7, 6.0], [4.0, 5e-7, 6.0], [7.0, 8e9, 9.0], [7.0, 8e9, 1.0])
    for poll in polls:
        families = [_family(LAG, list(zip(keys, poll, strict=True)))]
        again = build_snapshot(families, LABELS, 10_000, {}, 0.0, renderer)
        assert again.blocks == build_snapshot(families, LABELS, 10_000, {}, 0.0).blocks


@pytest.mark.slow
@settings(max_examples=200, deadline=None)
@given(st.lists(sample_lists, min_size=1, max_size=5))
def test_a_reused_renderer_renders_every_poll_as_a_fresh_one_would(
    polls: list[list[tuple[tuple[str, str], float]]],
) -> None:
    reused = SeriesRenderer(LABELS)
    for items in polls:
        families = [_family(LAG, items), _family(UP, [((), float(len(items)))])]
        again = build_snapshot(families, LABELS, 10_000, {}, 0.0, reused)
        fresh = build_snapshot(families, LABELS, 10_000, {}, 0.0)
        assert again.blocks == fresh.blocks
        assert again.series == fresh.series


@pytest.mark.slow
@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(float_values, min_size=6, max_size=6), min_size=2, max_size=5))
def test_unchanged_label_sets_with_changing_values_render_as_fresh(
    polls: list[list[float]],
) -> None:
    keys = [("a", "0"), ("a", "1"), ('q"uote', "0"), ("%s", "9%"), ("{x}", "9"), ("ü", "0")]
    reused = SeriesRenderer(LABELS)
    for poll in polls:
        families = [_family(LAG, list(zip(keys, poll, strict=True)))]
        again = build_snapshot(families, LABELS, 10_000, {}, 0.0, reused)
        assert again.blocks == build_snapshot(families, LABELS, 10_000, {}, 0.0).blocks


@pytest.mark.parametrize("order", ["same", "changed"])
def test_a_remembered_series_whose_value_changed_renders_the_new_value(order: str) -> None:
    # The same label sets in the same order take the splicing path; any other order the path
    # that finds each remembered line by its label set.
    first = [(("a", "0"), 1.0), (("b", "0"), 5.0)]
    second = [(("a", "0"), 2.0), (("b", "0"), 5.0)]
    polls = [first, second if order == "same" else second[::-1]]
    renderer = SeriesRenderer(LABELS)
    for items in polls:
        again = build_snapshot([_family(LAG, items)], LABELS, 10_000, {}, 0.0, renderer)
    assert again.blocks == build_snapshot([_family(LAG, polls[-1])], LABELS, 10_000, {}, 0.0).blocks


def test_label_sets_that_came_went_and_moved_render_as_fresh_poll_after_poll() -> None:
    polls = [
        [(("a", "0"), 1.0), (("b", "0"), 2e9), (("c", "0"), 3.0)],
        [(("c", "0"), 3.0), (("new", "1"), 4.5), (("a", "0"), 1.5)],  # b went, new came
        [(("c", "0"), 3.0), (("new", "1"), 4.5), (("a", "0"), 7.0)],  # then one value moves
        [(("b", "0"), 2e9), (("c", "0"), 3.0), (("a", "0"), 7.0), (("new", "1"), 8.0)],
    ]
    renderer = SeriesRenderer(LABELS)
    for items in polls:
        again = build_snapshot([_family(LAG, items)], LABELS, 10_000, {}, 0.0, renderer)
        assert again.blocks == build_snapshot([_family(LAG, items)], LABELS, 10_000, {}, 0.0).blocks


def test_a_family_whose_series_all_went_renders_nothing() -> None:
    renderer = SeriesRenderer(LABELS)
    build_snapshot([_family(LAG, [(("a", "0"), 1.0)])], LABELS, 10, {}, 0.0, renderer)
    assert renderer.render(_family(LAG, [])) == (b"", 0)


def test_a_new_label_set_that_renders_like_a_remembered_one_is_not_a_second_series() -> None:
    renderer = SeriesRenderer(LABELS)
    build_snapshot(
        [_family(LAG, [(("?", "0"), 1.0), (("b", "0"), 2.0)])], LABELS, 10, {}, 0.0, renderer
    )
    moved = [(("b", "0"), 2.0), (("?", "0"), 3.0), (("\ud800", "0"), 4.0)]
    snapshot = build_snapshot([_family(LAG, moved)], LABELS, 10, {}, 0.0, renderer)
    assert snapshot.series == 2
    assert snapshot.blocks[LAG.name].endswith(b'topic="?",partition="0"} 3.0\n')


def test_a_new_label_set_with_the_wrong_number_of_label_values_fails_the_render() -> None:
    renderer = SeriesRenderer(LABELS)
    build_snapshot([_family(LAG, [(("a", "0"), 1.0)])], LABELS, 10, {}, 0.0, renderer)
    with pytest.raises(ValueError, match="label values"):
        build_snapshot([_family(LAG, [(("b", "0", "x"), 1.0)])], LABELS, 10, {}, 0.0, renderer)


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


@pytest.mark.parametrize("values", [[5.0], [5.0, 6.0, 7.0]], ids=["fewer", "more"])
@pytest.mark.parametrize("order", ["same", "moved"])
def test_a_family_whose_values_and_label_sets_differ_in_number_fails_the_render(
    values: list[float], order: str
) -> None:
    renderer = SeriesRenderer(LABELS)
    keys = [("a", "0"), ("b", "0")]
    build_snapshot([_family(LAG, [(key, 1.0) for key in keys])], LABELS, 10, {}, 0.0, renderer)
    now = keys if order == "same" else keys[::-1]
    with pytest.raises(ValueError, match="2 label sets for"):
        build_snapshot([Family(LAG, list(now), values)], LABELS, 10, {}, 0.0, renderer)


def test_an_int_beyond_a_doubles_precision_prints_as_the_float_it_becomes() -> None:
    big = 2**53 + 1
    assert format_value(big) == floatToGoString(float(big)) == "9.007199254740992e+15"  # type: ignore[no-untyped-call]
