"""Sharding: replicas split entities by a stable hash; together they export exactly what one
replica exports alone, with no duplicates."""

from __future__ import annotations

from typing import Any

import pytest

from dataflow_exporter.config_models import Shard
from dataflow_exporter.scheduler import Scheduler
from dataflow_exporter.simulator import SIMULATORS, Simulation
from dataflow_exporter.store import Store
from dataflow_exporter.upstream import new_session
from tests.support.helpers import Labels, poll_once, samples

NOW = 1_795_000_000.0


def upstream_series(text: str) -> dict[tuple[str, Labels], float]:
    return {k: v for k, v in samples(text).items() if not k[0].startswith("dataflow_exporter_")}


@pytest.mark.parametrize("system", sorted(SIMULATORS))
async def test_three_shards_together_equal_one_replica(system: str) -> None:
    async with Simulation({system: {}}, clock=lambda: NOW) as sim:
        target: dict[str, Any] = sim.systems[system].demo_target(sim.url)
        outputs = []
        async with new_session() as session:
            for shard in [
                None,
                {"index": 0, "count": 3},
                {"index": 1, "count": 3},
                {"index": 2, "count": 3},
            ]:
                config: dict[str, Any] = {"targets": [target]}
                if shard is not None:
                    config["shard"] = shard
                scheduler = Scheduler(session, Store(), clock=lambda: NOW)
                polled = await poll_once(config, session, scheduler)
                assert polled.ok, polled.store.targets[target["name"]].last_error
                outputs.append(upstream_series(polled.text))
    whole, parts = outputs[0], outputs[1:]
    union: dict[tuple[str, Labels], float] = {}
    for part in parts:
        assert not set(part) & set(union), "a series is exported by two shards"
        union.update(part)
    assert union == whole
    assert sum(1 for part in parts if part) >= 2, "the entities were not spread over shards"


def test_shard_ownership_is_stable_and_partitions_keys() -> None:
    keys = [f"mirror_{i}" for i in range(300)]
    owners = [[Shard(index=i, count=3).owns(k) for i in range(3)] for k in keys]
    assert all(sum(o) == 1 for o in owners)
    assert [Shard(index=1, count=3).owns(k) for k in keys] == [
        Shard(index=1, count=3).owns(k) for k in keys
    ]
    assert all(Shard().owns(k) for k in keys)


def test_shard_info_is_exported() -> None:
    from dataflow_exporter.exposition_cache import ExpositionCache

    store = Store()
    store.shard = Shard(index=2, count=5)
    text = ExpositionCache(store).exposition().decode()
    assert 'dataflow_exporter_shard_info{index="2",count="5"} 1.0' in text
