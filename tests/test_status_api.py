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
from dataflow_exporter.exposition_cache import ExpositionCache
from dataflow_exporter.records import BrokenEntity
from dataflow_exporter.server import make_app
from dataflow_exporter.simulator import Simulation
from dataflow_exporter.snapshot import build_snapshot
from dataflow_exporter.status import API_VERSION
from dataflow_exporter.status_api import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    Query,
    schema_text,
    status_json,
)
from dataflow_exporter.status_page import render_status_page
from dataflow_exporter.store import Store, TargetState
from tests.support.loopback import serving

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


def _many_broken(counts: dict[str, int]) -> Store:
    store = Store()
    for name, count in counts.items():
        store.add(TargetState(name, "peerdb", 30, 300))
        snapshot = build_snapshot([], (("target", name),), 10, {}, 1.0)
        mirrors = tuple(
            BrokenEntity("mirror", (("mirror", f"{name}-{i}"),), "STATUS_FAILED")
            for i in range(count)
        )
        store.record_success(name, snapshot, [], 0.1, (), {}, mirrors)
    return store


@pytest.fixture
async def paged_url() -> AsyncIterator[str]:
    store = _many_broken({"a": 5, "b": 3})
    async with serving(make_app(store, ExpositionCache(store), _no_reload)) as url:
        yield url


async def _no_reload() -> list[str]:
    return []


def _mirrors(document: dict[str, Any]) -> list[str]:
    return [b["names"]["mirror"] for b in document["broken"]]


async def test_a_page_of_broken_entities_names_the_next_one(paged_url: str) -> None:
    _, _, first = await _get(paged_url + "/api/v1/status?limit=3")
    assert _mirrors(first) == ["a-0", "a-1", "a-2"]
    assert (first["broken_total"], first["offset"], first["limit"]) == (8, 0, 3)
    assert first["next"] == "/api/v1/status?offset=3&limit=3"
    _, _, second = await _get(paged_url + first["next"])
    assert _mirrors(second) == ["a-3", "a-4", "b-0"]
    _, _, last = await _get(paged_url + second["next"])
    assert (_mirrors(last), last["next"]) == (["b-1", "b-2"], None)
    assert len(last["targets"]) == 2
    schema = json.loads(schema_text())
    for document in (first, second, last):
        jsonschema.Draft202012Validator(schema).validate(document)


async def test_one_targets_broken_entities_are_paged_on_their_own(paged_url: str) -> None:
    _, _, document = await _get(paged_url + "/api/v1/status?target=b&offset=1&limit=1")
    assert _mirrors(document) == ["b-1"]
    assert [t["name"] for t in document["targets"]] == ["b"]
    assert (document["broken_total"], document["offset"]) == (3, 1)
    assert document["next"] == "/api/v1/status?offset=2&limit=1&target=b"


def test_one_targets_entities_are_its_own_when_severity_interleaves_the_targets() -> None:
    # Sorted by severity across targets: a's failed, b's failed, then a's paused mirror.
    store = Store()
    for name, states in (("a", ("STATUS_FAILED", "STATUS_PAUSED")), ("b", ("STATUS_FAILED",))):
        store.add(TargetState(name, "peerdb", 30, 300))
        mirrors = tuple(
            BrokenEntity("mirror", (("mirror", f"{name}-{state}"),), state) for state in states
        )
        snapshot = build_snapshot([], (("target", name),), 10, {}, 1.0)
        store.record_success(name, snapshot, [], 0.1, (), {}, mirrors)
    whole = json.loads(status_json(store, 2.0))
    assert _mirrors(whole) == ["a-STATUS_FAILED", "b-STATUS_FAILED", "a-STATUS_PAUSED"]
    only_a = json.loads(status_json(store, 2.0, Query("a")))
    assert _mirrors(only_a) == ["a-STATUS_FAILED", "a-STATUS_PAUSED"]
    assert only_a["broken_total"] == 2
    second_of_a = json.loads(status_json(store, 2.0, Query("a", offset=1, limit=1)))
    assert (_mirrors(second_of_a), second_of_a["next"]) == (["a-STATUS_PAUSED"], None)


