"""The command line, run as a user runs it: as a subprocess."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml

from dataflow_exporter.simulator import Simulation
from tests.support.helpers import promtool_check_metrics, value

CLI = [sys.executable, "-m", "dataflow_exporter.cli"]
SECRET = "cli-secret-5d2c8e"


@pytest.fixture
async def sim() -> AsyncIterator[Simulation]:
    async with Simulation({"peerdb": {"password": SECRET}}) as s:
        yield s


def config_file(tmp_path: Path, url: str, password: str = SECRET) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "global": {"interval": "2s", "timeout": "1s"},
                "targets": [{"name": "pg", "system": "peerdb", "url": url, "password": password}],
            }
        )
    )
    return path


async def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    proc = await asyncio.create_subprocess_exec(
        *CLI, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return subprocess.CompletedProcess(args, proc.returncode, out.decode(), err.decode())


async def test_check_accepts_a_good_config(tmp_path: Path) -> None:
    result = await run_cli("check", str(config_file(tmp_path, "http://peerdb:3000")))
    assert result.returncode == 0
    assert "OK, 1 target(s)" in result.stdout


async def test_check_lists_every_error_with_its_path_and_no_secret(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "targets:\n"
        f"  - {{name: a, system: peerdb, url: 'http://p', password: {SECRET}, extra: 1}}\n"
        "  - {name: a, system: peerdb}\n"
    )
    result = await run_cli("check", str(path))
    assert result.returncode == 1
    assert "targets[0].extra: unknown key" in result.stderr
    assert "targets[1].url: required key is missing" in result.stderr
    assert SECRET not in result.stderr + result.stdout


async def test_once_prints_metrics_that_promtool_accepts(sim: Simulation, tmp_path: Path) -> None:
    result = await run_cli(
        "once", "--config", str(config_file(tmp_path, sim.url)), "--log.format", "json"
    )
    assert result.returncode == 0, result.stderr
    assert (
        value(
            result.stdout,
            "peerdb_mirror_status",
            mirror="users_mysql_to_ch",
            status="STATUS_FAILED",
        )
        == 1
    )
    assert SECRET not in result.stdout + result.stderr
    promtool_check_metrics(result.stdout)


async def test_once_exits_1_when_a_target_is_down(sim: Simulation, tmp_path: Path) -> None:
    result = await run_cli(
        "once", "--config", str(config_file(tmp_path, sim.url, "wrong-password"))
    )
    assert result.returncode == 1
    assert value(result.stdout, "dataflow_exporter_target_up", target="pg") == 0
    assert "wrong-password" not in result.stderr


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return str(resp.read().decode())


def _wait_for(url: str, deadline: float = 15) -> str:
    end = time.monotonic() + deadline
    while True:
        try:
            return _get(url)
        except OSError:
            if time.monotonic() > end:
                raise
            time.sleep(0.1)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_run_reloads_on_sighup_and_stops_cleanly_on_sigterm(
    sim: Simulation, tmp_path: Path
) -> None:
    port = _free_port()
    path = config_file(tmp_path, sim.url)
    proc = await asyncio.create_subprocess_exec(
        *CLI, "run", "--config", str(path), "--web.listen-address", f"127.0.0.1:{port}",
        "--log.format", "json",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        await asyncio.to_thread(_wait_for, f"http://127.0.0.1:{port}/-/ready")
        data = yaml.safe_load(path.read_text())
        data["targets"].append(
            {"name": "pg2", "system": "peerdb", "url": sim.url, "password": SECRET}
        )
        path.write_text(yaml.safe_dump(data))
        proc.send_signal(signal.SIGHUP)
        for _ in range(100):
            text = await asyncio.to_thread(_get, f"http://127.0.0.1:{port}/metrics")
            if value(text, "dataflow_exporter_target_up", target="pg2") is not None:
                break
            await asyncio.sleep(0.1)
        assert value(text, "dataflow_exporter_target_polls_total", target="pg2") is not None
        proc.send_signal(signal.SIGTERM)
        out, err = await asyncio.wait_for(proc.communicate(), 20)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    logs = err.decode() + out.decode()
    assert proc.returncode == 0
    assert '"event": "config_reloaded"' in logs
    assert '"event": "exporter_stopped"' in logs
    assert "Traceback" not in logs and "Task was destroyed" not in logs and "Unclosed" not in logs
    assert SECRET not in logs


async def test_demo_serves_the_simulated_upstreams_and_prints_its_urls() -> None:
    port, sim_port = _free_port(), _free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = await asyncio.create_subprocess_exec(
        *CLI, "demo", "--web.listen-address", f"127.0.0.1:{port}",
        "--simulator.listen", f"127.0.0.1:{sim_port}", "--interval", "1s",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        banner = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode()
        assert "demo is running" in banner
        status_line = (await asyncio.wait_for(proc.stdout.readline(), 5)).decode()
        assert f"http://127.0.0.1:{port}/" in status_line
        await asyncio.to_thread(_wait_for, f"http://127.0.0.1:{port}/-/ready")
        text = await asyncio.to_thread(_get, f"http://127.0.0.1:{port}/metrics")
        assert value(text, "dataflow_exporter_target_up", target="peerdb-demo") == 1
        proc.send_signal(signal.SIGINT)
        await asyncio.wait_for(proc.wait(), 20)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0


async def test_run_collects_cycles_rarely_and_freezes_start_up_objects(tmp_path: Path) -> None:
    # A fresh interpreter, as `dataflow-exporter run` starts; a config error ends it right after.
    probe = (
        "import gc, sys; from dataflow_exporter import cli; "
        "from dataflow_exporter.daemon import GC_THRESHOLDS; "
        "rc = cli.main(['run', '--config', sys.argv[1]]); "
        "print(rc, gc.get_threshold() == GC_THRESHOLDS, gc.get_freeze_count() > 0)"
    )
    missing = str(tmp_path / "missing.yaml")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", probe, missing, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert out.decode().split() == ["1", "True", "True"]
