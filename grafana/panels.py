"""Grafana panels, one builder per panel type, each writing the options this project uses."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dataflow_exporter.families import StateSet
from grafana.colours import COLOURS, GREEN, PURPLE, status_colors, statuses
from grafana.variables import DS

Panel = dict[str, Any]


def target(
    expr: str,
    legend: str = "",
    ref: str = "A",
    instant: bool = False,
    table: bool = False,
) -> dict[str, Any]:
    """One PromQL query of a panel: a range query for charts, instant for stats and tables."""
    t: dict[str, Any] = {
        "datasource": DS,
        "editorMode": "code",
        "expr": expr,
        "legendFormat": legend or "__auto",
        "range": not instant,
        "instant": instant,
        "refId": ref,
    }
    if table:
        t["format"] = "table"
    return t


def thresholds(*steps: tuple[float | None, str]) -> dict[str, Any]:
    return {
        "mode": "absolute",
        "steps": [{"color": color, "value": value} for value, color in steps],
    }


def status_overrides(names: list[str] | None = None) -> list[dict[str, Any]]:
    """Series named after a state drawn in that state's colour (all states, or those named)."""
    colours = status_colors()
    chosen = names or list(colours)
    return [
        {
            "matcher": {"id": "byName", "options": name},
            "properties": [
                {"id": "color", "value": {"mode": "fixed", "fixedColor": colours[name]}}
            ],
        }
        for name in chosen
    ]


def stat(
    title: str,
    description: str,
    expr: str,
    unit: str = "none",
    steps: tuple[tuple[float | None, str], ...] = ((None, GREEN),),
    mappings: list[dict[str, Any]] | None = None,
    legend: str = "",
    text_mode: str = "value",
) -> dict[str, Any]:
    return {
        "datasource": DS,
        "description": description,
        "fieldConfig": {
            "defaults": {
                "color": {"mode": "thresholds"},
                "mappings": mappings or [],
                "noValue": "no data",
                "thresholds": thresholds(*steps),
                "unit": unit,
            },
            "overrides": [],
        },
        "options": {
            "colorMode": "background",
            "graphMode": "none",
            "justifyMode": "center",
            "orientation": "auto",
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "showPercentChange": False,
            "textMode": text_mode,
            "wideLayout": True,
        },
        "targets": [target(expr, legend, instant=True)],
        "title": title,
        "type": "stat",
    }


