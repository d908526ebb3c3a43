"""The status bodies: built once per store change, in a worker thread, one build at a time."""

from __future__ import annotations

import asyncio
import threading

import pytest

from dataflow_exporter import status, status_cache
from dataflow_exporter.errors import Reason
from dataflow_exporter.records import BrokenEntity
from dataflow_exporter.snapshot import build_snapshot
from dataflow_exporter.status import StatusView
from dataflow_exporter.status_cache import StatusCache
from dataflow_exporter.store import Store, TargetState

NOW = 1_700_000_000.0


def _store() -> Store:
    store = Store()
    store.add(TargetState("etl", "etlworks", 30, 300, configured_at=NOW - 60))
    _poll(store, NOW - 5)
    return store


def _poll(store: Store, at: float) -> None:
    snapshot = build_snapshot([], (("target", "etl"),), 10, {"flows error": 1}, at)
    flow = BrokenEntity("flow", (("flow_id", "7"), ("flow", "Load")), "error", "boom")
    store.record_success("etl", snapshot, [], 0.1, (), {}, (flow,))


async def test_requests_between_store_changes_are_served_one_build() -> None:
    cache = StatusCache(_store(), lambda: NOW)
    first = await cache.bodies()
    assert await cache.bodies() is first
    assert cache.builds == 1
    assert b"Load" in first.page


async def test_a_store_change_builds_again() -> None:
    store = _store()
    cache = StatusCache(store, lambda: NOW)
    await cache.bodies()
    _poll(store, NOW)
    await cache.bodies()
    assert cache.builds == 2


async def test_a_target_turning_stale_builds_again() -> None:
    now = [NOW]
    store = _store()
    store.record_failure("etl", Reason.CONNECT, "refused", 0.1, NOW - 4)
    cache = StatusCache(store, lambda: now[0])
    await cache.bodies()
    now[0] = NOW + 10
    await cache.bodies()
    assert cache.builds == 1, "the same store, nothing turned stale: no new build"
    now[0] = NOW + 400  # past stale_after (300 s) since the last good poll
    bodies = await cache.bodies()
    assert cache.builds == 2
    assert b"withheld from /metrics: stale" in bodies.page


async def test_concurrent_requests_share_one_build() -> None:
    cache = StatusCache(_store(), lambda: NOW)
    results = await asyncio.gather(*(cache.bodies() for _ in range(5)))
    assert cache.builds == 1
    assert all(result is results[0] for result in results)


async def test_the_view_is_built_off_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    threads: list[int] = []
    real = status.status_view

    def recording(*args: object) -> StatusView:
        threads.append(threading.get_ident())
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(status_cache, "status_view", recording)
    await StatusCache(_store(), lambda: NOW).bodies()
    assert threads and threads[0] != threading.get_ident()


async def test_a_request_that_goes_away_does_not_cancel_the_build(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    release = threading.Event()
    real = status.status_view

    def held(*args: object) -> StatusView:
        release.wait(30)
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(status_cache, "status_view", held)
    cache = StatusCache(_store(), lambda: NOW)
    gone = asyncio.create_task(cache.bodies())
    await asyncio.sleep(0)
    waiting = asyncio.create_task(cache.bodies())
    await asyncio.sleep(0)
    gone.cancel()
    release.set()
    bodies = await waiting
    assert b"Load" in bodies.page
    assert cache.builds == 1


async def test_a_build_reads_the_store_as_it_was_when_asked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    release = threading.Event()
    real = status.status_view

    def held(*args: object) -> StatusView:
        release.wait(30)
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(status_cache, "status_view", held)
    store = _store()
    cache = StatusCache(store, lambda: NOW)
    building = asyncio.create_task(cache.bodies())
    await asyncio.sleep(0.01)
    store.remove("etl")  # changes the store while the thread builds
    release.set()
    bodies = await building
    assert b'data-target="etl"' in bodies.page
