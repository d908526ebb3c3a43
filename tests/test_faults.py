"""Fault injection against every simulated upstream while the exporter runs.

For each fault and each system: the daemon stays up, `/metrics` keeps answering fast, the faulty
target shows `up` 0 with the right reason, every other target keeps its series, the first good
poll restores everything, and nothing (task, socket, file descriptor) is left behind.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import pytest
import yaml

from exporter.daemon import Exporter
from exporter.simulator import SIMULATORS, Simulation
from exporter.store import TargetState
from tests.helpers import value

INTERVAL, TIMEOUT = 0.6, 0.5
# A generous bound: a scrape answers from memory; anything near this means it waited on I/O.
WORST_SCRAPE_SECONDS = 1.0

FAULTS: dict[str, tuple[dict[str, Any], str]] = {
    "latency beyond the timeout": ({"latency": 1.2}, "timeout"),
    "slow drip": ({"kind": "drip", "drip_interval": 0.05}, "timeout"),
    "5xx burst": ({"kind": "status", "status": 503}, "http_5xx"),
    "500": ({"kind": "status", "status": 500}, "http_5xx"),
    "429 with Retry-After": ({"kind": "rate_limit", "retry_after": 1}, "rate_limited"),
    "429 without Retry-After": ({"kind": "rate_limit"}, "rate_limited"),
    "HTML instead of JSON": ({"kind": "html"}, "decode"),
    "truncated JSON": ({"kind": "truncated"}, "decode"),
    "body over the size cap": ({"kind": "oversize", "size": 3_000_000}, "decode"),
    "reset mid-body": ({"kind": "reset"}, "connect"),
    "auth failure": ({"kind": "auth"}, "auth"),
    "wrong types": ({"kind": "wrong_types"}, "schema"),
    "missing fields": ({"kind": "missing_fields"}, "schema"),
}


@dataclass
class Run:
    sim: Simulation
    exporter: Exporter
    session: aiohttp.ClientSession
    names: dict[str, str]  # system -> target name
    worst_scrape: float = 0.0
    scrapes: list[str] = field(default_factory=list)

    async def scrape(self) -> str:
        started = time.monotonic()
        async with self.session.get(f"http://127.0.0.1:{self.exporter.port}/metrics") as resp:
            assert resp.status == 200
            text = await resp.text()
        self.worst_scrape = max(self.worst_scrape, time.monotonic() - started)
        return text

    async def control(self, system: str, method: str, body: dict[str, Any] | None = None) -> None:
        url = f"{self.sim.url}/_sim/{system}/faults"
        async with self.session.request(method, url, json=body) as resp:
            assert resp.status == 200, await resp.text()

    async def wait_for(self, check: Any, what: str, deadline: float = 15.0) -> str:
        end = time.monotonic() + deadline
        while True:
            text = await self.scrape()
            if check(text):
                return text
            assert time.monotonic() < end, f"timed out waiting for {what}"
            await asyncio.sleep(0.05)


def _series(text: str, target: str) -> int:
    return int(value(text, "dataflow_exporter_target_series", target=target) or 0)


@pytest.fixture
async def run(tmp_path: Path) -> AsyncIterator[Run]:
    process = psutil.Process()
    fds_before = process.num_fds()
    tasks_before = asyncio.all_tasks()
    async with Simulation() as sim, aiohttp.ClientSession() as session:
        targets = [system.demo_target(sim.url) for system in sim.systems.values()]
        config = {
            "global": {
                "interval": f"{INTERVAL}s",
                "timeout": f"{TIMEOUT}s",
                "stale_after": "1h",
                "max_response_bytes": 2_000_000,
            },
            "targets": targets,
        }
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump(config))
        exporter = Exporter(path, "127.0.0.1:0")
        await exporter.start()
        names = {t["system"]: t["name"] for t in targets}
        state = Run(sim, exporter, session, names)
        await state.wait_for(
            lambda text: all(
                value(text, "dataflow_exporter_target_up", target=n) == 1 for n in names.values()
            ),
            "every target up",
        )
        yield state
        await exporter.stop()
    # The simulator's own handler tasks end with it; then nothing of ours may remain.
    await asyncio.sleep(0.1)
    assert asyncio.all_tasks() - tasks_before - {asyncio.current_task()} == set()
    for _ in range(50):
        if process.num_fds() <= fds_before:
            break
        await asyncio.sleep(0.05)
    assert process.num_fds() <= fds_before, "file descriptors left open"


@pytest.mark.parametrize("fault", list(FAULTS))
async def test_a_faulty_upstream_fails_alone_and_recovers(run: Run, fault: str) -> None:
    settings, reason = FAULTS[fault]
    for system, name in run.names.items():
        healthy = await run.scrape()
        others = {n: _series(healthy, n) for n in run.names.values() if n != name}
        errors_before = (
            value(healthy, "dataflow_exporter_target_errors_total", target=name, reason=reason) or 0
        )

        await run.control(system, "POST", settings)
        failed = await run.wait_for(
            lambda text, n=name: value(text, "dataflow_exporter_target_up", target=n) == 0,
            f"{system} down under {fault}",
        )
        errors = (
            value(failed, "dataflow_exporter_target_errors_total", target=name, reason=reason) or 0
        )
        assert errors > errors_before, f"{system}: {fault} not classified as {reason}"
        assert run.exporter.store.targets[name].last_error_reason == reason
        for other, count in others.items():
            assert value(failed, "dataflow_exporter_target_up", target=other) == 1, other
            assert _series(failed, other) >= 0.8 * count, f"{other} lost series during {fault}"

        await run.control(system, "DELETE")
        await run.wait_for(
            lambda text, n=name: value(text, "dataflow_exporter_target_up", target=n) == 1,
            f"{system} recovered after {fault}",
        )
    assert run.worst_scrape < WORST_SCRAPE_SECONDS, f"worst scrape took {run.worst_scrape:.3f}s"


async def test_connection_refused_is_classified_connect(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        yaml.safe_dump(
            {"targets": [{"name": "gone", "system": "peerdb", "url": "http://127.0.0.1:9"}]}
        )
    )
    exporter = Exporter(path, "127.0.0.1:0")
    await exporter.start()
    try:
        for _ in range(100):
            if exporter.store.targets["gone"].polled:
                break
            await asyncio.sleep(0.05)
        assert exporter.store.targets["gone"].last_error_reason == "connect"
    finally:
        await exporter.stop()


async def _run_against_fault(
    tmp_path: Path, system: str, fault: dict[str, Any], seconds: float = 3.0
) -> tuple[TargetState, int]:
    """Poll one faulty upstream every 0.2 s for `seconds`; its state and the requests it got."""
    async with Simulation() as sim, aiohttp.ClientSession() as session:
        target = sim.systems[system].demo_target(sim.url)
        path = tmp_path / "config.yaml"
        config = {"global": {"interval": "0.2s", "timeout": "0.15s"}, "targets": [target]}
        path.write_text(yaml.safe_dump(config))
        await session.post(f"{sim.url}/_sim/{system}/faults", json=fault)
        exporter = Exporter(path, "127.0.0.1:0")
        await exporter.start()
        await asyncio.sleep(seconds)
        state = exporter.store.targets[target["name"]]
        await exporter.stop()
        return state, sim.systems[system].faults.requests["total"]


@pytest.mark.parametrize("system", sorted(SIMULATORS))
async def test_a_failing_upstream_gets_backoff_not_hammering(tmp_path: Path, system: str) -> None:
    state, requests = await _run_against_fault(tmp_path, system, {"kind": "status", "status": 500})
    # Without backoff: 15 polls in 3 s. With it: 0, 0.2, 0.4, 0.8, 1.6, 3.2 (x 0.9-1.1 jitter).
    assert 3 <= state.polls_total <= 7, f"{state.polls_total} polls in 3 s"
    # A failed poll sends at most two requests (Confluent's two concurrent inventory calls, or
    # Etlworks' token issue and flow list); the poll cut short by stop() may have sent its own.
    assert requests <= 2 * (state.polls_total + 1), f"{requests} requests in 3 s"


@pytest.mark.parametrize("system", sorted(SIMULATORS))
async def test_retry_after_spaces_polls_out(tmp_path: Path, system: str) -> None:
    state, _ = await _run_against_fault(tmp_path, system, {"kind": "rate_limit", "retry_after": 2})
    assert state.last_error_reason == "rate_limited"
    assert state.polls_total <= 2, f"{state.polls_total} polls in 3 s despite Retry-After: 2"
