"""Status-surface benchmark: `/-/healthy`, `/metrics`, `/` and `/api/v1/status` at incident
scale, and what clients that never read, or that stall from one address, cost.

  python -m benchmarks.status                    # 5,000 broken entities with 8 KB errors
  python -m benchmarks.status --code DIR         # the same against another checkout's package

The exporter's web app runs in its own process (so the load generator's CPU is not counted)
over a store holding one Feldera target whose `--entities` pipelines all fail with their own
`--text-bytes` error, and a `/metrics` body of `--metrics-mib`. Three phases:

1. latency: 4 clients request `/` and `/api/v1/status` in a loop for `--seconds` while one
   client times `/-/healthy` and `/metrics` one after another; p50/p99/max of each, and of the
   first `/` (the first view's build);
2. never-reading clients: the server's RSS, and its largest growth over `--stall-seconds`
   while 10 clients (from 10 loopback addresses) ask for `/` or the whole `/api/v1/status`
   and read nothing;
3. fairness: 40 clients from one address ask for an 8 MiB `/metrics` and read nothing; a
   well-behaved scrape from another address is timed.

Only APIs present before the status cache (`Store`, `make_app`, `ExpositionCache`) are used
to build the server, so `--code` can measure an older checkout. Compare runs on one machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import psutil

from tests.support.ports import free_port

MiB = 1024 * 1024
ROOT = Path(__file__).resolve().parents[1]


def _store(entities: int, text_bytes: int, metrics_mib: int) -> Any:
    from dataflow_exporter.self_metrics import TARGET_UP
    from dataflow_exporter.snapshot import Snapshot
    from dataflow_exporter.sources.base import BrokenEntity
    from dataflow_exporter.store import Store, TargetState

    store = Store()
    store.add(TargetState("t", "feldera", 3600, 7200))
    line = b'feldera_pipeline_rss_bytes{target="t",pipeline="p%08d"} 12345.0\n'
    block = b"".join(line % i for i in range(metrics_mib * MiB // len(line)))
    snapshot = Snapshot(
        {TARGET_UP.name: block},
        {TARGET_UP.name: TARGET_UP},
        1,
        0,
        {"pipelines Failed": entities},
        time.time(),
    )
    text = ("java.lang.IllegalStateException: deployment failed at " * 400)[:text_bytes]
    broken = tuple(
        BrokenEntity("pipeline", (("pipeline", f"p{i:05}"),), "Failed", f"{i} {text}")
        for i in range(entities)
    )
    store.record_success("t", snapshot, [], 0.1, broken=broken)
    return store


async def _serve(port: int, entities: int, text_bytes: int, metrics_mib: int) -> None:
    from aiohttp import web

    import dataflow_exporter
    from dataflow_exporter.exposition_cache import ExpositionCache
    from dataflow_exporter.server import make_app

    async def no_reload() -> list[str]:
        return []

    store = _store(entities, text_bytes, metrics_mib)
    cache = ExpositionCache(store)
    cache.exposition()  # rendered once, as a running exporter has
    runner = web.AppRunner(make_app(store, cache, no_reload), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    print(f"serving {dataflow_exporter.__file__}", flush=True)
    await asyncio.Event().wait()


def _start(args: argparse.Namespace, metrics_mib: int, entities: int) -> tuple[Any, int]:
    port = free_port()
    env, cwd = dict(os.environ), ROOT
    if args.code:
        # `python -m` puts its working directory first on the path: run from the other
        # checkout, with this one behind it for the benchmark itself.
        cwd = Path(args.code).resolve()
        env["PYTHONPATH"] = os.pathsep.join([str(cwd), str(ROOT)])
    command = [sys.executable, "-m", "benchmarks.status", "--serve", str(port)]
    command += [f"--entities={entities}", f"--text-bytes={args.text_bytes}"]
    proc = subprocess.Popen(
        [*command, f"--metrics-mib={metrics_mib}"],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    print(f"  server: {proc.stdout.readline().strip()}")
    return proc, port


def _stats(values: list[float]) -> str:
    if not values:
        return "no answers"
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return (
        f"p50 {statistics.median(ordered) * 1000:8.1f} ms  p99 {p99 * 1000:8.1f} ms  "
        f"max {ordered[-1] * 1000:8.1f} ms  (n={len(ordered)})"
    )


async def _get(session: aiohttp.ClientSession, url: str) -> float:
    started = time.monotonic()
    async with session.get(url, timeout=aiohttp.ClientTimeout(total=120)) as resp:
        await resp.read()
    return time.monotonic() - started


async def _view(port: int, seconds: float) -> None:
    """The viewers' process: 4 clients request the page and the API in a loop."""
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + seconds
    times: dict[str, list[float]] = {"/": [], "/api/v1/status": []}

    async def viewer(session: aiohttp.ClientSession) -> None:
        while time.monotonic() < deadline:
            for path, values in times.items():
                values.append(await _get(session, base + path))

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(viewer(session) for _ in range(4)))
    for path, values in times.items():
        print(f"  {path:18} {_stats(values)}", flush=True)


