"""The registry: every system by its config name, and one catalogue of every family the exporter
can emit (its own, the runtime's and each source's) without a clash."""

from __future__ import annotations

from dataflow_exporter.self_metrics import RUNTIME_SPECS, SELF_SPECS
from dataflow_exporter.sources.registry import REGISTRY, all_specs


def test_each_system_is_registered_under_its_config_name() -> None:
    assert sorted(REGISTRY) == ["confluent", "etlworks", "feldera", "peerdb"]
    assert all(source.system == system for system, source in REGISTRY.items())


def test_all_specs_holds_own_runtime_and_every_sources_families_without_a_clash() -> None:
    declared = [*SELF_SPECS, *RUNTIME_SPECS, *(s for src in REGISTRY.values() for s in src.specs)]
    specs = all_specs()
    assert len(specs) == len(declared)  # no family name is declared twice
    assert all(specs[spec.name] is spec for spec in declared)
