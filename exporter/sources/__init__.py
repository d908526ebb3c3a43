"""The registry of upstream systems, keyed by the config's `system:` value."""

from __future__ import annotations

from typing import Any

from exporter.sources.base import Source
from exporter.sources.confluent import ConfluentSource
from exporter.sources.etlworks import EtlworksSource
from exporter.sources.feldera import FelderaSource
from exporter.sources.peerdb import PeerDBSource

REGISTRY: dict[str, type[Source[Any]]] = {
    PeerDBSource.system: PeerDBSource,
    FelderaSource.system: FelderaSource,
    ConfluentSource.system: ConfluentSource,
    EtlworksSource.system: EtlworksSource,
}