async def _latency(port: int, seconds: float) -> dict[str, list[float]]:
    base = f"http://127.0.0.1:{port}"
    times: dict[str, list[float]] = {p: [] for p in ("/-/healthy", "/metrics")}
    async with aiohttp.ClientSession() as session:
        first = await _get(session, base + "/")
        print(f"  first /            {first * 1000:8.1f} ms (builds the first view)")
        # The viewers run in a process of their own: their reading must not delay the probes.
        command = [sys.executable, "-m", "benchmarks.status", "--view", str(port)]
        viewers = await asyncio.create_subprocess_exec(*command, f"--seconds={seconds}", cwd=ROOT)
        done = asyncio.create_task(viewers.wait())
        while not done.done():
            for path, values in times.items():
                values.append(await _get(session, base + path))
            await asyncio.sleep(0.05)
    return times


def _never_reading(port: int, paths: list[str], sources: list[str]) -> list[socket.socket]:
    sockets = []
    for path, source in zip(paths, sources, strict=True):
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.bind((source, 0))
        sock.connect(("127.0.0.1", port))
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        sockets.append(sock)
    return sockets


async def _rss_with_stalled(port: int, pid: int, seconds: float) -> tuple[float, float]:
    """The server's RSS, and its largest growth over `seconds` while 10 clients from 10
    addresses ask for the page or the whole API document and never read."""
    process = psutil.Process(pid)
    before = process.memory_info().rss
    paths = ["/", "/api/v1/status?limit=5000"] * 5
    stalled = _never_reading(port, paths, [f"127.0.0.{i}" for i in range(2, 12)])
    peak = before
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            await asyncio.sleep(1)
            peak = max(peak, process.memory_info().rss)
    finally:
        for sock in stalled:
            sock.close()
    return before / MiB, (peak - before) / MiB


async def _fair_scrape(port: int) -> list[float]:
    stalled = _never_reading(port, ["/metrics"] * 40, ["127.0.0.2"] * 40)
    try:
        await asyncio.sleep(2)  # the server writes all it can to each
        async with aiohttp.ClientSession() as session:
            return [await _get(session, f"http://127.0.0.1:{port}/metrics") for _ in range(5)]
    finally:
        for sock in stalled:
            sock.close()


async def bench(args: argparse.Namespace) -> None:
    print(f"{args.entities} broken entities, {args.text_bytes} B errors, {args.seconds:g} s")
    proc, port = _start(args, args.metrics_mib, args.entities)
    try:
        times = await _latency(port, args.seconds)
        for path, values in times.items():
            print(f"  {path:18} {_stats(values)}")
        rss, grown = await _rss_with_stalled(port, proc.pid, args.stall_seconds)
        print(
            f"  RSS {rss:.0f} MiB; 10 never-reading page/API clients: +{grown:.0f} MiB "
            f"(the most over {args.stall_seconds:g} s)"
        )
    finally:
        proc.terminate()
        proc.wait()
    proc, port = _start(args, 8, 0)
    try:
        fair = await _fair_scrape(port)
        print(f"  /metrics (8 MiB) with 40 stalled from another address: {_stats(fair)}")
    finally:
        proc.terminate()
        proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--entities", type=int, default=5000)
    parser.add_argument("--text-bytes", type=int, default=8192)
    parser.add_argument("--metrics-mib", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--stall-seconds", type=float, default=60)
    parser.add_argument("--code", help="a directory holding another dataflow_exporter package")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--view", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.view:
        asyncio.run(_view(args.view, args.seconds))
    elif args.serve:
        asyncio.run(_serve(args.serve, args.entities, args.text_bytes, args.metrics_mib))
    else:
        asyncio.run(bench(args))


if __name__ == "__main__":
    main()
