"""The exporter process's own health: prometheus_client's process, GC and platform collectors,
rendered in the exporter's exposition format.

They are read on every scrape (a few reads of /proc/self and `gc.get_stats()`, no network),
so they are never as old as the cached upstream body they are appended to. Sample exposition::

    process_resident_memory_bytes 1.8874368e+08
    process_cpu_seconds_total 12.5
    process_open_fds 23.0
    process_start_time_seconds 1.79613828884e+09
    python_gc_collections_total{generation="0"} 40.0
    python_info{implementation="CPython",major="3",minor="11",patchlevel="7",version="3.11.7"} 1.0
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector
from prometheus_client.registry import Collector as ClientCollector

from dataflow_exporter.exposition import escape_label_value, format_value, header
from dataflow_exporter.families import Kind, MetricSpec


class RuntimeMetrics:
    """Renders the process's own metrics on demand. The collectors register with a private
    registry (never the global one) and are then called directly: about 15 lines per scrape
    do not need the registry's locking and copying."""

    def __init__(self) -> None:
        registry = CollectorRegistry(auto_describe=False)
        self._collectors: list[ClientCollector] = [
            ProcessCollector(registry=registry),
            GCCollector(registry=registry),
            PlatformCollector(registry=registry),
        ]
        self._headers: dict[tuple[str, str, bool], bytes] = {}

    def render(self, openmetrics: bool) -> bytes:
        """Header and sample lines of every runtime family, in the asked format (no `# EOF`)."""
        out: list[str] = []
        for collector in self._collectors:
            for metric in collector.collect():
                if metric.type not in ("gauge", "counter"):
                    continue
                name = metric.name + "_total" if metric.type == "counter" else metric.name
                lines = [
                    _line(name, sample.labels, sample.value)
                    for sample in metric.samples
                    if sample.name == name
                ]
                if lines:
                    out.append(self._header(name, metric.type, metric.documentation, openmetrics))
                    out.extend(lines)
        return "".join(out).encode()

    def _header(self, name: str, kind: str, help_text: str, openmetrics: bool) -> str:
        key = (name, help_text, openmetrics)
        cached = self._headers.get(key)
        if cached is None:
            family_kind: Kind = "counter" if kind == "counter" else "gauge"
            spec = MetricSpec(name, family_kind, help_text)
            cached = self._headers[key] = header(spec, openmetrics)
        return cached.decode()


def _line(name: str, labels: dict[str, str], value: float) -> str:
    if not labels:
        return f"{name} {format_value(float(value))}\n"
    pairs = ",".join(f'{k}="{escape_label_value(v)}"' for k, v in sorted(labels.items()))
    return f"{name}{{{pairs}}} {format_value(float(value))}\n"
