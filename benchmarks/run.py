"""Scale benchmark: the exporter against the simulator at production size, beside two references
measured in the same run on the same data.

  python3 benchmarks/run.py                 # full scale (about 3 minutes)
  python3 benchmarks/run.py --scale small   # a quick look

Reports, per system: requests per poll and per entity (mirror, pipeline, link and topic, flow),
poll-cycle wall time and CPU, and the "network floor" (a bare aiohttp client
replaying exactly the requests of that cycle, with the same concurrency, decoding the JSON and
doing nothing else). For /metrics: latency p50/p99 and bytes for text/OpenMetrics, plain/gzip,
both when the body must be rebuilt (a poll just finished) and when it is cached; beside
prometheus_client's `generate_latest` over the same families. Then RSS over repeated cycles.
The simulator runs in its own process so its CPU is not counted. Compare ratios, not absolute
times: the machines are shared and noisy.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import gzip
import json
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import psutil
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.openmetrics import exposition as om_exposition

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dataflow_exporter import config as config_mod
from dataflow_exporter.daemon import tune_gc
from dataflow_exporter.exposition_cache import ExpositionCache
from dataflow_exporter.families import Family
from dataflow_exporter.runtime_metrics import RuntimeMetrics
from dataflow_exporter.scheduler import Scheduler
from dataflow_exporter.server import make_app
from dataflow_exporter.simulator import SIMULATORS
from dataflow_exporter.store import Store
from dataflow_exporter.upstream import Auth, UpstreamClient, new_session

SCALES = {
    "full": {
        "peerdb": {"mirrors": 5000},
        "feldera": {"pipelines": 250, "connectors_per_pipeline": 4},
        "confluent": {"links": 4, "topics": 2000, "partitions": 12},
        "etlworks": {"flows": 2000},
    },
    "small": {
        "peerdb": {"mirrors": 500},
        "feldera": {"pipelines": 25, "connectors_per_pipeline": 4},
        "confluent": {"links": 2, "topics": 200, "partitions": 12},
        "etlworks": {"flows": 200},
    },
}
CONCURRENCY = 16


@dataclass
class Recorded:
    method: str
    url: str
    params: Any
    body: Any
    auth: Auth | None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class SystemFigures:
    walls: list[float] = field(default_factory=list)
    cpus: list[float] = field(default_factory=list)
    floor_walls: list[float] = field(default_factory=list)
    floor_cpus: list[float] = field(default_factory=list)
    requests: int = 0
    series: int = 0
    entities: int = 0


RECORDING: list[Recorded] | None = None
# Families are kept for the reference render only from one unmeasured poll after the measured
# cycles: kept during them, they would grow the heap the cache walks and slow those polls.
KEEP_FAMILIES = False
LAST_FAMILIES: dict[str, list[Family]] = {}


def _install_probes() -> None:
    """Record every upstream request, and keep each poll's families for the reference render."""
    original_send = UpstreamClient._send

    async def recording_send(
        self: UpstreamClient,
        method: str,
        url: str,
        params: Any,
        body: Any,
        what: str,
        auth: Auth | None,
    ) -> Any:
        if RECORDING is not None:
            # Headers are read after the poll: the probe must cost the poll next to nothing.
            RECORDING.append(Recorded(method, url, params, body, auth))
        return await original_send(self, method, url, params, body, what, auth)

    UpstreamClient._send = recording_send  # type: ignore[method-assign]

    for source_class in _sources():
        original_poll = source_class.poll

        async def poll(self: Any, client: UpstreamClient, _orig: Any = original_poll) -> Any:
            result = await _orig(self, client)
            if KEEP_FAMILIES:
                LAST_FAMILIES[self.config.name] = result.families
            return result

        source_class.poll = poll  # type: ignore[method-assign]


def _sources() -> list[Any]:
    from dataflow_exporter.sources import REGISTRY

    return list(REGISTRY.values())


async def _floor(session: aiohttp.ClientSession, records: list[Recorded]) -> tuple[float, float]:
    """Replay a cycle's requests: the first alone (the inventory), the rest concurrently."""
    limit = asyncio.Semaphore(CONCURRENCY)

    async def fetch(r: Recorded) -> Any:
        async with limit:
            data = orjson.dumps(r.body) if r.body is not None else None
            async with session.request(
                r.method, r.url, params=r.params, data=data, headers=r.headers
            ) as resp:
                return orjson.loads(await resp.read())

    wall, cpu = time.perf_counter(), time.process_time()
    if records:
        await fetch(records[0])
        await asyncio.gather(*(fetch(r) for r in records[1:]))
    return time.perf_counter() - wall, time.process_time() - cpu


