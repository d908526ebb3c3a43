"""`GET /api/v1/status`: the status page's content as JSON, valid against the shipped schema."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import jsonschema
import pytest
import yaml

from dataflow_exporter.cli import demo_config
from dataflow_exporter.exporter import Exporter
from dataflow_exporter.simulator import Simulation
from dataflow_exporter.snapshot import build_snapshot
from dataflow_exporter.sources.base import BrokenEntity
from dataflow_exporter.status import API_VERSION
from dataflow_exporter.status_api import schema_text, status_json
from dataflow_exporter.status_page import render_status_page
from dataflow_exporter.store import Store, TargetState

PEERDB_SECRET = "pg-ui-Pa55-status-api-7f3a"


async def _until(condition: Any, what: str) -> None:
    for _ in range(600):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
async def exporter_url(tmp_path: Path) -> AsyncIterator[str]:
    """The demo, plus a target that has never succeeded (a wrong password)."""
    options: dict[str, dict[str, Any]] = {
        "peerdb": {"password": PEERDB_SECRET},
        "confluent": {},
        "feldera": {},
        "etlworks": {},
    }
    async with Simulation(options) as sim:
        config = demo_config(sim.url, sim.systems, "1s")
        wrong = sim.systems["peerdb"].demo_target(sim.url)
        config["targets"].append(wrong | {"name": "peerdb-wrong", "password": "not-it-1234"})
        path = tmp_path / "demo.yaml"
        path.write_text(yaml.safe_dump(config))
        exporter = Exporter(path, "127.0.0.1:0")
        await exporter.start()
        try:
            targets = exporter.store.targets
            await _until(lambda: all(t.polled for t in targets.values()), "every first poll")
            await _until(lambda: targets["peerdb-demo"].up, "PeerDB to be up")
            yield f"http://127.0.0.1:{exporter.port}"
        finally:
            await exporter.stop()


async def _get(url: str) -> tuple[int, str, Any]:
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        return resp.status, resp.content_type, await resp.json()


async def test_the_document_follows_the_shipped_schema(exporter_url: str) -> None:
    status, content_type, document = await _get(exporter_url + "/api/v1/status")
    assert (status, content_type) == (200, "application/json")
    schema = json.loads(schema_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema).validate(document)
    assert document["api_version"] == API_VERSION


async def test_it_names_broken_entities_and_the_target_that_never_answered(
    exporter_url: str,
) -> None:
    _, _, document = await _get(exporter_url + "/api/v1/status")
    targets = {t["name"]: t for t in document["targets"]}
    assert targets["peerdb-wrong"]["health"] == "down"
    assert targets["peerdb-wrong"]["data"] == "none"
    assert targets["peerdb-wrong"]["last_error"]["reason"] == "auth"
    assert targets["confluent-demo"]["health"] == "degraded"
    broken = {(b["target"], tuple(b["names"].values())): b for b in document["broken"]}
    topic = broken[("confluent-demo", ("dr-link", "audit-log"))]
    assert (topic["state"], topic["error"]) == ("FAILED", "SOURCE_TOPIC_MAY_BE_DELETED")
    assert topic["since_source"] == "upstream"
    mirror = broken[("peerdb-demo", ("users_mysql_to_ch",))]
    assert (mirror["state"], mirror["since_source"]) == ("STATUS_FAILED", "exporter")
    assert PEERDB_SECRET not in json.dumps(document)


def test_the_documented_example_follows_the_schema() -> None:
    doc = (Path(__file__).resolve().parents[1] / "docs" / "status-api.md").read_text()
    example = doc[doc.index("```json") + len("```json") : doc.rindex("```")]
    jsonschema.Draft202012Validator(json.loads(schema_text())).validate(json.loads(example))


def test_an_entity_name_with_a_lone_surrogate_still_gives_valid_json_and_html() -> None:
    store = Store()
    store.add(TargetState("t", "peerdb", 30, 300))
    snapshot = build_snapshot([], (("target", "t"),), 10, {"mirrors STATUS_FAILED": 1}, 1.0)
    mirror = BrokenEntity("mirror", (("mirror", "bad\ud800name"),), "STATUS_FAILED", "x\udfff")
    store.record_success("t", snapshot, [], 0.1, (), {}, (mirror,))
    document = json.loads(status_json(store, 2.0))
    assert document["broken"][0]["names"] == {"mirror": "bad?name"}
    assert document["broken"][0]["error"] == "x?"
    render_status_page(store, 2.0).encode("utf-8")
