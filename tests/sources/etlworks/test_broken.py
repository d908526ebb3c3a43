"""Which Etlworks flows are broken now: every state it calls broken, each its own case, and the
healthy neighbours of each."""

from __future__ import annotations

import pytest

from dataflow_exporter import thresholds
from dataflow_exporter.families import StateSet
from dataflow_exporter.sources.etlworks import (
    Execution,
    FlowReading,
    FlowRef,
    NoExecution,
    broken_entities,
)
from tests.sources.etlworks.upstream_enums import EXECUTION_STATUS

NOW = 1_800_000_000.0
FLOW = FlowRef(5010, "Sync customers")


def execution(status: str, started: float = NOW - 60) -> Execution:
    state = StateSet(EXECUTION_STATUS).normalise(status)
    return Execution(1, "Sync customers", state, started, None, None, (), "boom")


def broken(latest: Execution | NoExecution) -> list[tuple[str, str]]:
    return [(b.kind, b.state) for b in broken_entities([FlowReading(FLOW, latest)], NOW)]


def test_a_configured_flow_that_answers_404_is_listed_as_not_found() -> None:
    assert broken("not_found") == [("flow", "not found")]


def test_a_flow_that_never_ran_is_not_listed() -> None:
    assert broken("no_execution") == []


def test_a_failed_execution_is_listed_with_its_exception() -> None:
    (entity,) = broken_entities([FlowReading(FLOW, execution("error"))], NOW)
    assert (entity.state, entity.error) == ("error", "boom")


def test_an_execution_in_an_unknown_status_is_listed() -> None:
    assert broken(execution("exploded")) == [("flow", "exploded")]


@pytest.mark.parametrize("status", ["success", "warning", "canceled"])
def test_a_finished_execution_that_did_not_fail_is_not_listed(status: str) -> None:
    assert broken(execution(status)) == []


@pytest.mark.parametrize("status", ["queued", "running"])
def test_an_unfinished_execution_is_listed_only_past_the_alerts_threshold(status: str) -> None:
    limit = thresholds.defaults().number("EtlworksFlowRunningTooLong", "threshold_seconds")
    assert broken(execution(status, NOW - limit)) == []
    assert broken(execution(status, NOW - limit - 1)) == [("flow", f"{status} for 2.0h")]
