"""Soak: the exporter as a real daemon for a long time against the simulator at scale, with entity
churn, injected faults and config reloads; checks that RSS and series count come back to baseline.

  .venv/bin/python -m benchmarks.soak --minutes 60            # the real soak
  .venv/bin/python -m benchmarks.soak --minutes 3 --scale 0.2 # a smoke run

Each phase cycle (`--cycle-seconds`, default 120): drop 10 % of PeerDB mirrors for a while, then
restore them; break one random system with a random fault for 30 s; send SIGHUP; every fourth
cycle reload a config without one target, then with it again. RSS of the exporter process and its
series count are sampled every 10 s; the baseline is taken after warm-up, the final figures after
every fault is cleared and every entity restored.
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import psutil
import yaml

from dataflow_exporter.simulator import SIMULATORS
from tests.support.ports import free_port

FAULTS = [
    {"kind": "status", "status": 500},
    {"kind": "status", "status": 503},
    {"kind": "rate_limit", "retry_after": 5},
    {"kind": "rate_limit"},
    {"kind": "html"},
    {"kind": "truncated"},
    {"kind": "reset"},
    {"latency": 8},
    {"kind": "auth"},
    {"kind": "wrong_types"},
]
SYSTEMS = ["peerdb", "feldera", "confluent", "etlworks"]


def http(method: str, url: str, body: Any = None) -> str:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=30) as resp:
        return str(resp.read().decode())


def wait_for(url: str, deadline: float = 60) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            http("GET", url)
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} never answered")


def series_count(exporter_url: str) -> int:
    text = http("GET", f"{exporter_url}/metrics")
    return sum(1 for line in text.splitlines() if line and not line.startswith("#"))


def write_config(path: Path, data: dict[str, Any]) -> None:
    """Replace the config atomically (as a ConfigMap update does): no reload reads half a file."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(yaml.safe_dump(data))
    tmp.replace(path)


def main() -> None:  # noqa: PLR0915 - one linear script
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=60)
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the default sizes")
    parser.add_argument("--cycle-seconds", type=float, default=120)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--interval", default="15s", help="the targets' poll interval")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    mirrors = int(2000 * args.scale)
    sizes = {
        "peerdb.mirrors": mirrors,
        "confluent.topics": int(500 * args.scale),
        "confluent.partitions": 12,
        "feldera.pipelines": int(60 * args.scale),
        "etlworks.flows": int(500 * args.scale),
    }
    sim_port, port = free_port(), free_port()
    sim_url, exporter_url = f"http://127.0.0.1:{sim_port}", f"http://127.0.0.1:{port}"
    cli = [sys.executable, "-m", "dataflow_exporter.cli"]
    sets = [f"--set={k}={v}" for k, v in sizes.items()]
    sim = subprocess.Popen(
        [*cli, "simulate", "--listen", f"127.0.0.1:{sim_port}", *sets, "--log.level", "error"]
    )
    workdir = Path(tempfile.mkdtemp(prefix="soak-"))
    config_path = workdir / "config.yaml"

    knobs: dict[str, dict[str, Any]] = {s: {} for s in SIMULATORS}
    for key, v in sizes.items():
        system, knob = key.split(".")
        knobs[system][knob] = v
    targets = [SIMULATORS[s](time.time, **knobs[s]).demo_target(sim_url) for s in SIMULATORS]
    defaults = {
        "interval": args.interval,
        "timeout": "10s",
        "stale_after": "2m",
        "max_series": 10**6,
    }
    full = {"global": defaults, "targets": targets}
    write_config(config_path, full)
    log = open(workdir / "dataflow_exporter.log", "w")  # noqa: SIM115 - closed at the end
    exporter = subprocess.Popen(
        [
            *cli,
            "run",
            "--config",
            str(config_path),
            "--web.listen-address",
            f"127.0.0.1:{port}",
            "--log.format",
            "json",
            "--log.level",
            "warning",
        ],
        stderr=log,
    )
    samples: list[tuple[float, float, int]] = []
    try:
        wait_for(f"{sim_url}/_sim/peerdb/faults")
        wait_for(f"{exporter_url}/-/ready", 120)
        proc = psutil.Process(exporter.pid)
        start = time.monotonic()

        def sample() -> None:
            samples.append(
                (
                    time.monotonic() - start,
                    proc.memory_info().rss / 2**20,
                    series_count(exporter_url),
                )
            )

        time.sleep(20)
        sample()
        baseline = samples[-1]
        end = start + args.minutes * 60
        cycle = 0
        while time.monotonic() < end - 60:
            cycle += 1
            dropped = rng.sample(range(mirrors - 5), k=max(1, (mirrors - 5) // 10))
            for i in dropped:
                http("POST", f"{sim_url}/_sim/peerdb/overrides/mirror_{i:05d}", {"_dropped": True})
            system, fault = rng.choice(SYSTEMS), rng.choice(FAULTS)
            http("POST", f"{sim_url}/_sim/{system}/faults", fault)
            exporter.send_signal(signal.SIGHUP)
            if cycle % 4 == 0:
                write_config(config_path, {**full, "targets": targets[1:]})
                exporter.send_signal(signal.SIGHUP)
            phase_end = time.monotonic() + args.cycle_seconds
            fault_end = time.monotonic() + 30
            while time.monotonic() < phase_end and time.monotonic() < end - 60:
                if fault_end and time.monotonic() >= fault_end:
                    http("DELETE", f"{sim_url}/_sim/{system}/faults")
                    http("DELETE", f"{sim_url}/_sim/peerdb/overrides")
                    write_config(config_path, full)
                    exporter.send_signal(signal.SIGHUP)
                    fault_end = 0
                time.sleep(10)
                sample()
            if fault_end:
                http("DELETE", f"{sim_url}/_sim/{system}/faults")
                http("DELETE", f"{sim_url}/_sim/peerdb/overrides")
                write_config(config_path, full)
                exporter.send_signal(signal.SIGHUP)
        time.sleep(60)  # every target polled again after the last fault and reload
        sample()
        final = samples[-1]
        peak_rss = max(s[1] for s in samples)
        print(f"soak: {args.minutes:g} min, {cycle} churn/fault cycles, scale {args.scale:g}")
        print(f"sizes: {sizes}")
        print(f"baseline after warm-up: RSS {baseline[1]:.1f} MiB, {baseline[2]} series")
        print(f"final:                  RSS {final[1]:.1f} MiB, {final[2]} series")
        counts = [s[2] for s in samples]
        print(f"peak RSS {peak_rss:.1f} MiB; min/max series {min(counts)}/{max(counts)}")
        print(f"exporter still running: {exporter.poll() is None}; samples: {len(samples)}")
        (workdir / "samples.json").write_text(json.dumps(samples))
        print(f"raw samples and the exporter log: {workdir}")
    finally:
        exporter.send_signal(signal.SIGTERM)
        try:
            exporter.wait(30)
        except subprocess.TimeoutExpired:
            exporter.kill()
        print(f"exporter exit code: {exporter.returncode}")
        sim.terminate()
        sim.wait(10)
        log.close()


if __name__ == "__main__":
    main()
