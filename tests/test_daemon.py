"""The running exporter: endpoints, series lifecycle, reload, isolation and shutdown."""

from __future__ import annotations

import asyncio
import gzip
import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from prometheus_client.openmetrics.parser import text_string_to_metric_families as om_parse

from dataflow_exporter import log
from dataflow_exporter.exporter import Exporter
from dataflow_exporter.exposition_cache import ExpositionCache
from dataflow_exporter.scheduler import Scheduler, backoff_delay
from dataflow_exporter.simulator import Simulation
from dataflow_exporter.store import Store
from dataflow_exporter.upstream import new_session
from tests.support.helpers import poll_once, series_of, value

SECRET = "daemon-secret-94b1e2"


def write_config(path: Path, sim_url: str, **extra_targets: dict[str, Any]) -> Path:
    targets = [{"name": "pg", "system": "peerdb", "url": sim_url, "password": SECRET}]
    targets += [{"name": name, **t} for name, t in extra_targets.items()]
    path.write_text(
        yaml.safe_dump({"global": {"interval": "1s", "timeout": "0.8s"}, "targets": targets})
    )
    return path


@pytest.fixture
async def sim() -> AsyncIterator[Simulation]:
    async with Simulation({"peerdb": {"password": SECRET}}) as s:
        yield s


@pytest.fixture
async def exporter(sim: Simulation, tmp_path: Path) -> AsyncIterator[Exporter]:
    exp = Exporter(write_config(tmp_path / "config.yaml", sim.url), listen="127.0.0.1:0")
    await exp.start()
    yield exp
    await exp.stop()


async def wait_ready(base: str, session: aiohttp.ClientSession) -> None:
    for _ in range(100):
        async with session.get(f"{base}/-/ready") as resp:
            if resp.status == 200:
                return
        await asyncio.sleep(0.05)
    raise AssertionError("exporter never became ready")


def base(exp: Exporter) -> str:
    return f"http://127.0.0.1:{exp.port}"


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


async def test_readiness_waits_for_the_first_poll_of_every_target(
    sim: Simulation, tmp_path: Path
) -> None:
    async with aiohttp.ClientSession() as session:
        await session.post(f"{sim.url}/_sim/peerdb/faults", json={"latency": 0.5})
        exp = Exporter(write_config(tmp_path / "c.yaml", sim.url), listen="127.0.0.1:0")
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


async def test_reload_adds_targets_and_a_bad_config_keeps_the_old_one(
    exporter: Exporter, sim: Simulation
) -> None:
    async with aiohttp.ClientSession() as session:
        await wait_ready(base(exporter), session)
        pg_poller = exporter.scheduler.pollers["pg"]  # type: ignore[union-attr]
        write_config(
            exporter.config_path,
            sim.url,
            pg2={"system": "peerdb", "url": sim.url, "password": SECRET},
        )
        async with session.post(f"{base(exporter)}/-/reload") as resp:
            assert resp.status == 200
        assert set(exporter.scheduler.pollers) == {"pg", "pg2"}  # type: ignore[union-attr]
        assert exporter.scheduler.pollers["pg"] is pg_poller  # type: ignore[union-attr]

        exporter.config_path.write_text("targets: [{name: x, system: nope, url: 'http://x'}]")
        async with session.post(f"{base(exporter)}/-/reload") as resp:
            assert resp.status == 500
            assert "targets[0].system" in await resp.text()
        async with session.get(f"{base(exporter)}/metrics") as resp:
            text = await resp.text()
    assert set(exporter.scheduler.pollers) == {"pg", "pg2"}  # type: ignore[union-attr]
    assert value(text, "dataflow_exporter_config_last_reload_successful") == 0


