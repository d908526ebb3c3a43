"""Every test here checks a shipped artefact (alert rules, dashboards, chart, Dockerfile, docs),
most with real tools (promtool, Prometheus, Alertmanager, helm, hadolint): all are `slow`."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the items collected below this directory slow (the hook sees every item)."""
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.slow)
