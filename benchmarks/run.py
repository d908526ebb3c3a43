"""Scale benchmark: the exporter against the simulator at production size, beside two references
measured in the same run on the same data.

  .venv/bin/python -m benchmarks.run                 # full scale (about 3 minutes)
  .venv/bin/python -m benchmarks.run --scale small   # a quick look
  .venv/bin/python -m benchmarks.run --scale 1m      # a million series (about 10 minutes)

Reports, per system: requests per poll and per entity (mirror, pipeline, link and topic, flow),
poll-cycle wall time and CPU, and the "network floor" (a bare aiohttp client
replaying exactly the requests of that cycle, with the same concurrency, decoding the JSON and
doing nothing else). For /metrics: latency p50/p99 and bytes for text/OpenMetrics, plain/gzip,
both the first scrape after a poll (the store's version bumped, as a poll does) and cached;
beside prometheus_client's `generate_latest` over the same families and a bare aiohttp handler
sending the same gzip bytes (the floor of a scrape). Then RSS after each measured cycle. The
measured cycles follow `WARMUP_CYCLES` unmeasured ones: steady polling, not the first login.
The simulator runs in its own process so its CPU is not counted. Compare ratios, not absolute
times: the machines are shared and noisy.

The exporter is assembled as `once` assembles it (`Exporter`) and carries no probe. After the
measured cycles, a second exporter records one poll's requests per target through aiohttp's
`TraceConfig` hooks on the session it opens; the floor replays those. The reference families
are read back from the measured exporter's own exposition.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import gzip
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
import msgspec
import psutil
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import Metric
from prometheus_client.openmetrics import exposition as om_exposition
from prometheus_client.parser import text_string_to_metric_families
from yarl import URL

from dataflow_exporter import config as config_mod
from dataflow_exporter.config import Config
from dataflow_exporter.daemon import tune_gc
from dataflow_exporter.exporter import Exporter
from dataflow_exporter.simulator import SIMULATORS
from tests.support.loopback import serving
from tests.support.ports import free_port

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
    # A million series: full scale times 4.14. The mirrors' pause churn is slowed to 10 minutes,
    # since at this size one cycle of polls takes about a minute and a fleet's mirrors do not
    # change state every poll.
    "1m": {
        "peerdb": {"mirrors": 20700, "churn_period": 600},
        "feldera": {"pipelines": 1035, "connectors_per_pipeline": 4},
        "confluent": {"links": 4, "topics": 8280, "partitions": 12},
        "etlworks": {"flows": 8280},
    },
    # Seconds, not minutes: the smoke test that keeps this script from rotting.
    "tiny": {
        "peerdb": {"mirrors": 20},
        "feldera": {"pipelines": 3, "connectors_per_pipeline": 2},
        "confluent": {"links": 1, "topics": 10, "partitions": 2},
        "etlworks": {"flows": 10},
    },
}
CONCURRENCY = 16
WARMUP_CYCLES = 2


@dataclass(slots=True)
class Recorded:
    """One upstream request as the exporter sent it, and how long its answer's head took.
    Kept small: every request of a poll is held through the measured cycles, and parsed URLs
    and header multidicts would add tens of MiB to the RSS they report."""

    method: str
    url: str  # encoded, query included
    headers: Mapping[str, str]  # one object per distinct set of headers
    started: float
    body: bytes = b""
    seconds: float | None = None


@dataclass
class SystemFigures:
    walls: list[float] = field(default_factory=list)
    cpus: list[float] = field(default_factory=list)
    floor_walls: list[float] = field(default_factory=list)
    floor_cpus: list[float] = field(default_factory=list)
    requests: int = 0
    series: int = 0
    entities: int = 0
    # Median time from sending a request to its answer's head (not in the table).
    request_median: float = 0.0


class RequestRecorder:
    """Records the upstream requests of the session it is given to, through aiohttp's public
    tracing hooks: each one's method, URL, headers and body (to replay for the floor) and the
    time to its answer's head. Records only while `recording` is a list."""

    def __init__(self) -> None:
        self.recording: list[Recorded] | None = None
        self._headers: dict[tuple[tuple[str, str], ...], dict[str, str]] = {}
        self.trace_config = aiohttp.TraceConfig()
        self.trace_config.on_request_start.append(self._started)
        self.trace_config.on_request_chunk_sent.append(self._body_sent)
        self.trace_config.on_request_end.append(self._answered)

    async def _started(
        self, _session: Any, ctx: SimpleNamespace, params: aiohttp.TraceRequestStartParams
    ) -> None:
        ctx.recorded = None
        if self.recording is not None:
            items = tuple(params.headers.items())
            headers = self._headers.setdefault(items, dict(items))
            url = str(params.url)
            ctx.recorded = Recorded(params.method, url, headers, time.perf_counter())
            self.recording.append(ctx.recorded)

    async def _body_sent(
        self, _session: Any, ctx: SimpleNamespace, params: aiohttp.TraceRequestChunkSentParams
    ) -> None:
        if ctx.recorded is not None:
            ctx.recorded.body += params.chunk

    async def _answered(
        self, _session: Any, ctx: SimpleNamespace, _params: aiohttp.TraceRequestEndParams
    ) -> None:
        if ctx.recorded is not None:
            ctx.recorded.seconds = time.perf_counter() - ctx.recorded.started


