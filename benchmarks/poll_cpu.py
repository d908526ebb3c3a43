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
"""

from __future__ import annotations

import argparse
import asyncio
import time

from benchmarks.run import CONCURRENCY, _config, _start_simulator, _targets, _wait_port
from dataflow_exporter.daemon import tune_gc
from dataflow_exporter.exporter import Exporter
from dataflow_exporter.simulator import SIMULATORS
from tests.support.ports import free_port

WARMUP_POLLS = 2


async def measure(system: str, knobs: dict[str, int], polls: int) -> list[float]:
    """Seconds of CPU of each measured poll."""
    port = free_port()
    sim = _start_simulator({system: knobs}, port)
    try:
        await _wait_port(port)
        url = f"http://127.0.0.1:{port}"
        cfg = _config(
            _targets({system: knobs}, url, [system]),
            max_series=10_000_000,
            max_entities=1_000_000,
            max_concurrency=CONCURRENCY,
        )
        exporter = Exporter(cfg, "127.0.0.1:0")
        name = cfg.targets[0].name
        cpus = []
        try:
            for _warmup in range(WARMUP_POLLS):
                await exporter.poll_once(name)
            for _poll in range(polls):
                cpu = time.process_time()
                if not await exporter.poll_once(name):
                    raise RuntimeError(f"{name}: {exporter.store.targets[name].last_error}")
                cpus.append(time.process_time() - cpu)
        finally:
            await exporter.stop()
        return cpus
    finally:
        sim.terminate()
        sim.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("system", choices=sorted(SIMULATORS))
    parser.add_argument(
        "--set", action="append", default=[], metavar="KNOB=N", help="a simulator knob"
    )
    parser.add_argument("--polls", type=int, default=6)
    args = parser.parse_args()
    knobs = {k: int(v) for k, v in (item.split("=", 1) for item in args.set)}
    # As `dataflow-exporter run` collects garbage: with the interpreter's default thresholds
    # a large poll spends a tenth of its CPU in the collector, which the daemon does not.
    tune_gc()
    cpus = asyncio.run(measure(args.system, knobs, args.polls))
    print("CPU per poll (ms):", ", ".join(f"{cpu * 1000:.0f}" for cpu in cpus))
    print(f"median {sorted(cpus)[len(cpus) // 2] * 1000:.0f} ms")


if __name__ == "__main__":
    main()
