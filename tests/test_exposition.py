"""Rendering: pre-rendered sample lines must equal what prometheus_client would expose."""

from __future__ import annotations

import gzip

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.openmetrics.parser import text_string_to_metric_families as om_families

from dataflow_exporter.exposition import header
from dataflow_exporter.exposition_cache import ExpositionCache
from dataflow_exporter.families import MAX_LABEL_VALUE_LENGTH, Family, MetricSpec, StateSet
from dataflow_exporter.snapshot import build_snapshot
from dataflow_exporter.store import Store, TargetState
from tests.support.helpers import promtool_check_metrics, samples

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
    registry.register(Fixed())  # type: ignore[arg-type]
    return generate_latest(registry).decode()


def _upstream_only(text: str) -> dict[object, float]:
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