def timeseries(
    title: str,
    description: str,
    targets: list[dict[str, Any]],
    unit: str = "short",
    stack: bool = False,
    bars: bool = False,
    threshold_line: float | None = None,
    overrides: list[dict[str, Any]] | None = None,
    min_zero: bool = True,
) -> dict[str, Any]:
    custom: dict[str, Any] = {
        "drawStyle": "bars" if bars else "line",
        "fillOpacity": 60 if (stack or bars) else 10,
        "lineWidth": 1,
        "showPoints": "never",
        "spanNulls": False,
        "stacking": {"group": "A", "mode": "normal" if stack else "none"},
        "thresholdsStyle": {"mode": "line+area" if threshold_line is not None else "off"},
    }
    defaults: dict[str, Any] = {
        "color": {"mode": "palette-classic"},
        "custom": custom,
        "unit": unit,
    }
    if min_zero:
        defaults["min"] = 0
    if threshold_line is not None:
        defaults["thresholds"] = thresholds((None, "transparent"), (threshold_line, "red"))
    return {
        "datasource": DS,
        "description": description,
        "fieldConfig": {"defaults": defaults, "overrides": overrides or []},
        "options": {
            "legend": {
                "calcs": [],
                "displayMode": "list",
                "placement": "bottom",
                "showLegend": True,
            },
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
        "targets": targets,
        "title": title,
        "type": "timeseries",
    }


def bargauge(
    title: str, description: str, expr: str, system: str, legend: str = "{{status}}"
) -> dict[str, Any]:
    return {
        "datasource": DS,
        "description": description,
        "fieldConfig": {
            "defaults": {
                "color": {"mode": "fixed", "fixedColor": "blue"},
                "min": 0,
                "thresholds": thresholds((None, "blue")),
                "unit": "none",
                "decimals": 0,
            },
            "overrides": status_overrides(statuses(system)),
        },
        "options": {
            "displayMode": "basic",
            "minVizHeight": 16,
            "minVizWidth": 8,
            "namePlacement": "left",
            "orientation": "horizontal",
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "showUnfilled": True,
            "sizing": "auto",
            "valueMode": "text",
        },
        "targets": [target(expr, legend, instant=True)],
        "title": title,
        "type": "bargauge",
    }


def table(
    title: str,
    description: str,
    queries: list[tuple[str, str]],
    columns: dict[str, str],
    units: dict[str, str] | None = None,
    hide: tuple[str, ...] = (),
    keep: tuple[str, ...] = (),
    status_columns: tuple[str, ...] = (),
    system: str = "",
    mapped: dict[str, list[dict[str, Any]]] | None = None,
    sort: tuple[str, bool] | None = None,
) -> Panel:
    """A table merged from instant queries. `queries` are (refId, expr); `columns` renames fields
    (e.g. "Value #B": "Rows synced") and orders them; `hide` drops fields; `keep` shows a field
    tables drop by default (e.g. "instance")."""
    if len(queries) == 1:
        # Grafana names the value field of a single query "Value", not "Value #A".
        rename = _single_value(queries[0][0])
        columns = {rename(k): v for k, v in columns.items()}
        units = {rename(k): v for k, v in (units or {}).items()}
        mapped = {rename(k): v for k, v in (mapped or {}).items()}
        if sort:
            sort = (rename(sort[0]), sort[1])
    panel: Panel = {
        "datasource": DS,
        "description": description,
        "fieldConfig": {
            "defaults": {
                "custom": {"align": "auto", "cellOptions": {"type": "auto"}, "filterable": True},
                "mappings": [],
                "thresholds": thresholds((None, "text")),
                "unit": "none",
            },
            "overrides": [
                *_unit_overrides(columns, units or {}),
                *_status_overrides(columns, status_columns, system),
                *_mapped_overrides(columns, mapped or {}),
            ],
        },
        "options": {"cellHeight": "sm", "footer": {"show": False}, "showHeader": True},
        "targets": [target(expr, ref=ref, instant=True, table=True) for ref, expr in queries],
        "title": title,
        "transformations": [
            {"id": "merge", "options": {}},
            {"id": "organize", "options": _organize(queries, columns, hide, keep)},
        ],
        "type": "table",
    }
    if sort:
        panel["options"]["sortBy"] = [
            {"displayName": columns.get(sort[0], sort[0]), "desc": sort[1]}
        ]
    return panel


def _single_value(ref: str) -> Callable[[str], str]:
    def rename(name: str) -> str:
        return "Value" if name == f"Value #{ref}" else name

    return rename


def _organize(
    queries: list[tuple[str, str]],
    columns: dict[str, str],
    hide: tuple[str, ...],
    keep: tuple[str, ...],
) -> dict[str, Any]:
    """Drops Prometheus' bookkeeping fields and the values no column names; orders and renames."""
    defaults = ("Time", "__name__", "job", "instance", *hide)
    excluded = {name: True for name in defaults if name not in keep}
    for ref, _ in queries:
        value = "Value" if len(queries) == 1 else f"Value #{ref}"
        if value not in columns:
            excluded[value] = True
    return {
        "excludeByName": excluded,
        "indexByName": {name: i for i, name in enumerate(columns)},
        "renameByName": {k: v for k, v in columns.items() if k != v},
    }


def _unit_overrides(columns: dict[str, str], units: dict[str, str]) -> list[dict[str, Any]]:
    return [
        {
            "matcher": {"id": "byName", "options": columns.get(field, field)},
            "properties": [{"id": "unit", "value": unit}],
        }
        for field, unit in units.items()
    ]


def _status_overrides(
    columns: dict[str, str], status_columns: tuple[str, ...], system: str
) -> list[dict[str, Any]]:
    """Status columns as coloured text, in the colours of their system's states."""
    if not status_columns:
        return []
    if not system:
        raise ValueError("status columns need the system their statuses belong to")
    colours = status_colors()
    options = {
        name: {"color": colours[name], "index": i} for i, name in enumerate(statuses(system))
    }
    return [
        {
            "matcher": {"id": "byName", "options": columns.get(field, field)},
            "properties": [
                {"id": "custom.cellOptions", "value": {"type": "color-text"}},
                {"id": "mappings", "value": [{"type": "value", "options": options}]},
            ],
        }
        for field in status_columns
    ]


def _mapped_overrides(
    columns: dict[str, str], mapped: dict[str, list[dict[str, Any]]]
) -> list[dict[str, Any]]:
    return [
        {
            "matcher": {"id": "byName", "options": columns.get(field, field)},
            "properties": [
                {
                    "id": "custom.cellOptions",
                    "value": {"type": "color-background", "mode": "basic"},
                },
                {"id": "mappings", "value": mappings},
            ],
        }
        for field, mappings in mapped.items()
    ]


def state_timeline(
    title: str,
    description: str,
    metrics: tuple[str, ...],
    selector: str,
    by: str,
    states: StateSet,
    legend: str,
) -> dict[str, Any]:
    """One row per entity, coloured by its state over time. The one-hot state series become one
    number per entity (the state's position in its state set; 0 for a state the exporter does
    not know), mapped back to the state's name and colour; an entity without series is a gap."""
    names = [*states.values, *sorted(states.sparse)]
    terms = [
        f'(({metric}{{{selector}, status="{name}"}} == 1) * {i + 1})'
        for metric in metrics
        for i, name in enumerate(names)
    ]
    terms += [f"({metric}{{{selector}}} * 0)" for metric in metrics]
    options = {"0": {"text": "other state", "color": PURPLE, "index": 0}}
    options.update(
        {
            str(i + 1): {"text": name, "color": COLOURS[name], "index": i + 1}
            for i, name in enumerate(names)
        }
    )
    return {
        "datasource": DS,
        "description": description,
        "fieldConfig": {
            "defaults": {
                "color": {"mode": "thresholds"},
                "custom": {"fillOpacity": 80, "lineWidth": 0, "spanNulls": False},
                "mappings": [{"type": "value", "options": options}],
                "thresholds": thresholds((None, "text")),
            },
            "overrides": [],
        },
        "options": {
            "alignValue": "left",
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": False},
            "mergeValues": True,
            "rowHeight": 0.9,
            "showValue": "auto",
            "tooltip": {"mode": "single", "sort": "none"},
        },
        "targets": [target(f"max by ({by}) ({' or '.join(terms)})", legend)],
        "title": title,
        "type": "state-timeline",
    }
