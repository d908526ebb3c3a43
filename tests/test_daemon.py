"""The running exporter: atomic reload (a bad config keeps the old one), a clean stop, and its
log lines."""

from __future__ import annotations

import asyncio
import io
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest
from structlog.testing import capture_logs

from dataflow_exporter import lifecycle, log
from dataflow_exporter.exporter import Exporter
from dataflow_exporter.simulator import Simulation
from tests.support.daemon import SECRET, base, wait_ready, write_config
from tests.support.helpers import series_of, value


async def test_reload_adds_targets_and_a_bad_config_keeps_the_old_one(
    exporter: Exporter, peerdb_sim: Simulation
) -> None:
    assert exporter.config_path is not None
    async with aiohttp.ClientSession() as session:
        await wait_ready(base(exporter), session)
        pg_poller = exporter.scheduler.pollers["pg"]  # type: ignore[union-attr]
        write_config(
            exporter.config_path,
            peerdb_sim.url,
            pg2={"system": "peerdb", "url": peerdb_sim.url, "password": SECRET},
        )
        async with session.post(f"{base(exporter)}/-/reload") as resp:
            assert resp.status == 200
        assert set(exporter.scheduler.pollers) == {"pg", "pg2"}  # type: ignore[union-attr]
        assert exporter.scheduler.pollers["pg"] is pg_poller  # type: ignore[union-attr]

        exporter.config_path.write_text("targets: [{name: x, system: nope, url: 'http://x'}]")
        with capture_logs() as logs:
            async with session.post(f"{base(exporter)}/-/reload") as resp:
                assert resp.status == 500
                assert await resp.text() == lifecycle.FAILED  # paths and names: the log's
        (failed,) = [e for e in logs if e["event"] == "config_reload_failed"]
        assert {"at": "targets[0] (name: x).system"}.items() <= failed["errors"][0].items()
        async with session.get(f"{base(exporter)}/metrics") as resp:
            text = await resp.text()
    assert set(exporter.scheduler.pollers) == {"pg", "pg2"}  # type: ignore[union-attr]
    assert value(text, "dataflow_exporter_config_last_reload_successful") == 0


async def test_stop_leaves_no_task_behind(peerdb_sim: Simulation, tmp_path: Path) -> None:
    before = asyncio.all_tasks()
    exp = Exporter(write_config(tmp_path / "c.yaml", peerdb_sim.url), listen="127.0.0.1:0")
    await exp.start()
    await asyncio.sleep(0.2)
    await exp.stop()
    await asyncio.sleep(0)
    assert asyncio.all_tasks() - before == set()


async def test_logs_have_one_line_per_poll_and_no_secret(
    peerdb_sim: Simulation, tmp_path: Path
) -> None:
    stream = io.StringIO()
    log.configure("info", "json", stream)
    try:
        async with aiohttp.ClientSession() as session:
            await session.post(f"{peerdb_sim.url}/_sim/peerdb/faults", json={"kind": "auth"})
            exp = Exporter(write_config(tmp_path / "c.yaml", peerdb_sim.url), listen="127.0.0.1:0")
            await exp.start()
            await wait_ready(base(exp), session)
            await exp.stop()
    finally:
        log.configure("info", "console", io.StringIO())
    lines = stream.getvalue()
    assert '"event": "poll_finished"' in lines
    assert '"reason": "auth"' in lines
    assert SECRET not in lines


async def test_reload_drops_removed_targets_and_keeps_unchanged_counters(
    exporter: Exporter, peerdb_sim: Simulation
) -> None:
    assert exporter.config_path is not None
    async with aiohttp.ClientSession() as session:
        write_config(
            exporter.config_path,
            peerdb_sim.url,
            pg2={"system": "peerdb", "url": peerdb_sim.url, "password": SECRET},
        )
        assert await exporter.reload() == []
        await wait_ready(base(exporter), session)
        polls_before = exporter.store.targets["pg"].polls_total
        state_before = exporter.store.targets["pg"]
        write_config(exporter.config_path, peerdb_sim.url)  # pg2 removed, pg unchanged
        assert await exporter.reload() == []
        async with session.get(f"{base(exporter)}/metrics") as resp:
            text = await resp.text()
    assert exporter.store.targets["pg"] is state_before
    assert exporter.store.targets["pg"].polls_total >= polls_before
    assert [s for s in series_of(text, "peerdb_mirror_info") if s["target"] == "pg2"] == []
    assert value(text, "dataflow_exporter_target_up", target="pg2") is None
    assert value(text, "dataflow_exporter_config_last_reload_successful") == 1


@pytest.mark.slow
def test_the_exit_deadline_says_the_seconds_it_was_given() -> None:
    code = (
        "import os, signal, time\n"
        "from dataflow_exporter.daemon import arm_exit_deadline\n"
        "arm_exit_deadline([signal.SIGTERM], 0.3)\n"
        "os.kill(os.getpid(), signal.SIGTERM)\n"
        "time.sleep(30)  # a shutdown that hangs\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 128 + signal.SIGTERM
    assert done.stderr == "shutdown took over 0.3s; exiting now\n"
