"""Fixtures and simulator answers against Confluent's own OpenAPI spec (the subset in spec/).

The spec is OpenAPI 3.0: `nullable: true` is turned into a JSON Schema `null` type, and keys an
object schema does not declare are reported too, so the simulator cannot drift from the real API
by inventing fields.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from dataflow_exporter.simulator import Simulation

SPEC = Path(__file__).parent / "spec" / "kafka-rest-v3-ccloud-openapi.subset.yaml"
FIXTURES = Path(__file__).parent / "fixtures"
SPEC_URI = "urn:confluent-kafka-rest-v3"
CLUSTER = "lkc-sim001"
BASE = f"/kafka/v3/clusters/{CLUSTER}"


def _json_schema(node: Any) -> Any:
    """OpenAPI 3.0 schema -> JSON Schema: `nullable` becomes a `null` type."""
    if isinstance(node, list):
        return [_json_schema(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: _json_schema(v) for k, v in node.items() if k != "nullable"}
    if node.get("nullable") is True and "type" in out:
        out["type"] = [out["type"], "null"]
    return out


class Spec:
    """The spec's component schemas, with $ref resolution and an undeclared-key check."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = _json_schema(document)
        resource = Resource.from_contents(self.document, default_specification=DRAFT202012)
        self.registry: Registry[Any] = Registry().with_resource(SPEC_URI, resource)

    def _schema(self, name: str) -> dict[str, Any]:
        schema: dict[str, Any] = self.document["components"]["schemas"][name]
        return schema

    def _resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            schema = self._schema(schema["$ref"].rsplit("/", 1)[-1])
        return schema

    def _properties(self, schema: dict[str, Any]) -> dict[str, Any] | None:
        """Declared properties, merged over `allOf`; None when the schema is not an object's."""
        schema = self._resolve(schema)
        found: dict[str, Any] | None = (
            dict(schema["properties"]) if "properties" in schema else None
        )
        for part in schema.get("allOf", []):
            more = self._properties(part)
            if more is not None:
                found = {**(found or {}), **more}
        return found

    def undeclared(self, instance: Any, schema: dict[str, Any], where: str = "$") -> list[str]:
        """Paths of keys the schema does not declare."""
        schema = self._resolve(schema)
        if isinstance(instance, list) and "items" in schema:
            return [
                bad
                for i, item in enumerate(instance)
                for bad in self.undeclared(item, schema["items"], f"{where}[{i}]")
            ]
        props = self._properties(schema)
        if not isinstance(instance, dict) or props is None:
            return []
        out = []
        for key, item in instance.items():
            if key not in props:
                out.append(f"{where}.{key}")
            else:
                out.extend(self.undeclared(item, props[key], f"{where}.{key}"))
        return out

    def check(self, instance: Any, name: str) -> None:
        """Fail unless `instance` is a valid `name` with no undeclared keys."""
        validator = Draft202012Validator(
            {"$ref": f"{SPEC_URI}#/components/schemas/{name}"}, registry=self.registry
        )
        problems = [
            f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator.iter_errors(instance)
        ]
        assert problems == [], f"{name}: {problems[:5]}"
        assert self.undeclared(instance, self._schema(name)) == [], name


@pytest.fixture(scope="module")
def spec() -> Spec:
    return Spec(yaml.load(SPEC.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)))


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def fetch(http: aiohttp.ClientSession, url: str, **headers: str) -> tuple[int, Any]:
    async with http.get(url, headers=headers) as resp:
        return resp.status, await resp.json()


@pytest.mark.parametrize(
    ("fixture", "schema"),
    [
        ("links_list", "ListLinksResponseDataList"),
        ("link_mirrors_list", "ListMirrorTopicsResponseDataList"),
        ("mirror_describe_with_transition_errors", "ListMirrorTopicsResponseData"),
        ("error_401", "Error"),
        ("error_500", "Error"),
    ],
)
def test_fixtures_match_the_spec(spec: Spec, fixture: str, schema: str) -> None:
    spec.check(json.loads((FIXTURES / f"{fixture}.json").read_text()), schema)


def test_the_undeclared_key_check_catches_an_invented_field(spec: Spec) -> None:
    payload = json.loads((FIXTURES / "link_mirrors_list.json").read_text())
    payload["data"][0]["mirror_lags"][0]["lag_seconds"] = 3
    assert spec.undeclared(payload, spec._schema("ListMirrorTopicsResponseDataList")) == [
        "$.data[0].mirror_lags[0].lag_seconds"
    ]


async def test_simulator_lists_match_the_spec(spec: Spec, http: aiohttp.ClientSession) -> None:
    async with Simulation({"confluent": {"links": 3, "topics": 30}}) as sim:
        for path, schema in [
            (f"{BASE}/links", "ListLinksResponseDataList"),
            (f"{BASE}/links/-/mirrors", "ListMirrorTopicsResponseDataList"),
            (f"{BASE}/links/dr-link/mirrors", "ListMirrorTopicsResponseDataList"),
            (f"{BASE}/links/-/mirrors?mirror_status=PAUSED", "ListMirrorTopicsResponseDataList"),
        ]:
            status, payload = await fetch(http, sim.url + path)
            assert status == 200
            spec.check(payload, schema)


async def test_simulator_pages_match_the_spec(spec: Spec, http: aiohttp.ClientSession) -> None:
    async with Simulation({"confluent": {"topics": 12, "page_size": 5}}) as sim:
        status, first = await fetch(http, f"{sim.url}{BASE}/links/-/mirrors")
        _, second = await fetch(http, first["metadata"]["next"])
    assert status == 200
    assert first["metadata"]["next"].startswith(sim.url)
    spec.check(first, "ListMirrorTopicsResponseDataList")
    spec.check(second, "ListMirrorTopicsResponseDataList")


async def test_simulator_error_bodies_match_the_spec(
    spec: Spec, http: aiohttp.ClientSession
) -> None:
    async with Simulation({"confluent": {"api_key": "KEY", "api_secret": "SECRET"}}) as sim:
        denied = await fetch(http, f"{sim.url}{BASE}/links", Authorization="Basic d3Jvbmc6d3Jvbmc=")
        unknown = await fetch(
            http,
            f"{sim.url}{BASE}/links/no-such-link/mirrors",
            Authorization="Basic S0VZOlNFQ1JFVA==",
        )
    assert denied == (401, {"error_code": 40101, "message": "Authentication failed"})
    assert unknown[0] == 404
    spec.check(denied[1], "Error")
    spec.check(unknown[1], "Error")