async def _floor(session: aiohttp.ClientSession, records: list[Recorded]) -> tuple[float, float]:
    """Replay a cycle's requests: the first alone (the inventory), the rest concurrently."""
    limit = asyncio.Semaphore(CONCURRENCY)

    async def fetch(r: Recorded) -> Any:
        url = URL(r.url, encoded=True)
        async with (
            limit,
            session.request(r.method, url, data=r.body or None, headers=r.headers) as resp,
        ):
            return msgspec.json.decode(await resp.read())

    wall, cpu = time.perf_counter(), time.process_time()
    if records:
        await fetch(records[0])
        await asyncio.gather(*(fetch(r) for r in records[1:]))
    return time.perf_counter() - wall, time.process_time() - cpu


def _reference_registry(exposition: str) -> CollectorRegistry:
    """The upstream families of an exposition (not the exporter's own), read back with
    prometheus_client's parser, in a registry `generate_latest` renders."""
    built: list[Metric] = [
        family
        for family in text_string_to_metric_families(exposition)
        if family.name.split("_", 1)[0] in SIMULATORS
    ]

    class Fixed:
        def collect(self) -> list[Metric]:
            return built

    registry = CollectorRegistry()
    registry.register(Fixed())
    return registry


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:9.1f} ms"


async def _wait_port(port: int) -> None:
    for _ in range(200):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            await writer.wait_closed()
            return
        except OSError:
            await asyncio.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


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


def _config(targets: list[Any], **defaults: Any) -> Config:
    return config_mod.parse(
        {"global": {"interval": "10m", "timeout": "5m", **defaults}, "targets": targets}
    )


