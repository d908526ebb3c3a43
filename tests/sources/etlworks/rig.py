"""A test rig for Etlworks: the simulator and an exporter scheduler on one fake clock."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp

from dataflow_exporter.scheduler import Scheduler
from dataflow_exporter.simulator import Simulation
from dataflow_exporter.simulator.etlworks import EtlworksSimulator
from dataflow_exporter.store import Store
from dataflow_exporter.upstream import new_session
from tests.support.helpers import Polled, poll_once

LOGIN = "exporter"
PASSWORD = "etl-secret-pass-5d1c"


class FakeClock:
    """Time that moves only when told to (starts now, so nothing looks stale)."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Rig:
    """The simulator and an exporter scheduler sharing one fake clock."""

    sim: Simulation
    clock: FakeClock
    session: aiohttp.ClientSession
    scheduler: Scheduler

    @property
    def etl(self) -> EtlworksSimulator:
        system = self.sim.systems["etlworks"]
        assert isinstance(system, EtlworksSimulator)
        return system

    def config(self, **keys: Any) -> dict[str, Any]:
        target = {"name": "etl", "system": "etlworks", "url": self.sim.url}
        if "api_key" not in keys and "api_key_file" not in keys:
            target |= {"login": LOGIN, "password": PASSWORD}
        target |= keys
        return {"global": {"interval": "30s", "timeout": "5s"}, "targets": [target]}

    async def poll(self, **keys: Any) -> Polled:
        return await poll_once(self.config(**keys), self.session, self.scheduler)

    async def control(self, path: str, body: dict[str, Any]) -> None:
        async with self.session.post(f"{self.sim.url}/_sim/etlworks/{path}", json=body) as resp:
            assert resp.status == 200, await resp.text()

    async def override(self, flow_id: int, **fields: Any) -> None:
        await self.control(f"overrides/{flow_id}", fields)


@asynccontextmanager
async def rig(
    sim_clock: Callable[[FakeClock], Callable[[], float]] | None = None, **knobs: Any
) -> AsyncIterator[Rig]:
    clock = FakeClock()
    options = {"etlworks": {"login": LOGIN, "password": PASSWORD} | knobs}
    async with (
        Simulation(options, clock=sim_clock(clock) if sim_clock else clock) as sim,
        new_session() as session,
    ):
        yield Rig(sim, clock, session, Scheduler(session, Store(), clock=clock))
