"""Feldera payloads (as the API server writes them) -> records -> families, and target config."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import msgspec
import pytest

from dataflow_exporter import config as config_mod
from dataflow_exporter.errors import ConfigError, Reason, SchemaError, UpstreamError
from dataflow_exporter.families import Family, Unknown, families_by_name
from dataflow_exporter.sources.feldera import (
    DEPLOYMENT_STATUSES,
    GLOBAL_METRICS,
    INPUT_METRICS,
    OUT_HEALTH,
    OUTPUT_METRICS,
    PIPELINE_METRICS,
    Observation,
    OutputEndpointStatus,
    broken_entities,
    build_families,
    entity_metrics,
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
from dataflow_exporter.sources.fields import Metrics
from dataflow_exporter.upstream import Answer
from tests.sources.feldera.answers import LIST, STATS, answer, connector_stats, pipeline_list
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
    running, stopped = parse_pipeline_list(pipeline_list(fixture("pipelines_list_selector_status")))
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
    (pipeline,) = parse_pipeline_list(pipeline_list([item]))
    family = families_for(Observation([pipeline]))["feldera_pipeline_status"]
    assert len(family.samples) == 15
    assert [ls[1] for ls, v in family.samples if v == 1] == [status]
    assert summarise(Observation([pipeline])).unknown_values == []


def test_an_unknown_deployment_status_gets_its_own_series_and_is_reported() -> None:
    item = copy.deepcopy(fixture("pipelines_list_selector_status")[0])
    item["deployment_status"] = "Hibernating"
    (pipeline,) = parse_pipeline_list(pipeline_list([item]))
    seen = Observation([pipeline])
    family = families_for(seen)["feldera_pipeline_status"]
    assert len(family.samples) == 16
    assert sample(family, "fraud-detection", "Hibernating") == 1
    assert sample(family, "fraud-detection", "Running") == 0
    assert summarise(seen).unknown_values == [("deployment_status", "Hibernating")]


def test_a_pipeline_in_an_unknown_deployment_status_is_broken_in_its_own_words() -> None:
    item = copy.deepcopy(fixture("pipelines_list_selector_status")[0])
    item["deployment_status"] = "Hibernating"
    (pipeline,) = parse_pipeline_list(pipeline_list([item]))
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
    (pipeline,) = parse_pipeline_list(pipeline_list([item]))
    assert pipeline.deployment_error == ""
    family = families_for(Observation([pipeline]))["feldera_pipeline_deployment_error"]
    assert sample(family, "fraud-detection") == 1
    (broken,) = broken_entities(Observation([pipeline]))
    assert (broken.state, broken.error) == ("Running", "")


def test_stats_split_endpoint_names_into_table_and_connector() -> None:
    stats = parse_stats("fraud-detection", answer(fixture("pipeline_stats")))
    assert [(c.table, c.connector) for c in stats.inputs] == [
        ("transactions", "kafka_in"),
        ("cards", "unnamed-0"),
    ]
    assert [(c.view, c.connector) for c in stats.outputs] == [("fraud_alerts", "kafka_out")]


def test_counters_gauges_and_latency_are_in_base_units() -> None:
    stats = parse_stats("fraud-detection", answer(fixture("pipeline_stats")))
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
    stats = parse_stats("fraud-detection", answer(fixture("pipeline_stats")))
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
    failed = parse_input(
        "inventory-rollup", connector_stats(fixture("input_connector_stats_failed"))
    )
    assert failed.fatal_error == "Kafka error: Broker: Unknown topic or partition"
    assert failed.values["feldera_input_connector_paused"] == 1
    assert failed.health is not None and failed.health.status == "Unhealthy"
    fams = families_for(Observation([], inputs=[failed]))
    labels = ("inventory-rollup", "stock_levels", "kafka_in")
    assert sample(fams["feldera_input_connector_fatal_error"], *labels) == 1
    assert sample(fams["feldera_input_connector_health"], *labels, "Unhealthy") == 1
    assert sample(fams["feldera_input_connector_health"], *labels, "Healthy") == 0


def test_error_text_never_becomes_a_label() -> None:
    failed = parse_input(
        "inventory-rollup", connector_stats(fixture("input_connector_stats_failed"))
    )
    for family in build_families(Observation([], inputs=[failed])):
        for labels, _ in family.samples:
            assert not any("Kafka error" in value for value in labels), family.spec.name


def test_per_connector_answers_with_error_lists_parse_like_stats_entries() -> None:
    full = parse_input("fraud-detection", connector_stats(fixture("input_connector_stats")))
    in_stats = parse_stats("fraud-detection", answer(fixture("pipeline_stats"))).inputs[0]
    assert full == in_stats
    out = parse_output("fraud-detection", connector_stats(fixture("output_connector_stats")))
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
    stats = parse_stats("p", answer(payload))
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
        parse_stats("p", answer(payload))


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda p: p["inputs"][0]["metrics"].update(processing_latency_p99_micros="soon"),
            f"{STATS}: inputs[0].metrics.processing_latency_p99_micros: "
            "expected int | null, got str",
        ),
        (
            lambda p: p["inputs"][0].update(paused="yes"),
            f"{STATS}: inputs[0].paused: expected bool, got str",
        ),
        (
            lambda p: p["inputs"][0].update(completed_frontier=[]),
            f"{STATS}: inputs[0].completed_frontier: expected object | null, got array",
        ),
        (
            lambda p: p["outputs"][0]["metrics"].update(queued_records=None),
            f"{STATS}: outputs[0].metrics.queued_records: expected int, got null",
        ),
        (
            lambda p: p["global_metrics"].update(uptime_msecs=[]),
            f"{STATS}: global_metrics.uptime_msecs: expected int, got array",
        ),
    ],
)
def test_a_field_of_the_wrong_type_is_a_schema_error_naming_its_path(
    mutate: Any, message: str
) -> None:
    payload = fixture("pipeline_stats")
    mutate(payload)
    with pytest.raises(SchemaError) as caught:
        parse_stats("p", answer(payload))
    assert str(caught.value) == message


def test_error_code_is_read_from_feldera_error_bodies_only() -> None:
    body = fixture("error_not_deployed_503")
    err = UpstreamError(Reason.HTTP_5XX, "x", status=503, payload=body)
    assert error_code(err) == "PipelineInteractionNotDeployed"
    assert error_code(UpstreamError(Reason.HTTP_5XX, "x", status=503, payload=None)) is None


def test_entities_count_pipelines_by_status_and_connectors_by_health() -> None:
    pipelines = parse_pipeline_list(pipeline_list(fixture("pipelines_list_selector_status")))
    stats = parse_stats("fraud-detection", answer(fixture("pipeline_stats")))
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


@pytest.mark.parametrize(
    ("start_time", "why"),
    [
        (10**18, "time out of range: 1e+18 s"),
        (10**20, "expected int <= 9223372036854775807"),
        (-1, "time out of range: -1.0 s"),
        (1e300, "expected int, got float"),  # Unix seconds are an integer (u64)
    ],
)
def test_an_absurd_process_start_time_fails_the_stats_naming_the_field(
    start_time: float, why: str
) -> None:
    payload = fixture("pipeline_stats")
    payload["global_metrics"]["start_time"] = start_time
    with pytest.raises(SchemaError) as caught:
        parse_stats("p", answer(payload))
    assert str(caught.value).startswith(f"{STATS}: global_metrics.start_time: {why}")


@pytest.mark.parametrize("since", ["0001-01-01T00:00:00Z", "1969-12-31T23:59:59Z"])
def test_a_status_time_before_1970_is_that_pipelines_error_not_the_lists(since: str) -> None:
    running, stopped = fixture("pipelines_list_selector_status")
    running["deployment_status_since"] = since
    broken, fine = parse_pipeline_list(pipeline_list([running, stopped]))
    assert broken.status_since is None
    assert broken.time_error.startswith(f"{LIST}: [0].deployment_status_since: time out of range")
    assert (broken.name, broken.status) == (running["name"], running["deployment_status"])
    assert (fine.time_error, fine.status_since is not None) == ("", True)


# -- the typed shapes: what every release sends, what older ones lack, how lax the reading is --


@pytest.mark.parametrize(
    ("entity", "key", "metric"),
    [
        ("global_metrics", "output_stall_msecs", "feldera_pipeline_output_stall_seconds"),
        ("input", "buffered_bytes", "feldera_input_connector_buffered_bytes"),
        (
            "input",
            "processing_latency_p99_micros",
            "feldera_input_connector_processing_latency_p99_seconds",
        ),
    ],
)
def test_a_field_an_older_release_lacks_gives_no_series(entity: str, key: str, metric: str) -> None:
    payload = fixture("pipeline_stats")
    if entity == "global_metrics":
        payload["global_metrics"].pop(key)
    else:
        payload["inputs"][0]["metrics"].pop(key)
    stats = parse_stats("p", answer(payload))
    values = stats.global_metrics.values if entity == "global_metrics" else stats.inputs[0].values
    assert values[metric] is None


@pytest.mark.parametrize(
    ("key", "reported"),
    [
        ("completed_frontier", "feldera_input_connector_completed_timestamp_seconds"),
        ("health", "feldera_input_connector_health"),
    ],
)
def test_an_input_connector_without_a_later_releases_object_keeps_its_other_series(
    key: str, reported: str
) -> None:
    payload = fixture("pipeline_stats")
    payload["inputs"][0].pop(key)
    stats = parse_stats("p", answer(payload))
    fams = families_for(Observation([], inputs=list(stats.inputs)))
    labels = ("p", "transactions", "kafka_in")
    assert not [ls for ls, _ in fams[reported].samples if ls[:3] == labels]
    assert sample(fams["feldera_input_connector_records_total"], *labels) == 1048576


def test_memory_pressure_an_older_release_lacks_is_absent_not_an_unknown_state() -> None:
    payload = fixture("pipeline_stats")
    payload["global_metrics"].pop("memory_pressure")
    stats = parse_stats("p", answer(payload))
    seen = Observation([], global_metrics=[stats.global_metrics])
    assert families_for(seen)["feldera_pipeline_memory_pressure"].samples == []
    assert summarise(seen).unknown_values == []


@pytest.mark.parametrize(
    ("parent", "key"),
    [
        ("global_metrics", "rss_bytes"),
        ("global_metrics", "uptime_msecs"),
        ("global_metrics", "start_time"),
        ("global_metrics", "total_processed_records"),
        ("global_metrics", "storage_bytes"),
        ("inputs[0]", "endpoint_name"),
        ("inputs[0]", "paused"),
        ("inputs[0]", "barrier"),
        ("inputs[0].metrics", "end_of_input"),
        ("inputs[0].metrics", "total_records"),
        ("inputs[0].metrics", "total_bytes"),
        ("inputs[0].metrics", "num_parse_errors"),
        ("inputs[0].metrics", "num_transport_errors"),
        ("inputs[0].metrics", "buffered_records"),
        ("inputs[0].config", "stream"),
        ("outputs[0]", "metrics"),
        ("outputs[0].metrics", "transmitted_records"),
        ("outputs[0].metrics", "transmitted_bytes"),
        ("outputs[0].metrics", "num_encode_errors"),
        ("outputs[0].metrics", "num_transport_errors"),
        ("outputs[0].metrics", "total_processed_input_records"),
        ("outputs[0].metrics", "queued_records"),
        ("outputs[0].metrics", "queued_batches"),
        ("outputs[0].metrics", "buffered_records"),
        ("outputs[0].metrics", "buffered_batches"),
    ],
)
def test_a_field_every_release_sends_is_required_and_named_when_missing(
    parent: str, key: str
) -> None:
    payload = fixture("pipeline_stats")
    node: Any = payload
    for part in parent.replace("[0]", ".0").split("."):
        node = node[int(part)] if part.isdigit() else node[part]
    node.pop(key)
    with pytest.raises(SchemaError) as caught:
        parse_stats("p", answer(payload))
    assert str(caught.value) == f"{STATS}: {parent}: object missing required field {key}"


@pytest.mark.parametrize(("written", "read"), [("3", 3), (3.0, 3), ("1e3", 1000)])
def test_a_whole_count_written_as_text_or_a_float_reads_as_the_integer(
    written: object, read: int
) -> None:
    payload = fixture("pipeline_stats")
    payload["inputs"][0]["metrics"]["total_records"] = written
    values = parse_stats("p", answer(payload)).inputs[0].values
    assert values["feldera_input_connector_records_total"] == read


@pytest.mark.parametrize("written", [b"1.5", b'"1.5"', b'"NaN"', b'"inf"', b"true"])
def test_a_count_that_is_no_integer_is_refused(written: bytes) -> None:
    payload = fixture("pipeline_stats")
    payload["inputs"][0]["metrics"]["total_records"] = "WRITTEN"
    body = msgspec.json.encode(payload).replace(b'"WRITTEN"', written)
    with pytest.raises(SchemaError, match=rf"^{STATS}: inputs\[0\]\.metrics\.total_records: "):
        parse_stats("p", Answer(body, STATS))


def test_a_number_beyond_a_double_is_no_json_the_exporter_reads() -> None:
    payload = fixture("pipeline_stats")
    payload["inputs"][0]["metrics"]["total_records"] = "WRITTEN"
    body = msgspec.json.encode(payload).replace(b'"WRITTEN"', b"1e400")
    with pytest.raises(UpstreamError) as caught:
        parse_stats("p", Answer(body, STATS))
    assert caught.value.reason is Reason.DECODE
    assert str(caught.value).startswith(f"{STATS}: invalid JSON")


@pytest.mark.parametrize(("written", "read"), [("true", 1), ("false", 0), (1, 1), (0, 0)])
def test_a_flag_written_as_text_or_as_0_or_1_reads_as_the_flag(written: object, read: int) -> None:
    payload = fixture("pipeline_stats")
    payload["inputs"][0]["paused"] = written
    values = parse_stats("p", answer(payload)).inputs[0].values
    assert values["feldera_input_connector_paused"] == read


@pytest.mark.parametrize("status", [7, None, ["Running"]])
def test_a_deployment_status_that_is_no_string_is_an_unknown_state_not_a_broken_list(
    status: object,
) -> None:
    item = copy.deepcopy(fixture("pipelines_list_selector_status")[0])
    item["deployment_status"] = status
    (pipeline,) = parse_pipeline_list(pipeline_list([item]))
    assert isinstance(pipeline.status, Unknown)
    assert summarise(Observation([pipeline])).unknown_values == [
        ("deployment_status", str(pipeline.status))
    ]


def test_a_pipeline_list_entry_without_a_name_fails_the_list_naming_the_entry() -> None:
    running, stopped = fixture("pipelines_list_selector_status")
    stopped.pop("name")
    with pytest.raises(SchemaError) as caught:
        parse_pipeline_list(pipeline_list([running, stopped]))
    assert str(caught.value) == f"{LIST}: [1]: object missing required field name"


# Family order is what a target's series cap drops from the end of: the specs the builders fill
# sit between the plain fields as they always have (a state before the counters it explains).
@pytest.mark.parametrize(
    ("table", "order"),
    [
        (
            PIPELINE_METRICS,
            [
                "feldera_pipeline_status",
                "feldera_pipeline_desired_status",
                "feldera_pipeline_status_change_timestamp_seconds",
                "feldera_pipeline_deployment_error",
                "feldera_pipeline_program_status",
                "feldera_pipeline_stats_available",
            ],
        ),
        (
            GLOBAL_METRICS,
            [
                "feldera_pipeline_state",
                "feldera_pipeline_rss_bytes",
                "feldera_pipeline_memory_pressure",
                "feldera_pipeline_uptime_seconds",
                "feldera_pipeline_start_timestamp_seconds",
                "feldera_pipeline_processed_records_total",
                "feldera_pipeline_storage_bytes",
                "feldera_pipeline_checkpoint_activity",
                "feldera_pipeline_checkpoint_delayed_since_timestamp_seconds",
                "feldera_pipeline_checkpoint_started_timestamp_seconds",
                "feldera_pipeline_checkpoint_permanent_errors",
                "feldera_pipeline_output_stall_seconds",
            ],
        ),
        (
            INPUT_METRICS,
            [
                "feldera_input_connector_paused",
                "feldera_input_connector_barrier",
                "feldera_input_connector_end_of_input",
                "feldera_input_connector_fatal_error",
                "feldera_input_connector_health",
                "feldera_input_connector_records_total",
                "feldera_input_connector_bytes_total",
                "feldera_input_connector_parse_errors_total",
                "feldera_input_connector_transport_errors_total",
                "feldera_input_connector_buffered_records",
                "feldera_input_connector_buffered_bytes",
                "feldera_input_connector_processing_latency_p99_seconds",
                "feldera_input_connector_completed_timestamp_seconds",
            ],
        ),
        (
            OUTPUT_METRICS,
            [
                "feldera_output_connector_fatal_error",
                "feldera_output_connector_health",
                "feldera_output_connector_transmitted_records_total",
                "feldera_output_connector_transmitted_bytes_total",
                "feldera_output_connector_encode_errors_total",
                "feldera_output_connector_transport_errors_total",
                "feldera_output_connector_processed_input_records_total",
                "feldera_output_connector_queued_records",
                "feldera_output_connector_queued_batches",
                "feldera_output_connector_buffered_records",
                "feldera_output_connector_buffered_batches",
            ],
        ),
    ],
)
def test_each_tables_families_keep_their_order(table: Metrics, order: list[str]) -> None:
    assert [spec.name for spec in table.specs] == order


def test_a_spec_placed_before_a_field_the_shape_lacks_is_refused() -> None:
    with pytest.raises(
        ValueError, match=r"^OutputEndpointStatus has no plain field at metrics\.no_such_field$"
    ):
        entity_metrics(OutputEndpointStatus, {"metrics.no_such_field": (OUT_HEALTH,)})


def test_a_count_beyond_int64_is_the_fields_schema_error_not_an_overflow() -> None:
    payload = fixture("pipeline_stats")
    payload["global_metrics"]["rss_bytes"] = "1" + "0" * 400
    with pytest.raises(
        SchemaError, match=rf"^{STATS}: global_metrics\.rss_bytes: expected int <= "
    ):
        parse_stats("p", answer(payload))