async def run(scale: str, cycles: int, scrapes: int) -> dict[str, Any]:
    """Poll every system `cycles` times, then replay as many times the requests of one poll
    (the floor), then measure `/metrics`."""
    knobs = SCALES[scale]
    port = free_port()
    sim = _start_simulator(knobs, port)
    try:
        await _wait_port(port)
        url = f"http://127.0.0.1:{port}"
        targets = _targets(knobs, url)
        cfg = _config(
            targets, max_series=2_000_000, max_entities=100_000, max_concurrency=CONCURRENCY
        )
        figures = {t.system: SystemFigures() for t in cfg.targets}
        # Polled one target at a time, each timed alone; served only once the polls are done.
        exporter = Exporter(cfg, "127.0.0.1:0")
        process = psutil.Process()
        rss: list[float] = []
        try:
            # Unmeasured: the first poll logs in and opens connections, and skipped detail
            # calls start only once an answer has held for two polls. Measured: steady polling.
            for _cycle in range(WARMUP_CYCLES):
                for target in cfg.targets:
                    await exporter.poll_once(target.name)
            for _cycle in range(cycles):
                for target in cfg.targets:
                    fig = figures[target.system]
                    wall, cpu = time.perf_counter(), time.process_time()
                    ok = await exporter.poll_once(target.name)
                    fig.walls.append(time.perf_counter() - wall)
                    fig.cpus.append(time.process_time() - cpu)
                    state = exporter.store.targets[target.name]
                    if not ok:
                        raise RuntimeError(f"{target.name}: {state.last_error}")
                    fig.series = state.snapshot.series if state.snapshot else 0
                    fig.entities = sum(state.snapshot.entities.values()) if state.snapshot else 0
                rss.append(process.memory_info().rss / 2**20)
            # Recorded only now, so that nothing of the recording shows in the figures above.
            # Its exporter keeps one series per target: no second copy of every series.
            requests = await _record_requests(
                _config(targets, max_series=1, max_entities=100_000, max_concurrency=CONCURRENCY)
            )
            async with aiohttp.ClientSession() as floor_session:
                for _cycle in range(cycles):
                    for target in cfg.targets:
                        fig = figures[target.system]
                        floor_wall, floor_cpu = await _floor(floor_session, requests[target.name])
                        fig.floor_walls.append(floor_wall)
                        fig.floor_cpus.append(floor_cpu)
            for target in cfg.targets:
                records = requests[target.name]
                figures[target.system].requests = len(records)
                seconds = [r.seconds for r in records if r.seconds is not None]
                figures[target.system].request_median = statistics.median(seconds or [0.0])
            del requests
            scrape = await _measure_scrapes(exporter, scrapes)
        finally:
            await exporter.stop()
        scrape["reference"] = _measure_reference(scrape.pop("exposition"), scrapes)
        return {"scale": scale, "systems": figures, "rss_mib": rss, "scrape": scrape}
    finally:
        sim.terminate()
        sim.wait(10)


async def _record_requests(cfg: Config) -> dict[str, list[Recorded]]:
    """Each target's requests in one poll, seen through tracing hooks on an exporter of their
    own, polled per target `WARMUP_CYCLES` times before the recorded poll, as the measured
    exporter is (the first logs in and opens connections; detail calls are skipped only once
    their answer held for two polls). The measured
    exporter carries no hook: aiohttp's tracing costs about 30 µs of CPU per request, over a
    tenth of a poll's CPU here, which would be counted as the exporter's own."""
    recorder = RequestRecorder()
    exporter = Exporter(cfg, trace_configs=[recorder.trace_config])
    recorded: dict[str, list[Recorded]] = {}
    try:
        for target in cfg.targets:
            for _warmup in range(WARMUP_CYCLES):
                await exporter.poll_once(target.name)
            recorded[target.name] = recorder.recording = []
            ok = await exporter.poll_once(target.name)
            recorder.recording = None
            if not ok:
                state = exporter.store.targets[target.name]
                raise RuntimeError(f"{target.name}: {state.last_error}")
    finally:
        await exporter.stop()
    return recorded


