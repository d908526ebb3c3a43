"""The fake Feldera answers as the real one does: checked against Feldera's own OpenAPI spec (the
subset in spec/) and against the quirks the contract documents."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from jsonschema import Draft202012Validator

from dataflow_exporter import config as config_mod
from dataflow_exporter.simulator import Simulation
from dataflow_exporter.simulator.feldera import FelderaSimulator

SPEC = Path(__file__).parent / "spec" / "openapi.subset.json"
FIXTURES = Path(__file__).parent / "fixtures"
START = 1_800_000_000.0

Validate = Callable[[Any, str], None]


def _nullable(node: Any) -> Any:
    """OpenAPI 3.0 `nullable: true` as JSON Schema: also accept null."""
    if isinstance(node, list):
        return [_nullable(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _nullable(v) for k, v in node.items()}
    if out.pop("nullable", False):
        return {"anyOf": [out, {"type": "null"}]}
    return out


def _closed(node: Any, member: bool = False) -> Any:
    """Reject keys the spec does not declare (unevaluatedProperties sees through allOf and $ref),
    except inside a multi-part allOf, whose parts each declare only some of the keys."""
    if isinstance(node, list):
        return [_closed(n) for n in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, sub in node.items():
        if key == "allOf" and isinstance(sub, list) and len(sub) > 1:
            out[key] = [_closed(n, member=True) for n in sub]
        elif key == "properties" and isinstance(sub, dict):
            out[key] = {name: _closed(s) for name, s in sub.items()}
        else:
            out[key] = _closed(sub)
    declares = "properties" in node or "allOf" in node
    if declares and not member and "additionalProperties" not in node:
        out["unevaluatedProperties"] = False
    return out


@pytest.fixture(scope="module")
def validate() -> Validate:
    """Validate a payload against a component schema of Feldera's openapi.json."""
    schemas = json.loads(SPEC.read_text())["components"]["schemas"]
    parts = {
        sub["$ref"].rsplit("/", 1)[1]
        for schema in schemas.values()
        if len(schema.get("allOf", [])) > 1
        for sub in schema["allOf"]
        if "$ref" in sub
    }
    converted = {name: _nullable(_closed(s, member=name in parts)) for name, s in schemas.items()}
    root = {"components": {"schemas": converted}}

    def check(payload: Any, schema: str) -> None:
        if schema.endswith("[]"):
            wanted: dict[str, Any] = {
                "type": "array",
                "items": {"$ref": f"#/components/schemas/{schema[:-2]}"},
            }
        else:
            wanted = {"$ref": f"#/components/schemas/{schema}"}
        errors = list(Draft202012Validator({**root, **wanted}).iter_errors(payload))
        assert not errors, [f"{list(e.absolute_path)}: {e.message[:200]}" for e in errors[:5]]

    return check


@pytest.fixture
async def sim() -> AsyncIterator[Simulation]:
    async with Simulation({"feldera": {}}) as simulation:
        yield simulation


async def get(sim: Simulation, path: str, **headers: str) -> tuple[int, Any, str]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(sim.url + path, headers=headers) as r,
    ):
        body = await r.read()
        return r.status, json.loads(body), r.content_type


@pytest.mark.parametrize(
    ("fixture", "schema"),
    [
        ("pipelines_list_selector_status", "PipelineSelectedInfo[]"),
        ("pipeline_stats", "ControllerStatus"),
        ("input_connector_stats", "InputEndpointStatus"),
        ("input_connector_stats_failed", "InputEndpointStatus"),
        ("output_connector_stats", "OutputEndpointStatus"),
        ("error_not_deployed_503", "ErrorResponse"),
        ("error_unknown_pipeline_404", "ErrorResponse"),
        ("error_unknown_input_endpoint_404", "ErrorResponse"),
    ],
)
def test_fixtures_match_the_feldera_spec(validate: Validate, fixture: str, schema: str) -> None:
    validate(json.loads((FIXTURES / f"{fixture}.json").read_text()), schema)


def test_the_spec_check_rejects_undeclared_keys(validate: Validate) -> None:
    payload = json.loads((FIXTURES / "pipeline_stats.json").read_text())
    payload["inputs"][0]["health_status"] = "Healthy"
    with pytest.raises(AssertionError, match="health_status"):
        validate(payload, "ControllerStatus")


async def test_simulated_pipeline_list_matches_the_spec(
    sim: Simulation, validate: Validate
) -> None:
    status, body, _ = await get(sim, "/v0/pipelines?selector=status")
    assert status == 200
    validate(body, "PipelineSelectedInfo[]")
    assert {p["deployment_status"] for p in body} == {"Running", "Paused", "Stopped"}


async def test_simulated_stats_match_the_spec_for_every_running_or_paused_pipeline(
    sim: Simulation, validate: Validate
) -> None:
    _, pipelines, _ = await get(sim, "/v0/pipelines?selector=status")
    live = [p["name"] for p in pipelines if p["deployment_status"] in ("Running", "Paused")]
    assert len(live) == 5
    for name in live:
        status, body, _ = await get(sim, f"/v0/pipelines/{name}/stats")
        assert status == 200
        validate(body, "ControllerStatus")


