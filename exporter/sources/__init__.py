"""The registry of upstream systems, keyed by the config's `system:` value."""

from __future__ import annotations

from typing import Any

from exporter.sources.base import Source
from exporter.sources.peerdb import PeerDBSource

# import: feldera
# import: confluent
# import: etlworks

REGISTRY: dict[str, type[Source[Any]]] = {
    PeerDBSource.system: PeerDBSource,
    # registry: feldera
    # registry: confluent
    # registry: etlworks
}
