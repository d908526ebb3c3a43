"""Fake upstreams for demos, dashboards, alert tests and load tests.

`SIMULATORS` maps a system name to its simulated API; `Simulation` serves a set of them on one
port. Scenario knobs are keyword arguments of each simulator class.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from dataflow_exporter.simulator.app import build_app
from dataflow_exporter.simulator.base import Clock, SimulatedSystem
from dataflow_exporter.simulator.confluent import ConfluentSimulator
from dataflow_exporter.simulator.etlworks import EtlworksSimulator
from dataflow_exporter.simulator.feldera import FelderaSimulator
from dataflow_exporter.simulator.peerdb import PeerDBSimulator

SIMULATORS: dict[str, type[SimulatedSystem]] = {
    PeerDBSimulator.name: PeerDBSimulator,
    FelderaSimulator.name: FelderaSimulator,
    ConfluentSimulator.name: ConfluentSimulator,
    EtlworksSimulator.name: EtlworksSimulator,
}


class Simulation:
    """Simulated systems served over HTTP on one host and port (port 0: any free port)."""

    def __init__(
        self,
        options: Mapping[str, Mapping[str, Any]] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int = 1,
        clock: Clock = time.time,
    ) -> None:
        chosen = options if options is not None else {name: {} for name in SIMULATORS}
        self.systems: dict[str, SimulatedSystem] = {
            name: SIMULATORS[name](clock, seed=seed, **dict(kwargs))
            for name, kwargs in chosen.items()
        }
        self.host = host
        self.port = port
        self.seed = seed
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        """Base URL of the running simulator."""
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        """Bind and serve."""
        self._runner = web.AppRunner(build_app(self.systems, self.seed), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]  # the real port when 0 was asked

    async def stop(self) -> None:
        """Stop serving and close every connection."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Simulation:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
