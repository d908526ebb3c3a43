"""A running exporter for tests of its endpoints and lifecycle: its config and its readiness."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from dataflow_exporter.exporter import Exporter

# The PeerDB password of the `peerdb_sim` fixture; it must never appear in what is served.
SECRET = "daemon-secret-94b1e2"


def write_config(path: Path, sim_url: str, **extra_targets: dict[str, Any]) -> Path:
    """A config polling PeerDB at `sim_url` as target `pg` every second, plus `extra_targets`."""
    targets = [{"name": "pg", "system": "peerdb", "url": sim_url, "password": SECRET}]
    targets += [{"name": name, **t} for name, t in extra_targets.items()]
    path.write_text(
        yaml.safe_dump({"global": {"interval": "1s", "timeout": "0.8s"}, "targets": targets})
    )
    return path


async def wait_ready(base: str, session: aiohttp.ClientSession | None = None) -> None:
    """Wait until `/-/ready` answers 200 (every target polled), also for an exporter process
    still starting: at most 20 s, which a loaded machine's first poll never gets near."""
    own = session is None
    client = session or aiohttp.ClientSession()
    try:
        for _ in range(400):
            try:
                async with client.get(f"{base}/-/ready") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass  # a process still starting: not listening yet
            await asyncio.sleep(0.05)
    finally:
        if own:
            await client.close()
    raise AssertionError("the exporter never became ready")


def base(exp: Exporter) -> str:
    """The exporter's base URL on loopback."""
    return f"http://127.0.0.1:{exp.port}"
