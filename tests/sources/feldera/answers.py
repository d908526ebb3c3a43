"""Feldera answers made from JSON payloads, as the client hands them to the parsers."""

from __future__ import annotations

import msgspec

from dataflow_exporter.upstream import Answer

LIST = "GET /v0/pipelines"
STATS = "GET /v0/pipelines/p/stats"
CONNECTOR = "GET /v0/pipelines/p/tables/t/connectors/c/stats"


def answer(payload: object, what: str = STATS) -> Answer:
    """`payload` encoded as the upstream's body, answering `what`."""
    return Answer(msgspec.json.encode(payload), what)


def pipeline_list(payload: object) -> Answer:
    """A pipeline list answer."""
    return answer(payload, LIST)


def connector_stats(payload: object) -> Answer:
    """A per-connector stats answer."""
    return answer(payload, CONNECTOR)
