"""Writes the Grafana dashboards of dataflow-exporter: grafana/*.json and the chart's copies.

The alert thresholds they draw are read from this repository's alerts/config.yml.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from grafana import confluent, etlworks, feldera, overview, peerdb
from grafana.limits import Limits

SOURCE = Path(__file__).resolve().parent.parent
CHART_DASHBOARDS = Path("helm", "dataflow-exporter", "files", "dashboards")
# File name -> the builder of its dashboard, in the order they are written.
BOARDS: dict[str, Callable[[Limits], dict[str, Any]]] = {
    "dataflow-overview.json": overview.build,
    "dataflow-peerdb.json": peerdb.build,
    "dataflow-confluent.json": confluent.build,
    "dataflow-feldera.json": feldera.build,
    "dataflow-etlworks.json": etlworks.build,
}


def write(root: Path, limits: Limits) -> None:
    """Builds every dashboard before writing any, so a failing one leaves all files as they were."""
    boards = {name: build(limits) for name, build in BOARDS.items()}
    for folder in (root / "grafana", root / CHART_DASHBOARDS):
        folder.mkdir(parents=True, exist_ok=True)
        for name, board in boards.items():
            (folder / name).write_text(json.dumps(board, indent=2) + "\n", encoding="utf-8")


def main(argv: Sequence[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m grafana.generate", description=__doc__)
    parser.add_argument(
        "root",
        nargs="?",
        type=Path,
        default=SOURCE,
        help="where grafana/ and the chart are written (default: this repository)",
    )
    root: Path = parser.parse_args(argv).root
    write(root, Limits.read(SOURCE / "alerts" / "config.yml"))


if __name__ == "__main__":
    main(sys.argv[1:])
