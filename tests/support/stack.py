"""The demo scenario run as subprocesses (simulator, exporter, Prometheus, Alertmanager), as the
dashboard and alerting tests bring it up."""

from __future__ import annotations

import subprocess
import time
from typing import Any

from dataflow_exporter.cli import demo_config
from dataflow_exporter.simulator import SIMULATORS
from tests.support.ports import free_port


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 10) -> None:
    """Terminate a subprocess, killing it if it does not end within `timeout` seconds."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def exporter_config(sim_url: str) -> dict[str, Any]:
    """The demo's targets on the simulator at `sim_url`, plus one that is down from the start."""
    config = demo_config(
        sim_url, {name: cls(time.time, seed=1) for name, cls in SIMULATORS.items()}, "1s"
    )
    # Nothing listens there: a target that is down from the start.
    config["targets"].append(
        {"name": "unreachable-demo", "system": "peerdb", "url": f"http://127.0.0.1:{free_port()}"}
    )
    return config
