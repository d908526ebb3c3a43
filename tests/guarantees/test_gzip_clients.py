"""The gzip `/metrics` body, lined up from pieces compressed when each target's poll landed,
reads whole and byte-identical to the plain body in every client that scrapes it: Prometheus
itself, curl, aiohttp, Python's gzip and a one-shot zlib."""

from __future__ import annotations

import asyncio
import gzip
import zlib
from collections.abc import AsyncIterator

import aiohttp
import pytest

from dataflow_exporter import config as config_mod
from dataflow_exporter.exporter import Exporter
from dataflow_exporter.simulator import Simulation
from tests.support.helpers import promtool_check_metrics, samples
from tests.support.prometheus import Prometheus
from tests.support.tools import require_tool

OPENMETRICS = "application/openmetrics-text; version=1.0.0"


@pytest.fixture
async def exporter() -> AsyncIterator[Exporter]:
    """Two PeerDB targets and a Confluent one: each PeerDB family holds a block from each
    target, so the body interleaves their pieces family by family."""
    async with Simulation(
        {"peerdb": {"mirrors": 12}, "confluent": {"topics": 6, "partitions": 3}}
    ) as sim:
        targets = [
            {"name": "pg-a", "system": "peerdb", "url": sim.url},
            {"name": "pg-b", "system": "peerdb", "url": sim.url},
            sim.systems["confluent"].demo_target(sim.url),
        ]
        cfg = config_mod.parse({"targets": targets}, env={})
        exp = Exporter(cfg, "127.0.0.1:0", runtime_metrics=False)
        assert await exp.poll_once()
        await exp.serve()
        yield exp
        await exp.stop()


def url(exporter: Exporter) -> str:
    return f"http://127.0.0.1:{exporter.port}/metrics"


async def raw(exporter: Exporter, accept: str, encoding: str) -> bytes:
    headers = {"Accept": accept, "Accept-Encoding": encoding}
    async with (
        aiohttp.ClientSession(auto_decompress=False) as session,
        session.get(url(exporter), headers=headers) as resp,
    ):
        assert resp.headers.get("Content-Encoding", "identity") == encoding
        return await resp.read()


@pytest.mark.parametrize("accept", [OPENMETRICS, "text/plain"])
async def test_python_gzip_and_one_shot_zlib_read_the_whole_body(
    exporter: Exporter, accept: str
) -> None:
    plain = await raw(exporter, accept, "identity")
    body = await raw(exporter, accept, "gzip")
    assert gzip.decompress(body) == plain
    assert zlib.decompress(body, 16 + zlib.MAX_WBITS) == plain


async def test_the_body_holds_each_family_once_with_every_targets_series(
    exporter: Exporter,
) -> None:
    text = gzip.decompress(await raw(exporter, "text/plain", "gzip")).decode()
    targets = {dict(labels).get("target") for _name, labels in samples(text)}
    assert {"pg-a", "pg-b", "confluent-demo"} <= targets
    promtool_check_metrics(text)


async def test_aiohttp_reads_the_whole_body(exporter: Exporter) -> None:
    plain = await raw(exporter, OPENMETRICS, "identity")
    async with (
        aiohttp.ClientSession() as session,
        session.get(url(exporter), headers={"Accept": OPENMETRICS}) as resp,
    ):
        assert resp.headers["Content-Encoding"] == "gzip"
        assert await resp.read() == plain


@pytest.mark.slow
async def test_curl_compressed_reads_the_whole_body(exporter: Exporter) -> None:
    plain = await raw(exporter, OPENMETRICS, "identity")
    curl = await asyncio.create_subprocess_exec(
        require_tool("curl"),
        "--silent",
        "--fail",
        "--compressed",
        "--header",
        f"Accept: {OPENMETRICS}",
        url(exporter),
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await asyncio.wait_for(curl.communicate(), 60)
    assert curl.returncode == 0
    assert out == plain


@pytest.mark.slow
async def test_prometheus_scrapes_every_series_of_the_body(exporter: Exporter) -> None:
    series = samples((await raw(exporter, "text/plain", "identity")).decode())
    # The body's last piece: the last family's block of the last target in it.
    last_family = max(name for name, labels in series if ("target", "pg-b") in labels)
    prometheus = Prometheus(f"127.0.0.1:{exporter.port}")
    try:
        await asyncio.to_thread(prometheus.wait_for_scrape)
        assert await asyncio.to_thread(prometheus.last_scrape_error) == ""
        scraped = await asyncio.to_thread(prometheus.query, "scrape_samples_scraped")
        last = await asyncio.to_thread(prometheus.query, f'{last_family}{{target="pg-b"}}')
    finally:
        prometheus.stop()
    assert [float(r["value"][1]) for r in scraped] == [len(series)]
    assert last
