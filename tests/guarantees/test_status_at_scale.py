"""The status surfaces at incident scale: with 5,000 broken entities carrying 8 KB upstream
errors, the page and the API are requested in a loop while `/-/healthy` and `/metrics` must keep
answering. The bound is loose (a loaded two-vCPU machine); the figures are in
docs/performance.md (`python -m benchmarks.status`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from dataflow_exporter.exposition_cache import ExpositionCache
from dataflow_exporter.records import BrokenEntity
from dataflow_exporter.server import STATUS_KEY, make_app
from dataflow_exporter.snapshot import Snapshot
from dataflow_exporter.store import Store, TargetState
from tests.support.loopback import serving

pytestmark = pytest.mark.slow

ENTITIES = 5000
TEXT_BYTES = 8 * 1024
# Seconds one health probe or scrape may take while views are built and served.
BOUND = 3.0


def _record(store: Store, poll: int) -> None:
    """A poll of target `t` in which every pipeline fails with its own 8 KB error."""
    text = ("java.lang.IllegalStateException: deployment failed at " * 200)[:TEXT_BYTES]
    snapshot = Snapshot({}, {}, 1, 0, {"pipelines Failed": ENTITIES}, time.time())
    broken = tuple(
        BrokenEntity("pipeline", (("pipeline", f"p{i:05}"),), "Failed", f"{poll}.{i} {text}")
        for i in range(ENTITIES)
    )
    store.record_success("t", snapshot, [], 0.1, broken=broken)


@pytest.fixture
async def served() -> AsyncIterator[tuple[str, Store, web.Application]]:
    store = Store()
    store.add(TargetState("t", "feldera", 3600, 3600))
    _record(store, 0)
    app = make_app(store, ExpositionCache(store), _no_reload)
    async with serving(app, access_log=None) as url:
        yield url, store, app


async def _no_reload() -> list[str]:
    return []


async def _viewer(session: aiohttp.ClientSession, url: str, served: list[int]) -> None:
    while True:
        for path in ("/", "/api/v1/status"):
            async with session.get(url + path) as resp:
                assert resp.status == 200
                await resp.read()
            served.append(1)


async def _timed(session: aiohttp.ClientSession, url: str) -> float:
    started = time.monotonic()
    async with session.get(url) as resp:
        assert resp.status == 200
        await resp.read()
    return time.monotonic() - started


async def test_health_and_metrics_answer_while_huge_views_are_built_and_served(
    served: tuple[str, Store, web.Application],
) -> None:
    url, store, app = served
    cache = app[STATUS_KEY]
    pages: list[int] = []
    probes: list[tuple[str, float]] = []
    async with aiohttp.ClientSession() as session:
        viewers = [asyncio.create_task(_viewer(session, url, pages)) for _ in range(4)]
        try:
            async with asyncio.timeout(300):
                # Through the first build, a rebuild after a poll with new texts, and serving.
                while cache.builds < 1 or len(pages) < 8:
                    for path in ("/-/healthy", "/metrics"):
                        probes.append((path, await _timed(session, url + path)))
                _record(store, 1)
                while cache.builds < 2 or len(pages) < 16:
                    for path in ("/-/healthy", "/metrics"):
                        probes.append((path, await _timed(session, url + path)))
        finally:
            for viewer in viewers:
                viewer.cancel()
            await asyncio.gather(*viewers, return_exceptions=True)
    slow = [(path, round(seconds, 2)) for path, seconds in probes if seconds >= BOUND]
    assert slow == [], f"of {len(probes)} probes"
    assert len(probes) >= 10
