"""The exporter's own metric families (`dataflow_exporter_*`): their names, help texts and label
names, and their values read from the store (`families`).

Upstream families are declared by their source modules (`Source.specs`);
`sources.registry.all_specs()` gathers both, so tests, dashboards and alert rules can be checked
against one list.
"""

from __future__ import annotations

import platform
from collections import Counter

from dataflow_exporter import __version__
from dataflow_exporter.errors import ENTITY_REASONS, Reason
from dataflow_exporter.families import Family, MetricSpec
from dataflow_exporter.store import Store

TARGET = ("system", "target")

TARGET_UP = MetricSpec(
    "dataflow_exporter_target_up", "gauge", "1 if the last poll of the target succeeded.", TARGET
)
TARGET_LAST_SUCCESS = MetricSpec(
    "dataflow_exporter_target_last_success_timestamp_seconds",
    "gauge",
    "When the target was last polled successfully, Unix time.",
    TARGET,
)
TARGET_POLL_DURATION = MetricSpec(
    "dataflow_exporter_target_poll_duration_seconds",
    "gauge",
    "How long the target's last poll took.",
    TARGET,
)
TARGET_POLL_INTERVAL = MetricSpec(
    "dataflow_exporter_target_poll_interval_seconds",
    "gauge",
    "The target's configured poll interval.",
    TARGET,
)
TARGET_SERIES = MetricSpec(
    "dataflow_exporter_target_series",
    "gauge",
    "Series the target currently exports (0 once its last good poll is stale).",
    TARGET,
)
TARGET_STALE = MetricSpec(
    "dataflow_exporter_target_stale",
    "gauge",
    "1 if the target's last success (or, if it never succeeded, its configuration) is older "
    "than stale_after; its series are then withheld.",
    TARGET,
)
TARGET_POLLS = MetricSpec(
    "dataflow_exporter_target_polls_total",
    "counter",
    "Polls of the target, successful or not.",
    TARGET,
)
TARGET_ERRORS = MetricSpec(
    "dataflow_exporter_target_errors_total",
    "counter",
    "Failed polls of the target by reason.",
    (*TARGET, "reason"),
)
SERIES_DROPPED = MetricSpec(
    "dataflow_exporter_series_dropped_total",
    "counter",
    "Series dropped because the target exceeded its max_series.",
    TARGET,
)
UNKNOWN_VALUES = MetricSpec(
    "dataflow_exporter_unknown_values_total",
    "counter",
    "Upstream enum values outside the known set (exported as their own state).",
    ("system", "field"),
)
DETAIL_ERRORS = MetricSpec(
    "dataflow_exporter_detail_errors_total",
    "counter",
    "Failed detail calls (one entity's counters, stats or executions) while the target was up.",
    (*TARGET, "endpoint", "reason"),
)
DETAIL_FAILURES = MetricSpec(
    "dataflow_exporter_target_detail_failures",
    "gauge",
    "Entities whose detail call failed in the last good poll (their detail series are absent).",
    (*TARGET, "endpoint"),
)
CAPABILITY = MetricSpec(
    "dataflow_exporter_target_capability",
    "gauge",
    "1 if the target's upstream release serves the capability, 0 if it lacks it (series absent).",
    (*TARGET, "capability"),
)
BUILD_INFO = MetricSpec(
    "dataflow_exporter_build_info", "info", "Build of the exporter.", ("version", "python_version")
)
RELOAD_OK = MetricSpec(
    "dataflow_exporter_config_last_reload_successful",
    "gauge",
    "1 if the last config (re)load succeeded.",
)
RELOAD_AT = MetricSpec(
    "dataflow_exporter_config_last_reload_success_timestamp_seconds",
    "gauge",
    "When the config was last loaded successfully, Unix time.",
)
SHARD_INFO = MetricSpec(
    "dataflow_exporter_shard_info",
    "info",
    "This replica's shard: it exports entities whose stable hash modulo count equals index.",
    ("index", "count"),
)

