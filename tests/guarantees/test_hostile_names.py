"""Entity names with quotes, backslashes, newlines, braces, very long and non-ASCII text come out
escaped and bounded, and a real Prometheus scrape stores them as they were."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import yaml

from dataflow_exporter.exporter import Exporter
from dataflow_exporter.families import MAX_LABEL_VALUE_LENGTH
from dataflow_exporter.simulator import Simulation
from tests.support.helpers import promtool_check_metrics, series_of
from tests.support.prometheus import Prometheus

HOSTILE = {
    "mirror_00000": 'orders "quoted"',
    "mirror_00001": "back\\slash\\",
    "mirror_00002": "new\nline",
    "mirror_00003": "{braces}=,x",
    "mirror_00004": "ünïcødé ✓ 数据",
    "mirror_00005": "L" * 500,
}


@pytest.fixture
async def exporter(tmp_path: Path) -> AsyncIterator[Exporter]:
    async with Simulation({"peerdb": {"mirrors": 11}}) as sim, aiohttp.ClientSession() as session:
        for entity, name in HOSTILE.items():
            await session.post(f"{sim.url}/_sim/peerdb/overrides/{entity}", json={"name": name})
        path = tmp_path / "config.yaml"
        target = {
            "name": "pg",
            "system": "peerdb",
            "url": sim.url,
            "rows_synced": False,
            "cdc_batches": False,
            "slots": False,
        }
        path.write_text(
            yaml.safe_dump({"global": {"interval": "1s", "timeout": "0.8s"}, "targets": [target]})
        )
        exp = Exporter(path, "127.0.0.1:0")
        await exp.start()
        for _ in range(100):
            if exp.store.targets["pg"].up:
                break
            await asyncio.sleep(0.05)
        yield exp
        await exp.stop()


def _expected(name: str) -> str:
    return name if len(name) <= MAX_LABEL_VALUE_LENGTH else name[: MAX_LABEL_VALUE_LENGTH - 13]


async def test_hostile_names_are_escaped_and_bounded(exporter: Exporter) -> None:
    text = exporter.exposition_cache.exposition().decode()
    mirrors = {s["mirror"] for s in series_of(text, "peerdb_mirror_info")}
    for name in list(HOSTILE.values())[:-1]:
        assert name in mirrors
    (long_name,) = [m for m in mirrors if m.startswith("LLL")]
    assert len(long_name) == MAX_LABEL_VALUE_LENGTH
    promtool_check_metrics(text)


@pytest.mark.slow
async def test_a_real_prometheus_scrape_keeps_hostile_names_intact(exporter: Exporter) -> None:
    prometheus = Prometheus(f"127.0.0.1:{exporter.port}")
    try:
        await asyncio.to_thread(prometheus.wait_for_scrape)
        result = await asyncio.to_thread(prometheus.query, "peerdb_mirror_info")
        stored = {r["metric"]["mirror"] for r in result}
        assert prometheus.last_scrape_error() == ""
    finally:
        prometheus.stop()
    for name in HOSTILE.values():
        assert any(s.startswith(_expected(name)) for s in stored), name