def _reference_registry(families: dict[str, list[Family]]) -> CollectorRegistry:
    built: list[Metric] = []
    for target, fams in families.items():
        for fam in fams:
            labels = ["target", *fam.spec.labels]
            metric: Metric
            if fam.spec.kind == "counter":
                metric = CounterMetricFamily(fam.spec.name, fam.spec.help, labels=labels)
            else:
                metric = GaugeMetricFamily(fam.spec.name, fam.spec.help, labels=labels)
            for values, v in fam.samples:
                metric.add_metric([target, *values], v)
            built.append(metric)

    class Fixed:
        def collect(self) -> list[Metric]:
            return built

    registry = CollectorRegistry()
    registry.register(Fixed())  # type: ignore[arg-type]
    return registry


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:9.1f} ms"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _wait_port(port: int) -> None:
    for _ in range(200):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            await writer.wait_closed()
            return
        except OSError:
            await asyncio.sleep(0.05)
    raise RuntimeError("simulator did not start")


def _start_simulator(knobs: dict[str, dict[str, int]], port: int) -> subprocess.Popen[bytes]:
    sets = [f"--set={system}.{k}={v}" for system, kv in knobs.items() for k, v in kv.items()]
    command = [sys.executable, "-m", "dataflow_exporter.cli", "simulate"]
    command.append(f"--listen=127.0.0.1:{port}")
    return subprocess.Popen(
        [*command, "--log.level=error", *sets],
        stdout=subprocess.DEVNULL,
    )


def _targets(knobs: dict[str, dict[str, int]], url: str, systems: Any = None) -> list[Any]:
    return [
        SIMULATORS[s](time.time, **knobs.get(s, {})).demo_target(url)
        for s in (systems or SIMULATORS)
    ]


async def run(scale: str, cycles: int, scrapes: int) -> dict[str, Any]:
    global RECORDING, KEEP_FAMILIES
    knobs = SCALES[scale]
    port = _free_port()
    sim = _start_simulator(knobs, port)
    try:
        await _wait_port(port)
        url = f"http://127.0.0.1:{port}"
        targets = _targets(knobs, url)
        cfg = config_mod.parse(
            {
                "global": {
                    "interval": "10m",
                    "timeout": "5m",
                    "max_series": 2_000_000,
                    "max_concurrency": CONCURRENCY,
                },
                "targets": targets,
            }
        )
        _install_probes()
        process = psutil.Process()
        figures = {t.system: SystemFigures() for t in cfg.targets}
        rss: list[float] = []
        store = Store()
        async with new_session() as session, aiohttp.ClientSession() as floor_session:
            scheduler = Scheduler(session, store)
            scheduler.configure(cfg)
            for _cycle in range(cycles):
                for name, poller in scheduler.pollers.items():
                    fig = figures[poller.config.system]
                    RECORDING = []
                    wall, cpu = time.perf_counter(), time.process_time()
                    ok = await poller.poll_once()
                    fig.walls.append(time.perf_counter() - wall)
                    fig.cpus.append(time.process_time() - cpu)
                    records, RECORDING = RECORDING, None
                    if not ok:
                        raise RuntimeError(f"{name}: {store.targets[name].last_error}")
                    fig.requests = len(records)
                    snapshot = store.targets[name].snapshot
                    fig.series = snapshot.series if snapshot else 0
                    fig.entities = sum(snapshot.entities.values()) if snapshot else 0
                    for record in records:
                        if record.auth is not None:
                            record.headers = dict(await record.auth.headers(poller.client))
                    floor_wall, floor_cpu = await _floor(floor_session, records)
                    fig.floor_walls.append(floor_wall)
                    fig.floor_cpus.append(floor_cpu)
                rss.append(process.memory_info().rss / 2**20)
            KEEP_FAMILIES = True
            for poller in scheduler.pollers.values():
                await poller.poll_once()
            KEEP_FAMILIES = False
            scrape = await _measure_scrapes(store, scrapes)
        scrape["reference"] = _measure_reference(scrapes)
        return {"scale": scale, "systems": figures, "rss_mib": rss, "scrape": scrape}
    finally:
        sim.terminate()
        sim.wait(10)


