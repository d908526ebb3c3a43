"""The upstream systems by the config's `system:` value, and every family the exporter can emit.

Imported only by the composition root (config loading resolves `system:` through it), never by
the core: the store, the scheduler and the exposition path learn a target's source class from
the loaded `Config`.
"""

from __future__ import annotations

from typing import Any

from dataflow_exporter.families import MetricSpec
from dataflow_exporter.self_metrics import RUNTIME_SPECS, SELF_SPECS
from dataflow_exporter.sources.base import Source
from dataflow_exporter.sources.confluent import ConfluentSource
from dataflow_exporter.sources.etlworks import EtlworksSource
from dataflow_exporter.sources.feldera import FelderaSource
from dataflow_exporter.sources.peerdb import PeerDBSource

REGISTRY: dict[str, type[Source[Any]]] = {
    PeerDBSource.system: PeerDBSource,
    FelderaSource.system: FelderaSource,
    ConfluentSource.system: ConfluentSource,
    EtlworksSource.system: EtlworksSource,
}


def all_specs() -> dict[str, MetricSpec]:
    """Every family the exporter can emit, by name: its own, the runtime's and every source's."""
    specs = {spec.name: spec for spec in (*SELF_SPECS, *RUNTIME_SPECS)}
    for source in REGISTRY.values():
        specs.update({spec.name: spec for spec in source.specs})
    return specs
