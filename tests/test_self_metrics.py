"""The exporter's own families: one namespace, target-scoped labels first, the closed sets of
`reason` values the alert rules match on, and their values read from the store."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from dataflow_exporter import self_metrics
from dataflow_exporter.errors import Reason
from dataflow_exporter.families import Family, MetricSpec
from dataflow_exporter.records import DetailFailure
from dataflow_exporter.runtime_metrics import RuntimeMetrics
from dataflow_exporter.self_metrics import (
    DETAIL_REASONS,
    REASONS,
    RUNTIME_SPECS,
    SELF_SPECS,
    TARGET,
)
from dataflow_exporter.snapshot import Snapshot
from dataflow_exporter.store import Store, TargetState

# Stated here, not read from the code: alert rules and dashboards match on these spellings.
ALL_REASONS = (
    "timeout",
    "connect",
    "tls",
    "auth",
    "rate_limited",
    "http_4xx",
    "http_5xx",
    "decode",
    "schema",
    "internal",
    "config",
    "max_entities",
)
ENTITY_REASONS = ("http_4xx", "http_5xx", "decode", "schema")


def test_every_own_family_is_in_the_exporters_namespace_and_named_once() -> None:
    names = [spec.name for spec in SELF_SPECS]
    assert all(name.startswith("dataflow_exporter_") for name in names)
    assert len(set(names)) == len(names)


def test_target_scoped_families_start_with_system_and_target() -> None:
    target_scoped = [spec for spec in SELF_SPECS if "target" in spec.labels]
    assert target_scoped  # target_up and the rest
    assert TARGET == ("system", "target")
    for spec in target_scoped:
        assert spec.labels[:2] == TARGET, spec.name


def test_every_spec_declared_as_a_module_constant_is_listed() -> None:
    # The cache renders SELF_SPECS only: a spec left out of it would break every scrape.
    constants = [value for value in vars(self_metrics).values() if isinstance(value, MetricSpec)]
    assert set(constants) == set(SELF_SPECS)


def test_poll_failure_reasons_are_the_documented_closed_set() -> None:
    assert REASONS == ALL_REASONS


def test_detail_failure_reasons_are_those_that_leave_the_target_up() -> None:
    assert DETAIL_REASONS == ENTITY_REASONS


def test_the_runtime_families_rendered_are_the_ones_declared() -> None:
    declared = {spec.name: spec.kind for spec in RUNTIME_SPECS}
    text = RuntimeMetrics().render(openmetrics=False).decode()
    rendered = {
        family.name + ("_total" if family.type == "counter" else ""): family.type
        for family in text_string_to_metric_families(text)
    }
    assert rendered
    assert rendered.items() <= declared.items()


def test_the_module_reads_no_upstream_and_lists_no_sources_specs() -> None:
    # Upstream families are gathered by the registry (`sources.registry.all_specs`).
    assert not hasattr(self_metrics, "all_specs")


UP = MetricSpec("demo_up", "gauge", "Up.")


def one_series(taken_at: float) -> Snapshot:
    return Snapshot({UP.name: b"demo_up 1\n"}, {UP.name: UP}, 1, 0, {}, taken_at)


def store_of(*names: str) -> Store:
    store = Store()
    for name in names:
        store.add(TargetState(name, "peerdb", 30.0, 300.0, detail_endpoints=("stats",)))
    return store


def samples(fams: list[Family], spec: MetricSpec) -> dict[tuple[str, ...], float]:
    family = next(f for f in fams if f.spec is spec)
    return dict(family.samples)


def test_every_own_family_is_built_even_before_any_poll() -> None:
    built = [family.spec for family in self_metrics.families(store_of("pg"), frozenset())]
    assert built == list(SELF_SPECS)


def test_a_failed_poll_counts_under_its_reason_and_every_other_reason_is_zero() -> None:
    store = store_of("pg")
    store.record_failure("pg", Reason.MAX_ENTITIES, "too many", 0.1, 2.0)
    errors = samples(self_metrics.families(store, frozenset()), self_metrics.TARGET_ERRORS)
    assert errors == {("peerdb", "pg", reason): 0 for reason in ALL_REASONS} | {
        ("peerdb", "pg", "max_entities"): 1
    }


def test_a_target_is_up_with_its_series_until_it_is_named_stale() -> None:
    store = store_of("pg")
    store.record_success("pg", one_series(1.0), [], 0.25)
    fresh = self_metrics.families(store, frozenset())
    stale = self_metrics.families(store, frozenset({"pg"}))
    key = ("peerdb", "pg")
    assert samples(fresh, self_metrics.TARGET_UP) == {key: 1}
    assert samples(fresh, self_metrics.TARGET_SERIES) == {key: 1}
    assert samples(fresh, self_metrics.TARGET_STALE) == {key: 0}
    assert samples(fresh, self_metrics.TARGET_LAST_SUCCESS) == {key: 1.0}
    assert samples(fresh, self_metrics.TARGET_POLL_DURATION) == {key: 0.25}
    assert samples(stale, self_metrics.TARGET_SERIES) == {key: 0}
    assert samples(stale, self_metrics.TARGET_STALE) == {key: 1}


def test_detail_failures_are_counted_per_endpoint_and_entity_reason() -> None:
    store = store_of("pg")
    failure = DetailFailure("mirror orders", "stats", Reason.SCHEMA, "bad")
    store.record_success("pg", one_series(1.0), [], 0.1, detail_failures=(failure,))
    fams = self_metrics.families(store, frozenset())
    assert samples(fams, self_metrics.DETAIL_FAILURES) == {("peerdb", "pg", "stats"): 1}
    assert samples(fams, self_metrics.DETAIL_ERRORS) == {
        ("peerdb", "pg", "stats", reason): int(reason == "schema") for reason in ENTITY_REASONS
    }


def test_the_unknown_value_fields_of_a_source_start_at_zero() -> None:
    store = Store()
    store.add(TargetState("pg", "peerdb", 30.0, 300.0, unknown_value_fields=("flow_status",)))
    store.unknown_values[("feldera", "status")] = 2
    fams = self_metrics.families(store, frozenset())
    assert samples(fams, self_metrics.UNKNOWN_VALUES) == {
        ("feldera", "status"): 2,
        ("peerdb", "flow_status"): 0,
    }
