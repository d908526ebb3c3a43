"""The dashboards' template variables, and the label matchers that apply them to a query."""

from __future__ import annotations

from typing import Any

DS = {"type": "prometheus", "uid": "${datasource}"}


def chosen(*labels: str) -> str:
    """Label matchers keeping only the entities the variables of these labels select."""
    return ", ".join(f'{label}=~"${label}"' for label in labels)


# Put inside a selector's braces, e.g. f"peerdb_mirror_status{{{MIRRORS}}}".
TARGETS = chosen("target")
MIRRORS = chosen("target", "mirror")
LINKS = chosen("target", "link")
TOPICS = chosen("target", "link", "topic")
PIPELINES = chosen("target", "pipeline")
FLOWS = chosen("target", "flow")


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


def target_var(system: str = "") -> dict[str, Any]:
    """The $target variable: every target the exporters poll, or those of one system."""
    selector = f'{{system="{system}"}}' if system else ""
    return query_var(
        "target", "Target", f"label_values(dataflow_exporter_target_up{selector}, target)"
    )
