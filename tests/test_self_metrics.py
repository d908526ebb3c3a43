"""The exporter's own families: one namespace, target-scoped labels first, the closed sets of
`reason` values the alert rules match on, and one list of every family the exporter emits."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from dataflow_exporter import self_metrics
from dataflow_exporter.families import MetricSpec
from dataflow_exporter.runtime_metrics import RuntimeMetrics
from dataflow_exporter.self_metrics import (
    DETAIL_REASONS,
    REASONS,
    RUNTIME_SPECS,
    SELF_SPECS,
    TARGET,
    all_specs,
)
from dataflow_exporter.sources import REGISTRY

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


def test_all_specs_holds_own_runtime_and_every_sources_families_without_a_clash() -> None:
    declared = [*SELF_SPECS, *RUNTIME_SPECS, *(s for src in REGISTRY.values() for s in src.specs)]
    specs = all_specs()
    assert len(specs) == len(declared)  # no family name is declared twice
    assert all(specs[spec.name] is spec for spec in declared)


def test_the_runtime_families_rendered_are_the_ones_declared() -> None:
    declared = {spec.name: spec.kind for spec in RUNTIME_SPECS}
    text = RuntimeMetrics().render(openmetrics=False).decode()
    rendered = {
        family.name + ("_total" if family.type == "counter" else ""): family.type
        for family in text_string_to_metric_families(text)
    }
    assert rendered
    assert rendered.items() <= declared.items()
