"""Feldera payloads (as the API server writes them) -> records -> families, and target config."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from dataflow_exporter import config as config_mod
from dataflow_exporter.errors import ConfigError, Reason, SchemaError, UpstreamError
from dataflow_exporter.families import Family, families_by_name
from dataflow_exporter.sources.feldera import (
    DEPLOYMENT_STATUSES,
    Observation,
    broken_entities,
    build_families,
    error_code,
    is_ephemeral,
    parse_input,
    parse_output,
    parse_pipeline_list,
    parse_stats,
    split_endpoint,
    sql_identifier,
    summarise,
)
from tests.sources.feldera.upstream_enums import COMBINED_STATUS

FIXTURES = Path(__file__).parent / "fixtures"


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def sample(family: Family, *labels: str) -> float | None:
    found = [v for ls, v in family.samples if ls == labels]
    assert len(found) <= 1
    return found[0] if found else None


def families_for(seen: Observation) -> dict[str, Family]:
    return families_by_name(build_families(seen))


def test_pipeline_list_reads_status_desired_status_program_and_deployment_error() -> None:
    running, stopped = parse_pipeline_list(fixture("pipelines_list_selector_status"))
    assert (running.name, running.status, running.desired, running.program) == (
        "fraud-detection",
        "Running",
        "Running",
        "Success",
    )
    assert not running.deployment_error
    assert (stopped.name, stopped.status, stopped.desired) == (
        "inventory-rollup",
        "Stopped",
        "Stopped",
    )
    assert stopped.deployment_error
    assert stopped.status_since == pytest.approx(1742424069.000117)


def test_the_deployment_status_series_are_felderas_combined_status_in_order() -> None:
    assert DEPLOYMENT_STATUSES.values == COMBINED_STATUS


@pytest.mark.parametrize("status", COMBINED_STATUS)
def test_every_deployment_status_is_one_hot_over_all_fifteen(status: str) -> None:
    item = copy.deepcopy(fixture("pipelines_list_selector_status")[0])
    item["deployment_status"] = status
    (pipeline,) = parse_pipeline_list([item])
    family = families_for(Observation([pipeline]))["feldera_pipeline_status"]
    assert len(family.samples) == 15
    assert [ls[1] for ls, v in family.samples if v == 1] == [status]
    assert summarise(Observation([pipeline])).unknown_values == []


def test_an_unknown_deployment_status_gets_its_own_series_and_is_reported() -> None:
    item = copy.deepcopy(fixture("pipelines_list_selector_status")[0])
    item["deployment_status"] = "Hibernating"
    (pipeline,) = parse_pipeline_list([item])
    seen = Observation([pipeline])
    family = families_for(seen)["feldera_pipeline_status"]
    assert len(family.samples) == 16
    assert sample(family, "fraud-detection", "Hibernating") == 1
    assert sample(family, "fraud-detection", "Running") == 0
    assert summarise(seen).unknown_values == [("deployment_status", "Hibernating")]


def test_a_pipeline_in_an_unknown_deployment_status_is_broken_in_its_own_words() -> None:
    item = copy.deepcopy(fixture("pipelines_list_selector_status")[0])
    item["deployment_status"] = "Hibernating"
    (pipeline,) = parse_pipeline_list([item])
    (broken,) = broken_entities(Observation([pipeline]))
    assert (broken.kind, broken.names, broken.state) == (
        "pipeline",
        (("pipeline", "fraud-detection"),),
        "Hibernating",
    )
    assert type(broken.state) is str  # the status page encodes it as plain text


def test_a_deployment_error_without_a_message_is_still_an_error() -> None:
    item = copy.deepcopy(fixture("pipelines_list_selector_status")[0])
    item["deployment_error"] = {"error_code": "RunnerError", "details": {}}
    (pipeline,) = parse_pipeline_list([item])
    assert pipeline.deployment_error == ""
    family = families_for(Observation([pipeline]))["feldera_pipeline_deployment_error"]
    assert sample(family, "fraud-detection") == 1
    (broken,) = broken_entities(Observation([pipeline]))
    assert (broken.state, broken.error) == ("Running", "")


def test_stats_split_endpoint_names_into_table_and_connector() -> None:
    stats = parse_stats("fraud-detection", fixture("pipeline_stats"))
    assert [(c.table, c.connector) for c in stats.inputs] == [
        ("transactions", "kafka_in"),
        ("cards", "unnamed-0"),
    ]
    assert [(c.view, c.connector) for c in stats.outputs] == [("fraud_alerts", "kafka_out")]


def test_counters_gauges_and_latency_are_in_base_units() -> None:
    stats = parse_stats("fraud-detection", fixture("pipeline_stats"))
    kafka = stats.inputs[0].values
    assert [
        kafka[f"feldera_input_connector_{name}_total"]
        for name in ("records", "bytes", "parse_errors", "transport_errors")
    ] == [1048576, 734003200, 3, 1]
    assert kafka["feldera_input_connector_processing_latency_p99_seconds"] == pytest.approx(0.04125)
    assert kafka["feldera_input_connector_completed_timestamp_seconds"] == pytest.approx(
        1742471999.901233
    )
    g = stats.global_metrics
    assert (g.state, g.memory_pressure, g.values["feldera_pipeline_rss_bytes"]) == (
        "Running",
        "low",
        1876951040,
    )
    assert g.values["feldera_pipeline_uptime_seconds"] == pytest.approx(172800.512)
    assert g.values["feldera_pipeline_start_timestamp_seconds"] == 1742306740


def test_missing_optional_keys_give_no_series_rather_than_zeros() -> None:
    stats = parse_stats("fraud-detection", fixture("pipeline_stats"))
    cards = stats.inputs[1]
    assert cards.values["feldera_input_connector_processing_latency_p99_seconds"] is None
    assert cards.health is None
    assert cards.values["feldera_input_connector_completed_timestamp_seconds"] is None
    seen = Observation([], inputs=list(stats.inputs), outputs=list(stats.outputs))
    fams = families_for(seen)
    labels = ("fraud-detection", "cards", "unnamed-0")
    assert sample(fams["feldera_input_connector_processing_latency_p99_seconds"], *labels) is None
    assert sample(fams["feldera_input_connector_completed_timestamp_seconds"], *labels) is None
    assert not [ls for ls, _ in fams["feldera_input_connector_health"].samples if ls[:3] == labels]
    assert sample(fams["feldera_input_connector_records_total"], *labels) == 200000
    assert sample(fams["feldera_input_connector_end_of_input"], *labels) == 1
    assert fams["feldera_output_connector_health"].samples == []


def test_a_failed_connector_reports_fatal_error_unhealthy_and_paused() -> None:
    failed = parse_input("inventory-rollup", fixture("input_connector_stats_failed"), "x")
    assert failed.fatal_error == "Kafka error: Broker: Unknown topic or partition"
    assert failed.values["feldera_input_connector_paused"] == 1
    assert failed.health is not None and failed.health.status == "Unhealthy"
    fams = families_for(Observation([], inputs=[failed]))
    labels = ("inventory-rollup", "stock_levels", "kafka_in")
    assert sample(fams["feldera_input_connector_fatal_error"], *labels) == 1
    assert sample(fams["feldera_input_connector_health"], *labels, "Unhealthy") == 1
    assert sample(fams["feldera_input_connector_health"], *labels, "Healthy") == 0


def test_error_text_never_becomes_a_label() -> None:
    failed = parse_input("inventory-rollup", fixture("input_connector_stats_failed"), "x")
    for family in build_families(Observation([], inputs=[failed])):
        for labels, _ in family.samples:
            assert not any("Kafka error" in value for value in labels), family.spec.name


def test_per_connector_answers_with_error_lists_parse_like_stats_entries() -> None:
    full = parse_input("fraud-detection", fixture("input_connector_stats"), "x")
    listed = parse_stats("fraud-detection", fixture("pipeline_stats")).inputs[0]
    assert full == listed
    out = parse_output("fraud-detection", fixture("output_connector_stats"), "x")
    assert (
        out.view,
        out.connector,
        out.values["feldera_output_connector_transmitted_records_total"],
    ) == (
        "fraud_alerts",
        "kafka_out",
        15320,
    )


@pytest.mark.parametrize(
    ("endpoint", "stream", "expected"),
    [
        ("transactions.kafka_in", "transactions", ("transactions", "kafka_in")),
        ("Trades.kafka_in", "Trades", ("Trades", "kafka_in")),
        ("my.table.kafka_in", "my.table", ("my.table", "kafka_in")),
        ("t.conn.v2", "t", ("t", "conn.v2")),
        ("other.kafka_in", "mismatch", ("mismatch", "kafka_in")),
    ],
)
def test_endpoint_name_is_split_after_the_stream_name(
    endpoint: str, stream: str, expected: tuple[str, str]
) -> None:
    assert split_endpoint(endpoint, stream) == expected


@pytest.mark.parametrize(
    ("name", "segment"),
    [
        ("transactions", "transactions"),
        ("Trades", '"Trades"'),
        ('"Trades"', '"Trades"'),
        ("odd name", '"odd name"'),
        ('say"hi', '"say""hi"'),
    ],
)
def test_table_names_that_are_not_plain_lower_case_are_quoted(name: str, segment: str) -> None:
    assert sql_identifier(name) == segment


@pytest.mark.parametrize(
    ("connector", "output", "ephemeral"),
    [
        ("api-ingress-transactions-3f1c", False, True),
        ("kafka_in", False, False),
        ("api-0195b0ab", True, True),
        ("kafka_out", True, False),
    ],
)
def test_http_ingress_and_egress_connectors_are_ephemeral(
    connector: str, output: bool, ephemeral: bool
) -> None:
    assert is_ephemeral(connector, output) is ephemeral


def test_unknown_memory_pressure_and_health_are_reported() -> None:
    payload = fixture("pipeline_stats")
    payload["global_metrics"]["memory_pressure"] = "extreme"
    payload["inputs"][0]["health"]["status"] = "Degraded"
    stats = parse_stats("p", payload)
    seen = Observation([], global_metrics=[stats.global_metrics], inputs=list(stats.inputs))
    assert sorted(summarise(seen).unknown_values) == [
        ("connector_health", "Degraded"),
        ("memory_pressure", "extreme"),
    ]
    pressure = families_for(seen)["feldera_pipeline_memory_pressure"]
    assert sample(pressure, "p", "extreme") == 1


@pytest.mark.parametrize(
    "mutate",
    [
        lambda p: p.pop("inputs"),
        lambda p: p["inputs"][0]["metrics"].pop("total_records"),
        lambda p: p["inputs"][0].update(config=None),
        lambda p: p["global_metrics"].update(rss_bytes="lots"),
        lambda p: p["outputs"][0].update(endpoint_name=7),
    ],
)
def test_payloads_missing_required_fields_are_schema_errors(mutate: Any) -> None:
    payload = fixture("pipeline_stats")
    mutate(payload)
    with pytest.raises(SchemaError):
        parse_stats("p", payload)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda p: p["inputs"][0]["metrics"].update(processing_latency_p99_micros="soon"),
            "stats.inputs[0].metrics.processing_latency_p99_micros: expected a number, got 'soon'",
        ),
        (
            lambda p: p["inputs"][0].update(paused="yes"),
            "stats.inputs[0].paused: expected a boolean, got str",
        ),
        (
            lambda p: p["inputs"][0].update(completed_frontier=[]),
            "stats.inputs[0].completed_frontier: expected an object, got list",
        ),
        (
            lambda p: p["outputs"][0]["metrics"].update(queued_records=None),
            "stats.outputs[0].metrics.queued_records: expected a number, got NoneType",
        ),
        (
            lambda p: p["global_metrics"].update(uptime_msecs=[]),
            "stats.global_metrics.uptime_msecs: expected a number, got list",
        ),
    ],
)
def test_a_field_of_the_wrong_type_is_a_schema_error_naming_its_path(
    mutate: Any, message: str
) -> None:
    payload = fixture("pipeline_stats")
    mutate(payload)
    with pytest.raises(SchemaError) as caught:
        parse_stats("p", payload)
    assert str(caught.value) == message


def test_error_code_is_read_from_feldera_error_bodies_only() -> None:
    body = fixture("error_not_deployed_503")
    err = UpstreamError(Reason.HTTP_5XX, "x", status=503, payload=body)
    assert error_code(err) == "PipelineInteractionNotDeployed"
    assert error_code(UpstreamError(Reason.HTTP_5XX, "x", status=503, payload=None)) is None


def test_entities_count_pipelines_by_status_and_connectors_by_health() -> None:
    pipelines = parse_pipeline_list(fixture("pipelines_list_selector_status"))
    stats = parse_stats("fraud-detection", fixture("pipeline_stats"))
    seen = Observation(pipelines, inputs=list(stats.inputs), outputs=list(stats.outputs))
    assert summarise(seen).entities == {
        "pipelines Running": 1,
        "pipelines Stopped": 1,
        "connectors Healthy": 1,
        "connectors health unreported": 2,
    }


def target(**extra: Any) -> dict[str, Any]:
    base = {"name": "f", "system": "feldera", "url": "http://feldera:8080"}
    return {"targets": [{**base, **extra}]}


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"api_key": "apikey:x", "api_key_file": __file__}, "give either api_key"),
        ({"connectors": [{"pipeline": "p", "connector": "c"}]}, "exactly one of table"),
        (
            {"connectors": [{"pipeline": "p", "table": "t", "view": "v", "connector": "c"}]},
            "exactly one of table",
        ),
        ({"pipelines": {"include": ["("]}}, "invalid regular expression"),
        ({"pipeline": {"include": []}}, "unknown key"),
    ],
)
def test_bad_feldera_configs_are_rejected_with_their_path(
    extra: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        config_mod.parse(target(**extra), env={})
    assert any(e.startswith("targets[0]") and message in e for e in caught.value.errors), (
        caught.value.errors
    )


def test_a_full_feldera_config_is_accepted() -> None:
    cfg = config_mod.parse(
        target(
            api_key="apikey:abc",
            pipelines={"include": ["^prod-"], "exclude": ["-test$"]},
            connectors=[
                {"pipeline": "prod-a", "table": "Orders", "connector": "kafka_in"},
                {"pipeline": "prod-a", "view": "totals", "connector": "kafka_out"},
            ],
            include_ephemeral=True,
        ),
        env={},
    )
    assert cfg.targets[0].system == "feldera"


@pytest.mark.parametrize("start_time", [1e300, -1])
def test_an_absurd_process_start_time_fails_the_stats_naming_the_field(start_time: float) -> None:
    payload = fixture("pipeline_stats")
    payload["global_metrics"]["start_time"] = start_time
    with pytest.raises(SchemaError, match=r"start_time: time out of range"):
        parse_stats("p", payload)


@pytest.mark.parametrize("since", ["0001-01-01T00:00:00Z", "1969-12-31T23:59:59Z"])
def test_a_status_time_before_1970_is_that_pipelines_error_not_the_lists(since: str) -> None:
    running, stopped = fixture("pipelines_list_selector_status")
    running["deployment_status_since"] = since
    broken, fine = parse_pipeline_list([running, stopped])
    assert broken.status_since is None
    assert broken.time_error.startswith("pipelines[0].deployment_status_since: time out of range")
    assert (broken.name, broken.status) == (running["name"], running["deployment_status"])
    assert (fine.time_error, fine.status_since is not None) == ("", True)
