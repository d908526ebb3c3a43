"""Fault injection against every simulated upstream while the exporter runs.

For each fault and each system: the daemon stays up, `/metrics` answers while a poll hangs, the
faulty target shows `up` 0 with the right reason, every other target keeps its series, the first
good poll restores everything, and nothing (task, socket, file descriptor) is left behind.

The tests drive each poll themselves (`Poller.poll_once`, all targets at once) instead of waiting
for the background schedule, and give healthy polls a timeout far beyond their cost: what they
assert follows from the order of events, never from how fast a loaded machine happens to be.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import pytest
import yaml

from dataflow_exporter import scheduler as scheduler_mod
from dataflow_exporter.exporter import Exporter
from dataflow_exporter.scheduler import Poller
from dataflow_exporter.simulator import SIMULATORS, Simulation
from dataflow_exporter.store import TargetState
from tests.support.helpers import value

# Every fault is played against every system with real timeouts: ~90 s together.
pytestmark = pytest.mark.slow

# Background polls happen once at start, then never during a test: the test polls itself.
INTERVAL = "1h"
# A healthy poll costs milliseconds; this bound is only ever reached by a hanging upstream.
TIMEOUT = 3.0

FAULTS: dict[str, tuple[dict[str, Any], str]] = {
    "latency beyond the timeout": ({"latency": 2 * TIMEOUT}, "timeout"),
    "slow drip": ({"kind": "drip", "drip_interval": TIMEOUT}, "timeout"),
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
HANGING = {"latency beyond the timeout", "slow drip"}


@dataclass
class Run:
    sim: Simulation
    exporter: Exporter
    session: aiohttp.ClientSession
    names: dict[str, str]  # system -> target name

    async def scrape(self) -> str:
        async with self.session.get(f"http://127.0.0.1:{self.exporter.port}/metrics") as resp:
            assert resp.status == 200
            return await resp.text()

    async def control(self, system: str, method: str, body: dict[str, Any] | None = None) -> None:
        url = f"{self.sim.url}/_sim/{system}/faults"
        async with self.session.request(method, url, json=body) as resp:
            assert resp.status == 200, await resp.text()

    def poller(self, name: str) -> Poller:
        assert self.exporter.scheduler is not None
        return self.exporter.scheduler.pollers[name]

    async def poll_all(self) -> None:
        """One poll of every target, all at once, as the background schedule would run them."""
        await asyncio.gather(*(self.poller(n).poll_once() for n in self.names.values()))


def _series(text: str, target: str) -> int:
    return int(value(text, "dataflow_exporter_target_series", target=target) or 0)


@pytest.fixture
async def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Run]:
    # With an interval of an hour the first polls are spread over a second; started at once,
    # they still come up on their own, a second sooner in each of these tests.
    monkeypatch.setattr(scheduler_mod, "FIRST_POLL_SPREAD_SECONDS", 0.0)
    process = psutil.Process()
    fds_before = process.num_fds()
    tasks_before = asyncio.all_tasks()
    async with Simulation() as sim, aiohttp.ClientSession() as session:
        targets = [system.demo_target(sim.url) for system in sim.systems.values()]
        config = {
            "global": {
                "interval": INTERVAL,
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
        # The first background polls: every target must come up on its own.
        for _ in range(600):
            if all(exporter.store.targets[n].polled for n in names.values()):
                break
            await asyncio.sleep(0.05)
        for name in names.values():
            assert exporter.store.targets[name].up, f"{name} did not come up"
        yield state
        await exporter.stop()
    # The simulator's own handler tasks end with it; then nothing of ours may remain.
    await asyncio.sleep(0.1)
    assert asyncio.all_tasks() - tasks_before - {asyncio.current_task()} == set()
    for _ in range(100):
        if process.num_fds() <= fds_before:
            break
        await asyncio.sleep(0.05)
    assert process.num_fds() <= fds_before, "file descriptors left open"


async def _scrape_while_hanging(run: Run, system: str) -> None:
    """`/metrics` answers while the faulty target's poll is stuck on its upstream."""
    name = run.names[system]
    faults = run.sim.systems[system].faults
    poll = asyncio.create_task(run.poller(name).poll_once())
    while faults.in_flight == 0:
        assert not poll.done(), "the poll ended before reaching the upstream"
        await asyncio.sleep(0.01)
    await run.scrape()
    assert not poll.done(), "/metrics waited for a hanging upstream"
    await poll


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
        if fault in HANGING:
            await _scrape_while_hanging(run, system)
        else:
            await run.poll_all()
        failed = await run.scrape()
        assert value(failed, "dataflow_exporter_target_up", target=name) == 0, system
        errors = (
            value(failed, "dataflow_exporter_target_errors_total", target=name, reason=reason) or 0
        )
        assert errors > errors_before, f"{system}: {fault} not classified as {reason}"
        assert run.exporter.store.targets[name].last_error_reason == reason
        for other, count in others.items():
            assert value(failed, "dataflow_exporter_target_up", target=other) == 1, other
            assert _series(failed, other) >= 0.8 * count, f"{other} lost series during {fault}"

        await run.control(system, "DELETE")
        await run.poller(name).poll_once()
        recovered = await run.scrape()
        assert value(recovered, "dataflow_exporter_target_up", target=name) == 1, system


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
        for _ in range(600):
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
    # A loaded machine only polls less, so only the upper bound is a claim about backoff.
    assert 1 <= state.polls_total <= 7, f"{state.polls_total} polls in 3 s"
    # A failed poll sends at most two requests (Confluent's two concurrent inventory calls, or
    # Etlworks' token issue and flow list); the poll cut short by stop() may have sent its own.
    assert requests <= 2 * (state.polls_total + 1), f"{requests} requests in 3 s"


@pytest.mark.parametrize("system", sorted(SIMULATORS))
async def test_each_failed_poll_doubles_the_wait_up_to_eight_intervals(
    run: Run, system: str
) -> None:
    name = run.names[system]
    poller = run.poller(name)
    interval = poller.config.interval
    await run.control(system, "POST", {"kind": "status", "status": 500})
    for failures in range(1, 6):
        assert not await poller.poll_once()
        factor = min(2 ** (failures - 1), 8)
        delays = [poller.next_delay() for _ in range(20)]
        assert all(0.9 * factor * interval <= d <= 1.1 * factor * interval for d in delays)
    await run.control(system, "DELETE")
    assert await poller.poll_once()
    assert all(0.9 * interval <= poller.next_delay() <= 1.1 * interval for _ in range(20))


@pytest.mark.parametrize("system", sorted(SIMULATORS))
async def test_retry_after_spaces_polls_out(tmp_path: Path, system: str) -> None:
    state, _ = await _run_against_fault(tmp_path, system, {"kind": "rate_limit", "retry_after": 2})
    assert state.last_error_reason == "rate_limited"
    assert state.polls_total <= 2, f"{state.polls_total} polls in 3 s despite Retry-After: 2"
