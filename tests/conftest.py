"""Shared fixtures: a clean secret registry, the simulator, a running exporter, and aioresponses
on new aiohttp."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aioresponses.core
import pytest
import structlog
from aiohttp import ClientResponse

from dataflow_exporter import known_secrets
from dataflow_exporter.exporter import Exporter
from dataflow_exporter.simulator import Simulation
from tests.support.daemon import SECRET, write_config


class _CompatResponse(ClientResponse):
    """aioresponses 0.7.x builds ClientResponse without `stream_writer`, which aiohttp >= 3.14
    requires (pnuckowski/aioresponses#289); default it so mocked requests work on both."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("stream_writer", SimpleNamespace(output_size=0))
        super().__init__(*args, **kwargs)


aioresponses.core.ClientResponse = _CompatResponse  # type: ignore[attr-defined]


@pytest.fixture(autouse=True)
def _logging_as_it_was() -> Iterator[None]:
    """A command run in-process (`cli.main`) configures structlog to write to the stderr of
    that moment, a capture stream that is closed after its test: later tests must not log
    into it."""
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


@pytest.fixture(autouse=True)
def _clean_secrets() -> Iterator[None]:
    known_secrets.forget_all()
    yield
    known_secrets.forget_all()


@pytest.fixture
async def simulation() -> AsyncIterator[Simulation]:
    """Every simulated system with default options on a free loopback port."""
    async with Simulation() as sim:
        yield sim


@pytest.fixture
async def peerdb_sim() -> AsyncIterator[Simulation]:
    """A simulated PeerDB whose password is `tests.support.daemon.SECRET`."""
    async with Simulation({"peerdb": {"password": SECRET}}) as sim:
        yield sim


@pytest.fixture
async def exporter(peerdb_sim: Simulation, tmp_path: Path) -> AsyncIterator[Exporter]:
    """An exporter serving on a loopback port, polling `peerdb_sim` as target `pg`."""
    exp = Exporter(
        write_config(tmp_path / "config.yaml", peerdb_sim.url),
        listen="127.0.0.1:0",
        enable_lifecycle=True,
    )
    await exp.start()
    yield exp
    await exp.stop()
