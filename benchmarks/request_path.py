"""The request path alone: CPU per request of `UpstreamClient` beside a bare aiohttp client.

A small server in its own process (so its CPU is not counted) answers every request with the
same small JSON body, as PeerDB answers one mirror's status. The exporter's client and a bare
aiohttp client (the network floor of `benchmarks/run.py`: one session, a semaphore, `read()`
and a JSON decode) each make the same requests, alternated over several rounds; the figure is
the median CPU per request of each, and the median over rounds of the difference between the
client and the floor measured right before it is what the request path adds.

    .venv/bin/python -m benchmarks.request_path                    # 20,000 requests per round
    .venv/bin/python -m benchmarks.request_path --profile DIR     # also profile each case
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
from aiohttp import web

from benchmarks.run import _wait_port
from dataflow_exporter.config_models import TargetConfig
from dataflow_exporter.upstream import UpstreamClient, new_session

CONCURRENCY = 8  # a target's default max_concurrency
BODY = msgspec.json.encode(
    {
        "cdcStatus": {
            "snapshotStatus": {"clones": []},
            "rowsSynced": 123456789,
            "lastSyncedAt": "2026-01-01T00:00:00.000000Z",
        },
        "currentFlowState": "STATUS_RUNNING",
    }
)


def _status_body(i: int) -> bytes:
    return msgspec.json.encode({"flowJobName": f"m{i}", "includeBatches": False})


def _serve(port: int) -> None:
    async def answer(_request: web.Request) -> web.Response:
        return web.Response(body=BODY, content_type="application/json")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def _timed(count: int, one: Callable[[int], Awaitable[Any]]) -> float:
    """CPU seconds for `count` calls of `one`, at most CONCURRENCY at a time."""
    limit = asyncio.Semaphore(CONCURRENCY * 4)  # the callee limits; this bounds the tasks

    async def call(i: int) -> None:
        async with limit:
            await one(i)

    cpu = time.process_time()
    await asyncio.gather(*(call(i) for i in range(count)))
    return time.process_time() - cpu


async def measure(url: str, count: int, rounds: int, profile: Path | None) -> dict[str, float]:
    """Median CPU microseconds per request: the exporter's client, the floor, both for GET and
    for a POST with a small JSON body."""
    config = TargetConfig.model_validate(
        {"name": "bench", "system": "any", "url": url, "interval": 10}
    )
    session = new_session()
    floor_session = aiohttp.ClientSession()
    client = UpstreamClient(session, config)
    floor_limit = asyncio.Semaphore(CONCURRENCY)
    # GETs name one entity each (PeerDB's rows per mirror); POSTs share one path and differ
    # in their body (PeerDB's mirror status).
    status = "/api/v1/mirrors/status"
    headers = {"Accept": "application/json", "Content-Type": "application/json"}

    async def floor_get(i: int) -> Any:
        async with floor_limit, floor_session.get(f"{url}/api/v1/m{i}") as resp:
            return msgspec.json.decode(await resp.read())

    async def floor_post(i: int) -> Any:
        async with (
            floor_limit,
            floor_session.post(url + status, data=_status_body(i), headers=headers) as resp,
        ):
            return msgspec.json.decode(await resp.read())

    async def client_get(i: int) -> Any:
        return await client.get_json(f"/api/v1/m{i}")

    async def client_post(i: int) -> Any:
        return await client.post_json(status, {"flowJobName": f"m{i}", "includeBatches": False})

    cases = {
        "floor GET": floor_get,
        "client GET": client_get,
        "floor POST": floor_post,
        "client POST": client_post,
    }
    samples: dict[str, list[float]] = {name: [] for name in cases}
    # CPU time of this thread: wall time on a loaded machine would count the waits too.
    profilers = {name: cProfile.Profile(time.thread_time) for name in cases} if profile else {}
    try:
        for one in cases.values():  # warm the connections and caches
            await _timed(min(count, 500), one)
        for _ in range(rounds):
            for name, one in cases.items():
                if profilers:
                    profilers[name].enable()
                samples[name].append(await _timed(count, one) / count * 1e6)
                if profilers:
                    profilers[name].disable()
    finally:
        await session.close()
        await floor_session.close()
    for name, profiler in profilers.items():
        assert profile is not None
        profiler.dump_stats(profile / (name.replace(" ", "-") + ".prof"))
    figures = {name: statistics.median(values) for name, values in samples.items()}
    # The load of a shared machine moves from round to round: each round's client is compared
    # with the floor measured right before it.
    for method in ("GET", "POST"):
        pairs = zip(samples[f"client {method}"], samples[f"floor {method}"], strict=True)
        figures[f"{method} over the floor"] = statistics.median(c - f for c, f in pairs)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=20_000, help="per round and case")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--profile", type=Path, default=None, help="a directory for each case's cProfile stats"
    )
    parser.add_argument("--serve", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        _serve(args.serve)
        return
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.request_path", f"--serve={port}"],
        stdout=subprocess.DEVNULL,
    )
    try:
        asyncio.run(_wait_port(port))
        url = f"http://127.0.0.1:{port}"
        figures = asyncio.run(measure(url, args.requests, args.rounds, args.profile))
    finally:
        server.terminate()
        server.wait(timeout=10)
    print(f"CPU per request, median of {args.rounds} rounds of {args.requests:,}:")
    for name, micros in figures.items():
        print(
            f"  {name:20} {micros:+7.1f} µs" if "over" in name else f"  {name:20} {micros:7.1f} µs"
        )


if __name__ == "__main__":
    main()