async def test_the_whole_list_is_one_answer_up_to_the_default_limit(paged_url: str) -> None:
    _, _, document = await _get(paged_url + "/api/v1/status")
    assert len(document["broken"]) == 8
    assert (document["limit"], document["next"]) == (DEFAULT_LIMIT, None)


@pytest.mark.parametrize(
    ("query", "status", "says"),
    [
        ("limit=-1", 400, "?limit= must be a whole number from 1 to 5000"),
        ("limit=0", 400, "?limit= must be a whole number from 1 to 5000"),
        ("limit=%C2%B2", 400, "?limit= must be a whole number"),
        ("offset=" + "9" * 5000, 400, "?offset= must be a whole number from 0 to 1000000000"),
        ("offset=1000000001", 400, "?offset= must be a whole number"),
        (f"limit={MAX_LIMIT + 1}", 400, "?limit= must be a whole number"),
        ("offset=x", 400, "?offset= must be a whole number"),
        ("target=nope", 404, "No target of that name."),
    ],
)
async def test_a_bad_query_is_answered_with_what_is_wrong(
    paged_url: str, query: str, status: int, says: str
) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{paged_url}/api/v1/status?{query}") as resp,
    ):
        assert resp.status == status
        assert says in await resp.text()


@pytest.mark.parametrize(("limit", "listed"), [(1, 1), (MAX_LIMIT, 8)])
async def test_the_smallest_and_largest_limits_are_accepted(
    paged_url: str, limit: int, listed: int
) -> None:
    status, _, document = await _get(f"{paged_url}/api/v1/status?limit={limit}&offset=0")
    assert (status, len(document["broken"])) == (200, listed)


async def test_the_answer_is_never_cached_nor_sniffed(paged_url: str) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.get(paged_url + "/api/v1/status") as resp,
    ):
        assert resp.headers["Cache-Control"] == "no-store"
        assert resp.headers["X-Content-Type-Options"] == "nosniff"


def test_invisible_characters_are_escaped_in_the_document() -> None:
    store = _many_broken({"a": 0})
    snapshot = build_snapshot([], (("target", "a"),), 10, {}, 1.0)
    mirror = BrokenEntity("mirror", (("mirror", "x\u202ey"),), "STATUS_FAILED", "\u2066e")
    store.record_success("a", snapshot, [], 0.1, (), {}, (mirror,))
    raw = status_json(store, 2.0)
    assert "\u202e".encode() not in raw and "\u2066".encode() not in raw
    (entry,) = json.loads(raw)["broken"]
    assert (entry["names"]["mirror"], entry["error"]) == ("x<U+202E>y", "<U+2066>e")


async def test_link_tasks_and_checkpoints_are_broken_in_the_upstreams_words(
    exporter_url: str,
) -> None:
    _, _, document = await _get(exporter_url + "/api/v1/status")
    broken = {(b["kind"], tuple(b["names"].values())): b for b in document["broken"]}
    task = broken[("link task", ("dr-link", "ConsumerOffsetSync"))]
    assert (task["state"], task["error"]) == (
        "IN_ERROR",
        "AUTHORIZATION_ERROR: Not authorized to describe consumer group 'billing'",
    )
    delayed = broken[("pipeline checkpoint", ("market-data",))]
    assert (delayed["state"], delayed["error"]) == (
        "checkpoint delayed",
        "InputEndpointBarrier: Trades.kafka_in",
    )
    assert delayed["since_source"] == "upstream"
    impossible = broken[("pipeline checkpoint", ("ledger-audit",))]
    assert (impossible["state"], impossible["error"]) == ("cannot checkpoint", "StorageRequired")
