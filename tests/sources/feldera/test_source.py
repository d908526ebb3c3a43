"""Feldera end to end: the exporter polling the simulated Feldera over loopback HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from dataflow_exporter.simulator import Simulation
from dataflow_exporter.simulator.feldera import FelderaSimulator
from tests.sources.feldera.upstream_enums import COMBINED_STATUS
from tests.support.helpers import poll_once, promtool_check_metrics, samples, series_of, value

API_KEY = "apikey:" + "f3" * 64


@pytest.fixture
async def feldera() -> AsyncIterator[Simulation]:
    async with Simulation({"feldera": {}}) as sim:
        yield sim


def sim_of(sim: Simulation) -> FelderaSimulator:
    system = sim.systems["feldera"]
    assert isinstance(system, FelderaSimulator)
    return system


def config(sim: Simulation, **extra: Any) -> dict[str, Any]:
    return {
        "global": {"interval": "30s", "timeout": "5s"},
        "targets": [{"name": "fd", "system": "feldera", "url": sim.url, **extra}],
    }


async def override(sim: Simulation, entity: str, fields: dict[str, Any]) -> None:
    async with aiohttp.ClientSession() as session:
        resp = await session.post(f"{sim.url}/_sim/feldera/overrides/{entity}", json=fields)
        assert resp.status == 200, await resp.text()


def pipelines_of(text: str, name: str) -> set[str]:
    return {s["pipeline"] for s in series_of(text, name)}


async def test_once_shows_failed_pipeline_unhealthy_connector_and_healthy_counters(
    feldera: Simulation,
) -> None:
    polled = await poll_once(config(feldera))
    text = polled.text
    assert polled.ok
    assert (
        value(text, "feldera_pipeline_status", pipeline="inventory-rollup", status="Stopped") == 1
    )
    assert value(text, "feldera_pipeline_deployment_error", pipeline="inventory-rollup") == 1
    assert value(text, "feldera_pipeline_deployment_error", pipeline="clickstream") == 0
    failed = {"pipeline": "payments-enrichment", "table": "payments", "connector": "kafka_in"}
    assert value(text, "feldera_input_connector_health", **failed, status="Unhealthy") == 1
    assert value(text, "feldera_input_connector_health", **failed, status="Healthy") == 0
    assert value(text, "feldera_input_connector_fatal_error", **failed) == 1
    healthy = {"pipeline": "clickstream", "table": "page_views", "connector": "kafka_in"}
    assert value(text, "feldera_input_connector_fatal_error", **healthy) == 0
    assert value(text, "feldera_input_connector_health", **healthy, status="Healthy") == 1
    assert (value(text, "feldera_input_connector_records_total", **healthy) or 0) > 0
    assert (value(text, "feldera_input_connector_bytes_total", **healthy) or 0) > 0
    assert value(text, "feldera_pipeline_state", pipeline="ledger-audit", status="Paused") == 1
    assert value(text, "dataflow_exporter_target_up", target="fd") == 1
    promtool_check_metrics(text)


async def test_counters_are_typed_as_counters(feldera: Simulation) -> None:
    text = (await poll_once(config(feldera))).text
    for name in (
        "feldera_input_connector_records_total",
        "feldera_input_connector_parse_errors_total",
        "feldera_output_connector_transmitted_records_total",
        "feldera_pipeline_processed_records_total",
    ):
        assert f"# TYPE {name} counter" in text


async def test_counters_match_what_the_pipeline_reports(feldera: Simulation) -> None:
    async with aiohttp.ClientSession() as session:
        resp = await session.get(f"{feldera.url}/v0/pipelines/fraud-detection/stats")
        stats = await resp.json()
    text = (await poll_once(config(feldera))).text
    reported = stats["inputs"][0]["metrics"]
    labels = {"pipeline": "fraud-detection", "table": "transactions", "connector": "kafka_in"}
    # The simulated clock runs on between the two reads, but within a second.
    records = value(text, "feldera_input_connector_records_total", **labels) or 0
    assert reported["total_records"] <= records <= reported["total_records"] + 2000
    assert (value(text, "feldera_input_connector_parse_errors_total", **labels) or 0) > 0


@pytest.mark.parametrize("status", COMBINED_STATUS)
async def test_each_pipeline_status_is_exported_one_hot(feldera: Simulation, status: str) -> None:
    await override(feldera, "ledger-audit", {"_state": status})
    text = (await poll_once(config(feldera))).text
    states = {
        dict(labels)["status"]: v
        for (name, labels), v in samples(text).items()
        if name == "feldera_pipeline_status" and ("pipeline", "ledger-audit") in labels
    }
    assert set(states) == set(COMBINED_STATUS)
    assert [s for s, v in states.items() if v == 1] == [status]


async def test_an_unknown_pipeline_status_is_exported_and_counted(feldera: Simulation) -> None:
    await override(feldera, "clickstream", {"deployment_status": "Hibernating"})
    polled = await poll_once(config(feldera))
    text = polled.text
    assert polled.ok
    assert value(text, "feldera_pipeline_status", pipeline="clickstream", status="Hibernating") == 1
    assert value(text, "feldera_pipeline_status", pipeline="clickstream", status="Running") == 0
    assert (
        value(
            text,
            "dataflow_exporter_unknown_values_total",
            system="feldera",
            field="deployment_status",
        )
        == 1
    )
    # Stats are only asked of pipelines whose status says a process is there to answer.
    assert "clickstream" not in pipelines_of(text, "feldera_input_connector_records_total")


async def test_a_connector_going_unhealthy_shows_health_and_fatal_error(
    feldera: Simulation,
) -> None:
    labels = {"pipeline": "clickstream", "table": "sessions", "connector": "kafka_in"}
    before = (await poll_once(config(feldera))).text
    assert value(before, "feldera_input_connector_health", **labels, status="Healthy") == 1
    assert value(before, "feldera_input_connector_fatal_error", **labels) == 0
    await override(
        feldera,
        "clickstream:sessions.kafka_in",
        {
            "fatal_error": "Kafka error: Broker: Topic authorization failed",
            "health": {"status": "Unhealthy", "description": "Topic authorization failed"},
        },
    )
    after = (await poll_once(config(feldera))).text
    assert value(after, "feldera_input_connector_health", **labels, status="Unhealthy") == 1
    assert value(after, "feldera_input_connector_health", **labels, status="Healthy") == 0
    assert value(after, "feldera_input_connector_fatal_error", **labels) == 1
    assert "authorization" not in after


async def test_missing_optional_keys_leave_their_series_out(feldera: Simulation) -> None:
    text = (await poll_once(config(feldera))).text
    ended = {"pipeline": "fraud-detection", "table": "cards", "connector": "unnamed-0"}
    assert value(text, "feldera_input_connector_end_of_input", **ended) == 1
    assert value(text, "feldera_input_connector_processing_latency_p99_seconds", **ended) is None
    assert value(text, "feldera_input_connector_completed_timestamp_seconds", **ended) is None
    assert not [
        s for s in series_of(text, "feldera_input_connector_health") if s["table"] == "cards"
    ]
    failed = {"pipeline": "payments-enrichment", "table": "payments", "connector": "kafka_in"}
    assert value(text, "feldera_input_connector_processing_latency_p99_seconds", **failed) is None
    outputs = {s["view"] for s in series_of(text, "feldera_output_connector_health")}
    assert "fraud_alerts" not in outputs  # this connector does not report health


async def test_upper_case_quoted_table_and_view_names_keep_their_case(
    feldera: Simulation,
) -> None:
    text = (await poll_once(config(feldera))).text
    assert value(
        text,
        "feldera_input_connector_records_total",
        pipeline="market-data",
        table="Trades",
        connector="kafka_in",
    )
    assert value(
        text,
        "feldera_output_connector_transmitted_records_total",
        pipeline="market-data",
        view="QuoteSummary",
        connector="kafka_out",
    )


async def test_explicit_connectors_quote_upper_case_names_in_the_path(
    feldera: Simulation,
) -> None:
    connectors = [
        {"pipeline": "market-data", "table": "Trades", "connector": "kafka_in"},
        {"pipeline": "market-data", "view": "QuoteSummary", "connector": "kafka_out"},
    ]
    polled = await poll_once(config(feldera, connectors=connectors))
    text = polled.text
    assert polled.ok
    assert value(
        text, "feldera_input_connector_records_total", table="Trades", connector="kafka_in"
    )
    assert value(
        text,
        "feldera_output_connector_transmitted_records_total",
        view="QuoteSummary",
        connector="kafka_out",
    )
    paths = sim_of(feldera).faults.requests
    assert paths['/v0/pipelines/market-data/tables/"Trades"/connectors/kafka_in/stats'] == 1


async def test_explicit_connectors_use_the_per_connector_endpoint_only(
    feldera: Simulation,
) -> None:
    connectors = [
        {"pipeline": "fraud-detection", "table": "transactions", "connector": "kafka_in"},
        {"pipeline": "fraud-detection", "table": "transactions", "connector": "kafka_typo"},
        {"pipeline": "fraud-detection", "table": "transactions", "connector": "kafka_typo"},
        {"pipeline": "payments-enrichment", "view": "enriched_payments", "connector": "kafka_out"},
        {"pipeline": "inventory-rollup", "table": "stock_levels", "connector": "kafka_in"},
    ]
    polled = await poll_once(config(feldera, connectors=connectors))
    text = polled.text
    assert polled.ok
    inputs = {
        (s["pipeline"], s["connector"])
        for s in series_of(text, "feldera_input_connector_records_total")
    }
    assert inputs == {("fraud-detection", "kafka_in")}
    outputs = series_of(text, "feldera_output_connector_transmitted_records_total")
    assert [(s["pipeline"], s["view"]) for s in outputs] == [
        ("payments-enrichment", "enriched_payments")
    ]
    requests = sim_of(feldera).faults.requests
    assert not [path for path in requests if path.endswith("/stats") and "/connectors/" not in path]
    # The stopped pipeline's connector is not asked for; its status still is exported.
    assert not [path for path in requests if "inventory-rollup" in path]
    assert (
        value(text, "feldera_pipeline_status", pipeline="inventory-rollup", status="Stopped") == 1
    )
    state = polled.store.targets["fd"]
    assert state.snapshot is not None
    assert state.snapshot.entities["connectors not found"] == 1


async def test_a_pipeline_stopped_since_the_list_keeps_status_and_loses_connectors(
    feldera: Simulation,
) -> None:
    # The list still says Running; the pipeline's stats endpoint answers 503 NotDeployed.
    await override(feldera, "fraud-detection", {"_stats_error": 503})
    polled = await poll_once(config(feldera))
    text = polled.text
    assert polled.ok
    assert value(text, "dataflow_exporter_target_up", target="fd") == 1
    assert value(text, "feldera_pipeline_status", pipeline="fraud-detection", status="Running") == 1
    assert value(text, "feldera_pipeline_stats_available", pipeline="fraud-detection") == 0
    assert value(text, "feldera_pipeline_stats_available", pipeline="clickstream") == 1
    for name in (
        "feldera_input_connector_records_total",
        "feldera_output_connector_transmitted_records_total",
        "feldera_pipeline_rss_bytes",
    ):
        assert "fraud-detection" not in pipelines_of(text, name)
    assert "clickstream" in pipelines_of(text, "feldera_input_connector_records_total")


async def test_a_stopped_pipeline_has_status_but_no_connector_series(feldera: Simulation) -> None:
    text = (await poll_once(config(feldera))).text
    assert (
        value(text, "feldera_pipeline_status", pipeline="inventory-rollup", status="Stopped") == 1
    )
    assert value(text, "feldera_pipeline_stats_available", pipeline="inventory-rollup") is None
    assert "inventory-rollup" not in pipelines_of(text, "feldera_input_connector_records_total")
    assert "/v0/pipelines/inventory-rollup/stats" not in sim_of(feldera).faults.requests


async def test_a_pipeline_deleted_since_the_list_loses_every_series(feldera: Simulation) -> None:
    await override(feldera, "market-data", {"_stats_error": 404})
    polled = await poll_once(config(feldera))
    assert polled.ok
    assert not [
        labels for (_, labels) in samples(polled.text) if ("pipeline", "market-data") in labels
    ]


async def test_a_failed_initialization_on_one_pipeline_fails_that_pipeline_only(
    feldera: Simulation,
) -> None:
    await override(feldera, "market-data", {"_stats_error": 500})
    polled = await poll_once(config(feldera))
    assert polled.ok
    text = polled.text
    assert value(text, "dataflow_exporter_target_up", target="fd") == 1
    assert value(text, "feldera_pipeline_stats_available", pipeline="market-data") == 0
    assert value(text, "feldera_pipeline_status", pipeline="market-data", status="Running") == 1
    assert value(text, "feldera_pipeline_stats_available", pipeline="clickstream") == 1
    assert (
        value(text, "dataflow_exporter_detail_errors_total", endpoint="stats", reason="http_5xx")
        == 1
    )
    (failure,) = polled.store.targets["fd"].detail_failures
    assert (failure.entity, failure.endpoint) == ("pipeline market-data", "stats")
    assert "InitializationError" in failure.message or "initializing" in failure.message


async def test_counters_restart_from_zero_when_the_pipeline_restarts() -> None:
    t = [1_800_000_000.0]
    async with Simulation({"feldera": {"restart_period": 100}}, clock=lambda: t[0]) as sim:
        labels = {"pipeline": "clickstream", "table": "page_views", "connector": "kafka_in"}

        async def read() -> tuple[float, float]:
            text = (await poll_once(config(sim))).text
            records = value(text, "feldera_input_connector_records_total", **labels)
            start = value(text, "feldera_pipeline_start_timestamp_seconds", pipeline="clickstream")
            assert records is not None and start is not None
            return records, start

        t[0] += 50
        before, first_start = await read()
        t[0] += 100  # past the restart at +100 s
        after, second_start = await read()
        t[0] += 30
        later, third_start = await read()
    assert after < before
    assert second_start == 1_800_000_100
    assert first_start < second_start == third_start
    assert later > after


async def test_a_bad_api_key_is_an_auth_failure() -> None:
    async with Simulation({"feldera": {"api_key": API_KEY}}) as sim:
        polled = await poll_once(config(sim, api_key="apikey:" + "00" * 64))
    text = polled.text
    assert not polled.ok
    assert value(text, "dataflow_exporter_target_up", target="fd") == 0
    assert value(text, "dataflow_exporter_target_errors_total", target="fd", reason="auth") == 1
    assert polled.store.targets["fd"].last_error_reason == "auth"


async def test_a_missing_api_key_is_an_auth_failure() -> None:
    async with Simulation({"feldera": {"api_key": API_KEY}}) as sim:
        polled = await poll_once(config(sim))
    assert not polled.ok
    assert polled.store.targets["fd"].last_error_reason == "auth"


async def test_the_api_key_file_is_sent_as_a_bearer_token_as_given(tmp_path: Path) -> None:
    key_file = tmp_path / "feldera-key"
    key_file.write_text(API_KEY + "\n")
    async with Simulation({"feldera": {"api_key": API_KEY}}) as sim:
        polled = await poll_once(config(sim, api_key_file=str(key_file)))
    assert polled.ok
    assert API_KEY not in polled.text


async def test_ephemeral_http_connectors_are_left_out_unless_asked_for(
    feldera: Simulation,
) -> None:
    default = (await poll_once(config(feldera))).text
    inputs = {s["connector"] for s in series_of(default, "feldera_input_connector_records_total")}
    outputs = {
        s["connector"]
        for s in series_of(default, "feldera_output_connector_transmitted_records_total")
    }
    assert not [c for c in inputs | outputs if c.startswith("api-")]
    wanted = (await poll_once(config(feldera, include_ephemeral=True))).text
    inputs = {s["connector"] for s in series_of(wanted, "feldera_input_connector_records_total")}
    outputs = {
        s["connector"]
        for s in series_of(wanted, "feldera_output_connector_transmitted_records_total")
    }
    assert "api-ingress-transactions-3f1c" in inputs
    assert [c for c in outputs if c.startswith("api-")]


async def test_include_and_exclude_select_pipelines(feldera: Simulation) -> None:
    filters = {"include": ["^(clickstream|fraud-.*|market-data)$"], "exclude": ["^market"]}
    text = (await poll_once(config(feldera, pipelines=filters))).text
    assert pipelines_of(text, "feldera_pipeline_status") == {"clickstream", "fraud-detection"}
    assert pipelines_of(text, "feldera_input_connector_records_total") == {
        "clickstream",
        "fraud-detection",
    }
    assert "/v0/pipelines/market-data/stats" not in sim_of(feldera).faults.requests


async def test_shards_split_pipelines_between_replicas(feldera: Simulation) -> None:
    seen: list[set[str]] = []
    for index in range(2):
        data = {**config(feldera), "shard": {"index": index, "count": 2}}
        seen.append(pipelines_of((await poll_once(data)).text, "feldera_pipeline_status"))
    assert seen[0].isdisjoint(seen[1])
    assert seen[0] | seen[1] == {p.name for p in sim_of(feldera).pipelines}


@pytest.mark.slow
async def test_many_generated_connectors_are_all_exported() -> None:
    options = {"feldera": {"pipelines": 56, "connectors_per_pipeline": 20}}
    async with Simulation(options) as sim:
        polled = await poll_once(config(sim))
    assert polled.ok
    names = {
        "feldera_input_connector_records_total",
        "feldera_output_connector_transmitted_records_total",
    }
    generated = [
        labels
        for (name, labels) in samples(polled.text)
        if name in names and dict(labels)["pipeline"].startswith("pipeline-")
    ]
    assert len(generated) == 50 * 20
