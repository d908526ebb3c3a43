"""Cluster link tasks (`GET links/{link}?include_tasks=true`) and which links, tasks and mirror
topics Confluent's answers make broken: every state the source calls broken, each its own case.

Shapes from Confluent's Kafka REST v3 spec (ccloud-sdk-go-v2 kafkarest/v3/api/openapi.yaml):
`LinkTask` is `task_name`, `state` (`LinkTaskState`) and `errors[]` of `LinkTaskError`
(`error_code`, `error_message`), all required.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from dataflow_exporter.errors import SchemaError
from dataflow_exporter.families import families_by_name
from dataflow_exporter.simulator import Simulation
from dataflow_exporter.sources.confluent import (
    LINK_TASK_STATES,
    Link,
    LinkTask,
    MirrorTopic,
    Observation,
    broken_entities,
    build_families,
    read_link_tasks,
    read_mirror_topics,
    unknown_values,
)
from dataflow_exporter.upstream import Answer, new_session
from tests.sources.confluent.upstream_enums import LINK_STATE, LINK_TASK_STATE, MIRROR_TOPIC_STATUS
from tests.support.helpers import poll_once, series_of, value

CLUSTER = "lkc-sim001"
LINKS = f"/kafka/v3/clusters/{CLUSTER}/links"
NOW = 1_800_000_000.0
# The states the source lists as broken, written out here rather than read from its sets.
# As ConfluentLinkUnavailable selects: a paused link shows through its LINK_PAUSED topics.
BROKEN_LINK = ("FAILED", "UNAVAILABLE")
BROKEN_TOPIC = ("FAILED", "LINK_FAILED", "SOURCE_UNAVAILABLE", "PAUSED", "LINK_PAUSED")


def task(state: str, *errors: tuple[str, str]) -> dict[str, Any]:
    return {
        "task_name": "ConsumerOffsetSync",
        "state": state,
        "errors": [{"error_code": c, "error_message": m} for c, m in errors],
    }


def link(state: str = "ACTIVE", tasks: tuple[LinkTask, ...] | None = None) -> Link:
    return Link("dr", state, "NO_ERROR", "", tasks)


def parse_link_tasks(payload: dict[str, Any]) -> tuple[LinkTask, ...] | None:
    return read_link_tasks(Answer(json.dumps(payload).encode(), f"GET {LINKS}/dr"))


def topic(status: str) -> MirrorTopic:
    item = {
        "link_name": "dr",
        "mirror_topic_name": "orders",
        "mirror_status": status,
        "mirror_topic_error": "NO_ERROR",
        "state_time_ms": NOW * 1000,
        "num_partitions": 1,
        "mirror_lags": [{"partition": 0, "lag": 0, "last_source_fetch_offset": 5}],
    }
    body = json.dumps({"metadata": {}, "data": [item]}).encode()
    (found,), _ = read_mirror_topics(Answer(body, f"GET {LINKS}/-/mirrors"))
    return found


def broken_of(seen: Observation) -> list[tuple[str, str]]:
    lags = [0.0 for _ in seen.topics]
    return [(b.kind, b.state) for b in broken_entities(seen, lags, NOW)]


# -- parsing and series ----------------------------------------------------------------------------


def test_the_task_states_are_confluents_own_in_the_specs_order() -> None:
    assert LINK_TASK_STATES.values == LINK_TASK_STATE


def test_tasks_and_their_errors_are_read_in_confluents_words() -> None:
    payload = {"link_name": "dr", "tasks": [task("IN_ERROR", ("AUTHORIZATION_ERROR", "denied"))]}
    (found,) = parse_link_tasks(payload) or ()
    assert found == LinkTask("ConsumerOffsetSync", "IN_ERROR", ("AUTHORIZATION_ERROR: denied",))


def test_an_answer_without_a_tasks_key_is_not_an_empty_task_list() -> None:
    assert parse_link_tasks({"link_name": "dr"}) is None
    assert parse_link_tasks({"link_name": "dr", "tasks": None}) == ()
    assert parse_link_tasks({"link_name": "dr", "tasks": []}) == ()


def test_a_task_with_null_errors_has_none_and_one_without_the_key_is_a_schema_error() -> None:
    (found,) = parse_link_tasks({"tasks": [{**task("ACTIVE"), "errors": None}]}) or ()
    assert found.errors == ()
    without = {"task_name": "AclSync", "state": "ACTIVE"}
    with pytest.raises(SchemaError) as caught:
        parse_link_tasks({"tasks": [without]})
    assert str(caught.value) == f"GET {LINKS}/dr: tasks[0]: object missing required field errors"


def test_task_error_words_that_are_not_strings_count_as_absent() -> None:
    errors = [
        {"error_code": 7, "error_message": "denied"},
        {"error_code": "X", "error_message": {}},
    ]
    (found,) = parse_link_tasks({"tasks": [{**task("IN_ERROR"), "errors": errors}]}) or ()
    assert found.errors == ("denied", "X")


@pytest.mark.parametrize("state", LINK_TASK_STATE)
def test_each_task_state_is_one_hot_over_the_specs_states(state: str) -> None:
    (parsed,) = parse_link_tasks({"tasks": [task(state)]}) or ()
    families = families_by_name(build_families(Observation(links=[link(tasks=(parsed,))]), CLUSTER))
    current = [labels[-1] for labels, v in families["confluent_link_task_status"].samples if v == 1]
    assert current == [state]
    assert len(families["confluent_link_task_status"].samples) == len(LINK_TASK_STATE)


def test_a_link_without_tasks_read_has_no_task_series() -> None:
    families = families_by_name(build_families(Observation(links=[link()]), CLUSTER))
    assert families["confluent_link_task_status"].samples == []


def test_an_unknown_task_state_is_counted() -> None:
    (parsed,) = parse_link_tasks({"tasks": [task("RESTARTING")]}) or ()
    seen = Observation(links=[link(tasks=(parsed,))])
    assert unknown_values(seen) == [("link_task_state", "RESTARTING")]


# -- broken now ------------------------------------------------------------------------------------


def test_a_task_in_error_is_listed_in_confluents_words_though_its_link_is_active() -> None:
    errors = ("AUTHORIZATION_ERROR: denied", "ACL_LIMIT_EXCEEDED: too many")
    seen = Observation(links=[link(tasks=(LinkTask("AclSync", "IN_ERROR", errors),))])
    (entity,) = broken_entities(seen, [], NOW)
    assert (entity.kind, entity.names, entity.state, entity.error) == (
        "link task",
        (("link", "dr"), ("task", "AclSync")),
        "IN_ERROR",
        "AUTHORIZATION_ERROR: denied\nACL_LIMIT_EXCEEDED: too many",
    )


@pytest.mark.parametrize("state", [s for s in LINK_TASK_STATE if s != "IN_ERROR"])
def test_a_task_in_any_other_known_state_is_not_listed(state: str) -> None:
    seen = Observation(links=[link(tasks=(LinkTask("AclSync", state),))])
    assert broken_of(seen) == []


def test_a_task_in_an_unknown_state_is_listed() -> None:
    (parsed,) = parse_link_tasks({"tasks": [task("RESTARTING")]}) or ()
    assert broken_of(Observation(links=[link(tasks=(parsed,))])) == [("link task", "RESTARTING")]


@pytest.mark.parametrize("state", BROKEN_LINK)
def test_a_link_in_a_broken_state_is_listed(state: str) -> None:
    assert broken_of(Observation(links=[link(state)])) == [("link", state)]


@pytest.mark.parametrize("state", [s for s in LINK_STATE if s not in BROKEN_LINK])
def test_a_link_in_any_other_known_state_is_not_listed(state: str) -> None:
    assert broken_of(Observation(links=[link(state)])) == []


def test_a_paused_link_is_listed_through_its_link_paused_topics_not_itself() -> None:
    seen = Observation(links=[link("PAUSED")], topics=[topic("LINK_PAUSED")])
    assert broken_of(seen) == [("mirror topic", "LINK_PAUSED")]


@pytest.mark.parametrize("status", BROKEN_TOPIC)
def test_a_mirror_topic_in_a_broken_state_is_listed(status: str) -> None:
    assert broken_of(Observation(topics=[topic(status)])) == [("mirror topic", status)]


@pytest.mark.parametrize(
    "status",
    [s for s in MIRROR_TOPIC_STATUS if s not in BROKEN_TOPIC and not s.startswith("PENDING_")],
)
def test_a_mirror_topic_in_any_other_state_is_not_listed(status: str) -> None:
    assert broken_of(Observation(topics=[topic(status)])) == []


# -- the source against the simulator ----------------------------------------------------------


def config(sim: Simulation, **target: Any) -> dict[str, Any]:
    base = {"name": "dr", "system": "confluent", "url": sim.url, "cluster_id": CLUSTER}
    return {"global": {"interval": "30s", "timeout": "5s"}, "targets": [base | target]}


async def test_a_link_whose_tasks_answer_is_broken_fails_alone_and_the_target_stays_up() -> None:
    async with Simulation({"confluent": {}}, clock=lambda: NOW) as sim:
        sim.systems["confluent"].overrides["link:dr-link"] = {"tasks": "not a list"}
        polled = await poll_once(config(sim), clock=lambda: NOW)
    assert polled.ok
    (failure,) = polled.store.targets["dr"].detail_failures
    assert (failure.entity, failure.endpoint, failure.reason) == (
        "link dr-link",
        "link_tasks",
        "schema",
    )
    # The link keeps its own series; only its tasks are missing this poll.
    assert value(polled.text, "confluent_link_status", link="dr-link", status="ACTIVE") == 1
    tasks = {s["link"] for s in series_of(polled.text, "confluent_link_task_status")}
    assert tasks == {"partner-link"}


async def test_a_release_without_tasks_is_asked_once_then_not_until_the_recheck() -> None:
    async with Simulation({"confluent": {"version": "cp-7.5.0"}}, clock=lambda: NOW) as sim:
        faults = sim.systems["confluent"].faults
        async with new_session() as session:
            first = await poll_once(config(sim), session, clock=lambda: NOW)
            after_first = faults.requests[f"{LINKS}/dr-link"]
            await poll_once(config(sim), session, first.scheduler, clock=lambda: NOW)
            after_second = faults.requests[f"{LINKS}/dr-link"]
    assert first.ok
    assert series_of(first.text, "confluent_link_task_status") == []
    assert (after_first, after_second) == (1, 1)


async def test_a_link_deleted_between_the_list_and_its_tasks_goes_without_a_failure() -> None:
    async with Simulation({"confluent": {}}, clock=lambda: NOW) as sim:
        sim.systems["confluent"].overrides["link:dr-link"] = {"_dropped_after_list": True}
        polled = await poll_once(config(sim), clock=lambda: NOW)
    assert polled.ok
    assert polled.store.targets["dr"].detail_failures == ()
    assert {s["link"] for s in series_of(polled.text, "confluent_link_status")} == {"partner-link"}
    assert {s["link"] for s in series_of(polled.text, "confluent_link_task_status")} == {
        "partner-link"
    }