async def _measure_scrapes(store: Store, scrapes: int) -> dict[str, Any]:
    from aiohttp import web

    cache = ExpositionCache(store, runtime=RuntimeMetrics())

    async def noop_reload() -> list[str]:
        return []

    runner = web.AppRunner(make_app(store, cache, noop_reload), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    out: dict[str, Any] = {}
    variants = {
        "text": {"Accept-Encoding": "identity"},
        "text+gzip": {"Accept-Encoding": "gzip"},
        "openmetrics": {
            "Accept": "application/openmetrics-text; version=1.0.0",
            "Accept-Encoding": "identity",
        },
        "openmetrics+gzip": {
            "Accept": "application/openmetrics-text; version=1.0.0",
            "Accept-Encoding": "gzip",
        },
    }
    try:
        async with aiohttp.ClientSession(auto_decompress=False) as client:
            for label, headers in variants.items():
                for mode in ("rebuilt", "cached"):
                    times, size = [], 0
                    for _ in range(scrapes):
                        if mode == "rebuilt":
                            store.version += 1  # as when a poll has just completed
                        t0 = time.perf_counter()
                        async with client.get(
                            f"http://127.0.0.1:{port}/metrics", headers=headers
                        ) as resp:
                            body = await resp.read()
                        times.append(time.perf_counter() - t0)
                        size = len(body)
                    out[f"{label} {mode}"] = {
                        "p50": _percentile(times, 0.5),
                        "p99": _percentile(times, 0.99),
                        "bytes": size,
                    }
        series_text = cache.exposition().decode()
        out["series"] = sum(
            1 for line in series_text.splitlines() if line and not line.startswith("#")
        )
        out["gzip_bytes"] = len(gzip.compress(series_text.encode()))
    finally:
        await runner.cleanup()
    return out


def _measure_reference(scrapes: int) -> dict[str, Any]:
    registry = _reference_registry(LAST_FAMILIES)
    result: dict[str, Any] = {}
    for label, render in (
        ("generate_latest text", generate_latest),
        ("generate_latest openmetrics", om_exposition.generate_latest),
    ):
        times = []
        for _ in range(max(3, scrapes // 10)):
            t0 = time.perf_counter()
            body = render(registry)
            times.append(time.perf_counter() - t0)
        result[label] = {
            "p50": statistics.median(times),
            "p99": _percentile(times, 0.99),
            "bytes": len(body),
        }
    return result


async def sweep(concurrencies: list[int], latency: float) -> str:
    """Poll time against `max_concurrency` for the systems that make a request per entity, with
    every upstream answer delayed by `latency` (as a remote API is); a fresh simulator per run
    so its peak of requests in flight belongs to that run."""
    knobs = SCALES["small"]
    systems = ("peerdb", "etlworks")
    lines = [
        f"poll time by max_concurrency (scale small, {latency * 1000:g} ms upstream latency)",
        f"{'system':<10} {'concurrency':>11} {'wall':>12} {'in flight (max)':>16}",
    ]
    for concurrency in concurrencies:
        port = _free_port()
        sim = _start_simulator(knobs, port)
        try:
            await _wait_port(port)
            url = f"http://127.0.0.1:{port}"
            cfg = config_mod.parse(
                {
                    "global": {"interval": "10m", "timeout": "5m", "max_concurrency": concurrency},
                    "targets": _targets(knobs, url, systems),
                }
            )
            async with new_session() as session, aiohttp.ClientSession() as control:
                for system in systems:
                    async with control.post(
                        f"{url}/_sim/{system}/faults", json={"latency": latency}
                    ) as resp:
                        resp.raise_for_status()
                scheduler = Scheduler(session, Store())
                scheduler.configure(cfg)
                for poller in scheduler.pollers.values():
                    await poller.poll_once()  # warm: connections, tokens
                    started = time.perf_counter()
                    if not await poller.poll_once():
                        raise RuntimeError(f"{poller.config.name} failed")
                    wall = time.perf_counter() - started
                    async with control.get(f"{url}/_sim/{poller.config.system}/faults") as resp:
                        in_flight = (await resp.json())["max_in_flight"]
                    lines.append(
                        f"{poller.config.system:<10} {concurrency:>11} {_ms(wall)} {in_flight:>16}"
                    )
        finally:
            sim.terminate()
            sim.wait(10)
    return "\n".join(lines)


def _poll_row(
    name: str,
    requests: int,
    entities: int,
    series: int,
    wall: float,
    floor: float,
    cpu: float,
    floor_cpu: float,
) -> str:
    per_entity = requests / max(entities, 1)
    return (
        f"{name:<10} {requests:>8} {entities:>8} {per_entity:>7.2f} {series:>8} {_ms(wall)} "
        f"{_ms(floor)} {wall / floor:6.2f} "
        f"{_ms(cpu)} {_ms(floor_cpu)} {cpu / max(floor_cpu, 1e-9):6.2f}"
    )


def report(results: dict[str, Any]) -> str:
    lines = [f"scale: {results['scale']}", "", "poll cycle per system (median over cycles)"]
    heads = (
        "requests",
        "entities",
        "req/ent",
        "series",
        "wall",
        "floor wall",
        "ratio",
        "cpu",
        "floor cpu",
        "ratio",
    )
    widths = (8, 8, 7, 8, 12, 12, 6, 12, 12, 6)
    row = " ".join(f"{h:>{w}}" for h, w in zip(heads, widths, strict=True))
    lines.append(f"{'system':<10} {row}")
    figures = results["systems"]
    medians = {
        system: [statistics.median(xs) for xs in (f.walls, f.floor_walls, f.cpus, f.floor_cpus)]
        for system, f in figures.items()
    }
    for system, fig in figures.items():
        lines.append(_poll_row(system, fig.requests, fig.entities, fig.series, *medians[system]))
    lines.append(
        _poll_row(
            "all",
            sum(f.requests for f in figures.values()),
            sum(f.entities for f in figures.values()),
            sum(f.series for f in figures.values()),
            *(sum(column) for column in zip(*medians.values(), strict=True)),
        )
    )
    lines.append(f"(gc thresholds {gc.get_threshold()}, max_concurrency {CONCURRENCY})")
    scrape = results["scrape"]
    lines += [
        "",
        f"/metrics with {scrape['series']} series (gzip of text: {scrape['gzip_bytes']} bytes)",
    ]
    lines.append(f"{'variant':<30} {'p50':>12} {'p99':>12} {'bytes':>10}")
    for label, fig in scrape.items():
        if isinstance(fig, dict) and "p50" in fig:
            lines.append(f"{label:<30} {_ms(fig['p50'])} {_ms(fig['p99'])} {fig['bytes']:>10}")
    for label, fig in scrape["reference"].items():
        lines.append(f"{label:<30} {_ms(fig['p50'])} {_ms(fig['p99'])} {fig['bytes']:>10}")
    ref_text = scrape["reference"]["generate_latest text"]["p50"]
    ref_om = scrape["reference"]["generate_latest openmetrics"]["p50"]
    text_rebuilt = scrape["text rebuilt"]["p50"]
    om_rebuilt = scrape["openmetrics rebuilt"]["p50"]
    lines += [
        "",
        f"generate_latest / rebuilt text scrape (p50): {ref_text / text_rebuilt:.1f}x",
        f"generate_latest openmetrics / rebuilt openmetrics (p50): {ref_om / om_rebuilt:.1f}x",
        f"generate_latest / cached text (p50): {ref_text / scrape['text cached']['p50']:.1f}x",
        "",
        "RSS after each cycle (MiB): " + ", ".join(f"{r:.0f}" for r in results["rss_mib"]),
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", choices=sorted(SCALES), default="full")
    parser.add_argument("--cycles", type=int, default=4)
    parser.add_argument("--scrapes", type=int, default=50)
    parser.add_argument("--json", type=Path, default=None, help="also write the raw figures here")
    parser.add_argument(
        "--sweep",
        type=lambda text: [int(v) for v in text.split(",")],
        default=None,
        metavar="N,N,...",
        help="instead: poll time against max_concurrency, e.g. --sweep 1,4,8,16,32",
    )
    parser.add_argument("--latency-ms", type=float, default=10.0, help="upstream delay (sweep)")
    args = parser.parse_args()
    tune_gc()  # as `dataflow-exporter run` does; the references run in this process too
    if args.sweep:
        print(asyncio.run(sweep(args.sweep, args.latency_ms / 1000)))
        return
    results = asyncio.run(run(args.scale, args.cycles, args.scrapes))
    print(report(results))
    if args.json:
        raw = {**results, "systems": {k: vars(v) for k, v in results["systems"].items()}}
        args.json.write_text(json.dumps(raw, indent=2))


if __name__ == "__main__":
    main()
