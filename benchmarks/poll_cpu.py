"""CPU per poll of one system alone: its translation and rendering, to compare two checkouts.

The simulator runs in its own process (as `benchmarks/run.py` starts it, so its CPU is not
counted) with only the system asked for; the exporter is assembled as `once` assembles it and
polls it `--polls` times after two unmeasured polls (logging in, opening connections), with the
daemon's garbage-collection settings. Each poll's CPU (`time.process_time`, the render threads
included) is printed: run it in each checkout in turn, alternating, and compare the runs'
figures, not single polls.

    .venv/bin/python -m benchmarks.poll_cpu confluent --set topics=2000 --set partitions=100
    .venv/bin/python -m benchmarks.poll_cpu confluent --set links=4 --set topics=8280 \\
        --set partitions=12    # Confluent of the 1M preset

With `--floor`, each measured poll is followed by a replay of one poll's requests by a bare
aiohttp client (`benchmarks.run`'s network floor, recorded as it records them), so that the
poll and its floor meet the same moments of a shared machine; the ratio of their medians is
printed.
"""

from __future__ import annotations

import argparse
import asyncio
import time

import aiohttp

from benchmarks.run import (
    CONCURRENCY,
    _config,
    _floor,
    _record_requests,
    _start_simulator,
    _targets,
    _wait_port,
)
from dataflow_exporter.daemon import tune_gc
from dataflow_exporter.exporter import Exporter
from dataflow_exporter.simulator import SIMULATORS
from tests.support.ports import free_port

WARMUP_POLLS = 2


async def measure(system: str, knobs: dict[str, int], polls: int) -> list[float]:
    """Seconds of CPU of each measured poll."""
    return (await measure_with_floor(system, knobs, polls, floor=False))[0]


async def measure_with_floor(
    system: str, knobs: dict[str, int], polls: int, floor: bool
) -> tuple[list[float], list[float]]:
    """Seconds of CPU of each measured poll and, if `floor`, of the replay after it."""
    port = free_port()
    sim = _start_simulator({system: knobs}, port)
    try:
        await _wait_port(port)
        url = f"http://127.0.0.1:{port}"
        targets = _targets({system: knobs}, url, [system])
        cfg = _config(
            targets, max_series=10_000_000, max_entities=1_000_000, max_concurrency=CONCURRENCY
        )
        name = cfg.targets[0].name
        records = []
        if floor:
            # Recorded by an exporter of its own that keeps one series, as `benchmarks.run` does.
            small = _config(
                targets, max_series=1, max_entities=1_000_000, max_concurrency=CONCURRENCY
            )
            records = (await _record_requests(small))[name]
        exporter = Exporter(cfg, "127.0.0.1:0")
        cpus: list[float] = []
        floors: list[float] = []
        try:
            async with aiohttp.ClientSession() as floor_session:
                for _warmup in range(WARMUP_POLLS):
                    await exporter.poll_once(name)
                for _poll in range(polls):
                    cpu = time.process_time()
                    if not await exporter.poll_once(name):
                        raise RuntimeError(f"{name}: {exporter.store.targets[name].last_error}")
                    cpus.append(time.process_time() - cpu)
                    if records:
                        floors.append((await _floor(floor_session, records))[1])
        finally:
            await exporter.stop()
        return cpus, floors
    finally:
        sim.terminate()
        sim.wait(10)


def _median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("system", choices=sorted(SIMULATORS))
    parser.add_argument(
        "--set", action="append", default=[], metavar="KNOB=N", help="a simulator knob"
    )
    parser.add_argument("--polls", type=int, default=6)
    parser.add_argument(
        "--floor", action="store_true", help="replay the poll's requests after each poll"
    )
    args = parser.parse_args()
    knobs = {k: int(v) for k, v in (item.split("=", 1) for item in args.set)}
    # As `dataflow-exporter run` collects garbage: with the interpreter's default thresholds
    # a large poll spends a tenth of its CPU in the collector, which the daemon does not.
    tune_gc()
    cpus, floors = asyncio.run(measure_with_floor(args.system, knobs, args.polls, args.floor))
    print("CPU per poll (ms):", ", ".join(f"{cpu * 1000:.0f}" for cpu in cpus))
    print(f"median {_median(cpus) * 1000:.0f} ms")
    if floors:
        print("CPU per floor (ms):", ", ".join(f"{cpu * 1000:.0f}" for cpu in floors))
        print(f"poll / floor (medians): {_median(cpus) / max(_median(floors), 1e-9):.2f}")


if __name__ == "__main__":
    main()