async def test_a_failed_poll_keeps_the_last_good_series_until_stale_after(sim: Simulation) -> None:
    now = [1_000_000.0]
    store = Store()
    cfg = {
        "global": {"interval": "30s", "timeout": "5s", "stale_after": "5m"},
        "targets": [{"name": "pg", "system": "peerdb", "url": sim.url, "password": SECRET}],
    }
    async with new_session() as session:
        scheduler = Scheduler(session, store, clock=lambda: now[0])
        assert (await poll_once(cfg, session, scheduler)).ok
        await session.post(f"{sim.url}/_sim/peerdb/faults", json={"kind": "status", "status": 500})
        now[0] += 60
        failed = await poll_once(cfg, session, scheduler)
        cache = ExpositionCache(store, clock=lambda: now[0])
        text = cache.exposition().decode()
        assert not failed.ok
        assert value(text, "dataflow_exporter_target_up", target="pg") == 0
        assert (
            value(text, "peerdb_mirror_status", mirror="orders_pg_to_ch", status="STATUS_RUNNING")
            == 1
        )
        now[0] += 300
        stale = cache.exposition().decode()
    assert series_of(stale, "peerdb_mirror_status") == []
    assert value(stale, "dataflow_exporter_target_stale", target="pg") == 1
    assert (
        value(stale, "dataflow_exporter_target_last_success_timestamp_seconds", target="pg")
        == 1_000_000.0
    )


async def test_a_broken_target_leaves_other_targets_untouched() -> None:
    async with Simulation({"peerdb": {}}) as good, Simulation({"peerdb": {}}) as bad:
        cfg = {
            "targets": [
                {"name": "good", "system": "peerdb", "url": good.url},
                {"name": "bad", "system": "peerdb", "url": bad.url},
            ]
        }
        async with new_session() as session:
            before = await poll_once(cfg, session)
            await session.post(f"{bad.url}/_sim/peerdb/faults", json={"kind": "truncated"})
            after = await poll_once(cfg, session, before.scheduler)
    assert after.store.targets["bad"].last_error_reason == "decode"
    assert after.store.targets["good"].up

    def good_series(text: str) -> list[dict[str, str]]:
        return [s for s in series_of(text, "peerdb_mirror_info") if s["target"] == "good"]

    assert good_series(after.text) == good_series(before.text)


def test_backoff_grows_exponentially_up_to_a_cap_and_obeys_retry_after() -> None:
    assert [backoff_delay(10, n, None) for n in range(6)] == [10, 10, 20, 40, 80, 80]
    assert backoff_delay(10, 1, 300) == 300
    assert backoff_delay(10, 0, 2) == 10


async def test_stop_leaves_no_task_behind(sim: Simulation, tmp_path: Path) -> None:
    before = asyncio.all_tasks()
    exp = Exporter(write_config(tmp_path / "c.yaml", sim.url), listen="127.0.0.1:0")
    await exp.start()
    await asyncio.sleep(0.2)
    await exp.stop()
    await asyncio.sleep(0)
    assert asyncio.all_tasks() - before == set()


async def test_logs_have_one_line_per_poll_and_no_secret(sim: Simulation, tmp_path: Path) -> None:
    stream = io.StringIO()
    log.configure("info", "json", stream)
    try:
        async with aiohttp.ClientSession() as session:
            await session.post(f"{sim.url}/_sim/peerdb/faults", json={"kind": "auth"})
            exp = Exporter(write_config(tmp_path / "c.yaml", sim.url), listen="127.0.0.1:0")
            await exp.start()
            await wait_ready(base(exp), session)
            await exp.stop()
    finally:
        log.configure("info", "console", io.StringIO())
    lines = stream.getvalue()
    assert '"event": "poll_finished"' in lines
    assert '"reason": "auth"' in lines
    assert SECRET not in lines


async def test_reload_drops_removed_targets_and_keeps_unchanged_counters(
    exporter: Exporter, sim: Simulation
) -> None:
    async with aiohttp.ClientSession() as session:
        write_config(
            exporter.config_path,
            sim.url,
            pg2={"system": "peerdb", "url": sim.url, "password": SECRET},
        )
        assert await exporter.reload() == []
        await wait_ready(base(exporter), session)
        polls_before = exporter.store.targets["pg"].polls_total
        state_before = exporter.store.targets["pg"]
        write_config(exporter.config_path, sim.url)  # pg2 removed, pg unchanged
        assert await exporter.reload() == []
        async with session.get(f"{base(exporter)}/metrics") as resp:
            text = await resp.text()
    assert exporter.store.targets["pg"] is state_before
    assert exporter.store.targets["pg"].polls_total >= polls_before
    assert [s for s in series_of(text, "peerdb_mirror_info") if s["target"] == "pg2"] == []
    assert value(text, "dataflow_exporter_target_up", target="pg2") is None
    assert value(text, "dataflow_exporter_config_last_reload_successful") == 1
