"""The exporter's own endpoints and self-metrics, served over loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from dataflow_exporter.exposition_cache import ExpositionCache
from dataflow_exporter.server import make_app
from dataflow_exporter.sources import REGISTRY
from dataflow_exporter.store import Store, TargetState
from tests.support.helpers import value


async def no_reload() -> list[str]:
    return []


@pytest.fixture
def store() -> Store:
    store = Store()
    for name, system in (("pg", "peerdb"), ("etl", "etlworks")):
        fields = REGISTRY[system].unknown_value_fields
        store.add(TargetState(name, system, 30.0, 300.0, unknown_value_fields=fields))
    return store


@pytest.fixture
async def base_url(store: Store) -> AsyncIterator[str]:
    runner = web.AppRunner(make_app(store, ExpositionCache(store), no_reload))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


@pytest.mark.parametrize("encoding", ["gzip", "identity"])
async def test_metrics_says_its_body_varies_by_accept_encoding(
    base_url: str, encoding: str
) -> None:
    async with (
        aiohttp.ClientSession(auto_decompress=False) as session,
        session.get(f"{base_url}/metrics", headers={"Accept-Encoding": encoding}) as resp,
    ):
        vary = {part.strip() for part in resp.headers.get("Vary", "").split(",")}
    assert "Accept-Encoding" in vary


async def test_status_page_says_state_names_are_each_upstreams_spelling(base_url: str) -> None:
    async with aiohttp.ClientSession() as session, session.get(f"{base_url}/") as resp:
        page = await resp.text()
    assert "each upstream's own spelling" in page
    for spelling in ("STATUS_RUNNING", "Running", "ACTIVE", "success"):
        assert f"<code>{spelling}</code>" in page


def test_unknown_value_counters_start_at_zero_for_configured_systems(store: Store) -> None:
    text = ExpositionCache(store).exposition().decode()
    for system in ("peerdb", "etlworks"):
        for field in REGISTRY[system].unknown_value_fields:
            assert (
                value(text, "dataflow_exporter_unknown_values_total", system=system, field=field)
                == 0
            )
    assert 'system="feldera"' not in text  # no target, no series


def test_unknown_value_counters_keep_counting_after_zero(store: Store) -> None:
    store.unknown_values[("peerdb", "flow_status")] += 2
    text = ExpositionCache(store).exposition().decode()
    assert (
        value(text, "dataflow_exporter_unknown_values_total", system="peerdb", field="flow_status")
        == 2
    )


@pytest.mark.parametrize("system", sorted(REGISTRY))
def test_every_declared_unknown_value_field_is_one_its_source_counts(system: str) -> None:
    import inspect

    source_text = inspect.getsource(inspect.getmodule(REGISTRY[system]))  # type: ignore[arg-type]
    assert REGISTRY[system].unknown_value_fields  # every source declares its fields
    for field in REGISTRY[system].unknown_value_fields:
        # Declared once beside `detail_endpoints`, and reported where the parser finds it.
        assert source_text.count(f'"{field}"') >= 2, field
