"""Generates the Grafana dashboards of dataflow-exporter (grafana/*.json and the chart's copies)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

from dataflow_exporter.families import StateSet
from dataflow_exporter.sources import confluent as confluent_source
from dataflow_exporter.sources import etlworks as etlworks_source
from dataflow_exporter.sources import feldera as feldera_source
from dataflow_exporter.sources import peerdb as peerdb_source

SOURCE = Path(__file__).resolve().parent.parent
ROOT = Path(sys.argv[1]) if len(sys.argv) > 1 else SOURCE
# The one config of thresholds, shared with the alert rules (alerts/config.yml).
ALERTS = yaml.safe_load((SOURCE / "alerts" / "config.yml").read_text(encoding="utf-8"))["alerts"]


def limit(alert: str, key: str) -> int:
    """A threshold of alerts/config.yml, for threshold lines and the queries that mirror a rule."""
    return int(ALERTS[alert][key])


DS = {"type": "prometheus", "uid": "${datasource}"}
TAGS = ["dataflow-exporter"]

GREEN, RED, ORANGE, YELLOW, BLUE, GREY, PURPLE = (
    "green",
    "red",
    "orange",
    "yellow",
    "blue",
    "text",
    "purple",
)

# Colour by meaning. Every state of the sources' own state sets (STATE_SETS) must have one: the
# generator stops, naming the state, when an exporter upgrade adds a state without a colour here.
COLOURS = {
    # PeerDB
    "STATUS_RUNNING": GREEN,
    "STATUS_COMPLETED": BLUE,
    "STATUS_PAUSED": ORANGE,
    "STATUS_PAUSING": YELLOW,
    "STATUS_SETUP": YELLOW,
    "STATUS_SNAPSHOT": BLUE,
    "STATUS_RESYNC": YELLOW,
    "STATUS_MODIFYING": YELLOW,
    "STATUS_TERMINATING": YELLOW,
    "STATUS_TERMINATED": GREY,
    "STATUS_FAILED": RED,
    "STATUS_UNKNOWN": PURPLE,
    # PeerDB replication slots (Postgres' wal_status)
    "reserved": GREEN,
    "extended": YELLOW,
    "unreserved": ORANGE,
    "lost": RED,
    # Confluent
    "ACTIVE": GREEN,
    "FAILED": RED,
    "LINK_FAILED": RED,
    "SOURCE_UNAVAILABLE": RED,
    "UNAVAILABLE": RED,
    "PAUSED": ORANGE,
    "LINK_PAUSED": ORANGE,
    "STOPPED": GREY,
    "PENDING_MIRROR": YELLOW,
    "PENDING_SYNCHRONIZE": YELLOW,
    "PENDING_STOPPED": YELLOW,
    "PENDING_SETUP_FOR_RESTORE": YELLOW,
    "PENDING_RESTORE": YELLOW,
    "UNKNOWN": PURPLE,
    "IN_ERROR": RED,
    "NOT_CONFIGURED": GREY,
    "LINK_UNAVAILABLE": RED,
    # Feldera
    "Running": GREEN,
    "Paused": ORANGE,
    "Stopped": GREY,
    "Stopping": YELLOW,
    "Provisioning": YELLOW,
    "Initializing": YELLOW,
    "Bootstrapping": YELLOW,
    "ConcurrentBootstrapping": YELLOW,
    "Synchronizing": YELLOW,
    "Replaying": YELLOW,
    "Coordination": YELLOW,
    "AwaitingApproval": YELLOW,
    "Standby": BLUE,
    "Unavailable": RED,
    "Suspended": ORANGE,
    "Suspending": YELLOW,
    "Healthy": GREEN,
    "Unhealthy": RED,
    "Pending": YELLOW,
    "CompilingSql": YELLOW,
    "SqlCompiled": YELLOW,
    "CompilingRust": YELLOW,
    "Success": GREEN,
    "SqlError": RED,
    "RustError": RED,
    "SystemError": RED,
    "idle": GREEN,
    "in_progress": BLUE,
    "delayed": ORANGE,
    # Etlworks
    "success": GREEN,
    "warning": YELLOW,
    "error": RED,
    "running": BLUE,
    "queued": PURPLE,
    "canceled": GREY,
}

# The state sets whose `status` label the dashboards colour, per system.
STATE_SETS: dict[str, tuple[StateSet, ...]] = {
    "peerdb": (peerdb_source.FLOW_STATUSES, peerdb_source.WAL_STATUSES),
    "confluent": (
        confluent_source.LINK_STATES,
        confluent_source.MIRROR_STATUSES,
        confluent_source.LINK_TASK_STATES,
    ),
    "feldera": (
        feldera_source.DEPLOYMENT_STATUSES,
        feldera_source.DESIRED_STATUSES,
        feldera_source.HEALTH_STATUSES,
        feldera_source.PROGRAM_STATUSES,
        feldera_source.CHECKPOINT_ACTIVITIES,
    ),
    "etlworks": (etlworks_source.STATUSES,),
}


def statuses(system: str) -> list[str]:
    """Every state one system's state sets know, sparse ones included, in their order."""
    names: dict[str, None] = {}
    for states in STATE_SETS[system]:
        names.update(dict.fromkeys(states.values))
        names.update(dict.fromkeys(sorted(states.sparse)))
    return list(names)


def _status_colors() -> dict[str, str]:
    missing = [s for system in STATE_SETS for s in statuses(system) if s not in COLOURS]
    if missing:
        raise SystemExit(f"grafana/generate.py: give these states a colour in COLOURS: {missing}")
    return {s: COLOURS[s] for system in STATE_SETS for s in statuses(system)}


STATUS_COLORS = _status_colors()

BATCH_LIMIT = limit("PeerDBMirrorNoRecentBatch", "threshold_seconds")
SLOT_LIMIT = limit("PeerDBSlotLagHigh", "threshold_bytes")
SAFE_WAL_LIMIT = limit("PeerDBSlotSafeWalSizeLow", "threshold_bytes")
ERROR_WINDOW = limit("PeerDBMirrorErroring", "window_seconds")
LAG_LIMIT = limit("ConfluentMirrorLagHigh", "threshold_messages")
RUN_LIMIT = limit("EtlworksFlowRunningTooLong", "threshold_seconds")
# The flows EtlworksFlowRunningTooLong leaves out (a regular expression on `flow`).
RUN_EXCLUDE = ALERTS["EtlworksFlowRunningTooLong"]["exclude_flows"]
CHECKPOINT_DELAY_LIMIT = limit("FelderaCheckpointDelayed", "threshold_seconds")
STORAGE_GROWTH_LIMIT = limit("FelderaPipelineStorageGrowing", "growth_bytes_per_hour")
STORAGE_GROWTH_WINDOW = ALERTS["FelderaPipelineStorageGrowing"]["window"]
SUCCESS_LIMIT = limit("EtlworksFlowNoRecentSuccess", "threshold_seconds")


class Dashboard:
    """Accumulates panels row by row on Grafana's 24-column grid."""

    def __init__(self) -> None:
        self.panels: list[dict[str, Any]] = []
        self.y = 0
        self.x = 0
        self.row_h = 0
        self.next_id = 1

    def _id(self) -> int:
        self.next_id += 1
        return self.next_id - 1

    def row(self, title: str) -> None:
        self.newline()
        self.panels.append(
            {
                "collapsed": False,
                "gridPos": {"h": 1, "w": 24, "x": 0, "y": self.y},
                "id": self._id(),
                "panels": [],
                "title": title,
                "type": "row",
            }
        )
        self.y += 1

    def newline(self) -> None:
        self.y += self.row_h
        self.x = 0
        self.row_h = 0

    def add(self, panel: dict[str, Any], w: int, h: int) -> None:
        if self.x + w > 24:
            self.newline()
        panel["gridPos"] = {"h": h, "w": w, "x": self.x, "y": self.y}
        panel["id"] = self._id()
        self.panels.append(panel)
        self.x += w
        self.row_h = max(self.row_h, h)


