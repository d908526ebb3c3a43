"""The exporter's own endpoints and self-metrics, served over loopback."""

from __future__ import annotations

import asyncio
import gzip
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from prometheus_client.openmetrics.parser import text_string_to_metric_families as om_parse

from dataflow_exporter import status, status_cache, status_page
from dataflow_exporter.exporter import Exporter
from dataflow_exporter.exposition_cache import ExpositionCache
from dataflow_exporter.server import (
    SLOTS_KEY,
    STATUS_KEY,
    ServerLimits,
    Slots,
    chunks,
    make_app,
)
from dataflow_exporter.simulator import Simulation
from dataflow_exporter.sources.registry import REGISTRY
from dataflow_exporter.store import Store, TargetState
from tests.support.daemon import SECRET, base, wait_ready, write_config
from tests.support.helpers import value
from tests.support.loopback import serving


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
def app(store: Store) -> web.Application:
    return make_app(store, ExpositionCache(store), no_reload)


@pytest.fixture
async def base_url(app: web.Application) -> AsyncIterator[str]:
    async with serving(app) as url:
        yield url


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


async def test_metrics_health_and_readiness(exporter: Exporter) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{base(exporter)}/-/healthy") as resp:
            assert resp.status == 200
        await wait_ready(base(exporter), session)
        async with session.get(f"{base(exporter)}/metrics") as resp:
            assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            text = await resp.text()
    assert value(text, "dataflow_exporter_target_up", target="pg") == 1
    assert (
        value(text, "peerdb_mirror_status", mirror="orders_pg_to_ch", status="STATUS_RUNNING") == 1
    )


@pytest.mark.slow
async def test_readiness_waits_for_the_first_poll_of_every_target(
    peerdb_sim: Simulation, tmp_path: Path
) -> None:
    async with aiohttp.ClientSession() as session:
        await session.post(f"{peerdb_sim.url}/_sim/peerdb/faults", json={"latency": 0.5})
        exp = Exporter(write_config(tmp_path / "c.yaml", peerdb_sim.url), listen="127.0.0.1:0")
        await exp.start()
        try:
            async with session.get(f"{base(exp)}/-/ready") as resp:
                assert resp.status == 503
            await wait_ready(base(exp), session)
        finally:
            await exp.stop()


async def test_openmetrics_is_served_when_asked(exporter: Exporter) -> None:
    async with aiohttp.ClientSession() as session:
        await wait_ready(base(exporter), session)
        headers = {"Accept": "application/openmetrics-text; version=1.0.0,text/plain;q=0.5"}
        async with session.get(f"{base(exporter)}/metrics", headers=headers) as resp:
            assert resp.headers["Content-Type"].startswith("application/openmetrics-text")
            body = await resp.text()
    names = {family.name for family in om_parse(body)}
    assert {
        "peerdb_mirror_status",
        "peerdb_mirror_rows_synced",
        "dataflow_exporter_target_up",
    } <= names


async def test_gzip_is_used_when_accepted(exporter: Exporter) -> None:
    async with aiohttp.ClientSession(auto_decompress=False) as session:
        await wait_ready(base(exporter), session)
        async with session.get(
            f"{base(exporter)}/metrics", headers={"Accept-Encoding": "gzip"}
        ) as resp:
            assert resp.headers["Content-Encoding"] == "gzip"
            body = gzip.decompress(await resp.read()).decode()
    assert "peerdb_mirror_status" in body


async def test_status_page_shows_targets_and_never_secrets(exporter: Exporter) -> None:
    async with aiohttp.ClientSession() as session:
        await wait_ready(base(exporter), session)
        async with session.get(f"{base(exporter)}/") as resp:
            page = await resp.text()
    assert 'data-target="pg"' in page
    assert "UP" in page
    assert "mirrors STATUS_RUNNING" in page
    assert SECRET not in page


async def test_the_status_pages_read_the_time_from_the_same_clock_as_metrics(store: Store) -> None:
    # Configured long ago and never polled: stale by the cache's clock, not by the wall clock.
    store.targets["pg"].configured_at = 1_000.0
    cache = ExpositionCache(store, clock=lambda: 5_000.0)
    async with (
        serving(make_app(store, cache, no_reload)) as base,
        aiohttp.ClientSession() as session,
    ):
        async with session.get(f"{base}/api/v1/status") as resp:
            doc = await resp.json()
        async with session.get(f"{base}/metrics") as resp:
            text = await resp.text()
    assert doc["generated_at"] == 5_000.0
    (pg,) = [t for t in doc["targets"] if t["name"] == "pg"]
    assert pg["stale"] is True
    assert value(text, "dataflow_exporter_target_stale", target="pg") == 1


