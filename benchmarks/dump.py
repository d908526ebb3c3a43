"""Every `/metrics` variant at a frozen time, for proving a change leaves the exposition as it was.

  .venv/bin/python -m benchmarks.dump DIR

Polls the in-process simulator (about 100,000 series) four times on a clock that moves 7 s per
poll, so values change and the renderers, the kept pieces and the skipped detail calls are all
exercised, and writes each poll's text and OpenMetrics bodies, plain and gzip (decompressed),
to DIR. Lines that measure the exporter itself (poll durations, the build) are left out. Run it
in two checkouts (copy this file into the older one) and compare: `cmp` says whether the bodies
are byte-identical.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
from pathlib import Path

from dataflow_exporter import config as config_mod
from dataflow_exporter.exporter import Exporter
from dataflow_exporter.simulator import Simulation

KNOBS = {
    "peerdb": {"mirrors": 2000, "churn_period": 600},
    "feldera": {"pipelines": 100, "connectors_per_pipeline": 4},
    "confluent": {"links": 2, "topics": 800, "partitions": 12},
    "etlworks": {"flows": 800},
}
# The exporter's own lines that differ from run to run whatever the code.
OWN = (b"dataflow_exporter_target_poll_duration", b"dataflow_exporter_build_info")
POLLS = 4


async def dump(out: Path) -> None:
    """Write `POLLS` polls' bodies, every variant, into `out`."""
    now = [1_900_000_000.0]

    def clock() -> float:
        return now[0]

    async with Simulation(KNOBS, clock=clock) as sim:
        targets = [system.demo_target(sim.url) for system in sim.systems.values()]
        cfg = config_mod.parse({"global": {"max_series": 2_000_000}, "targets": targets}, env={})
        exporter = Exporter(cfg, clock=clock, runtime_metrics=False)
        try:
            for step in range(POLLS):
                now[0] += 7.0
                if not await exporter.poll_once():
                    raise RuntimeError(f"poll {step} failed")
                for openmetrics in (False, True):
                    for gzipped in (False, True):
                        body = exporter.exposition_cache.exposition(openmetrics, gzipped)
                        if gzipped:
                            body = gzip.decompress(body)
                        kept = [line for line in body.split(b"\n") if not line.startswith(OWN)]
                        name = f"poll{step}-om{int(openmetrics)}-gzip{int(gzipped)}.prom"
                        (out / name).write_bytes(b"\n".join(kept))
        finally:
            await exporter.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("out", type=Path, help="directory to write the bodies into")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    asyncio.run(dump(args.out))


if __name__ == "__main__":
    main()