async def _measure_scrapes(exporter: Exporter, scrapes: int) -> dict[str, Any]:
    """Scrape the exporter's own listener in every variant, rebuilt and cached."""
    await exporter.serve()
    port = exporter.port
    store = exporter.store
    out: dict[str, Any] = {}
    scrape_body = b""
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
    async with aiohttp.ClientSession(auto_decompress=False) as client:
        for label, headers in variants.items():
            for mode in ("rebuilt", "cached"):
                times, size = [], 0
                for _ in range(scrapes):
                    if mode == "rebuilt":
                        # As when a poll has just completed: the first scrape after it.
                        store.version += 1
                    t0 = time.perf_counter()
                    async with client.get(
                        f"http://127.0.0.1:{port}/metrics", headers=headers
                    ) as resp:
                        body = await resp.read()
                    times.append(time.perf_counter() - t0)
                    size = len(body)
                if label == "openmetrics+gzip":
                    scrape_body = body
                out[f"{label} {mode}"] = {
                    "p50": _percentile(times, 0.5),
                    "p99": _percentile(times, 0.99),
                    "bytes": size,
                }
    # Imported only now: loading the tests' helpers (and pytest) earlier would add to the RSS
    # the cycles report.
    from tests.support.helpers import samples

    out["bare aiohttp, openmetrics+gzip bytes"] = await _measure_floor(
        scrape_body, variants["openmetrics+gzip"], scrapes
    )
    snapshots = [s.snapshot for s in store.targets.values() if s.snapshot is not None]
    out["blocks_bytes"] = sum(len(b) for snap in snapshots for b in snap.blocks.values())
    # getattr: the same benchmark measures older checkouts, whose snapshots hold no pieces.
    pieces = [p for snap in snapshots for p in getattr(snap, "deflated", {}).values()]
    out["deflated_bytes"] = sum(len(p.data) for p in pieces)
    series_text = exporter.exposition().decode()
    out["series"] = len(samples(series_text))  # also fails on a series exported twice
    out["gzip_bytes"] = len(gzip.compress(series_text.encode()))
    out["exposition"] = series_text
    return out


async def _measure_floor(body: bytes, headers: dict[str, str], scrapes: int) -> dict[str, Any]:
    """The same gzip bytes served by a bare aiohttp handler: what sending them costs."""
    from aiohttp import web

    async def handler(_request: web.Request) -> web.Response:
        return web.Response(
            body=body,
            headers={"Content-Type": "application/openmetrics-text", "Content-Encoding": "gzip"},
        )

    app = web.Application()
    app.router.add_get("/metrics", handler)
    times = []
    async with serving(app) as url, aiohttp.ClientSession(auto_decompress=False) as client:
        for _ in range(scrapes):
            t0 = time.perf_counter()
            async with client.get(url + "/metrics", headers=headers) as r:
                await r.read()
            times.append(time.perf_counter() - t0)
    return {"p50": _percentile(times, 0.5), "p99": _percentile(times, 0.99), "bytes": len(body)}


def _measure_reference(exposition: str, scrapes: int) -> dict[str, Any]:
    """`generate_latest` over the same upstream families, in both formats."""
    registry = _reference_registry(exposition)
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
        port = free_port()
        sim = _start_simulator(knobs, port)
        try:
            await _wait_port(port)
            url = f"http://127.0.0.1:{port}"
            cfg = _config(_targets(knobs, url, systems), max_concurrency=concurrency)
            exporter = Exporter(cfg)
            try:
                async with aiohttp.ClientSession() as control:
                    for system in systems:
                        async with control.post(
                            f"{url}/_sim/{system}/faults", json={"latency": latency}
                        ) as resp:
                            resp.raise_for_status()
                    for target in cfg.targets:
                        await exporter.poll_once(target.name)  # warm: connections, tokens
                        started = time.perf_counter()
                        if not await exporter.poll_once(target.name):
                            raise RuntimeError(f"{target.name} failed")
                        wall = time.perf_counter() - started
                        async with control.get(f"{url}/_sim/{target.system}/faults") as resp:
                            in_flight = (await resp.json())["max_in_flight"]
                        lines.append(
                            f"{target.system:<10} {concurrency:>11} {_ms(wall)} {in_flight:>16}"
                        )
            finally:
                await exporter.stop()
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
        f"upstream blocks held: {scrape['blocks_bytes']} bytes plain, "
        f"{scrape['deflated_bytes']} bytes compressed",
    ]
    lines.append(f"{'variant':<40} {'p50':>12} {'p99':>12} {'bytes':>10}")
    rows = [(k, v) for k, v in scrape.items() if isinstance(v, dict) and "p50" in v]
    for label, fig in [*rows, *scrape["reference"].items()]:
        shown = label.replace(" rebuilt", ", first after a poll")
        lines.append(f"{shown:<40} {_ms(fig['p50'])} {_ms(fig['p99'])} {fig['bytes']:>10}")
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