PAGE_HEADERS = {
    "Content-Security-Policy": status_page.CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize("header", sorted(PAGE_HEADERS))
async def test_the_status_page_is_sent_with_browser_hardening_headers(
    base_url: str, method: str, header: str
) -> None:
    async with aiohttp.ClientSession() as session, session.request(method, f"{base_url}/") as resp:
        assert resp.status == 200
        assert resp.headers[header] == PAGE_HEADERS[header]


async def test_head_of_the_status_page_sends_its_length_and_no_body(base_url: str) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{base_url}/") as resp:
            page = await resp.read()
        async with session.head(f"{base_url}/") as resp:
            assert int(resp.headers["Content-Length"]) == len(page)
            assert await resp.read() == b""


async def test_the_pages_auto_refresh_is_served_without_building_again(
    app: web.Application, base_url: str
) -> None:
    async with aiohttp.ClientSession() as session:
        for path in ("/", "/", "/api/v1/status", "/"):
            async with session.get(f"{base_url}{path}") as resp:
                assert resp.status == 200
    assert app[STATUS_KEY].builds == 1


async def test_health_and_metrics_do_not_wait_for_a_status_build(
    base_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = threading.Event()
    real = status.status_view

    def held(*args: Any) -> Any:
        release.wait(30)
        return real(*args)

    monkeypatch.setattr(status_cache, "status_view", held)
    async with aiohttp.ClientSession() as session:
        page = asyncio.create_task(session.get(f"{base_url}/"))
        try:
            for path in ("/-/healthy", "/metrics", "/-/ready"):
                async with session.get(f"{base_url}{path}") as resp:
                    assert resp.status in (200, 503)
                    await resp.read()
            assert not page.done(), "the page is still being built"
        finally:
            release.set()
        async with await page as resp:
            assert resp.status == 200


async def test_one_client_holds_at_most_its_share_of_the_slots() -> None:
    slots = Slots(total=4, per_client=2)
    for _ in range(2):
        await slots.acquire("10.0.0.1")
    third = asyncio.create_task(slots.acquire("10.0.0.1"))
    await asyncio.sleep(0)
    assert not third.done(), "a third body for the same address waits"
    await asyncio.wait_for(slots.acquire("10.0.0.2"), 5)
    assert slots.in_use == 3
    slots.release("10.0.0.1")
    await asyncio.wait_for(third, 5)
    assert slots.in_use == 3


async def test_every_slot_can_be_used_by_enough_clients() -> None:
    slots = Slots(total=2, per_client=1)
    await slots.acquire("a")
    await slots.acquire("b")
    blocked = asyncio.create_task(slots.acquire("c"))
    await asyncio.sleep(0)
    assert not blocked.done(), "no slot is left for a third address"
    slots.release("a")
    await asyncio.wait_for(blocked, 5)


async def test_a_client_that_gives_up_waiting_leaves_no_trace() -> None:
    slots = Slots(total=1, per_client=1)
    await slots.acquire("a")
    waiting = asyncio.create_task(slots.acquire("b"))
    await asyncio.sleep(0)
    waiting.cancel()
    await asyncio.gather(waiting, return_exceptions=True)
    slots.release("a")
    assert slots.in_use == 0
    await asyncio.wait_for(slots.acquire("b"), 5)


@pytest.mark.parametrize(("total", "share"), [(10, 5), (3, 1), (1, 1)])
def test_a_clients_share_is_half_the_slots_by_default(total: int, share: int) -> None:
    assert ServerLimits(max_concurrent_scrapes=total).per_client == share


def test_a_clients_share_can_be_set_but_not_beyond_the_total() -> None:
    assert ServerLimits(max_concurrent_scrapes=4, max_scrapes_per_client=4).per_client == 4
    assert ServerLimits(max_concurrent_scrapes=4, max_scrapes_per_client=9).per_client == 4


@pytest.mark.parametrize("path", ["/metrics", "/", "/api/v1/status"])
async def test_every_body_waits_for_a_slot_then_gets_a_503(store: Store, path: str) -> None:
    limits = ServerLimits(max_concurrent_scrapes=1, slot_wait_seconds=0.1)
    app = make_app(store, ExpositionCache(store), no_reload, limits=limits)
    await app[SLOTS_KEY].acquire("another client")  # every slot is held
    async with (
        serving(app) as base,
        aiohttp.ClientSession() as session,
        session.get(base + path) as resp,
    ):
        assert resp.status == 503
        assert resp.headers["Retry-After"] == "1"


async def test_a_scrape_builds_its_body_only_once_it_holds_a_slot(store: Store) -> None:
    limits = ServerLimits(max_concurrent_scrapes=1, slot_wait_seconds=30.0)
    cache = ExpositionCache(store)
    built: list[int] = []
    real = cache.exposition_parts

    def counted(openmetrics: bool = False, gzipped: bool = False) -> tuple[bytes, ...]:
        built.append(store.version)
        return real(openmetrics, gzipped)

    cache.exposition_parts = counted  # type: ignore[method-assign]
    app = make_app(store, cache, no_reload, limits=limits)
    slots = app[SLOTS_KEY]
    await slots.acquire("another client")  # every slot is held
    async with serving(app) as base:
        async with aiohttp.ClientSession() as session:
            scrape = asyncio.create_task(session.get(base + "/metrics"))
            for _ in range(1000):  # until the scrape waits for its slot (10 s at most)
                if slots.users("127.0.0.1"):
                    break
                await asyncio.sleep(0.01)
            assert slots.users("127.0.0.1") == 1
            assert built == [], "nothing is rendered while the scrape waits"
            store.version += 1  # a poll lands while it waits
            slots.release("another client")
            async with await scrape as resp:
                assert resp.status == 200
        assert built == [store.version], "the body is the one current when the slot came"


@pytest.mark.parametrize(
    "sizes", [[10], [4], [3, 3, 3], [1] * 9, [8, 1], [0, 5, 0, 2], [2, 9, 2], []]
)
def test_a_body_is_written_in_whole_chunks_of_its_parts(sizes: list[int]) -> None:
    parts = [bytes([65 + i]) * size for i, size in enumerate(sizes)]
    written = [bytes(chunk) for chunk in chunks(parts, 4)]
    assert b"".join(written) == b"".join(parts)
    assert all(len(chunk) == 4 for chunk in written[:-1])
    assert all(0 < len(chunk) <= 4 for chunk in written)
