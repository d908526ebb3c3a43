"""The exporter's own process metrics (prometheus_client's process, GC and platform collectors)
are in /metrics, in both formats and gzipped, and fresh on every scrape of a cached body."""

from __future__ import annotations

import gzip
import os

from prometheus_client.openmetrics.parser import text_string_to_metric_families as om_families

from dataflow_exporter.exposition_cache import ExpositionCache
from dataflow_exporter.runtime_metrics import RuntimeMetrics
from dataflow_exporter.self_metrics import RUNTIME_SPECS
from dataflow_exporter.snapshot import build_snapshot
from dataflow_exporter.store import Store, TargetState
from tests.support.helpers import promtool_check_metrics, samples, value

PROCESS = {
    "process_resident_memory_bytes",
    "process_virtual_memory_bytes",
    "process_cpu_seconds_total",
    "process_open_fds",
    "process_max_fds",
    "process_start_time_seconds",
    "python_gc_collections_total",
    "python_gc_objects_collected_total",
    "python_info",
}


def _collector() -> ExpositionCache:
    store = Store()
    store.add(TargetState("t", "peerdb", 30, 300))
    store.record_success("t", build_snapshot([], (("target", "t"),), 10, {}, 1.0), [], 0.1)
    return ExpositionCache(store, runtime=RuntimeMetrics())


def test_process_and_python_metrics_are_exported_and_pass_promtool() -> None:
    text = _collector().exposition().decode()
    assert {name for name, _ in samples(text)} >= PROCESS
    assert value(text, "dataflow_exporter_target_up", target="t") == 1
    promtool_check_metrics(text)


def test_openmetrics_names_them_once_and_ends_with_one_eof() -> None:
    body = _collector().exposition(openmetrics=True).decode()
    assert body.endswith("# EOF\n") and body.count("# EOF") == 1
    names = {family.name for family in om_families(body)}
    assert {"process_cpu_seconds", "python_gc_collections", "python_info"} <= names


def test_gzip_body_is_the_cached_body_with_fresh_process_metrics() -> None:
    cache = _collector()
    plain = cache.exposition().decode()
    unzipped = gzip.decompress(cache.exposition(gzipped=True)).decode()
    assert unzipped.startswith(plain[: plain.index("process_")].rsplit("# HELP", 1)[0])
    assert {name for name, _ in samples(unzipped)} >= PROCESS


def test_open_fds_are_read_at_scrape_time_even_when_the_body_is_cached() -> None:
    cache = _collector()
    before = value(cache.exposition().decode(), "process_open_fds")
    pipes = [os.pipe() for _ in range(20)]
    try:
        after = value(cache.exposition().decode(), "process_open_fds")
        zipped = gzip.decompress(cache.exposition(gzipped=True)).decode()
    finally:
        for read_end, write_end in pipes:
            os.close(read_end)
            os.close(write_end)
    assert before is not None and after is not None
    assert after >= before + 30, "40 new descriptors, give or take other threads' sockets"
    assert (value(zipped, "process_open_fds") or 0) >= before + 30


def test_every_runtime_family_is_declared_with_its_labels_in_metrics() -> None:
    declared = {spec.name: set(spec.labels) for spec in RUNTIME_SPECS}
    exported: dict[str, set[str]] = {}
    for (name, labels), _ in samples(_collector().exposition().decode()).items():
        if name.startswith(("process_", "python_")):
            exported.setdefault(name, set()).update(key for key, _ in labels)
    assert exported == declared
