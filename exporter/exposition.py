"""Rendering of families into exposition bytes: sample lines once per poll, headers per format.

Prometheus text 0.0.4 and OpenMetrics 1.0 share sample-line syntax for gauges and `_total`
counters; they differ only in the TYPE/HELP header of counters and the OpenMetrics `# EOF`. So a
target's sample lines are rendered once when its poll completes and every scrape only joins bytes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from prometheus_client.utils import floatToGoString

from exporter.families import Family, MetricSpec, bound_label_value

TEXT_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS_CONTENT_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"
OPENMETRICS_EOF = b"# EOF\n"


def escape_label_value(value: str) -> str:
    """Escape a label value as both formats require (backslash, double quote, newline)."""
    if "\\" in value or '"' in value or "\n" in value:
        value = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return value


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def format_value(value: float) -> str:
    """Format a sample value the way prometheus_client does."""
    if value == 0.0:
        return "0.0"
    if value == 1.0:
        return "1.0"
    text: str = floatToGoString(value)  # type: ignore[no-untyped-call]
    return text


def header(spec: MetricSpec, openmetrics: bool) -> bytes:
    """HELP and TYPE lines of a family for one format."""
    name, kind = spec.name, spec.kind
    if openmetrics and kind == "counter":
        name = name[: -len("_total")]
    elif openmetrics and kind == "info":
        name = name[: -len("_info")]
    elif kind == "info":
        kind = "gauge"
    return f"# HELP {name} {_escape_help(spec.help)}\n# TYPE {name} {kind}\n".encode()


def label_prefix(pairs: Sequence[tuple[str, str]]) -> str:
    """Pre-render constant labels (`target` and static labels) once per target."""
    return ",".join(f'{k}="{escape_label_value(bound_label_value(v))}"' for k, v in pairs)


def render_samples(family: Family, prefix: str) -> tuple[bytes, int]:
    """Render a family's sample lines with the constant label prefix; returns (bytes, count).

    A repeated label set keeps its first sample only, so one odd upstream payload can never make
    the whole scrape invalid with a duplicate series.
    """
    spec = family.spec
    keys = [f'{name}="' for name in spec.labels]
    # Label values repeat a lot (topic names across partitions, state names across entities).
    escaped: dict[str, str] = {}
    seen: set[tuple[str, ...]] = set()
    lines: list[str] = []
    head = spec.name + "{" + prefix + ("," if prefix else "")
    bare = f"{spec.name}{{{prefix}}} " if prefix else f"{spec.name} "
    for values, value in family.samples:
        if values in seen:
            continue
        seen.add(values)
        formatted = format_value(value)
        if not keys:
            lines.append(f"{bare}{formatted}\n")
            continue
        parts = []
        for key, raw in zip(keys, values, strict=True):
            text = escaped.get(raw)
            if text is None:
                text = escaped[raw] = escape_label_value(bound_label_value(raw))
            parts.append(key + text + '"')
        lines.append(f"{head}{','.join(parts)}}} {formatted}\n")
    return "".join(lines).encode("utf-8", "replace"), len(lines)


def join_exposition(
    blocks: Iterable[tuple[MetricSpec, Sequence[bytes]]], openmetrics: bool
) -> bytes:
    """Join per-family sample blocks under one header each; adds `# EOF` for OpenMetrics."""
    out: list[bytes] = []
    for spec, parts in blocks:
        if not any(parts):
            continue
        out.append(header(spec, openmetrics))
        out.extend(parts)
    if openmetrics:
        out.append(OPENMETRICS_EOF)
    return b"".join(out)