def target(
    expr: str,
    legend: str = "",
    ref: str = "A",
    instant: bool = False,
    table: bool = False,
) -> dict[str, Any]:
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
    chosen = names or list(STATUS_COLORS)
    return [
        {
            "matcher": {"id": "byName", "options": name},
            "properties": [
                {"id": "color", "value": {"mode": "fixed", "fixedColor": STATUS_COLORS[name]}}
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
    status_columns: tuple[str, ...] = (),
    system: str = "",
    mapped: dict[str, list[dict[str, Any]]] | None = None,
    sort: tuple[str, bool] | None = None,
) -> dict[str, Any]:
    """A table merged from instant queries. `queries` are (refId, expr); `columns` renames fields
    (e.g. "Value #B": "Rows synced") and orders them; `hide` drops fields."""
    if len(queries) == 1:
        # Grafana names the value field of a single query "Value", not "Value #A".
        def single(name: str) -> str:
            return "Value" if name == f"Value #{queries[0][0]}" else name

        columns = {single(k): v for k, v in columns.items()}
        units = {single(k): v for k, v in (units or {}).items()}
        mapped = {single(k): v for k, v in (mapped or {}).items()}
        if sort:
            sort = (single(sort[0]), sort[1])
    excluded = {name: True for name in ("Time", "__name__", "job", "instance", *hide)}
    for ref, _ in queries:
        value = "Value" if len(queries) == 1 else f"Value #{ref}"
        if value not in columns:
            excluded[value] = True
    order = {name: i for i, name in enumerate(columns)}
    overrides: list[dict[str, Any]] = []
    for field, unit in (units or {}).items():
        overrides.append(
            {
                "matcher": {"id": "byName", "options": columns.get(field, field)},
                "properties": [{"id": "unit", "value": unit}],
            }
        )
    assert system or not status_columns, "status columns need the system their statuses belong to"
    for field in status_columns:
        overrides.append(
            {
                "matcher": {"id": "byName", "options": columns.get(field, field)},
                "properties": [
                    {"id": "custom.cellOptions", "value": {"type": "color-text"}},
                    {
                        "id": "mappings",
                        "value": [
                            {
                                "type": "value",
                                "options": {
                                    name: {"color": STATUS_COLORS[name], "index": i}
                                    for i, name in enumerate(
                                        statuses(system) if system else STATUS_COLORS
                                    )
                                },
                            }
                        ],
                    },
                ],
            }
        )
    for field, mappings in (mapped or {}).items():
        overrides.append(
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
        )
    panel: dict[str, Any] = {
        "datasource": DS,
        "description": description,
        "fieldConfig": {
            "defaults": {
                "custom": {"align": "auto", "cellOptions": {"type": "auto"}, "filterable": True},
                "mappings": [],
                "thresholds": thresholds((None, "text")),
                "unit": "none",
            },
            "overrides": overrides,
        },
        "options": {"cellHeight": "sm", "footer": {"show": False}, "showHeader": True},
        "targets": [target(expr, ref=ref, instant=True, table=True) for ref, expr in queries],
        "title": title,
        "transformations": [
            {"id": "merge", "options": {}},
            {
                "id": "organize",
                "options": {
                    "excludeByName": excluded,
                    "indexByName": order,
                    "renameByName": {k: v for k, v in columns.items() if k != v},
                },
            },
        ],
        "type": "table",
    }
    if sort:
        panel["options"]["sortBy"] = [
            {"displayName": columns.get(sort[0], sort[0]), "desc": sort[1]}
        ]
    return panel


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


def mapping_values(values: dict[str, tuple[str, str]]) -> list[dict[str, Any]]:
    return [
        {
            "type": "value",
            "options": {
                key: {"text": text, "color": color, "index": i}
                for i, (key, (text, color)) in enumerate(values.items())
            },
        }
    ]


UP_MAPPING = mapping_values({"1": ("UP", GREEN), "0": ("DOWN", RED)})
YES_NO_BAD = mapping_values({"1": ("yes", RED), "0": ("no", GREEN)})
STALE_MAPPING = mapping_values({"1": ("STALE", RED), "0": ("fresh", GREEN)})


def datasource_var() -> dict[str, Any]:
    return {
        "current": {},
        "hide": 0,
        "includeAll": False,
        "label": "Data source",
        "multi": False,
        "name": "datasource",
        "options": [],
        "query": "prometheus",
        "refresh": 1,
        "regex": "",
        "skipUrlSync": False,
        "type": "datasource",
    }


def query_var(name: str, label: str, query: str) -> dict[str, Any]:
    return {
        "allValue": ".*",
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "datasource": DS,
        "definition": query,
        "hide": 0,
        "includeAll": True,
        "label": label,
        "multi": True,
        "name": name,
        "options": [],
        "query": {
            "qryType": 1,
            "query": query,
            "refId": "PrometheusVariableQueryEditor-VariableQuery",
        },
        "refresh": 2,
        "regex": "",
        "skipUrlSync": False,
        "sort": 1,
        "type": "query",
    }


def dashboard(
    uid: str, title: str, description: str, board: Dashboard, variables: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "annotations": {
            "list": [
                {
                    "builtIn": 1,
                    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                    "enable": True,
                    "hide": True,
                    "iconColor": "rgba(0, 211, 255, 1)",
                    "name": "Annotations & Alerts",
                    "type": "dashboard",
                }
            ]
        },
        "description": description,
        "editable": True,
        "fiscalYearStartMonth": 0,
        "graphTooltip": 1,
        "id": None,
        "links": [
            {
                "asDropdown": True,
                "icon": "external link",
                "includeVars": False,
                "keepTime": True,
                "tags": TAGS,
                "targetBlank": False,
                "title": "Dataflow dashboards",
                "tooltip": "",
                "type": "dashboards",
                "url": "",
            }
        ],
        "panels": board.panels,
        "refresh": "30s",
        "schemaVersion": 39,
        "tags": TAGS,
        "templating": {"list": [datasource_var(), *variables]},
        "time": {"from": "now-6h", "to": "now"},
        "timepicker": {},
        "timezone": "",
        "title": title,
        "uid": uid,
        "version": 1,
        "weekStart": "",
    }


T = 'target=~"$target"'
# Counting: two replicas of an HA pair export the same entities, and every shard exports each
# target's dataflow_exporter_target_* series; only `instance` and the scrape's own labels tell
# those copies apart. So every sum first keeps one series per entity (`max by` its identifying
# labels, `min by (target, system)` for "up": down on any replica is down), and per-replica
# event counters (errors, drops, unknown values) are summed as the events they are.

# ---------------------------------------------------------------------------------------------
# Overview


def overview() -> dict[str, Any]:
    d = Dashboard()
    d.row("Exporter health")
    d.add(
        stat(
            "Targets up",
            "Targets whose last poll succeeded.",
            f"sum(min by (target, system) (dataflow_exporter_target_up{{{T}}}))",
        ),
        4,
        4,
    )
    d.add(
        stat(
            "Targets down",
            "Targets whose last poll failed. Their series keep their last good values until stale_after.",
            f"sum(1 - min by (target, system) (dataflow_exporter_target_up{{{T}}}))",
            steps=((None, GREEN), (1, RED)),
        ),
        4,
        4,
    )
    d.add(
        stat(
            "Stale targets",
            "Targets whose series are withheld because no poll has succeeded for stale_after: alerts on their entities cannot fire.",
            f"sum(max by (target, system) (dataflow_exporter_target_stale{{{T}}}))",
            steps=((None, GREEN), (1, RED)),
        ),
        4,
        4,
    )
    d.add(
        stat(
            "Config reload",
            "Whether every exporter's last configuration (re)load succeeded; a failed reload keeps the previous configuration.",
            "min(dataflow_exporter_config_last_reload_successful)",
            steps=((None, RED), (1, GREEN)),
            mappings=mapping_values({"1": ("OK", GREEN), "0": ("FAILED", RED)}),
        ),
        4,
        4,
    )
    d.add(
        stat(
            "Unknown upstream values",
            "Upstream enum values outside the known states seen over the dashboard's time range: an upstream upgrade introduced a state no alert matches.",
            "sum(increase(dataflow_exporter_unknown_values_total[$__range]))",
            steps=((None, GREEN), (1, YELLOW)),
        ),
        4,
        4,
    )
    d.add(
        stat(
            "Series dropped",
            "Series dropped over the time range because a target exceeded its max_series: some entities are missing.",
            f"sum(increase(dataflow_exporter_series_dropped_total{{{T}}}[$__range]))",
            steps=((None, GREEN), (1, ORANGE)),
        ),
        4,
        4,
    )
    d.add(
        table(
            "Targets",
            "One row per target: last poll result, age of the last success, poll duration and interval, series exported. The exporter's status page (/) adds the last error text.",
            [
                ("A", f"dataflow_exporter_target_up{{{T}}}"),
                ("B", f"time() - dataflow_exporter_target_last_success_timestamp_seconds{{{T}}}"),
                ("C", f"dataflow_exporter_target_stale{{{T}}}"),
                ("D", f"dataflow_exporter_target_poll_duration_seconds{{{T}}}"),
                ("E", f"dataflow_exporter_target_poll_interval_seconds{{{T}}}"),
                ("F", f"dataflow_exporter_target_series{{{T}}}"),
            ],
            {
                "target": "Target",
                "system": "System",
                "Value #A": "Last poll",
                "Value #B": "Last success",
                "Value #C": "Data",
                "Value #D": "Poll took",
                "Value #E": "Interval",
                "Value #F": "Series exported",
            },
            units={"Value #B": "s", "Value #D": "s", "Value #E": "s"},
            mapped={"Value #A": UP_MAPPING, "Value #C": STALE_MAPPING},
            sort=("Value #A", False),
        ),
        12,
        8,
    )
    d.add(
        timeseries(
            "Failed polls by reason",
            "Failed polls per target and reason (timeout, connect, tls, auth, rate_limited, http_4xx, http_5xx, decode, schema, config, internal).",
            [
                target(
                    f"sum by (target, reason) (increase(dataflow_exporter_target_errors_total{{{T}}}[$__rate_interval])) > 0",
                    "{{target}}: {{reason}}",
                )
            ],
            bars=True,
        ),
        12,
        8,
    )
    d.add(
        timeseries(
            "Poll duration",
            "How long each target's last poll took; compare with its timeout.",
            [target(f"dataflow_exporter_target_poll_duration_seconds{{{T}}}", "{{target}}")],
            unit="s",
        ),
        8,
        7,
    )
    d.add(
        timeseries(
            "Series per target",
            "Series each target exports now (0 while stale).",
            [target(f"dataflow_exporter_target_series{{{T}}}", "{{target}}")],
        ),
        8,
        7,
    )
    d.add(
        table(
            "Exporter instances",
            "Each scraped exporter: version, shard and when its configuration was last loaded.",
            [
                ("A", "dataflow_exporter_build_info"),
                ("B", "dataflow_exporter_shard_info"),
                ("C", "time() - dataflow_exporter_config_last_reload_success_timestamp_seconds"),
            ],
            {
                "instance": "Instance",
                "version": "Version",
                "python_version": "Python",
                "index": "Shard",
                "count": "of",
                "Value #C": "Config loaded",
            },
            units={"Value #C": "s"},
            hide=(),
        ),
        8,
        7,
    )
    # `instance` is wanted in this table: undo its default exclusion.
    d.panels[-1]["transformations"][1]["options"]["excludeByName"].pop("instance")

    d.row("Entities by state")
    d.add(
        bargauge(
            "PeerDB mirrors",
            "PeerDB mirrors per state.",
            f"sum by (status) (max by (target, mirror, status) (peerdb_mirror_status{{{T}}} == 1))",
            "peerdb",
        ),
        6,
        8,
    )
    d.add(
        bargauge(
            "Confluent mirror topics",
            "Confluent mirror topics per state.",
            f"sum by (status) (max by (target, cluster_id, link, topic, status) (confluent_mirror_topic_status{{{T}}} == 1))",
            "confluent",
        ),
        6,
        8,
    )
    d.add(
        bargauge(
            "Feldera pipelines",
            "Feldera pipelines per deployment status.",
            f"sum by (status) (max by (target, pipeline, status) (feldera_pipeline_status{{{T}}} == 1))",
            "feldera",
        ),
        6,
        8,
    )
    d.add(
        bargauge(
            "Etlworks flows",
            "Etlworks flows per status of their newest execution.",
            f"sum by (status) (max by (target, flow_id, status) (etlworks_flow_last_execution_status{{{T}}} == 1))",
            "etlworks",
        ),
        6,
        8,
    )
    d.add(
        bargauge(
            "Confluent cluster links",
            "Confluent cluster links per state.",
            f"sum by (status) (max by (target, cluster_id, link, status) (confluent_link_status{{{T}}} == 1))",
            "confluent",
        ),
        6,
        5,
    )
    d.add(
        bargauge(
            "Feldera connectors",
            "Feldera input and output connectors per reported health (connectors that report none are not counted).",
            f"sum by (status) (max by (target, pipeline, table, view, connector, status) (feldera_input_connector_health{{{T}}} == 1 or feldera_output_connector_health{{{T}}} == 1))",
            "feldera",
        ),
        6,
        5,
    )

    d.row("Broken now")
    d.add(
        table(
            "PeerDB mirrors not running",
            "Mirrors in any state but STATUS_RUNNING or STATUS_COMPLETED: failed, paused, or in a transition.",
            [("A", f'peerdb_mirror_status{{{T}, status!~"STATUS_RUNNING|STATUS_COMPLETED"}} == 1')],
            {"target": "Target", "mirror": "Mirror", "status": "Status"},
            status_columns=("status",),
            system="peerdb",
        ),
        12,
        7,
    )
    d.add(
        table(
            "Confluent links and mirror topics not active",
            "Cluster links and mirror topics in any state but ACTIVE (a topic row has a topic; a link row has none).",
            [
                ("A", f'confluent_link_status{{{T}, status!="ACTIVE"}} == 1'),
                ("B", f'confluent_mirror_topic_status{{{T}, status!="ACTIVE"}} == 1'),
            ],
            {
                "target": "Target",
                "cluster_id": "Cluster",
                "link": "Link",
                "topic": "Mirror topic",
                "status": "Status",
            },
            status_columns=("status",),
            system="confluent",
        ),
        12,
        7,
    )
    d.add(
        table(
            "Feldera pipelines and connectors in trouble",
            "Pipelines with a deployment error or not in their desired status, and connectors with a fatal error or reporting Unhealthy.",
            [
                (
                    "A",
                    f'label_replace(feldera_pipeline_deployment_error{{{T}}} == 1, "problem", "deployment error", "__name__", ".*")',
                ),
                (
                    "B",
                    f'label_replace(feldera_pipeline_desired_status{{{T}}} == 1 unless on (target, pipeline, status) feldera_pipeline_status == 1, "problem", "not in desired status $1", "status", "(.*)")',
                ),
                (
                    "C",
                    f'label_replace(feldera_input_connector_fatal_error{{{T}}} == 1 or feldera_output_connector_fatal_error{{{T}}} == 1, "problem", "fatal error", "__name__", ".*")',
                ),
                (
                    "D",
                    f'label_replace(feldera_input_connector_health{{{T}, status="Unhealthy"}} == 1 or feldera_output_connector_health{{{T}, status="Unhealthy"}} == 1, "problem", "Unhealthy", "__name__", ".*")',
                ),
            ],
            {
                "target": "Target",
                "pipeline": "Pipeline",
                "table": "Table",
                "view": "View",
                "connector": "Connector",
                "problem": "Problem",
            },
            hide=("status",),
        ),
        12,
        7,
    )
    d.add(
        table(
            "Etlworks flows failed or hanging",
            f"Flows whose newest execution ended in error, and executions queued or running for over {RUN_LIMIT} s.",
            [
                (
                    "A",
                    f'label_replace(etlworks_flow_last_execution_status{{{T}, status="error"}} == 1, "problem", "last run failed", "__name__", ".*")',
                ),
                (
                    "B",
                    f'label_replace(etlworks_flow_last_execution_duration_seconds{{{T}, flow!~"{RUN_EXCLUDE}"}} > {RUN_LIMIT} and on (target, flow_id) etlworks_flow_last_execution_status{{status=~"queued|running"}} == 1, "problem", "running for over {RUN_LIMIT} s", "__name__", ".*")',
                ),
            ],
            {"target": "Target", "flow_id": "Flow id", "flow": "Flow", "problem": "Problem"},
            hide=("status",),
        ),
        12,
        7,
    )
    return dashboard(
        "dataflow-overview",
        "Dataflow: overview",
        "Every PeerDB mirror, Confluent mirror topic, Feldera pipeline and Etlworks flow by state, what is broken now, and the exporter's own health.",
        d,
        [query_var("target", "Target", "label_values(dataflow_exporter_target_up, target)")],
    )


# ---------------------------------------------------------------------------------------------
# PeerDB

PM = 'target=~"$target", mirror=~"$mirror"'


def peerdb() -> dict[str, Any]:
    d = Dashboard()
    d.row("Mirrors")
    d.add(
        stat(
            "Mirrors",
            "Mirrors selected by the variables.",
            f"count(count by (target, mirror) (peerdb_mirror_status{{{PM}}}))",
            steps=((None, BLUE),),
        ),
        4,
        4,
    )
    d.add(
        stat(
            "Running",
            "Mirrors in STATUS_RUNNING.",
            f'sum(max by (target, mirror) (peerdb_mirror_status{{{PM}, status="STATUS_RUNNING"}}))',
        ),
        4,
        4,
    )
    d.add(
        stat(
            "Paused",
            "Mirrors in STATUS_PAUSED.",
            f'sum(max by (target, mirror) (peerdb_mirror_status{{{PM}, status="STATUS_PAUSED"}}))',
            steps=((None, GREEN), (1, ORANGE)),
        ),
        4,
        4,
    )
    d.add(
        stat(
            "Failed",
            "Mirrors in STATUS_FAILED.",
            f'sum(max by (target, mirror) (peerdb_mirror_status{{{PM}, status="STATUS_FAILED"}}))',
            steps=((None, GREEN), (1, RED)),
        ),
        4,
        4,
    )
    d.add(
        stat(
            "In transition",
            "Mirrors setting up, snapshotting, pausing, resyncing, modifying or terminating.",
            f'sum(max by (target, mirror) (peerdb_mirror_status{{{PM}, status=~"STATUS_SETUP|STATUS_SNAPSHOT|STATUS_PAUSING|STATUS_RESYNC|STATUS_MODIFYING|STATUS_TERMINATING"}}))',
            steps=((None, GREEN), (1, YELLOW)),
        ),
        4,
        4,
    )
    d.add(
        stat(
            "PeerDB instance",
            "The instance's own state: MAINTENANCE during upgrades.",
            f"max by (target, status) (peerdb_instance_status{{{T}}} == 1)",
            legend="{{target}}: {{status}}",
            text_mode="name",
            steps=((None, BLUE),),
        ),
        4,
        4,
    )
    d.add(
        table(
            "Mirrors",
            "One row per mirror: state, source and destination, time since its newest CDC batch, rows synced, creation time.",
            [
                ("A", f"peerdb_mirror_status{{{PM}}} == 1"),
                ("B", f"peerdb_mirror_info{{{PM}}}"),
                ("C", f"time() - peerdb_mirror_last_batch_end_timestamp_seconds{{{PM}}}"),
                ("D", f"peerdb_mirror_last_batch_rows{{{PM}}}"),
                ("E", f"peerdb_mirror_rows_synced_total{{{PM}}}"),
                ("F", f"peerdb_mirror_created_timestamp_seconds{{{PM}}} * 1000"),
            ],
            {
                "target": "Target",
                "mirror": "Mirror",
                "status": "Status",
                "source_peer": "Source",
                "source_type": "Source type",
                "destination_peer": "Destination",
                "destination_type": "Destination type",
                "cdc": "CDC",
                "Value #C": "Newest batch ended",
                "Value #D": "Rows in it",
                "Value #E": "Rows synced",
                "Value #F": "Created",
            },
            units={"Value #C": "s", "Value #F": "dateTimeFromNow"},
            status_columns=("status",),
            system="peerdb",
        ),
        24,
        9,
    )
    d.row("Freshness and throughput")
    d.add(
        timeseries(
            "Time since the newest CDC batch",
            f"How long ago each mirror's newest completed CDC batch ended: its freshness. The red line is PeerDBMirrorNoRecentBatch's threshold ({BATCH_LIMIT} s).",
            [
                target(
                    f"time() - peerdb_mirror_last_batch_end_timestamp_seconds{{{PM}}}",
                    "{{target}} / {{mirror}}",
                )
            ],
            unit="s",
            threshold_line=BATCH_LIMIT,
        ),
        12,
        8,
    )
    d.add(
        timeseries(
            "Rows synced per second",
            "Rows synced per second by each mirror (initial load and CDC).",
            [
                target(
                    f"rate(peerdb_mirror_rows_synced_total{{{PM}}}[$__rate_interval])",
                    "{{target}} / {{mirror}}",
                )
            ],
            unit="short",
        ),
        12,
        8,
    )
    d.add(
        timeseries(
            "CDC batches per minute",
            "CDC batches started per minute by each mirror.",
            [
                target(
                    f"rate(peerdb_mirror_cdc_batches_total{{{PM}}}[$__rate_interval]) * 60",
                    "{{target}} / {{mirror}}",
                )
            ],
        ),
        8,
        8,
    )
    d.add(
        timeseries(
            "Rows in the newest batch",
            "Size of each mirror's newest completed CDC batch.",
            [target(f"peerdb_mirror_last_batch_rows{{{PM}}}", "{{target}} / {{mirror}}")],
        ),
        8,
        8,
    )
    d.add(
        timeseries(
            "Mirrors by state",
            "How many mirrors were in each state over time.",
            [
                target(
                    f"sum by (status) (max by (target, mirror, status) (peerdb_mirror_status{{{PM}}} == 1))",
                    "{{status}}",
                )
            ],
            stack=True,
            overrides=status_overrides([k for k in STATUS_COLORS if k.startswith("STATUS_")]),
        ),
        8,
        8,
    )
    d.row("Replication slots")
    d.add(
        timeseries(
            "Replication slot lag",
            f"WAL each replication slot holds on its Postgres source peer. The red line is PeerDBSlotLagHigh's threshold ({SLOT_LIMIT} bytes).",
            [target(f"peerdb_slot_lag_bytes{{{T}}}", "{{target}} / {{peer}} / {{slot}}")],
            unit="bytes",
            threshold_line=SLOT_LIMIT,
        ),
        16,
        8,
    )
    d.add(
        table(
            "Replication slots",
            "Each slot's lag and whether a consumer is attached.",
            [("A", f"peerdb_slot_lag_bytes{{{T}}}"), ("B", f"peerdb_slot_active{{{T}}}")],
            {
                "target": "Target",
                "peer": "Peer",
                "slot": "Slot",
                "Value #A": "Lag",
                "Value #B": "Active",
            },
            units={"Value #A": "bytes"},
            mapped={
                "Value #B": mapping_values({"1": ("active", GREEN), "0": ("inactive", ORANGE)})
            },
            sort=("Value #A", True),
        ),
        8,
        8,
    )
    d.add(
        timeseries(
            "Safe WAL size",
            f"WAL that can still be written before each slot is lost (Postgres' safe_wal_size; PeerDB v0.35.3+, only where max_slot_wal_keep_size is set). The red line is PeerDBSlotSafeWalSizeLow's threshold ({SAFE_WAL_LIMIT} bytes).",
            [target(f"peerdb_slot_safe_wal_size_bytes{{{T}}}", "{{target}} / {{peer}} / {{slot}}")],
            unit="bytes",
            threshold_line=SAFE_WAL_LIMIT,
        ),
        16,
        8,
    )
    d.add(
        table(
            "Slots losing WAL",
            "Slots whose wal_status is unreserved (past max_slot_wal_keep_size) or lost (its mirror needs a resync).",
            [("A", f'peerdb_slot_wal_status{{{T}, status=~"unreserved|lost"}} == 1')],
            {"target": "Target", "peer": "Peer", "slot": "Slot", "status": "WAL status"},
        ),
        8,
        8,
    )
    d.row("Mirror errors")
    d.add(
        timeseries(
            "Errors logged per mirror",
            "Error rows PeerDB logged for each mirror in the last 15 minutes (mirrors/logs, among the newest rows the exporter reads per poll).",
            [target(f"peerdb_mirror_recent_errors{{{PM}}} > 0", "{{target}} / {{mirror}}")],
        ),
        16,
        8,
    )
    d.add(
        table(
            "Running mirrors erroring",
            f"Running mirrors whose newest logged error is at most {ERROR_WINDOW} s old (PeerDBMirrorErroring's window); the status page shows PeerDB's error text.",
            [
                (
                    "A",
                    f"(time() - peerdb_mirror_last_error_timestamp_seconds{{{PM}}}) <= {ERROR_WINDOW}"
                    f' and on (target, mirror) peerdb_mirror_status{{{PM}, status="STATUS_RUNNING"}} == 1',
                )
            ],
            {"target": "Target", "mirror": "Mirror", "Value #A": "Last error (s ago)"},
            units={"Value #A": "s"},
        ),
        8,
        8,
    )
    d.row("State over time")
    d.add(
        state_timeline(
            "Replication slot WAL states",
            "Each slot's wal_status over time, one row per target, peer and slot. A gap is no data (no slot, or a Postgres or PeerDB that does not tell), not a healthy state.",
            ("peerdb_slot_wal_status",),
            T,
            "target, peer, slot",
            peerdb_source.WAL_STATUSES,
            "{{target}} / {{peer}} / {{slot}}",
        ),
        24,
        8,
    )
    d.add(
        state_timeline(
            "Mirror states",
            "Each mirror's status over time, one row per target and mirror. A gap is no data (the exporter did not report the mirror), not a healthy state.",
            ("peerdb_mirror_status",),
            PM,
            "target, mirror",
            peerdb_source.FLOW_STATUSES,
            "{{target}} / {{mirror}}",
        ),
        24,
        8,
    )
    return dashboard(
        "dataflow-peerdb",
        "Dataflow: PeerDB",
        "PeerDB mirrors: state, freshness (time since the newest CDC batch), throughput and replication-slot lag.",
        d,
        [
            query_var(
                "target",
                "Target",
                'label_values(dataflow_exporter_target_up{system="peerdb"}, target)',
            ),
            query_var(
                "mirror", "Mirror", 'label_values(peerdb_mirror_status{target=~"$target"}, mirror)'
            ),
        ],
    )


# ---------------------------------------------------------------------------------------------
# Confluent

CL = 'target=~"$target", link=~"$link"'
CT = 'target=~"$target", link=~"$link", topic=~"$topic"'


def confluent() -> dict[str, Any]:
    d = Dashboard()
    d.row("Cluster links and mirror topics")
    d.add(
        stat(
            "Mirror topics",
            "Mirror topics selected by the variables.",
            f"count(count by (target, link, topic) (confluent_mirror_topic_status{{{CT}}}))",
            steps=((None, BLUE),),
        ),
        4,
        4,
    )
    d.add(
        stat(
            "Active",
            "Mirror topics in ACTIVE.",
            f'sum(max by (target, cluster_id, link, topic) (confluent_mirror_topic_status{{{CT}, status="ACTIVE"}}))',
        ),
        4,
        4,
    )
    d.add(
        stat(
            "Paused",
            "Mirror topics PAUSED or LINK_PAUSED.",
            f'sum(max by (target, cluster_id, link, topic) (confluent_mirror_topic_status{{{CT}, status=~"PAUSED|LINK_PAUSED"}}))',
            steps=((None, GREEN), (1, ORANGE)),
        ),
        4,
        4,
    )
    d.add(
        stat(
            "Failed",
            "Mirror topics FAILED, LINK_FAILED or SOURCE_UNAVAILABLE.",
            f'sum(max by (target, cluster_id, link, topic) (confluent_mirror_topic_status{{{CT}, status=~"FAILED|LINK_FAILED|SOURCE_UNAVAILABLE"}}))',
            steps=((None, GREEN), (1, RED)),
        ),
        4,
        4,
    )
    d.add(
        stat(
            "Pending",
            "Mirror topics in a PENDING_* transition.",
            f'sum(max by (target, cluster_id, link, topic) (confluent_mirror_topic_status{{{CT}, status=~"PENDING_.*"}}))',
            steps=((None, GREEN), (1, YELLOW)),
        ),
        4,
        4,
    )
    d.add(
        stat(
            "Total lag",
            "Messages all selected mirror topics are behind their sources.",
            f"sum(max by (target, cluster_id, link, topic) (confluent_mirror_topic_lag{{{CT}}}))",
            unit="short",
            steps=((None, GREEN), (LAG_LIMIT, ORANGE)),
        ),
        4,
        4,
    )
    d.add(
        table(
            "Cluster links",
            "Each cluster link's state and error.",
            [
                ("A", f"confluent_link_status{{{CL}}} == 1"),
                ("B", f"confluent_link_error{{{CL}}} == 1"),
            ],
            {
                "target": "Target",
                "cluster_id": "Cluster",
                "link": "Link",
                "status": "State",
                "error": "Error",
            },
            status_columns=("status",),
            system="confluent",
        ),
        8,
        8,
    )
    d.add(
        table(
            "Mirror topics",
            "One row per mirror topic: state, error, partitions, lag (sum and worst partition) and time in the current state.",
            [
                ("A", f"confluent_mirror_topic_status{{{CT}}} == 1"),
                ("B", f"confluent_mirror_topic_error{{{CT}}} == 1"),
                ("C", f"confluent_mirror_topic_partitions{{{CT}}}"),
                ("D", f"confluent_mirror_topic_lag{{{CT}}}"),
                ("E", f"confluent_mirror_topic_max_partition_lag{{{CT}}}"),
                ("F", f"time() - confluent_mirror_topic_state_change_timestamp_seconds{{{CT}}}"),
            ],
            {
                "target": "Target",
                "cluster_id": "Cluster",
                "link": "Link",
                "topic": "Mirror topic",
                "status": "State",
                "error": "Error",
                "Value #C": "Partitions",
                "Value #D": "Lag",
                "Value #E": "Worst partition lag",
                "Value #F": "In state for",
            },
            units={"Value #D": "short", "Value #E": "short", "Value #F": "s"},
            status_columns=("status",),
            system="confluent",
            sort=("Value #D", True),
        ),
        16,
        8,
    )
    d.row("Lag")
    d.add(
        timeseries(
            "Lag per mirror topic",
            f"Messages each mirror topic is behind its source topic, summed over its partitions. The red line is ConfluentMirrorLagHigh's threshold ({LAG_LIMIT}).",
            [target(f"confluent_mirror_topic_lag{{{CT}}}", "{{target}} / {{link}} / {{topic}}")],
            threshold_line=LAG_LIMIT,
        ),
        12,
        8,
    )
    d.add(
        timeseries(
            "Lag trend",
            "Change of each mirror topic's lag per second over the last 15 minutes: above 0 it falls behind, below 0 it catches up (ConfluentMirrorLagGrowing watches this).",
            [
                target(
                    f"deriv(confluent_mirror_topic_lag{{{CT}}}[15m])",
                    "{{target}} / {{link}} / {{topic}}",
                )
            ],
            min_zero=False,
        ),
        12,
        8,
    )
    d.add(
        timeseries(
            "Most lagging partitions",
            "The 20 mirror partitions furthest behind their source partitions.",
            [
                target(
                    f"topk(20, confluent_mirror_partition_lag{{{CT}}})",
                    "{{target}} / {{topic}} [{{partition}}]",
                )
            ],
        ),
        12,
        8,
    )
    d.add(
        timeseries(
            "Fetched from the source per second",
            "Messages per second each mirror topic fetches from its source (from the partitions' last fetched offsets).",
            [
                target(
                    f"sum by (target, link, topic) (max by (target, cluster_id, link, topic, partition) (rate(confluent_mirror_partition_last_source_fetch_offset{{{CT}}}[$__rate_interval])))",
                    "{{target}} / {{link}} / {{topic}}",
                )
            ],
        ),
        12,
        8,
    )
    d.add(
        table(
            "Lag per partition",
            "Every mirror partition's lag and last offset fetched from its source partition.",
            [
                ("A", f"confluent_mirror_partition_lag{{{CT}}}"),
                ("B", f"confluent_mirror_partition_last_source_fetch_offset{{{CT}}}"),
            ],
            {
                "target": "Target",
                "cluster_id": "Cluster",
                "link": "Link",
                "topic": "Mirror topic",
                "partition": "Partition",
                "Value #A": "Lag",
                "Value #B": "Last fetched offset",
            },
            sort=("Value #A", True),
        ),
        12,
        9,
    )
    d.add(
        timeseries(
            "Mirror topics by state",
            "How many mirror topics were in each state over time.",
            [
                target(
                    f"sum by (status) (max by (target, cluster_id, link, topic, status) (confluent_mirror_topic_status{{{CT}}} == 1))",
                    "{{status}}",
                )
            ],
            stack=True,
            overrides=status_overrides(
                [
                    k
                    for k in STATUS_COLORS
                    if k.isupper() and not k.startswith("STATUS_") and k != "UNAVAILABLE"
                ]
            ),
        ),
        12,
        9,
    )
    d.row("State over time")
    d.add(
        state_timeline(
            "Link states",
            "Each cluster link's state over time, one row per target and link. A gap is no data, not a healthy state.",
            ("confluent_link_status",),
            CL,
            "target, link",
            confluent_source.LINK_STATES,
            "{{target}} / {{link}}",
        ),
        24,
        6,
    )
    d.add(
        state_timeline(
            "Mirror topic states",
            "Each mirror topic's status over time, one row per target, link and topic. A gap is no data, not a healthy state.",
            ("confluent_mirror_topic_status",),
            CT,
            "target, link, topic",
            confluent_source.MIRROR_STATUSES,
            "{{target}} / {{link}} / {{topic}}",
        ),
        24,
        8,
    )
    d.add(
        state_timeline(
            "Link task states",
            "Each cluster link task's state over time (consumer offset sync, ACL sync, ...), one row per target, link and task. IN_ERROR while the link is ACTIVE means what the task syncs is stale on the destination. A gap is no data (Confluent Platform before 7.6 reports no tasks), not a healthy state.",
            ("confluent_link_task_status",),
            CL,
            "target, link, task",
            confluent_source.LINK_TASK_STATES,
            "{{target}} / {{link}} / {{task}}",
        ),
        24,
        6,
    )
    return dashboard(
        "dataflow-confluent",
        "Dataflow: Confluent cluster linking",
        "Confluent cluster links and mirror topics: state, lag per topic and per partition, lag trend and fetch rate.",
        d,
        [
            query_var(
                "target",
                "Target",
                'label_values(dataflow_exporter_target_up{system="confluent"}, target)',
            ),
            query_var(
                "link",
                "Link",
                'label_values(confluent_mirror_topic_status{target=~"$target"}, link)',
            ),
            query_var(
                "topic",
                "Mirror topic",
                'label_values(confluent_mirror_topic_status{target=~"$target", link=~"$link"}, topic)',
            ),
        ],
    )


# ---------------------------------------------------------------------------------------------
# Feldera

FP = 'target=~"$target", pipeline=~"$pipeline"'


def feldera() -> dict[str, Any]:
    d = Dashboard()
    d.row("Pipelines")
    d.add(
        stat(
            "Pipelines",
            "Pipelines selected by the variables.",
            f"count(count by (target, pipeline) (feldera_pipeline_status{{{FP}}}))",
            steps=((None, BLUE),),
        ),
        4,
        4,
    )
    d.add(
        stat(
            "Running",
            "Pipelines whose deployment status is Running.",
            f'sum(max by (target, pipeline) (feldera_pipeline_status{{{FP}, status="Running"}}))',
        ),
        4,
        4,
    )
    d.add(
        stat(
            "Paused",
            "Pipelines whose deployment status is Paused.",
            f'sum(max by (target, pipeline) (feldera_pipeline_status{{{FP}, status="Paused"}}))',
            steps=((None, GREEN), (1, ORANGE)),
        ),
        4,
        4,
    )
    d.add(
        stat(
            "Deployment errors",
            "Pipelines whose last deployment ended with an error.",
            f"sum(max by (target, pipeline) (feldera_pipeline_deployment_error{{{FP}}}))",
            steps=((None, GREEN), (1, RED)),
        ),
        4,
        4,
    )
    d.add(
        stat(
            "Connectors with a fatal error",
            "Input and output connectors stopped by a fatal error.",
            f"sum(max by (target, pipeline, table, view, connector) (feldera_input_connector_fatal_error{{{FP}}} or feldera_output_connector_fatal_error{{{FP}}}))",
            steps=((None, GREEN), (1, RED)),
        ),
        4,
        4,
    )
    d.add(
        stat(
            "Unhealthy connectors",
            "Input and output connectors reporting Unhealthy.",
            f'sum(max by (target, pipeline, table, view, connector) (feldera_input_connector_health{{{FP}, status="Unhealthy"}} or feldera_output_connector_health{{{FP}, status="Unhealthy"}}))',
            steps=((None, GREEN), (1, ORANGE)),
        ),
        4,
        4,
    )
    d.add(
        table(
            "Pipelines",
            "One row per pipeline: deployment status and the status it was asked to reach, program status, deployment error, uptime, memory.",
            [
                ("A", f"max by (target, pipeline, status) (feldera_pipeline_status{{{FP}}} == 1)"),
                (
                    "B",
                    f'max by (target, pipeline, desired) (label_replace(feldera_pipeline_desired_status{{{FP}}} == 1, "desired", "$1", "status", "(.*)"))',
                ),
                (
                    "C",
                    f'max by (target, pipeline, program) (label_replace(feldera_pipeline_program_status{{{FP}}} == 1, "program", "$1", "status", "(.*)"))',
                ),
                ("D", f"max by (target, pipeline) (feldera_pipeline_deployment_error{{{FP}}})"),
                (
                    "E",
                    f"max by (target, pipeline) (time() - feldera_pipeline_status_change_timestamp_seconds{{{FP}}})",
                ),
                ("F", f"max by (target, pipeline) (feldera_pipeline_uptime_seconds{{{FP}}})"),
                ("G", f"max by (target, pipeline) (feldera_pipeline_rss_bytes{{{FP}}})"),
                (
                    "H",
                    f'max by (target, pipeline, memory_pressure) (label_replace(feldera_pipeline_memory_pressure{{{FP}}} == 1, "memory_pressure", "$1", "status", "(.*)"))',
                ),
            ],
            {
                "target": "Target",
                "pipeline": "Pipeline",
                "status": "Status",
                "desired": "Desired",
                "program": "Program",
                "Value #D": "Deployment error",
                "Value #E": "In status for",
                "Value #F": "Uptime",
                "Value #G": "Memory (RSS)",
                "memory_pressure": "Memory pressure",
            },
            units={"Value #E": "s", "Value #F": "s", "Value #G": "bytes"},
            status_columns=("status", "desired"),
            system="feldera",
            mapped={"Value #D": YES_NO_BAD},
        ),
        24,
        8,
    )
    d.add(
        timeseries(
            "Records processed per second",
            "Input records each pipeline's engine processes per second.",
            [
                target(
                    f"max by (target, pipeline) (rate(feldera_pipeline_processed_records_total{{{FP}}}[$__rate_interval]))",
                    "{{target}} / {{pipeline}}",
                )
            ],
        ),
        8,
        8,
    )
    d.add(
        timeseries(
            "Memory (RSS)",
            "Resident memory of each pipeline process.",
            [target(f"feldera_pipeline_rss_bytes{{{FP}}}", "{{target}} / {{pipeline}}")],
            unit="bytes",
        ),
        8,
        8,
    )
    d.add(
        timeseries(
            "Output stall",
            "How long each pipeline has been stalled by full output buffers (0 when not).",
            [target(f"feldera_pipeline_output_stall_seconds{{{FP}}}", "{{target}} / {{pipeline}}")],
            unit="s",
        ),
        8,
        8,
    )
    d.row("Connectors")
    d.add(
        table(
            "Connectors in trouble",
            "Connectors with a fatal error, reporting Unhealthy, or paused by a user.",
            [
                (
                    "A",
                    f'label_replace(feldera_input_connector_fatal_error{{{FP}}} == 1 or feldera_output_connector_fatal_error{{{FP}}} == 1, "problem", "fatal error", "__name__", ".*")',
                ),
                (
                    "B",
                    f'label_replace(feldera_input_connector_health{{{FP}, status="Unhealthy"}} == 1 or feldera_output_connector_health{{{FP}, status="Unhealthy"}} == 1, "problem", "Unhealthy", "__name__", ".*")',
                ),
                (
                    "C",
                    f'label_replace(feldera_input_connector_paused{{{FP}}} == 1, "problem", "paused by a user", "__name__", ".*")',
                ),
            ],
            {
                "target": "Target",
                "pipeline": "Pipeline",
                "table": "Table",
                "view": "View",
                "connector": "Connector",
                "problem": "Problem",
            },
            hide=("status",),
        ),
        10,
        8,
    )
    d.add(
        table(
            "Input connectors",
            "One row per input connector: health, records, errors, buffered records, p99 latency and time since its newest fully processed input.",
            [
                (
                    "A",
                    f"max by (target, pipeline, table, connector, status) (feldera_input_connector_health{{{FP}}} == 1)",
                ),
                (
                    "B",
                    f"max by (target, pipeline, table, connector) (feldera_input_connector_records_total{{{FP}}})",
                ),
                (
                    "C",
                    f"max by (target, pipeline, table, connector) (feldera_input_connector_parse_errors_total{{{FP}}})",
                ),
                (
                    "D",
                    f"max by (target, pipeline, table, connector) (feldera_input_connector_transport_errors_total{{{FP}}})",
                ),
                (
                    "E",
                    f"max by (target, pipeline, table, connector) (feldera_input_connector_buffered_records{{{FP}}})",
                ),
                (
                    "F",
                    f"max by (target, pipeline, table, connector) (feldera_input_connector_processing_latency_p99_seconds{{{FP}}})",
                ),
                (
                    "G",
                    f"max by (target, pipeline, table, connector) (time() - feldera_input_connector_completed_timestamp_seconds{{{FP}}})",
                ),
                (
                    "H",
                    f"max by (target, pipeline, table, connector) (feldera_input_connector_end_of_input{{{FP}}})",
                ),
            ],
            {
                "target": "Target",
                "pipeline": "Pipeline",
                "table": "Table",
                "connector": "Connector",
                "status": "Health",
                "Value #B": "Records",
                "Value #C": "Parse errors",
                "Value #D": "Transport errors",
                "Value #E": "Buffered",
                "Value #F": "Latency p99",
                "Value #G": "Completed",
                "Value #H": "End of input",
            },
            units={"Value #F": "s", "Value #G": "s"},
            status_columns=("status",),
            system="feldera",
            mapped={"Value #H": mapping_values({"1": ("yes", BLUE), "0": ("no", GREY)})},
        ),
        14,
        8,
    )
    d.add(
        timeseries(
            "Input records per second",
            "Records each input connector receives per second.",
            [
                target(
                    f"max by (target, pipeline, table, connector) (rate(feldera_input_connector_records_total{{{FP}}}[$__rate_interval]))",
                    "{{target}} / {{pipeline}} / {{table}}.{{connector}}",
                )
            ],
        ),
        12,
        8,
    )
    d.add(
        timeseries(
            "Output records per second",
            "Records each output connector sends per second.",
            [
                target(
                    f"max by (target, pipeline, view, connector) (rate(feldera_output_connector_transmitted_records_total{{{FP}}}[$__rate_interval]))",
                    "{{target}} / {{pipeline}} / {{view}}.{{connector}}",
                )
            ],
        ),
        12,
        8,
    )
    d.add(
        timeseries(
            "Input bytes per second",
            "Bytes each input connector receives per second.",
            [
                target(
                    f"max by (target, pipeline, table, connector) (rate(feldera_input_connector_bytes_total{{{FP}}}[$__rate_interval]))",
                    "{{target}} / {{pipeline}} / {{table}}.{{connector}}",
                )
            ],
            unit="Bps",
        ),
        12,
        8,
    )
    d.add(
        timeseries(
            "Output bytes per second",
            "Bytes each output connector sends per second.",
            [
                target(
                    f"max by (target, pipeline, view, connector) (rate(feldera_output_connector_transmitted_bytes_total{{{FP}}}[$__rate_interval]))",
                    "{{target}} / {{pipeline}} / {{view}}.{{connector}}",
                )
            ],
            unit="Bps",
        ),
        12,
        8,
    )
    d.add(
        timeseries(
            "Connector errors",
            "Parse and transport errors of input connectors, encode and transport errors of output connectors, per interval (FelderaConnectorParseErrors and FelderaConnectorTransportErrors watch these).",
            [
                target(
                    f"max by (target, pipeline, table, connector) (increase(feldera_input_connector_parse_errors_total{{{FP}}}[$__rate_interval]))",
                    "parse: {{target}} / {{pipeline}} / {{table}}.{{connector}}",
                    "A",
                ),
                target(
                    f"max by (target, pipeline, table, connector) (increase(feldera_input_connector_transport_errors_total{{{FP}}}[$__rate_interval]))",
                    "transport: {{target}} / {{pipeline}} / {{table}}.{{connector}}",
                    "B",
                ),
                target(
                    f"max by (target, pipeline, view, connector) (increase(feldera_output_connector_encode_errors_total{{{FP}}}[$__rate_interval]))",
                    "encode: {{target}} / {{pipeline}} / {{view}}.{{connector}}",
                    "C",
                ),
                target(
                    f"max by (target, pipeline, view, connector) (increase(feldera_output_connector_transport_errors_total{{{FP}}}[$__rate_interval]))",
                    "transport: {{target}} / {{pipeline}} / {{view}}.{{connector}}",
                    "D",
                ),
            ],
            bars=True,
        ),
        12,
        8,
    )
    d.add(
        timeseries(
            "Output backlog",
            "Input records processed by the pipeline but not yet handled by each output connector, and records queued for it.",
            [
                target(
                    f"max by (target, pipeline) (feldera_pipeline_processed_records_total{{{FP}}}) - on (target, pipeline) group_right max by (target, pipeline, view, connector) (feldera_output_connector_processed_input_records_total{{{FP}}})",
                    "not handled: {{target}} / {{pipeline}} / {{view}}.{{connector}}",
                    "A",
                ),
                target(
                    f"feldera_output_connector_queued_records{{{FP}}}",
                    "queued: {{target}} / {{pipeline}} / {{view}}.{{connector}}",
                    "B",
                ),
                target(
                    f"feldera_output_connector_buffered_records{{{FP}}}",
                    "buffered: {{target}} / {{pipeline}} / {{view}}.{{connector}}",
                    "C",
                ),
            ],
        ),
        12,
        8,
    )
    d.add(
        timeseries(
            "Input buffered records",
            "Records each input connector has received but the pipeline has not processed yet.",
            [
                target(
                    f"feldera_input_connector_buffered_records{{{FP}}}",
                    "{{target}} / {{pipeline}} / {{table}}.{{connector}}",
                )
            ],
        ),
        8,
        8,
    )
    d.add(
        timeseries(
            "Input latency p99",
            "99th percentile of the time from ingestion to processed, per input connector.",
            [
                target(
                    f"feldera_input_connector_processing_latency_p99_seconds{{{FP}}}",
                    "{{target}} / {{pipeline}} / {{table}}.{{connector}}",
                )
            ],
            unit="s",
        ),
        8,
        8,
    )
    d.add(
        timeseries(
            "Time since input completed",
            "How long ago the newest input of each connector was fully processed by every output: end-to-end freshness.",
            [
                target(
                    f"time() - feldera_input_connector_completed_timestamp_seconds{{{FP}}}",
                    "{{target}} / {{pipeline}} / {{table}}.{{connector}}",
                )
            ],
            unit="s",
        ),
        8,
        8,
    )
    d.row("Storage and checkpoints")
    d.add(
        timeseries(
            "Storage used",
            "Storage each pipeline uses now. Feldera reports no limit: compare with the volume it writes to.",
            [
                target(
                    f"feldera_pipeline_storage_bytes{{{FP}}}",
                    "{{target}} / {{pipeline}}",
                )
            ],
            unit="bytes",
        ),
        8,
        8,
    )
    d.add(
        timeseries(
            "Storage growth per hour",
            f"The slope of each pipeline's storage over {STORAGE_GROWTH_WINDOW}, per hour, as FelderaPipelineStorageGrowing watches it (threshold drawn).",
            [
                target(
                    f"deriv(feldera_pipeline_storage_bytes{{{FP}}}[{STORAGE_GROWTH_WINDOW}]) * 3600",
                    "{{target}} / {{pipeline}}",
                )
            ],
            unit="bytes",
            threshold_line=STORAGE_GROWTH_LIMIT,
            min_zero=False,
        ),
        8,
        8,
    )
    d.add(
        timeseries(
            "Checkpoint delayed for",
            "How long each pipeline's requested checkpoint has waited, from Feldera's own delayed_since (v0.288.0 and later); FelderaCheckpointDelayed's threshold drawn. No line: not delayed.",
            [
                target(
                    f"time() - feldera_pipeline_checkpoint_delayed_since_timestamp_seconds{{{FP}}}",
                    "{{target}} / {{pipeline}}",
                )
            ],
            unit="s",
            threshold_line=CHECKPOINT_DELAY_LIMIT,
        ),
        8,
        8,
    )
    d.row("State over time")
    d.add(
        state_timeline(
            "Pipeline states",
            "Each pipeline's deployment status over time, one row per target and pipeline. A gap is no data, not a healthy state.",
            ("feldera_pipeline_status",),
            FP,
            "target, pipeline",
            feldera_source.DEPLOYMENT_STATUSES,
            "{{target}} / {{pipeline}}",
        ),
        24,
        8,
    )
    d.add(
        state_timeline(
            "Connector health",
            "Each input and output connector's health over time, one row per target, pipeline and connector. A gap is no data (no stats from the pipeline), not a healthy state.",
            ("feldera_input_connector_health", "feldera_output_connector_health"),
            FP,
            "target, pipeline, connector",
            feldera_source.HEALTH_STATUSES,
            "{{target}} / {{pipeline}} / {{connector}}",
        ),
        24,
        8,
    )
    d.add(
        state_timeline(
            "Checkpoint activity",
            "Each pipeline's checkpoint activity over time (idle, delayed, in_progress), one row per target and pipeline. A gap is no data (Feldera before v0.288.0 does not report it), not a healthy state.",
            ("feldera_pipeline_checkpoint_activity",),
            FP,
            "target, pipeline",
            feldera_source.CHECKPOINT_ACTIVITIES,
            "{{target}} / {{pipeline}}",
        ),
        24,
        6,
    )
    return dashboard(
        "dataflow-feldera",
        "Dataflow: Feldera",
        "Feldera pipelines and their connectors: lifecycle state, deployment errors, connector health and fatal errors, throughput, errors and backlogs.",
        d,
        [
            query_var(
                "target",
                "Target",
                'label_values(dataflow_exporter_target_up{system="feldera"}, target)',
            ),
            query_var(
                "pipeline",
                "Pipeline",
                'label_values(feldera_pipeline_status{target=~"$target"}, pipeline)',
            ),
        ],
    )


# ---------------------------------------------------------------------------------------------
# Etlworks

EF = 'target=~"$target", flow=~"$flow"'


def etlworks() -> dict[str, Any]:
    d = Dashboard()
    d.row("Flows")
    d.add(
        stat(
            "Flows",
            "Flows selected by the variables that have run at least once.",
            f"count(count by (target, flow_id) (etlworks_flow_last_execution_status{{{EF}}}))",
            steps=((None, BLUE),),
        ),
        4,
        4,
    )
    d.add(
        stat(
            "Last run succeeded",
            "Flows whose newest execution succeeded.",
            f'sum(max by (target, flow_id) (etlworks_flow_last_execution_status{{{EF}, status="success"}}))',
        ),
        4,
        4,
    )
    d.add(
        stat(
            "Last run failed",
            "Flows whose newest execution ended in error.",
            f'sum(max by (target, flow_id) (etlworks_flow_last_execution_status{{{EF}, status="error"}}))',
            steps=((None, GREEN), (1, RED)),
        ),
        4,
        4,
    )
    d.add(
        stat(
            "Running or queued",
            "Flows executing or waiting to execute now.",
            f'sum(max by (target, flow_id) (etlworks_flow_last_execution_status{{{EF}, status=~"running|queued"}}))',
            steps=((None, BLUE),),
        ),
        4,
        4,
    )
    d.add(
        stat(
            "Running too long",
            f"Executions queued or running for over {RUN_LIMIT} s (EtlworksFlowRunningTooLong's threshold).",
            f'sum(max by (target, flow_id) (etlworks_flow_last_execution_duration_seconds{{{EF}, flow!~"{RUN_EXCLUDE}"}} > bool {RUN_LIMIT}) * on (target, flow_id) max by (target, flow_id) (etlworks_flow_last_execution_status{{{T}, status=~"queued|running"}}))',
            steps=((None, GREEN), (1, ORANGE)),
        ),
        4,
        4,
    )
    d.add(
        stat(
            "No recent success",
            f"Flows whose last success seen by the exporter is over {SUCCESS_LIMIT} s old (EtlworksFlowNoRecentSuccess's threshold).",
            f"sum(max by (target, flow_id) (time() - etlworks_flow_last_success_timestamp_seconds{{{EF}}} > bool {SUCCESS_LIMIT}))",
            steps=((None, GREEN), (1, ORANGE)),
        ),
        4,
        4,
    )
    d.add(
        table(
            "Flows",
            "One row per flow: status, start, duration and retries of its newest execution, time since its last success.",
            [
                (
                    "A",
                    f"max by (target, flow_id, flow, status) (etlworks_flow_last_execution_status{{{EF}}} == 1)",
                ),
                (
                    "B",
                    f"max by (target, flow_id, flow) (etlworks_flow_last_execution_start_timestamp_seconds{{{EF}}}) * 1000",
                ),
                (
                    "C",
                    f"max by (target, flow_id, flow) (etlworks_flow_last_execution_duration_seconds{{{EF}}})",
                ),
                (
                    "D",
                    f"max by (target, flow_id, flow) (etlworks_flow_last_execution_retries{{{EF}}})",
                ),
                (
                    "E",
                    f"max by (target, flow_id, flow) (time() - etlworks_flow_last_success_timestamp_seconds{{{EF}}})",
                ),
            ],
            {
                "target": "Target",
                "flow_id": "Flow id",
                "flow": "Flow",
                "status": "Last run",
                "Value #B": "Started",
                "Value #C": "Duration",
                "Value #D": "Retries",
                "Value #E": "Last success",
            },
            units={"Value #B": "dateTimeFromNow", "Value #C": "s", "Value #E": "s"},
            status_columns=("status",),
            system="etlworks",
        ),
        16,
        9,
    )
    d.add(
        table(
            "Flows found by Etlworks",
            "Whether Etlworks knows each polled flow id: NOT FOUND means it answers 404 for a flow listed in the configuration.",
            [("A", f"etlworks_flow_found{{{T}}}")],
            {"target": "Target", "flow_id": "Flow id", "Value #A": "Found"},
            mapped={"Value #A": mapping_values({"1": ("found", GREEN), "0": ("NOT FOUND", RED)})},
            sort=("Value #A", False),
        ),
        8,
        9,
    )
    d.row("Runs")
    d.add(
        timeseries(
            "Duration of the newest run",
            f"Each flow's newest execution: its duration, or its time so far while queued or running. The red line is EtlworksFlowRunningTooLong's threshold ({RUN_LIMIT} s).",
            [
                target(
                    f"etlworks_flow_last_execution_duration_seconds{{{EF}}}",
                    "{{target}} / {{flow}}",
                )
            ],
            unit="s",
            threshold_line=RUN_LIMIT,
        ),
        12,
        8,
    )
    d.add(
        timeseries(
            "Finished runs by status",
            "Executions the exporter saw finish per interval, by final status.",
            [
                target(
                    f"sum by (status) (max by (target, flow_id, status) (increase(etlworks_flow_executions_total{{{EF}}}[$__rate_interval])))",
                    "{{status}}",
                )
            ],
            bars=True,
            stack=True,
            overrides=status_overrides(["success", "warning", "error", "canceled"]),
        ),
        12,
        8,
    )
    d.add(
        timeseries(
            "Time since the last success",
            f"How long ago each flow last succeeded (as seen by the exporter since it started). The red line is EtlworksFlowNoRecentSuccess's threshold ({SUCCESS_LIMIT} s).",
            [
                target(
                    f"time() - etlworks_flow_last_success_timestamp_seconds{{{EF}}}",
                    "{{target}} / {{flow}}",
                )
            ],
            unit="s",
            threshold_line=SUCCESS_LIMIT,
        ),
        12,
        8,
    )
    d.add(
        timeseries(
            "Records in the newest run",
            "Each records* metric of every flow's newest execution (recordsProcessed, recordsAdded, ...).",
            [
                target(
                    f"max by (target, flow, field) (etlworks_flow_last_execution_records{{{EF}}})",
                    "{{target}} / {{flow}}: {{field}}",
                )
            ],
        ),
        12,
        8,
    )
    d.add(
        timeseries(
            "Retries of the newest run",
            "Automatic retries of each flow's newest execution.",
            [target(f"etlworks_flow_last_execution_retries{{{EF}}}", "{{target}} / {{flow}}")],
        ),
        12,
        7,
    )
    d.add(
        timeseries(
            "Flows by status of the newest run",
            "How many flows had their newest execution in each status over time.",
            [
                target(
                    f"sum by (status) (max by (target, flow_id, status) (etlworks_flow_last_execution_status{{{EF}}} == 1))",
                    "{{status}}",
                )
            ],
            stack=True,
            overrides=status_overrides(
                ["success", "warning", "error", "running", "queued", "canceled"]
            ),
        ),
        12,
        7,
    )
    d.row("State over time")
    d.add(
        state_timeline(
            "Flow execution states",
            "The status of each flow's newest execution over time, one row per target and flow. A gap is no data, not a healthy state.",
            ("etlworks_flow_last_execution_status",),
            EF,
            "target, flow",
            etlworks_source.STATUSES,
            "{{target}} / {{flow}}",
        ),
        24,
        8,
    )
    return dashboard(
        "dataflow-etlworks",
        "Dataflow: Etlworks",
        "Etlworks flows: the newest execution of each (status, duration, retries, records), runs finished by status and time since the last success.",
        d,
        [
            query_var(
                "target",
                "Target",
                'label_values(dataflow_exporter_target_up{system="etlworks"}, target)',
            ),
            query_var(
                "flow",
                "Flow",
                'label_values(etlworks_flow_last_execution_status{target=~"$target"}, flow)',
            ),
        ],
    )


def main() -> None:
    boards = {
        "dataflow-overview.json": overview(),
        "dataflow-peerdb.json": peerdb(),
        "dataflow-confluent.json": confluent(),
        "dataflow-feldera.json": feldera(),
        "dataflow-etlworks.json": etlworks(),
    }
    for folder in (ROOT / "grafana", ROOT / "helm" / "dataflow-exporter" / "files" / "dashboards"):
        folder.mkdir(parents=True, exist_ok=True)
        for name, board in boards.items():
            (folder / name).write_text(json.dumps(board, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
