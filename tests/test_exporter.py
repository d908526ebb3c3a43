"""The composition root: an `Exporter` built from a parsed config polls once, serves, reloads
and stops everything it owns."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
from yarl import URL

from dataflow_exporter import config as config_mod
from dataflow_exporter.config import Config
from dataflow_exporter.config_models import Shard
from dataflow_exporter.errors import ConfigError
from dataflow_exporter.exporter import Exporter, parse_listen_address
from dataflow_exporter.log import configure
from dataflow_exporter.simulator import Simulation
from tests.support.daemon import wait_ready
from tests.support.helpers import value


def config_of(sim: Simulation, *systems: str, interval: str = "30s") -> Config:
    """A config with the demo target of each named system (all of them when none is named)."""
    names = systems or tuple(sim.systems)
    return config_mod.parse(
        {
            "global": {"interval": interval, "timeout": "0.8s"},
            "targets": [sim.systems[name].demo_target(sim.url) for name in names],
        },
        env={},
    )


@pytest.fixture
async def stopped_afterwards() -> AsyncIterator[list[Exporter]]:
    exporters: list[Exporter] = []
    yield exporters
    for exporter in exporters:
        await exporter.stop()


async def test_polling_once_polls_every_target_of_the_config_and_starts_no_task(
    simulation: Simulation,
) -> None:
    exporter = Exporter(config_of(simulation))
    try:
        assert await exporter.poll_once()
        # The scheduler names each poller's task after its target.
        assert [t for t in asyncio.all_tasks() if t.get_name().startswith("poll:")] == []
        text = exporter.exposition().decode()
    finally:
        await exporter.stop()
    for system in simulation.systems:
        target = f"{system}-demo"
        assert value(text, "dataflow_exporter_target_up", target=target) == 1, target


async def test_polling_named_targets_polls_only_those(simulation: Simulation) -> None:
    exporter = Exporter(config_of(simulation, "peerdb", "etlworks"))
    try:
        assert await exporter.poll_once("etlworks-demo")
        polled = {name for name, state in exporter.store.targets.items() if state.polled}
    finally:
        await exporter.stop()
    assert polled == {"etlworks-demo"}


async def test_polling_a_target_the_config_lacks_names_it_and_polls_nothing(
    simulation: Simulation,
) -> None:
    exporter = Exporter(config_of(simulation, "peerdb"))
    try:
        with pytest.raises(ValueError, match="no target named etlworks-dmeo; the config has: "):
            await exporter.poll_once("peerdb-demo", "etlworks-dmeo")
        assert not exporter.store.targets["peerdb-demo"].polled
    finally:
        await exporter.stop()


async def test_the_process_metrics_are_appended_unless_left_out(simulation: Simulation) -> None:
    bodies = {}
    for runtime_metrics in (True, False):
        exporter = Exporter(config_of(simulation, "peerdb"), runtime_metrics=runtime_metrics)
        try:
            await exporter.poll_once()
            bodies[runtime_metrics] = exporter.exposition().decode()
        finally:
            await exporter.stop()
    assert value(bodies[True], "python_info") == 1
    assert value(bodies[False], "python_info") is None
    assert "peerdb_mirror_status" in bodies[False]


async def test_start_polls_in_the_background_and_serves_metrics(
    simulation: Simulation, stopped_afterwards: list[Exporter]
) -> None:
    exporter = Exporter(config_of(simulation, "peerdb", interval="1s"), "127.0.0.1:0")
    stopped_afterwards.append(exporter)
    await exporter.start()
    url = f"http://127.0.0.1:{exporter.port}"
    await wait_ready(url)
    async with aiohttp.ClientSession() as client, client.get(f"{url}/metrics") as resp:
        text = await resp.text()
    assert value(text, "dataflow_exporter_target_up", target="peerdb-demo") == 1
    assert value(text, "dataflow_exporter_config_last_reload_successful") == 1
    assert value(text, "python_info") == 1


async def test_serve_alone_serves_the_last_polls_without_polling_again(
    simulation: Simulation, stopped_afterwards: list[Exporter]
) -> None:
    exporter = Exporter(config_of(simulation, "peerdb", interval="1s"), "127.0.0.1:0")
    stopped_afterwards.append(exporter)
    await exporter.poll_once()
    await exporter.serve()
    await asyncio.sleep(0.3)  # longer than the first poll's spread: a poller would have run
    url = f"http://127.0.0.1:{exporter.port}"
    async with aiohttp.ClientSession() as client, client.get(f"{url}/metrics") as resp:
        text = await resp.text()
    assert value(text, "dataflow_exporter_target_polls_total", target="peerdb-demo") == 1


async def test_reloading_a_config_adds_targets_and_keeps_unchanged_pollers(
    simulation: Simulation, stopped_afterwards: list[Exporter]
) -> None:
    exporter = Exporter(config_of(simulation, "peerdb"), "127.0.0.1:0")
    stopped_afterwards.append(exporter)
    await exporter.start()
    assert exporter.scheduler is not None
    peerdb = exporter.scheduler.pollers["peerdb-demo"]
    assert await exporter.reload(config_of(simulation, "peerdb", "feldera")) == []
    assert set(exporter.scheduler.pollers) == {"peerdb-demo", "feldera-demo"}
    assert exporter.scheduler.pollers["peerdb-demo"] is peerdb
    assert exporter.store.reload_ok


async def test_reloading_without_a_config_keeps_the_one_it_was_built_from(
    simulation: Simulation, stopped_afterwards: list[Exporter]
) -> None:
    config = config_of(simulation, "peerdb")
    exporter = Exporter(config, "127.0.0.1:0")
    stopped_afterwards.append(exporter)
    await exporter.start()
    assert exporter.scheduler is not None
    peerdb = exporter.scheduler.pollers["peerdb-demo"]
    assert await exporter.reload() == []
    assert exporter.config == config
    assert exporter.scheduler.pollers == {"peerdb-demo": peerdb}


async def test_a_shard_given_overrides_the_configs(simulation: Simulation) -> None:
    exporter = Exporter(config_of(simulation, "peerdb"), shard=Shard(index=1, count=3))
    try:
        await exporter.poll_once()
        text = exporter.exposition().decode()
    finally:
        await exporter.stop()
    assert value(text, "dataflow_exporter_shard_info", index="1", count="3") == 1


async def test_stop_cancels_every_task_and_closes_the_session_it_opened(
    simulation: Simulation,
) -> None:
    before = asyncio.all_tasks()
    exporter = Exporter(config_of(simulation, interval="1s"), "127.0.0.1:0")
    await exporter.start()
    await wait_ready(f"http://127.0.0.1:{exporter.port}")
    session = exporter.session
    assert session is not None and not session.closed
    assert asyncio.all_tasks() - before, "no poller task was running"
    await exporter.stop()
    # The simulator's side of each closed connection ends a few loop turns later; a poller
    # left running would not end at all.
    for _ in range(100):
        if not asyncio.all_tasks() - before:
            break
        await asyncio.sleep(0.02)
    assert asyncio.all_tasks() - before == set()
    assert session.closed
    assert exporter.session is None


async def test_a_session_it_is_given_stays_open(simulation: Simulation) -> None:
    async with aiohttp.ClientSession() as session:
        exporter = Exporter(config_of(simulation, "peerdb"), session=session)
        assert await exporter.poll_once()
        await exporter.stop()
        assert not session.closed
        assert exporter.session is session


async def test_trace_configs_see_every_upstream_request(simulation: Simulation) -> None:
    seen: list[URL] = []

    async def on_end(_s: Any, _ctx: SimpleNamespace, params: aiohttp.TraceRequestEndParams) -> None:
        seen.append(params.url)

    trace = aiohttp.TraceConfig()
    trace.on_request_end.append(on_end)
    exporter = Exporter(config_of(simulation, "feldera"), trace_configs=[trace])
    try:
        assert await exporter.poll_once()
    finally:
        await exporter.stop()
    # One inventory request, then one per pipeline, all to the target's own URL.
    assert [url.path for url in seen].count("/v0/pipelines") == 1, seen
    assert len(seen) > 1
    assert {str(url.origin()) for url in seen} == {simulation.url}


@pytest.mark.parametrize(
    ("address", "expected"),
    [(":9891", ("0.0.0.0", 9891)), ("127.0.0.1:0", ("127.0.0.1", 0)), ("[::1]:80", ("::1", 80))],
)
def test_listen_addresses_are_parsed_as_prometheus_exporters_take_them(
    address: str, expected: tuple[str, int]
) -> None:
    assert parse_listen_address(address) == expected


@pytest.mark.parametrize("address", ["9891", "host:", "host:65536", "host:http"])
def test_a_listen_address_without_a_valid_port_is_refused(address: str) -> None:
    with pytest.raises(ValueError, match="expected host:port"):
        parse_listen_address(address)


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    out = io.StringIO()
    configure("debug", "json", out)
    yield out
    configure()


async def test_a_failed_reload_logs_each_problem_unmasked_apart_from_its_path(
    tmp_path: Path, json_log: io.StringIO
) -> None:
    path = tmp_path / "config.yaml"
    target = "{name: f, system: feldera, url: 'http://127.0.0.1:1', api_key: '${DFX_UNSET_KEY}'}"
    path.write_text(f"targets: [{target}]\n", encoding="utf-8")
    exporter = Exporter(path, "127.0.0.1:0")
    assert await exporter.reload() != []
    (line,) = [json.loads(row) for row in json_log.getvalue().splitlines()]
    assert line["event"] == "config_reload_failed"
    assert line["errors"] == [
        {
            "at": "targets[0] (name: f).api_key",
            "problem": "environment variable DFX_UNSET_KEY is not set",
        }
    ]


async def test_an_exporter_that_never_started_does_not_log_that_it_stopped(
    tmp_path: Path, json_log: io.StringIO
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("targets: []\n", encoding="utf-8")
    exporter = Exporter(path, "127.0.0.1:0")
    with pytest.raises(ConfigError):
        await exporter.start()
    await exporter.stop()
    assert "exporter_stopped" not in json_log.getvalue()
