"""PeerDB's per-mirror detail calls are skipped when their answer cannot have changed: a mirror
keeps exporting the same series while the exporter asks fewer questions."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from dataflow_exporter.sources import peerdb
from dataflow_exporter.sources.peerdb import REUSE_SECONDS
from dataflow_exporter.upstream import Answer, new_session
from tests.support.helpers import Polled, poll_once, value
from tests.support.loopback import serving

NAME = "orders"
ROWS = "peerdb_mirror_rows_synced_total"
BATCH_END = "peerdb_mirror_last_batch_end_timestamp_seconds"


@dataclass
class FakePeerDB:
    """One mirror whose state, batches answer and rows a test sets; counts every call."""

    status: str = "STATUS_RUNNING"
    cdc: bool = True
    rows: int = 1000
    running_rows: int = 0  # rows of the newest batch, still running
    ended_at: str = "2026-01-01T00:00:10Z"
    batches_fail: bool = False
    batches_refused: bool = False  # a 200 whose newest ended batch has a number for a time
    # protojson's spacing: fixed per flow-api binary (protobuf-go's detrand).
    spacing: tuple[str, str] = (", ", ":")
    calls: Counter[str] = field(default_factory=Counter)
    url: str = ""

    async def mirrors(self, _request: web.Request) -> web.Response:
        item = {
            "name": NAME,
            "status": self.status,
            "sourceName": "app",
            "sourceType": "MYSQL",  # no slots: only the mirror's own calls are counted
            "destinationName": "ch",
            "destinationType": "CLICKHOUSE",
            "isCdc": self.cdc,
            "createdAt": "1735689600000",
        }
        return web.json_response({"mirrors": [item]})

    async def total_rows(self, _request: web.Request) -> web.Response:
        self.calls["rows"] += 1
        return web.json_response({"totalCount": str(self.rows)})

    async def batches(self, _request: web.Request) -> web.Response:
        self.calls["batches"] += 1
        if self.batches_fail:
            return web.json_response({"code": 13, "message": "catalog down"}, status=500)
        running = {"batchId": "8", "numRows": str(self.running_rows), "startTime": "x"}
        ended: dict[str, str | int] = {"batchId": "7", "numRows": "40", "endTime": self.ended_at}
        if self.batches_refused:
            ended["endTime"] = 7
        answer = {"cdcBatches": [running, ended], "total": 8, "page": 1}
        return web.json_response(
            answer, dumps=lambda data: json.dumps(data, separators=self.spacing)
        )

    async def instance(self, _request: web.Request) -> web.Response:
        return web.json_response({"status": "INSTANCE_STATUS_READY"})


@pytest.fixture
async def fake() -> AsyncIterator[FakePeerDB]:
    upstream = FakePeerDB()
    app = web.Application()
    app.router.add_get("/api/v1/mirrors/list", upstream.mirrors)
    app.router.add_get("/api/v1/mirrors/total_rows_synced/{name}", upstream.total_rows)
    app.router.add_post("/api/v1/mirrors/cdc/batches", upstream.batches)
    app.router.add_get("/api/v1/instance/info", upstream.instance)
    async with serving(app) as upstream.url:
        yield upstream


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with new_session() as opened:
        yield opened


class Poller:
    """Polls the fake again and again with one exporter, on a clock the test moves."""

    def __init__(self, fake: FakePeerDB, session: aiohttp.ClientSession) -> None:
        self.fake = fake
        self.session = session
        self.now = 1_800_000_000.0
        self.last: Polled | None = None

    def config(self) -> dict[str, Any]:
        target = {"name": "pg", "system": "peerdb", "url": self.fake.url}
        return {"global": {"interval": "30s", "timeout": "5s"}, "targets": [target]}

    async def poll(self, advance: float = 30.0) -> Counter[str]:
        """One poll `advance` seconds after the last; the calls it made."""
        self.now += advance
        before = Counter(self.fake.calls)
        scheduler = self.last.scheduler if self.last is not None else None
        self.last = await poll_once(
            self.config(), self.session, scheduler=scheduler, clock=lambda: self.now
        )
        assert self.last.ok
        return self.fake.calls - before

    @property
    def text(self) -> str:
        assert self.last is not None
        return self.last.text


async def test_a_running_mirror_whose_batches_held_two_polls_is_not_asked_its_rows(
    fake: FakePeerDB, session: aiohttp.ClientSession
) -> None:
    poller = Poller(fake, session)
    assert await poller.poll() == {"batches": 1, "rows": 1}
    assert await poller.poll() == {"batches": 1, "rows": 1}  # held once: read, then kept
    assert await poller.poll() == {"batches": 1}
    assert value(poller.text, ROWS, mirror=NAME) == 1000
    assert value(poller.text, BATCH_END, mirror=NAME) == 1767225610


async def test_the_running_batchs_rows_changing_makes_the_rows_asked_again(
    fake: FakePeerDB, session: aiohttp.ClientSession
) -> None:
    poller = Poller(fake, session)
    for _ in range(3):
        await poller.poll()
    fake.running_rows, fake.rows = 25, 1025  # the batch synced: its rows and the counts grew
    assert await poller.poll() == {"batches": 1, "rows": 1}
    assert value(poller.text, ROWS, mirror=NAME) == 1025


async def test_an_upgraded_servers_other_spacing_makes_the_rows_asked_again(
    fake: FakePeerDB, session: aiohttp.ClientSession
) -> None:
    poller = Poller(fake, session)
    for _ in range(3):
        await poller.poll()
    fake.spacing = (",", ":")  # another flow-api build: the same content, other bytes
    assert await poller.poll() == {"batches": 1, "rows": 1}


async def test_rows_read_in_the_poll_that_saw_the_batch_change_are_not_kept(
    fake: FakePeerDB, session: aiohttp.ClientSession
) -> None:
    poller = Poller(fake, session)
    for _ in range(3):
        await poller.poll()
    fake.running_rows = 25  # the batch's rows are written; the table counts come a moment later
    await poller.poll()
    fake.rows = 1025
    assert await poller.poll() == {"batches": 1, "rows": 1}
    assert value(poller.text, ROWS, mirror=NAME) == 1025


async def test_a_state_change_makes_the_rows_asked_again(
    fake: FakePeerDB, session: aiohttp.ClientSession
) -> None:
    poller = Poller(fake, session)
    for _ in range(3):
        await poller.poll()
    fake.status = "STATUS_PAUSED"
    assert await poller.poll() == {"batches": 1, "rows": 1}


@pytest.mark.parametrize("state", ["STATUS_PAUSED", "STATUS_COMPLETED", "STATUS_TERMINATED"])
async def test_a_mirror_stopped_since_the_last_poll_is_asked_nothing(
    fake: FakePeerDB, session: aiohttp.ClientSession, state: str
) -> None:
    fake.status = state
    poller = Poller(fake, session)
    assert await poller.poll() == {"batches": 1, "rows": 1}
    assert await poller.poll() == {"batches": 1, "rows": 1}
    fake.ended_at, fake.rows = "2026-01-01T00:05:00Z", 5  # would show if it were asked
    assert await poller.poll() == {}
    assert value(poller.text, ROWS, mirror=NAME) == 1000
    assert value(poller.text, BATCH_END, mirror=NAME) == 1767225610


@pytest.mark.parametrize(
    "state",
    [
        "STATUS_SETUP",
        "STATUS_SNAPSHOT",  # initial loads add rows without CDC batches
        "STATUS_RESYNC",
        "STATUS_PAUSING",
        "STATUS_MODIFYING",
        "STATUS_TERMINATING",
        "STATUS_FAILED",
        "STATUS_UNKNOWN",
    ],
)
async def test_a_mirror_in_any_other_state_is_asked_everything_every_poll(
    fake: FakePeerDB, session: aiohttp.ClientSession, state: str
) -> None:
    fake.status = state
    poller = Poller(fake, session)
    for _ in range(3):
        assert await poller.poll() == {"batches": 1, "rows": 1}


async def test_a_query_replication_mirror_is_asked_its_rows_every_poll(
    fake: FakePeerDB, session: aiohttp.ClientSession
) -> None:
    fake.cdc = False  # no CDC batches: nothing says its rows stood still
    poller = Poller(fake, session)
    for _ in range(3):
        assert await poller.poll() == {"rows": 1}


@pytest.mark.parametrize("breakage", ["batches_fail", "batches_refused"])
async def test_a_failed_call_or_refused_batches_answer_makes_the_rows_asked(
    fake: FakePeerDB, session: aiohttp.ClientSession, breakage: str
) -> None:
    poller = Poller(fake, session)
    for _ in range(3):
        await poller.poll()
    setattr(fake, breakage, True)
    # An unread answer never counts as one that held, nor the same refused bytes poll after poll.
    for _ in range(3):
        assert await poller.poll() == {"batches": 1, "rows": 1}
        assert value(poller.text, BATCH_END) is None
        failing = "dataflow_exporter_target_detail_failures"
        assert value(poller.text, failing, endpoint="cdc_batches") == 1


async def test_a_running_mirrors_new_batch_shows_the_poll_it_ends(
    fake: FakePeerDB, session: aiohttp.ClientSession
) -> None:
    poller = Poller(fake, session)
    for _ in range(3):
        await poller.poll()
    fake.ended_at = "2026-01-01T00:05:00Z"
    await poller.poll()
    assert value(poller.text, BATCH_END, mirror=NAME) == 1767225900


def _counting(monkeypatch: pytest.MonkeyPatch, reader: str) -> Counter[str]:
    """Count the answers the PeerDB reader named `reader` decodes, under its name."""
    read = Counter[str]()
    original: Callable[[Answer], Any] = getattr(peerdb, reader)

    def counted(answer: Answer) -> Any:
        read[reader] += 1
        return original(answer)

    monkeypatch.setattr(peerdb, reader, counted)
    return read


async def test_a_batches_answer_byte_identical_to_the_last_is_not_read_again(
    fake: FakePeerDB, session: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    read = _counting(monkeypatch, "read_batches")
    poller = Poller(fake, session)
    await poller.poll()
    assert await poller.poll() == {"batches": 1, "rows": 1}
    assert read["read_batches"] == 1
    assert value(poller.text, BATCH_END, mirror=NAME) == 1767225610
    fake.running_rows = 25
    await poller.poll()
    assert read["read_batches"] == 2


async def test_a_rows_answer_byte_identical_to_the_last_is_not_read_again(
    fake: FakePeerDB, session: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    read = _counting(monkeypatch, "read_total_rows")
    fake.status = "STATUS_SNAPSHOT"  # rows asked every poll
    poller = Poller(fake, session)
    await poller.poll()
    assert await poller.poll() == {"batches": 1, "rows": 1}
    assert read["read_total_rows"] == 1
    assert value(poller.text, ROWS, mirror=NAME) == 1000
    fake.rows = 1200
    await poller.poll()
    assert read["read_total_rows"] == 2
    assert value(poller.text, ROWS, mirror=NAME) == 1200


async def test_a_kept_value_is_asked_again_once_it_is_reuse_seconds_old(
    fake: FakePeerDB, session: aiohttp.ClientSession
) -> None:
    poller = Poller(fake, session)
    await poller.poll()
    await poller.poll()  # rows read and kept at this poll's time
    assert await poller.poll(REUSE_SECONDS - 1) == {"batches": 1}
    assert await poller.poll(1) == {"batches": 1, "rows": 1}


async def test_a_stopped_mirrors_kept_batch_is_asked_again_once_it_is_reuse_seconds_old(
    fake: FakePeerDB, session: aiohttp.ClientSession
) -> None:
    fake.status = "STATUS_PAUSED"
    poller = Poller(fake, session)
    await poller.poll()
    await poller.poll()
    assert await poller.poll(REUSE_SECONDS - 1) == {}
    assert await poller.poll(1) == {"batches": 1, "rows": 1}


async def test_series_with_calls_skipped_are_those_of_a_fresh_exporter(
    fake: FakePeerDB, session: aiohttp.ClientSession
) -> None:
    poller = Poller(fake, session)
    for _ in range(3):
        await poller.poll()
    fresh = Poller(fake, session)
    fresh.now = poller.now
    await fresh.poll(0)
    assert _upstream_lines(poller.text) == _upstream_lines(fresh.text)


def _upstream_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("peerdb_")]
