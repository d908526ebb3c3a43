"""Etlworks payloads -> records -> families, what a source remembers across polls, and config."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import pytest

from dataflow_exporter import config as config_mod
from dataflow_exporter.errors import ConfigError, SchemaError
from dataflow_exporter.exposition import join_exposition
from dataflow_exporter.families import Unknown, families_by_name
from dataflow_exporter.snapshot import Snapshot, build_snapshot
from dataflow_exporter.sources.etlworks import (
    FINISHED,
    LAST_END,
    LAST_RETRIES,
    LAST_START,
    STATUSES,
    EtlworksTarget,
    Execution,
    FlowMemory,
    FlowReading,
    FlowRef,
    broken_entities,
    build_families,
    epoch_seconds,
    execution_duration,
    execution_status,
    fold_execution,
    parse_duration_text,
    parse_execution,
    parse_flows,
    parse_token,
    record_counts,
    remember,
)
from dataflow_exporter.upstream import Answer
from tests.sources.etlworks.upstream_enums import EXECUTION_STATUS
from tests.support.helpers import promtool_check_metrics

FIXTURES = Path(__file__).parent / "fixtures"
GOLDEN = Path(__file__).resolve().parents[2] / "golden" / "etlworks.prom"
# A fixed "now" for the fixtures: an hour after the running example started.
NOW = 1742403600.12


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def parse(payload: Any, what: str = "x") -> Execution | None:
    """`payload` as the body of an executions answer named `what`."""
    return parse_execution(msgspec.json.encode(payload), what)


def execution(name: str) -> Execution:
    parsed = parse(fixture(name), name)
    assert parsed is not None
    return parsed


def answer(payload: Any, what: str) -> Answer:
    return Answer(msgspec.json.encode(payload), what)


def flows(payload: Any) -> list[FlowRef]:
    return parse_flows(answer(payload, "GET /rest/v1/flows"))


def token(payload: Any) -> str:
    return parse_token(answer(payload, "POST /rest/v1/token-auth/issue"))


def finished(audit: int | None, status: str = "success", ended: float = 2000.0) -> Execution:
    return Execution(audit, "f", status, ended - 10, ended, None)


def kind(state: object) -> tuple[type, object]:
    """A state with its type: `str` for a known state, `Unknown` for any other."""
    return (type(state), state)


# -- executions ---------------------------------------------------------------------------------


def test_a_successful_execution_reads_times_duration_and_record_fields() -> None:
    e = execution("execution_success")
    assert (e.audit_id, e.flow_name, kind(e.status)) == (
        1843211,
        "Load orders to Snowflake",
        (str, "success"),
    )
    assert e.started == pytest.approx(1742471700.012)
    assert e.ended == pytest.approx(1742471763.544)
    assert execution_duration(e, NOW) == pytest.approx(63.532)
    assert e.values[LAST_START.name] == e.started
    assert e.values[LAST_END.name] == e.ended
    assert e.values[LAST_RETRIES.name] == 0  # the fixture's `"retries": null`
    assert dict(e.records) == {
        "recordsAdded": 15230,
        "recordsDeleted": 0,
        "recordsProcessed": 15230,
        "recordsUpdated": 0,
        "recordsWithErrors": 0,
    }


def test_an_execution_that_failed_after_retries_reads_its_retries() -> None:
    e = execution("execution_error_after_retries")
    assert (e.status, e.values[LAST_RETRIES.name], e.records) == ("error", 2, ())
    assert execution_duration(e, NOW) == pytest.approx(31.867)


def test_a_running_execution_lasts_from_its_start_until_now() -> None:
    e = execution("execution_running")
    assert (e.status, e.ended, e.duration) == ("running", None, None)
    assert execution_duration(e, NOW) == pytest.approx(NOW - 1742400000.12)
    assert execution_duration(e, NOW + 60) == pytest.approx(NOW + 60 - 1742400000.12)


def test_the_duration_string_is_used_only_when_the_times_cannot_give_one() -> None:
    payload = fixture("execution_success") | {"ended": None, "duration": "2 min 3.5 sec"}
    assert execution_duration(parse(payload) or finished(1), NOW) == 123.5
    wrong_text = fixture("execution_success") | {"duration": "1 hour"}
    assert execution_duration(parse(wrong_text) or finished(1), NOW) == 63.532


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("63.532 sec", 63.532),
        ("1 min 3 sec", 63.0),
        ("1h 2m 3s", 3723.0),
        ("1h2m3s", 3723.0),
        ("250 ms", 0.25),
        ("2 hours, 5 minutes", 7500.0),
        ("01:02:03", 3723.0),
        ("00:00:31.867", 31.867),
        ("1 day 00:00:01", 86401.0),
        ("soon", None),
        ("12", None),
        ("3 sec and a bit", None),
        ("", None),
        (63.5, None),
    ],
)
def test_duration_strings_in_common_formats(text: object, seconds: float | None) -> None:
    assert parse_duration_text(text) == seconds


def test_the_status_series_are_the_documented_statuses_in_order() -> None:
    assert STATUSES.values == EXECUTION_STATUS


@pytest.mark.parametrize("status", EXECUTION_STATUS)
def test_every_documented_status_is_known(status: str) -> None:
    assert kind(execution_status(status)) == (str, status)
    assert kind(execution_status(f" {status.upper()} ")) == (str, status)


@pytest.mark.parametrize(
    ("raw", "label"), [("paused", "paused"), ("on hold!", "on_hold_"), (4, "4"), (None, "null")]
)
def test_an_unknown_status_keeps_a_sanitised_value_and_is_flagged(raw: object, label: str) -> None:
    assert kind(execution_status(raw)) == (Unknown, label)


@pytest.mark.parametrize(
    "metrics",
    [
        None,
        "n/a",
        42,
        [1, "x", None, []],
        [{"name": "a", "recordsProcessed": True}],
        [{"name": "a", "recordsProcessed": "NaN"}],
        [{"name": "a", "records": {"added": 3}}],
        {"weird": "shape"},
    ],
    ids=repr,
)
def test_metrics_of_unknown_shape_give_no_records_and_no_error(metrics: object) -> None:
    payload = fixture("execution_success") | {"metrics": metrics}
    e = parse(payload)
    assert e is not None
    assert e.records == ()


def test_records_are_summed_per_field_over_entries_of_any_usable_shape() -> None:
    metrics = [
        {"name": "a", "recordsProcessed": 10, "recordsAdded": "4", "rows": 99},
        {"name": "b", "recordsProcessed": 5.0, "recordsOdd-Key": 1},
        "ignored",
    ]
    assert record_counts(metrics) == (("recordsAdded", 4.0), ("recordsProcessed", 15.0))
    assert record_counts({"a": {"recordsProcessed": 2}, "b": {"recordsProcessed": 3}}) == (
        ("recordsProcessed", 5.0),
    )
    assert record_counts({"recordsProcessed": 7}) == (("recordsProcessed", 7.0),)


def test_a_reporting_api_execution_with_a_record_count_parses() -> None:
    raw = fixture("reporting_metrics_executions")[0]["executions"][0]
    e = parse(raw)
    assert e is not None
    assert (e.status, e.records) == ("success", (("records", 15230.0),))


@pytest.mark.parametrize(
    ("raw", "seconds"),
    [
        (1742471700012, 1742471700.012),
        ("1742471700012", 1742471700.012),
        (1742471700, 1742471700.0),
        ("2025-03-20T12:35:00.012Z", 1742474100.012),
        (None, None),
        ("", None),
    ],
)
def test_times_are_epoch_milliseconds_or_tolerated_alternatives(
    raw: object, seconds: float | None
) -> None:
    found = epoch_seconds(raw, "started")
    assert found == (None if seconds is None else pytest.approx(seconds))


def test_an_empty_answer_means_the_flow_has_not_run() -> None:
    assert parse(None) is None
    assert parse({"flowId": 1, "status": None, "auditId": None}) is None


def test_an_object_with_no_field_of_an_execution_is_a_schema_error() -> None:
    with pytest.raises(SchemaError, match=r"^x: no status, auditId or flowId$"):
        parse({})


_SUCCESS = fixture("execution_success")


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ([_SUCCESS], "x: expected object | null, got array"),
        (_SUCCESS | {"started": {"ms": 1}}, "x: started: expected float | str | null, got object"),
        (_SUCCESS | {"ended": True}, "x: ended: expected float | str | null, got bool"),
        (_SUCCESS | {"retries": "two"}, "x: retries: expected float | null, got str"),
        (_SUCCESS | {"retries": "NaN"}, "x: retries: expected a finite number, got nan"),
        (_SUCCESS | {"auditId": 7.5}, "x: auditId: expected int | null, got float"),
        (_SUCCESS | {"auditId": "7a"}, "x: auditId: expected int | null, got str"),
    ],
    ids=[
        "execution list",
        "started object",
        "ended boolean",
        "retries text",
        "retries NaN text",
        "audit id fraction",
        "audit id text",
    ],
)
def test_execution_fields_of_the_wrong_shape_are_schema_errors_naming_them(
    payload: Any, message: str
) -> None:
    with pytest.raises(SchemaError) as caught:
        parse(payload)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"flows": []}, "expected array, got object"),
        ([{"id": "abc", "name": "x"}], "[0].id: expected int, got str"),
        ([{"id": 4921}, {"id": 1.5, "name": "x"}], "[1].id: expected int, got float"),
        ([{"id": -1}], "[0].id: expected int >= 0"),
        ([{"name": "x"}], "[0]: object missing required field id"),
        (["flow"], "[0]: expected object, got str"),
    ],
    ids=["flows object", "id text", "id fraction", "id negative", "id missing", "not object"],
)
def test_a_flow_list_of_the_wrong_shape_is_a_schema_error_naming_the_flow(
    payload: Any, message: str
) -> None:
    with pytest.raises(SchemaError) as caught:
        flows(payload)
    assert str(caught.value) == f"GET /rest/v1/flows: {message}"


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"access_token": "x"}, "object missing required field token"),
        ({"token": ""}, "token: empty"),
        ({"token": 42}, "token: expected str, got int"),
    ],
    ids=["token key", "token empty", "token number"],
)
def test_a_token_answer_of_the_wrong_shape_is_a_schema_error(payload: Any, message: str) -> None:
    with pytest.raises(SchemaError) as caught:
        token(payload)
    assert str(caught.value) == f"POST /rest/v1/token-auth/issue: {message}"


def test_numbers_in_strings_are_read_as_numbers() -> None:
    # Etlworks sends JSON numbers; a proxy or an older release quoting them loses nothing.
    e = parse(_SUCCESS | {"auditId": "1843211", "retries": "3", "started": "1742471700012"})
    assert e is not None
    assert (e.audit_id, e.values[LAST_RETRIES.name]) == (1843211, 3.0)
    assert e.started == pytest.approx(1742471700.012)


def test_retries_absent_or_null_are_none_and_exported_as_zero() -> None:
    without = {k: v for k, v in _SUCCESS.items() if k != "retries"}
    for payload in (without, _SUCCESS | {"retries": None}):
        e = parse(payload)
        assert e is not None
        assert e.values[LAST_RETRIES.name] == 0.0


def test_a_flow_name_or_exception_that_is_not_text_is_ignored() -> None:
    e = parse(_SUCCESS | {"flowName": 42, "exception": {"message": "boom"}})
    assert e is not None
    assert (e.flow_name, e.exception) == ("", "")


def test_the_flow_list_reads_ids_and_names() -> None:
    assert flows(fixture("flows_list")) == [
        FlowRef(4921, "Load orders to Snowflake"),
        FlowRef(5003, "CDC orders (MySQL -> S3)"),
    ]
    assert flows([{"id": "7"}, {"id": 8.0, "name": None}, {"id": 9, "name": 9}]) == [
        FlowRef(7, ""),
        FlowRef(8, ""),
        FlowRef(9, ""),
    ]


def test_the_token_issue_answer_gives_the_token() -> None:
    assert token(fixture("token_issue_response")).startswith("eyJhbGciOiJIUzUxMiJ9.")


# -- memory across polls ------------------------------------------------------------------------


def test_the_same_finished_execution_seen_twice_is_counted_once() -> None:
    memory = fold_execution(FlowMemory(), finished(7, "error"), since=0)
    memory = fold_execution(memory, finished(7, "error"), since=0)
    assert dict(zip(FINISHED, memory.totals, strict=True))["error"] == 1


def test_a_new_execution_is_counted_under_its_final_status() -> None:
    memory = fold_execution(None, finished(1, "success", ended=100), since=0)
    memory = fold_execution(memory, finished(2, "warning", ended=200), since=0)
    memory = fold_execution(memory, finished(3, "canceled", ended=300), since=0)
    assert memory.totals == (1, 1, 0, 1)


def test_an_execution_is_counted_when_it_finishes_not_while_it_runs() -> None:
    running = Execution(5, "f", "running", 100.0, None, None)
    memory = fold_execution(FlowMemory(), running, since=0)
    assert memory.totals == (0, 0, 0, 0)
    memory = fold_execution(memory, finished(5, "success"), since=0)
    assert memory.totals == (1, 0, 0, 0)


def test_an_execution_that_finished_before_the_exporter_started_is_the_baseline() -> None:
    before = fold_execution(None, finished(1, "error", ended=100.0), since=500.0)
    assert before.totals == (0, 0, 0, 0)
    assert fold_execution(before, finished(1, "error", ended=100.0), since=500.0).totals == (
        0,
        0,
        0,
        0,
    )
    after = fold_execution(None, finished(1, "error", ended=600.0), since=500.0)
    assert after.totals == (0, 0, 1, 0)


def test_an_execution_without_an_audit_id_is_told_apart_by_its_start() -> None:
    memory = fold_execution(FlowMemory(), finished(None, ended=100.0), since=0)
    memory = fold_execution(memory, finished(None, ended=100.0), since=0)
    memory = fold_execution(memory, finished(None, ended=200.0), since=0)
    assert memory.totals == (2, 0, 0, 0)


def test_the_last_success_survives_later_runs_that_did_not_succeed() -> None:
    memory = fold_execution(None, finished(1, "success", ended=100.0), since=0)
    memory = fold_execution(memory, finished(2, "error", ended=200.0), since=0)
    memory = fold_execution(memory, Execution(3, "f", "running", 300.0, None, None), 0)
    assert memory.last_success == 100.0


def test_a_flow_whose_newest_execution_has_an_unknown_status_is_broken() -> None:
    payload = fixture("execution_success") | {"status": "on hold"}
    latest = parse(payload)
    assert latest is not None
    (broken,) = broken_entities([FlowReading(FlowRef(4921), latest)], NOW)
    assert (broken.names[0], broken.state) == (("flow_id", "4921"), "on_hold")
    assert type(broken.state) is str


def test_flows_no_longer_selected_are_forgotten() -> None:
    old = {1: FlowMemory(last_success=5.0), 2: FlowMemory(last_success=6.0)}
    assert remember(old, [], since=0, selected={2}) == {2: FlowMemory(last_success=6.0)}


# -- families -----------------------------------------------------------------------------------


def _fixture_readings() -> list[FlowReading]:
    return [
        FlowReading(FlowRef(4921, "Load orders to Snowflake"), execution("execution_success")),
        FlowReading(FlowRef(5003), execution("execution_running")),
        FlowReading(FlowRef(5010), execution("execution_error_after_retries")),
        FlowReading(FlowRef(999), "not_found"),
    ]


def _fixture_snapshot() -> Snapshot:
    readings = _fixture_readings()
    memory = remember({}, readings, since=0, selected={4921, 5003, 5010, 999})
    families = build_families(readings, memory, NOW)
    return build_snapshot(families, (("target", "etl"),), 10_000, {}, 0.0)


def _fixture_exposition() -> str:
    snapshot = _fixture_snapshot()
    return b"".join(snapshot.blocks[name] for name in sorted(snapshot.blocks)).decode()


def test_every_status_is_emitted_one_hot_and_an_unknown_flow_only_as_not_found() -> None:
    readings = _fixture_readings()
    fams = families_by_name(build_families(readings, {}, NOW))
    status = fams["etlworks_flow_last_execution_status"].samples
    assert len(status) == 3 * len(EXECUTION_STATUS)
    assert [labels for labels, v in status if v == 1] == [
        ("4921", "Load orders to Snowflake", "success"),
        ("5003", "CDC orders (MySQL -> S3)", "running"),
        ("5010", "Load orders to Snowflake", "error"),
    ]
    assert fams["etlworks_flow_found"].samples[-1] == (("999",), 0.0)
    assert not fams["etlworks_flow_executions_total"].samples  # nothing remembered yet


def test_the_families_come_in_their_documented_order() -> None:
    # A series cap drops families from the end: the order is part of what is exported.
    families = build_families(_fixture_readings(), {}, NOW)
    assert [f.spec.name for f in families] == [
        "etlworks_flow_found",
        "etlworks_flow_last_execution_status",
        "etlworks_flow_last_execution_start_timestamp_seconds",
        "etlworks_flow_last_execution_end_timestamp_seconds",
        "etlworks_flow_last_execution_duration_seconds",
        "etlworks_flow_last_execution_retries",
        "etlworks_flow_last_execution_records",
        "etlworks_flow_last_success_timestamp_seconds",
        "etlworks_flow_executions_total",
    ]


def test_fixture_set_renders_the_golden_exposition() -> None:
    assert _fixture_exposition() == GOLDEN.read_text()


def test_the_fixture_exposition_with_its_headers_passes_promtool() -> None:
    snapshot = _fixture_snapshot()
    blocks = [(snapshot.specs[name], [snapshot.blocks[name]]) for name in sorted(snapshot.blocks)]
    promtool_check_metrics(join_exposition(blocks, openmetrics=False).decode())


# -- config -------------------------------------------------------------------------------------


def _target(**keys: Any) -> dict[str, Any]:
    return {"targets": [{"name": "etl", "system": "etlworks", "url": "https://e.example"} | keys]}


def test_a_url_given_with_the_rest_base_is_accepted() -> None:
    loaded = config_mod.parse(_target(url="https://e.example/rest/", api_key="k"), env={})
    assert loaded.targets[0].url == "https://e.example"


def test_explicit_flow_ids_are_deduplicated_and_may_be_strings() -> None:
    loaded = config_mod.parse(_target(api_key="k", flows=[4921, "5003", 4921]), env={})
    target = loaded.targets[0]
    assert isinstance(target, EtlworksTarget)
    assert target.flows == (4921, 5003)


@pytest.mark.parametrize(
    ("keys", "error"),
    [
        ({}, "Etlworks needs credentials"),
        ({"login": "u"}, "Etlworks needs credentials"),
        ({"password": "p"}, "Etlworks needs credentials"),
        ({"api_key": "k", "login": "u", "password": "p"}, "not both"),
        ({"api_key": "k", "api_key_file": __file__}, "either api_key or api_key_file"),
        ({"login": "u", "password": "p", "token_max_age": "10m"}, "must be at most 9m"),
        ({"api_key": "k", "flows": []}, "at least one flow id"),
        ({"api_key": "k", "flows": [-1]}, "flows[0]: must be at least 0"),
        ({"api_key": "k", "flows": {"include": ["("]}}, "invalid regular expression"),
        ({"api_key": "k", "flow": [1]}, "unknown key"),
    ],
)
def test_invalid_etlworks_targets_are_rejected(keys: dict[str, Any], error: str) -> None:
    with pytest.raises(ConfigError) as caught:
        config_mod.parse(_target(**keys), env={})
    assert any(error in e for e in caught.value.errors), caught.value.errors


@pytest.mark.parametrize("field", ["started", "ended"])
@pytest.mark.parametrize("raw", [1e300, -5000, "-5000", 1e13 * 1e3])
def test_an_absurd_execution_time_is_a_schema_error_naming_the_field(
    field: str, raw: object
) -> None:
    with pytest.raises(SchemaError, match=rf"^x: {field}: .*out of range"):
        parse({"auditId": 1, "status": "success", field: raw})
