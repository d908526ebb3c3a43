"""The registry of upstream systems, keyed by the config's `system:` value.

Adding a metric that reads one plain JSON field (a count, bytes, milliseconds, a boolean, an
RFC 3339 time) is one line in the source's `Metrics` table: `Field(spec, path, conversion)`
(`sources/fields.py`; Feldera's tables are the example). A state set, an info metric or a value
derived from several fields is a `MetricSpec` row in the table, filled by the source's builder.
"""

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
