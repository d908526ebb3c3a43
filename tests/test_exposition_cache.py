"""The exposition cache: what `/metrics` serves from the store, and when that changes."""

from __future__ import annotations

from dataflow_exporter.exposition_cache import ExpositionCache
from dataflow_exporter.scheduler import Scheduler
from dataflow_exporter.simulator import Simulation
from dataflow_exporter.store import Store
from dataflow_exporter.upstream import new_session
from tests.support.daemon import SECRET
from tests.support.helpers import poll_once, series_of, value


async def test_a_failed_poll_keeps_the_last_good_series_until_stale_after(
    peerdb_sim: Simulation,
) -> None:
    now = [1_000_000.0]
    store = Store()
    cfg = {
        "global": {"interval": "30s", "timeout": "5s", "stale_after": "5m"},
        "targets": [{"name": "pg", "system": "peerdb", "url": peerdb_sim.url, "password": SECRET}],
    }
    async with new_session() as session:
        scheduler = Scheduler(session, store, clock=lambda: now[0])
        assert (await poll_once(cfg, session, scheduler)).ok
        await session.post(
            f"{peerdb_sim.url}/_sim/peerdb/faults", json={"kind": "status", "status": 500}
        )
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
