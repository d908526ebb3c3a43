"""Where panels go: a dashboard is rows of lines of panels, declared as data; widths, positions
and ids are derived here, on Grafana's 24-column grid."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from grafana.panels import Panel
from grafana.variables import datasource_var

GRID_WIDTH = 24
TAGS = ["dataflow-exporter"]

# Panel heights, in grid rows (about 30 px each), named by size; the comment says what needs it.
TILE = 4  # a stat: one number
SHORT = 5  # the bars of a few states
COMPACT = 6  # a state timeline of few entities
MEDIUM = 7  # a chart or table under the main ones of its row
CHART = 8  # the usual time series, table or state timeline
TALL = 9  # a table of many columns


@dataclass(frozen=True)
class Line:
    """Panels side by side, all of one height. Each gets an equal share of the grid's width, or
    the share its weight asks for; `slots` leaves room for panels a short line does not have, so
    they keep the width of the panels in the line above."""

    height: int
    panels: Sequence[Panel]
    weights: Sequence[int] = ()
    slots: int = 0

    def widths(self) -> list[int]:
        weights = list(self.weights) or [1] * len(self.panels)
        if len(weights) != len(self.panels):
            raise ValueError(f"{len(weights)} weights for {len(self.panels)} panels")
        total = self.slots or sum(weights)
        if total < sum(weights) or any(GRID_WIDTH * weight % total for weight in weights):
            raise ValueError(f"weights {weights} of {total} do not split {GRID_WIDTH} columns")
        return [GRID_WIDTH * weight // total for weight in weights]


@dataclass(frozen=True)
class Row:
    """A titled section of lines, top to bottom."""

    title: str
    lines: Sequence[Line]


def place(rows: Sequence[Row]) -> list[Panel]:
    """The dashboard's panels in order, each row header followed by its panels, with grid
    positions and ids counted from 1 in that order."""
    panels: list[Panel] = []
    y = 0
    for row in rows:
        header = {
            "collapsed": False,
            "gridPos": {"h": 1, "w": GRID_WIDTH, "x": 0, "y": y},
            "id": len(panels) + 1,
            "panels": [],
            "title": row.title,
            "type": "row",
        }
        panels.append(header)
        y += 1
        for line in row.lines:
            x = 0
            for panel, width in zip(line.panels, line.widths(), strict=True):
                panels.append(
                    {
                        **panel,
                        "gridPos": {"h": line.height, "w": width, "x": x, "y": y},
                        "id": len(panels) + 1,
                    }
                )
                x += width
            y += line.height
    return panels


def dashboard(
    uid: str,
    title: str,
    description: str,
    rows: Sequence[Row],
    variables: Sequence[dict[str, Any]],
) -> dict[str, Any]:
    """A whole dashboard: its rows placed, a data source variable before its own variables."""
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
        "panels": place(rows),
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