async def test_per_connector_stats_match_the_spec_and_carry_error_lists(
    sim: Simulation, validate: Validate
) -> None:
    status, body, _ = await get(
        sim, "/v0/pipelines/fraud-detection/tables/transactions/connectors/kafka_in/stats"
    )
    assert status == 200
    validate(body, "InputEndpointStatus")
    assert body["parse_errors"] and "transport_errors" in body
    status, body, _ = await get(
        sim, "/v0/pipelines/fraud-detection/views/fraud_alerts/connectors/kafka_out/stats"
    )
    assert status == 200
    validate(body, "OutputEndpointStatus")
    assert body["encode_errors"] == []


async def test_stats_leave_the_error_lists_out(sim: Simulation) -> None:
    _, body, _ = await get(sim, "/v0/pipelines/fraud-detection/stats")
    for entry in body["inputs"]:
        assert "parse_errors" not in entry and "transport_errors" not in entry
    for entry in body["outputs"]:
        assert "encode_errors" not in entry and "transport_errors" not in entry


async def test_a_stopped_pipeline_answers_503_not_deployed(
    sim: Simulation, validate: Validate
) -> None:
    status, body, _ = await get(sim, "/v0/pipelines/inventory-rollup/stats")
    assert status == 503
    validate(body, "ErrorResponse")
    assert body["error_code"] == "PipelineInteractionNotDeployed"
    assert body["details"]["status"] == "Stopped"


async def test_an_unknown_pipeline_answers_404(sim: Simulation, validate: Validate) -> None:
    status, body, _ = await get(sim, "/v0/pipelines/nope/stats")
    assert status == 404
    validate(body, "ErrorResponse")
    assert body["error_code"] == "UnknownPipelineName"


async def test_an_unquoted_upper_case_table_is_lower_cased_and_not_found(sim: Simulation) -> None:
    status, body, _ = await get(
        sim, "/v0/pipelines/market-data/tables/Trades/connectors/kafka_in/stats"
    )
    assert (status, body["error_code"]) == (404, "UnknownInputEndpoint")
    assert body["details"] == {"endpoint_name": "trades.kafka_in"}
    status, body, _ = await get(
        sim, "/v0/pipelines/market-data/tables/%22Trades%22/connectors/kafka_in/stats"
    )
    assert status == 200
    assert body["endpoint_name"] == "Trades.kafka_in"


async def test_a_wrong_api_key_gets_401_without_details() -> None:
    key = "apikey:" + "ab" * 64
    async with Simulation({"feldera": {"api_key": key}}) as simulation:
        status, body, content_type = await get(
            simulation, "/v0/pipelines", Authorization="Bearer apikey:wrong"
        )
        good, _, _ = await get(simulation, "/v0/pipelines", Authorization=f"Bearer {key}")
    assert status == 401
    assert body == json.loads((FIXTURES / "error_auth_401.json").read_text())
    assert content_type != "application/json"
    assert good == 200


async def test_latency_is_omitted_until_the_first_sample_after_a_restart() -> None:
    t = [START]
    async with Simulation({"feldera": {"restart_period": 100}}, clock=lambda: t[0]) as simulation:
        t[0] += 100  # the restart instant: nothing ingested yet
        _, fresh, _ = await get(simulation, "/v0/pipelines/clickstream/stats")
        t[0] += 5
        _, later, _ = await get(simulation, "/v0/pipelines/clickstream/stats")
    assert fresh["inputs"][0]["metrics"]["total_records"] == 0
    assert "processing_latency_p99_micros" not in fresh["inputs"][0]["metrics"]
    assert fresh["inputs"][0]["completed_frontier"] is None
    assert "processing_latency_p99_micros" in later["inputs"][0]["metrics"]


async def test_counters_never_go_down_between_restarts() -> None:
    t = [START]
    async with Simulation({"feldera": {"restart_period": 0}}, clock=lambda: t[0]) as simulation:
        previous: dict[str, int] = {}
        for _ in range(5):
            t[0] += 7.3
            _, body, _ = await get(simulation, "/v0/pipelines/fraud-detection/stats")
            for entry in body["inputs"]:
                records = entry["metrics"]["total_records"]
                assert records >= previous.get(entry["endpoint_name"], 0)
                previous[entry["endpoint_name"]] = records


async def test_connector_overrides_merge_into_the_status(sim: Simulation) -> None:
    async with aiohttp.ClientSession() as session:
        resp = await session.post(
            f"{sim.url}/_sim/feldera/overrides/clickstream:page_views.kafka_in",
            json={"metrics": {"num_parse_errors": 42}, "barrier": True},
        )
        assert resp.status == 200
    _, body, _ = await get(sim, "/v0/pipelines/clickstream/stats")
    entry = next(e for e in body["inputs"] if e["endpoint_name"] == "page_views.kafka_in")
    assert entry["metrics"]["num_parse_errors"] == 42
    assert entry["barrier"] is True
    assert entry["metrics"]["total_records"] > 0


def test_demo_target_is_a_valid_config_target() -> None:
    simulator = FelderaSimulator(lambda: START, api_key="apikey:demo")
    target = simulator.demo_target("http://127.0.0.1:9899")
    cfg = config_mod.parse({"targets": [target]}, env={})
    assert cfg.targets[0].system == "feldera"
