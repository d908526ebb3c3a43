"""The simulator's own pages: its root lists what answers where."""

from __future__ import annotations

import aiohttp

from dataflow_exporter.simulator import Simulation


async def test_simulator_root_lists_every_systems_api_and_control_paths(
    simulation: Simulation,
) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{simulation.url}/") as resp:
            assert resp.status == 200
            index = await resp.json()
        for name, system in simulation.systems.items():
            entry = index["systems"][name]
            assert entry["api"] and all(p.startswith(system.prefix) for p in entry["api"])
            async with session.get(f"{simulation.url}{entry['faults']}") as resp:
                assert resp.status == 200
    assert "/api/v1/mirrors/list" in index["systems"]["peerdb"]["api"]
