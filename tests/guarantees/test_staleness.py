"""A target goes stale `stale_after` without a good poll, whether it stopped succeeding or never
succeeded (counted from when it was configured), so DataflowExporterTargetStale can page."""

from __future__ import annotations

from dataflow_exporter.exposition_cache import ExpositionCache
from dataflow_exporter.simulator import Simulation
from tests.support.helpers import poll_once, value

STALE_AFTER = 300.0


async def test_a_target_that_never_succeeds_goes_stale_after_stale_after_since_configured() -> None:
    now = [1_700_000_000.0]
    async with Simulation({"peerdb": {"password": "right-Pa55-stale"}}) as sim:
        target = sim.systems["peerdb"].demo_target(sim.url) | {"password": "wrong-Pa55-stale"}
        data = {
            "global": {"interval": "30s", "timeout": "10s", "stale_after": f"{STALE_AFTER:g}s"},
            "targets": [target],
        }
        polled = await poll_once(data, clock=lambda: now[0])
    assert not polled.ok
    name = target["name"]
    cache = ExpositionCache(polled.store, clock=lambda: now[0])

    def stale() -> float | None:
        return value(cache.exposition().decode(), "dataflow_exporter_target_stale", target=name)

    now[0] += STALE_AFTER - 1
    assert stale() == 0
    assert polled.store.targets[name].last_success is None
    now[0] += 2
    assert stale() == 1
