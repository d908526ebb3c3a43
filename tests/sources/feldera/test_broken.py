"""Which Feldera pipelines and connectors are broken now: every state it calls broken, each its
own case, and the healthy neighbours of each."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from dataflow_exporter.sources.feldera import (
    Observation,
    broken_entities,
    parse_input,
    parse_output,
    parse_pipeline_list,
)
from tests.sources.feldera.answers import connector_stats, pipeline_list
from tests.sources.feldera.upstream_enums import COMBINED_STATUS

FIXTURES = Path(__file__).parent / "fixtures"
# Feldera's deployment statuses that need a person; "Failed" is the pre-v0.148 status.
BROKEN_STATUSES = ("Paused", "Unavailable", "Failed")
# crates/pipeline-manager/src/db/types/program.rs `ProgramStatus`, the failed ones.
FAILED_PROGRAMS = ("SqlError", "RustError", "SystemError")


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def pipeline(**fields: Any) -> Observation:
    item = copy.deepcopy(fixture("pipelines_list_selector_status")[0])
    item.update(fields)
    return Observation(parse_pipeline_list(pipeline_list([item])))


def health(status: str, description: str = "") -> dict[str, Any]:
    return {"status": status, "description": description}


@pytest.mark.parametrize("status", BROKEN_STATUSES)
def test_a_pipeline_in_a_broken_deployment_status_is_listed(status: str) -> None:
    (entity,) = broken_entities(pipeline(deployment_status=status))
    assert (entity.kind, entity.state) == ("pipeline", status)


@pytest.mark.parametrize("status", [s for s in COMBINED_STATUS if s not in BROKEN_STATUSES])
def test_a_pipeline_in_any_other_status_without_an_error_is_not_listed(status: str) -> None:
    assert broken_entities(pipeline(deployment_status=status)) == []


@pytest.mark.parametrize("program", FAILED_PROGRAMS)
def test_a_pipeline_whose_program_failed_is_listed_by_the_program_status(program: str) -> None:
    (entity,) = broken_entities(pipeline(program_status=program))
    assert (entity.kind, entity.state) == ("pipeline", program)


def test_an_unhealthy_input_connector_without_a_fatal_error_is_listed() -> None:
    raw = copy.deepcopy(fixture("input_connector_stats"))
    raw["fatal_error"] = None
    raw["health"] = health("Unhealthy", "Kafka broker unreachable")
    found = parse_input("p", connector_stats(raw))
    (entity,) = broken_entities(Observation([], inputs=[found]))
    assert (entity.kind, entity.state, entity.error) == (
        "input connector",
        "Unhealthy",
        "Kafka broker unreachable",
    )


def test_an_unhealthy_output_connector_without_a_fatal_error_is_listed() -> None:
    raw = copy.deepcopy(fixture("output_connector_stats"))
    raw["fatal_error"] = None
    raw["health"] = health("Unhealthy", "sink rejected the batch")
    found = parse_output("p", connector_stats(raw))
    (entity,) = broken_entities(Observation([], outputs=[found]))
    assert (entity.kind, entity.state, entity.error) == (
        "output connector",
        "Unhealthy",
        "sink rejected the batch",
    )


def test_a_healthy_connector_without_a_fatal_error_is_not_listed() -> None:
    raw = copy.deepcopy(fixture("input_connector_stats"))
    raw["fatal_error"] = None
    raw["health"] = health("Healthy")
    assert broken_entities(Observation([], inputs=[parse_input("p", connector_stats(raw))])) == []


def test_a_fatal_connector_that_reports_no_health_is_listed() -> None:
    raw = copy.deepcopy(fixture("input_connector_stats"))
    raw["fatal_error"] = "Broker: Unknown topic or partition"
    raw.pop("health", None)
    (entity,) = broken_entities(Observation([], inputs=[parse_input("p", connector_stats(raw))]))
    assert (entity.state, entity.error) == ("fatal error", "Broker: Unknown topic or partition")
