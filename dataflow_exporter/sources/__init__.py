"""The registry of upstream systems, keyed by the config's `system:` value."""

from __future__ import annotations

from typing import Any

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
