"""The single-resource routes docs/runbooks.md tells an operator to read answer on the simulator
as the upstream does: the same record its list gives, and the upstream's 404 for a missing one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from dataflow_exporter.simulator import Simulation


@pytest.fixture
async def simulation() -> AsyncIterator[Simulation]:
    """Every system at one fixed instant: a list and a single read then see the same state."""
    async with Simulation(clock=lambda: 1_700_000_000.0) as sim:
        yield sim


async def _get(session: aiohttp.ClientSession, url: str) -> tuple[int, Any]:
    async with session.get(url) as resp:
        return resp.status, await resp.json()


async def test_a_cluster_link_and_a_mirror_topic_answer_alone_as_in_their_lists(
    simulation: Simulation,
) -> None:
    confluent = simulation.systems["confluent"]
    base = f"{simulation.url}/kafka/v3/clusters/{confluent.demo_target('')['cluster_id']}"
    async with aiohttp.ClientSession() as session:
        _, links = await _get(session, f"{base}/links")
        link = links["data"][0]
        status, alone = await _get(session, f"{base}/links/{link['link_name']}")
        assert status == 200
        assert alone == link
        _, mirrors = await _get(session, f"{base}/links/{link['link_name']}/mirrors")
        topic = mirrors["data"][0]
        path = f"{base}/links/{link['link_name']}/mirrors/{topic['mirror_topic_name']}"
        status, alone = await _get(session, f"{path}?include_state_transition_errors=true")
        assert status == 200
        assert alone == topic
        status, missing = await _get(session, f"{base}/links/{link['link_name']}/mirrors/nope")
        assert (status, missing["error_code"]) == (404, 404)
        status, missing = await _get(session, f"{base}/links/nope")
        assert (status, missing["error_code"]) == (404, 404)


async def test_a_mirrors_cdc_batches_answer_the_get_form_as_the_post_form(
    simulation: Simulation,
) -> None:
    base = f"{simulation.url}/api/v1/mirrors/cdc/batches"
    async with aiohttp.ClientSession() as session:
        body = {"flowJobName": "orders_pg_to_ch", "limit": 1}
        async with session.post(base, json=body) as resp:
            posted = await resp.json()
        status, got = await _get(session, f"{base}/orders_pg_to_ch?limit=1")
    assert status == 200
    assert got == posted
    assert len(got["cdcBatches"]) == 1


async def test_a_failed_mirrors_error_log_answers_newest_first_by_level(
    simulation: Simulation,
) -> None:
    url = f"{simulation.url}/api/v1/mirrors/logs"

    async def logs(**body: Any) -> Any:
        async with aiohttp.ClientSession() as session, session.post(url, json=body) as resp:
            assert resp.status == 200
            return await resp.json()

    errors = await logs(flowJobName="users_mysql_to_ch", level="error", numPerPage=10)
    assert (errors["total"], errors["page"], len(errors["errors"])) == (3, 1, 3)
    first, second, third = errors["errors"]
    assert first["id"] > second["id"] > third["id"], "newest first"
    assert first["errorType"] == "error" and first["flowName"] == "users_mysql_to_ch"
    assert "binlog position not found" in first["errorMessage"]
    # numPerPage 0 (or none) asks for no rows.
    assert (await logs(flowJobName="users_mysql_to_ch", level="error"))["errors"] == []
    # The mirror filter is a substring match, and `all` takes every level.
    near = await logs(flowJobName="orders_pg_to_ch", level="error", numPerPage=10)
    assert [row["flowName"] for row in near["errors"]] == ["orders_pg_to_ch_resync"]
    every = await logs(flowJobName="orders_pg_to_ch", level="all", numPerPage=10)
    assert sorted(row["errorType"] for row in every["errors"]) == ["error", "warn"]
