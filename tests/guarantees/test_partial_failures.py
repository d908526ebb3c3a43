"""One broken entity never blinds a target: the partial failures each upstream has every day.

For each: the target stays up, every other entity's series are exactly what a healthy poll of
the same moment gives, the broken entity keeps what the inventory says and shows its error, and
the failure is counted by endpoint and reason.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec.structs
import pytest
from structlog.testing import capture_logs

from dataflow_exporter.simulator import Simulation
from dataflow_exporter.status_page import render_status_page
from dataflow_exporter.upstream import new_session
from tests.support.helpers import Labels, poll_once, samples, value

FIXED_NOW = 1_700_000_000.0


def fixed_clock() -> float:
    return FIXED_NOW


Series = dict[tuple[str, Labels], float]


def config(sim: Simulation, system: str) -> dict[str, Any]:
    target = sim.systems[system].demo_target(sim.url)
    return {"global": {"interval": "30s", "timeout": "10s"}, "targets": [target]}


def upstream_series(text: str, keep: Callable[[Labels], bool]) -> Series:
    """The upstream's own series (not the exporter's), those whose labels `keep` accepts."""
    return {
        key: v
        for key, v in samples(text).items()
        if not key[0].startswith("dataflow_exporter_") and keep(key[1])
    }


async def healthy_then_broken(
    system: str, knobs: dict[str, Any], breaking: Callable[[Simulation], None]
) -> tuple[str, str, Any]:
    """A healthy poll and a poll after `breaking` the simulator, at one instant."""
    async with Simulation({system: knobs}, clock=fixed_clock) as sim:
        healthy = await poll_once(config(sim, system), clock=fixed_clock)
        assert healthy.ok
        breaking(sim)
        broken = await poll_once(config(sim, system), clock=fixed_clock)
    name = sim.systems[system].demo_target(sim.url)["name"]
    assert broken.ok, broken.store.targets[name].last_error
    assert value(broken.text, "dataflow_exporter_target_up", target=name) == 1
    return healthy.text, broken.text, broken.store.targets[name]


def without(label: str, values: set[str]) -> Callable[[Labels], bool]:
    return lambda labels: not any((label, v) in labels for v in values)


async def test_peerdb_one_unreachable_source_database_hides_only_its_slots() -> None:
    def breaking(sim: Simulation) -> None:
        sim.systems["peerdb"].unreachable_peers = frozenset({"pg_prod"})  # type: ignore[attr-defined]

    healthy, broken, state = await healthy_then_broken("peerdb", {"mirrors": 12}, breaking)
    not_pg_prod = without("peer", {"pg_prod"})
    assert upstream_series(broken, not_pg_prod) == upstream_series(healthy, not_pg_prod)
    assert not [s for s in samples(broken) if ("peer", "pg_prod") in s[1]]
    # The mirrors reading from that database keep their state: it comes from the list.
    assert (
        value(broken, "peerdb_mirror_status", mirror="orders_pg_to_ch", status="STATUS_RUNNING")
        == 1
    )
    (failure,) = state.detail_failures
    assert (failure.entity, failure.endpoint, failure.reason) == (
        "peer pg_prod",
        "slots",
        "http_4xx",
    )
    assert "failed to get postgres connector" in failure.message
    assert value(broken, "dataflow_exporter_target_detail_failures", endpoint="slots") == 1
    assert (
        value(broken, "dataflow_exporter_detail_errors_total", endpoint="slots", reason="http_4xx")
        == 1
    )


async def test_peerdb_a_mirror_whose_temporal_query_times_out_is_still_exported() -> None:
    # The exporter never asks for includeFlowInfo, whose Temporal query fails per mirror.
    def breaking(sim: Simulation) -> None:
        sim.systems["peerdb"].flow_info_failures = frozenset(  # type: ignore[attr-defined]
            {"orders_pg_to_ch"}
        )

    healthy, broken, state = await healthy_then_broken("peerdb", {}, breaking)
    everything = without("mirror", set())
    assert upstream_series(broken, everything) == upstream_series(healthy, everything)
    assert state.detail_failures == ()


@pytest.mark.parametrize("version", ["0.30.6", "0.37.4"])
async def test_peerdb_a_mirror_dropped_between_list_and_details_just_goes(version: str) -> None:
    # Releases before v0.36.7 ask each mirror's state: the dropped one answers "not found".
    def breaking(sim: Simulation) -> None:
        sim.systems["peerdb"].overrides["events_pg_to_sf"] = {"_dropped": True}

    healthy, broken, _ = await healthy_then_broken("peerdb", {"version": version}, breaking)
    others = without("mirror", {"events_pg_to_sf"})
    assert upstream_series(broken, others) == {
        k: v
        for k, v in upstream_series(healthy, others).items()
        # Its slot goes with it.
        if ("slot", "peerflow_slot_events_pg_to_sf") not in k[1]
    }
    assert not [s for s in samples(broken) if ("mirror", "events_pg_to_sf") in s[1]]


async def test_peerdb_a_mirror_listed_then_not_found_goes_without_a_detail_failure() -> None:
    # v0.34.0-v0.36.6: the list has no state, so each mirror's is asked; a mirror dropped
    # between the two calls is still listed and its state answers 404 "flow X not found".
    def breaking(sim: Simulation) -> None:
        sim.systems["peerdb"].overrides["events_pg_to_sf"] = {"_dropped_after_list": True}

    knobs = {"version": "0.36.6"}
    healthy, broken, state = await healthy_then_broken("peerdb", knobs, breaking)
    assert ("mirror", "events_pg_to_sf") in {p for k in samples(healthy) for p in k[1]}
    assert not [s for s in samples(broken) if ("mirror", "events_pg_to_sf") in s[1]]
    assert state.detail_failures == ()


@pytest.mark.parametrize(
    ("answers_as", "reason"),
    [
        ("Stopping", "http_4xx"),  # 410 Terminating
        ("Initializing", "http_5xx"),  # 503 Initializing
        ("Suspended", "http_5xx"),  # 503 Suspended
        ("Unavailable", "http_5xx"),  # 503 PipelineUnavailable, from the manager
    ],
)
async def test_feldera_a_pipeline_in_transition_loses_only_its_own_stats(
    answers_as: str, reason: str
) -> None:
    def breaking(sim: Simulation) -> None:
        sim.systems["feldera"].overrides["payments-enrichment"] = {"_stats_as": answers_as}

    healthy, broken, state = await healthy_then_broken("feldera", {}, breaking)
    others = without("pipeline", {"payments-enrichment"})
    assert upstream_series(broken, others) == upstream_series(healthy, others)
    pipeline = {"pipeline": "payments-enrichment"}
    assert value(broken, "feldera_pipeline_status", status="Running", **pipeline) == 1
    assert value(broken, "feldera_pipeline_stats_available", **pipeline) == 0
    assert value(broken, "feldera_pipeline_rss_bytes", **pipeline) is None
    (failure,) = state.detail_failures
    assert (failure.entity, failure.endpoint, failure.reason) == (
        "pipeline payments-enrichment",
        "stats",
        reason,
    )


async def test_feldera_a_pipeline_deleted_between_list_and_stats_just_goes() -> None:
    def breaking(sim: Simulation) -> None:
        sim.systems["feldera"].overrides["fraud-detection"] = {"_stats_error": 404}

    healthy, broken, state = await healthy_then_broken("feldera", {}, breaking)
    others = without("pipeline", {"fraud-detection"})
    assert upstream_series(broken, others) == upstream_series(healthy, others)
    assert not [s for s in samples(broken) if ("pipeline", "fraud-detection") in s[1]]
    assert state.detail_failures == ()


async def test_etlworks_one_erroring_flow_hides_only_its_execution() -> None:
    def breaking(sim: Simulation) -> None:
        sim.systems["etlworks"].failing_flows = frozenset({5010})  # type: ignore[attr-defined]

    healthy, broken, state = await healthy_then_broken("etlworks", {}, breaking)
    others = without("flow_id", {"5010"})
    assert upstream_series(broken, others) == upstream_series(healthy, others)
    (failure,) = state.detail_failures
    assert failure.entity == "flow 5010 (Sync customers to Salesforce)"
    assert (failure.endpoint, failure.reason) == ("executions", "http_5xx")
    assert "Connection is not available" in failure.message


async def test_the_status_page_names_the_broken_entity_and_what_the_release_lacks() -> None:
    async with Simulation(
        {"peerdb": {"version": "0.30.6", "unreachable_peers": ["pg_prod"]}}, clock=fixed_clock
    ) as sim:
        polled = await poll_once(config(sim, "peerdb"), clock=fixed_clock)
    page = render_status_page(polled.store, FIXED_NOW)
    assert 'class="partial" data-target="peerdb-demo"' in page, "up, holding broken entities"
    details = page[page.index('id="broken"') :]
    assert "peer pg_prod (slots call)" in details
    assert "failed to connect to `host=pg_prod.db.internal" in details
    capabilities = page[page.index('id="capabilities"') :]
    assert "rows_synced" in capabilities


async def test_the_status_page_escapes_an_upstreams_error_text() -> None:
    async with Simulation({"etlworks": {"failing_flows": [5010]}}, clock=fixed_clock) as sim:
        polled = await poll_once(config(sim, "etlworks"), clock=fixed_clock)
    state = polled.store.targets["etlworks-demo"]
    (failure,) = state.detail_failures
    state.detail_failures = (msgspec.structs.replace(failure, message="<script>alert(1)</script>"),)
    page = render_status_page(polled.store, FIXED_NOW)
    assert "<script>alert(1)" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


async def test_a_detail_failure_is_logged_when_it_starts_and_clears_not_every_poll() -> None:
    async with Simulation({"peerdb": {}}, clock=fixed_clock) as sim:
        peerdb: Any = sim.systems["peerdb"]
        async with new_session() as session:
            with capture_logs() as logs:
                first = await poll_once(config(sim, "peerdb"), session, clock=fixed_clock)
                peerdb.unreachable_peers = frozenset({"pg_prod"})
                for _ in range(3):
                    await poll_once(config(sim, "peerdb"), session, first.scheduler, fixed_clock)
                peerdb.unreachable_peers = frozenset()
                await poll_once(config(sim, "peerdb"), session, first.scheduler, fixed_clock)
    events = [
        (e["event"], [s["entity"] for s in e["sample"]])
        for e in logs
        if e["event"].startswith("detail_")
    ]
    assert events == [("detail_failed", ["peer pg_prod"]), ("detail_recovered", ["peer pg_prod"])]


async def test_a_missing_capability_and_an_unknown_value_are_logged_once() -> None:
    async with Simulation({"peerdb": {"version": "0.30.6"}}, clock=fixed_clock) as sim:
        sim.systems["peerdb"].overrides["orders_pg_to_ch"] = {"status": "STATUS_HIBERNATING"}
        async with new_session() as session:
            with capture_logs() as logs:
                first = await poll_once(config(sim, "peerdb"), session, clock=fixed_clock)
                for _ in range(2):
                    await poll_once(config(sim, "peerdb"), session, first.scheduler, fixed_clock)
    missing = [e for e in logs if e["event"] == "capability_missing"]
    assert [e["capability"] for e in missing] == ["rows_synced"]
    unknown = [e for e in logs if e["event"] == "unknown_value"]
    assert [e["sample"] for e in unknown] == [
        [{"field": "flow_status", "value": "STATUS_HIBERNATING"}]
    ]


@pytest.mark.parametrize(
    ("system", "inventory_calls"),
    [("peerdb", 1), ("feldera", 1), ("confluent", 2), ("etlworks", 2)],
)
async def test_an_inventory_past_max_entities_fails_the_poll_before_any_detail_call(
    system: str, inventory_calls: int
) -> None:
    async with Simulation({system: {}}, clock=fixed_clock) as sim:
        data = config(sim, system)
        data["targets"][0]["max_entities"] = 3
        polled = await poll_once(data, clock=fixed_clock)
        sent = sim.systems[system].faults.requests["total"]
    name = data["targets"][0]["name"]
    state = polled.store.targets[name]
    assert not polled.ok
    assert state.last_error_reason == "max_entities"
    assert state.errors_total == {"max_entities": 1}
    assert "more than max_entities (3)" in (state.last_error or "")
    assert sent == inventory_calls  # the list (and the token or second list), nothing per entity


async def test_an_inventory_of_exactly_max_entities_is_polled_and_one_more_refused() -> None:
    outcomes = {}
    for limit in (5, 4):  # the simulated PeerDB lists its 5 named mirrors
        async with Simulation({"peerdb": {"mirrors": 5}}, clock=fixed_clock) as sim:
            data = config(sim, "peerdb")
            data["targets"][0]["max_entities"] = limit
            polled = await poll_once(data, clock=fixed_clock)
        outcomes[limit] = polled.ok
    assert outcomes == {5: True, 4: False}