SELF_SPECS = (
    TARGET_UP,
    TARGET_LAST_SUCCESS,
    TARGET_POLL_DURATION,
    TARGET_POLL_INTERVAL,
    TARGET_SERIES,
    TARGET_STALE,
    TARGET_POLLS,
    TARGET_ERRORS,
    SERIES_DROPPED,
    UNKNOWN_VALUES,
    DETAIL_ERRORS,
    DETAIL_FAILURES,
    CAPABILITY,
    BUILD_INFO,
    RELOAD_OK,
    RELOAD_AT,
    SHARD_INFO,
)
# The process's own families, rendered by `runtime_metrics` from prometheus_client's process,
# GC and platform collectors (whose help texts they carry); listed here so rules and dashboards
# can be checked against them like every other family.
RUNTIME_SPECS = (
    MetricSpec("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes."),
    MetricSpec("process_resident_memory_bytes", "gauge", "Resident memory size in bytes."),
    MetricSpec(
        "process_start_time_seconds",
        "gauge",
        "Start time of the process since unix epoch in seconds.",
    ),
    MetricSpec(
        "process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds."
    ),
    MetricSpec("process_open_fds", "gauge", "Number of open file descriptors."),
    MetricSpec("process_max_fds", "gauge", "Maximum number of open file descriptors."),
    MetricSpec(
        "python_gc_objects_collected_total",
        "counter",
        "Objects collected during gc",
        ("generation",),
    ),
    MetricSpec(
        "python_gc_objects_uncollectable_total",
        "counter",
        "Uncollectable objects found during GC",
        ("generation",),
    ),
    MetricSpec(
        "python_gc_collections_total",
        "counter",
        "Number of times this generation was collected",
        ("generation",),
    ),
    MetricSpec(
        "python_info",
        "gauge",
        "Python platform information",
        ("implementation", "major", "minor", "patchlevel", "version"),
    ),
)
REASONS = tuple(reason.value for reason in Reason)
# The reasons a single detail call can fail with while its target stays up.
DETAIL_REASONS = tuple(reason.value for reason in Reason if reason in ENTITY_REASONS)


def families(store: Store, stale: frozenset[str]) -> list[Family]:
    """The exporter's own families as the store has them now; `stale` names the targets whose
    last good snapshot is withheld (their series count is then 0)."""
    fams = {spec.name: Family(spec) for spec in SELF_SPECS}

    def add(spec: MetricSpec, labels: tuple[str, ...], value: float) -> None:
        fams[spec.name].add(labels, value)

    for name, state in sorted(store.targets.items()):
        key = (state.system, name)
        is_stale = name in stale
        add(TARGET_UP, key, 1 if state.up else 0)
        if state.last_success is not None:
            add(TARGET_LAST_SUCCESS, key, state.last_success)
        add(TARGET_POLL_DURATION, key, state.last_duration)
        add(TARGET_POLL_INTERVAL, key, state.interval)
        series = 0 if is_stale or state.snapshot is None else state.snapshot.series
        add(TARGET_SERIES, key, series)
        add(TARGET_STALE, key, 1 if is_stale else 0)
        add(TARGET_POLLS, key, state.polls_total)
        for reason in REASONS:
            add(TARGET_ERRORS, (*key, reason), state.errors_total.get(reason, 0))
        add(SERIES_DROPPED, key, state.dropped_total)
        failing = Counter(f.endpoint for f in state.detail_failures)
        for endpoint in sorted({*state.detail_endpoints, *failing}):
            add(DETAIL_FAILURES, (*key, endpoint), failing.get(endpoint, 0))
            for reason in DETAIL_REASONS:
                count = state.detail_errors_total.get((endpoint, reason), 0)
                add(DETAIL_ERRORS, (*key, endpoint, reason), count)
        for capability, served in state.capabilities.items():
            add(CAPABILITY, (*key, capability), 1 if served else 0)
    unknown = {
        (state.system, field_name): 0
        for state in store.targets.values()
        for field_name in state.unknown_value_fields
    }
    unknown.update(store.unknown_values)
    for (system, field_name), count in sorted(unknown.items()):
        add(UNKNOWN_VALUES, (system, field_name), count)
    add(BUILD_INFO, (__version__, platform.python_version()), 1)
    add(RELOAD_OK, (), 1 if store.reload_ok else 0)
    if store.reload_at is not None:
        add(RELOAD_AT, (), store.reload_at)
    shard = store.shard
    add(SHARD_INFO, (str(shard.index), str(shard.count)), 1)
    return list(fams.values())
