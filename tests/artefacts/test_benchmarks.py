"""The scale benchmark still runs: a tiny run through its command line, as documented, with
requests observed for every system."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from dataflow_exporter.simulator import SIMULATORS

ROOT = Path(__file__).resolve().parents[2]


def _run(*argv: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`python -m ARGV...` from the repository root, as the docs run the benchmarks; it must
    exit 0 (its stderr tail is the failure message)."""
    result = subprocess.run(
        [sys.executable, "-m", *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result


@pytest.mark.slow
def test_a_tiny_benchmark_run_reports_requests_and_series_for_every_system(
    tmp_path: Path,
) -> None:
    figures = tmp_path / "figures.json"
    command = ["benchmarks.run", "--scale", "tiny", "--cycles", "2"]
    result = _run(*command, "--scrapes", "3", "--json", str(figures))
    assert "generate_latest / rebuilt text scrape" in result.stdout
    raw = json.loads(figures.read_text())
    systems = raw["systems"]
    assert set(systems) == set(SIMULATORS)
    for system, fig in systems.items():
        assert len(fig["walls"]) == len(fig["floor_walls"]) == 2, system
        assert fig["entities"] > 0, system
        assert fig["series"] > 0, system
        # At least one request per poll, and never more than a few per entity.
        assert 1 <= fig["requests"] <= 3 * fig["entities"] + 5, (system, fig["requests"])
    # PeerDB and Etlworks ask about each mirror or flow on its own: a request per entity.
    for system in ("peerdb", "etlworks"):
        assert systems[system]["requests"] > systems[system]["entities"], system
    scrape = raw["scrape"]
    assert scrape["series"] >= sum(fig["series"] for fig in systems.values())
    assert scrape["reference"]["generate_latest text"]["bytes"] > 0


@pytest.mark.slow
def test_the_redaction_benchmark_runs_and_masks_what_it_plants() -> None:
    result = _run("benchmarks.redact", "--quick", timeout=300)
    rows = [line.split() for line in result.stdout.splitlines() if line.strip()]
    forms = {row[0] for row in rows if len(row) == 5 and row[0].isdigit()}
    assert forms == {"4", "64", "65", "500"}
    assert "shorten 4000 ms" in result.stdout


def test_the_dump_writes_every_variant_of_every_poll_gzip_matching_plain(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from benchmarks import dump

    tiny = {"peerdb": {"mirrors": 20}, "confluent": {"topics": 4, "partitions": 2}}
    monkeypatch.setattr(dump, "KNOBS", tiny)
    asyncio.run(dump.dump(tmp_path))
    written = sorted(path.name for path in tmp_path.iterdir())
    assert len(written) == dump.POLLS * 4
    for poll in range(dump.POLLS):
        for om in (0, 1):
            plain = (tmp_path / f"poll{poll}-om{om}-gzip0.prom").read_bytes()
            assert b"peerdb_mirror_status" in plain
            assert (tmp_path / f"poll{poll}-om{om}-gzip1.prom").read_bytes() == plain


@pytest.mark.slow
def test_the_request_path_benchmark_reports_the_client_beside_the_floor() -> None:
    result = _run("benchmarks.request_path", "--requests", "50", "--rounds", "1")
    for case in ("floor GET", "client GET", "floor POST", "client POST"):
        assert case in result.stdout, result.stdout
    assert "POST over the floor" in result.stdout


@pytest.mark.slow
def test_the_poll_cpu_benchmark_reports_each_measured_poll() -> None:
    result = _run("benchmarks.poll_cpu", "confluent", "--set", "topics=5", "--polls", "3")
    line = next(line for line in result.stdout.splitlines() if line.startswith("CPU per poll"))
    assert len(line.split(":", 1)[1].split(",")) == 3


@pytest.mark.slow
def test_the_poll_cpu_benchmark_replays_the_floor_after_each_poll() -> None:
    result = _run(
        "benchmarks.poll_cpu", "confluent", "--set", "topics=5", "--polls", "3", "--floor"
    )
    lines = result.stdout.splitlines()
    floors = next(line for line in lines if line.startswith("CPU per floor"))
    assert len(floors.split(":", 1)[1].split(",")) == 3
    ratio = next(line for line in lines if line.startswith("poll / floor"))
    assert float(ratio.rsplit(" ", 1)[1]) > 0
