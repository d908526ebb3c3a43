"""`POST /-/reload` as Prometheus serves it: off unless enabled, POST only, never for a
cross-site browser request, queued reloads coalesced, failures explained in the log only."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import aiohttp
import pytest

from dataflow_exporter import lifecycle
from dataflow_exporter.cli import build_parser
from dataflow_exporter.exposition_cache import ExpositionCache
from dataflow_exporter.lifecycle import ReloadQueue
from dataflow_exporter.server import make_app
from dataflow_exporter.store import Store
from tests.support import loopback

ReloadFn = Callable[[], Awaitable[list[str]]]


class Reloads:
    """A reload function that counts its calls and answers `errors`."""

    def __init__(self, errors: list[str] | None = None) -> None:
        self.calls = 0
        self.errors = errors or []

    async def __call__(self) -> list[str]:
        self.calls += 1
        return list(self.errors)


@asynccontextmanager
async def serving(reload_fn: ReloadFn, *, enabled: bool) -> AsyncIterator[str]:
    store = Store()
    app = make_app(store, ExpositionCache(store), reload_fn, enable_lifecycle=enabled)
    async with loopback.serving(app, access_log=None) as url:
        yield url


async def _ask(
    url: str, method: str = "POST", headers: dict[str, str] | None = None
) -> tuple[int, str]:
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, url + lifecycle.PATH, headers=headers) as resp,
    ):
        return resp.status, await resp.text()


async def test_reload_is_off_unless_enabled() -> None:
    reloads = Reloads()
    async with serving(reloads, enabled=False) as url:
        assert await _ask(url) == (403, lifecycle.DISABLED)
    assert reloads.calls == 0


async def test_an_enabled_reload_reloads() -> None:
    reloads = Reloads()
    async with serving(reloads, enabled=True) as url:
        assert await _ask(url) == (200, lifecycle.RELOADED)
    assert reloads.calls == 1


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
@pytest.mark.parametrize("enabled", [True, False])
async def test_reload_answers_post_only(method: str, enabled: bool) -> None:
    reloads = Reloads()
    async with serving(reloads, enabled=enabled) as url:
        status, _ = await _ask(url, method)
    assert status == 405
    assert reloads.calls == 0


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Sec-Fetch-Site": "Cross-Site"},
        {"Origin": "http://evil.test"},
        {"Origin": "null"},
        {"Content-Type": "text/plain"},
        {"Content-Type": "application/x-www-form-urlencoded"},
        {"Content-Type": "multipart/form-data; boundary=x"},
        {"Content-Type": "Text/Plain; charset=utf-8"},
    ],
)
async def test_a_cross_site_browser_request_is_refused(headers: dict[str, str]) -> None:
    reloads = Reloads()
    async with serving(reloads, enabled=True) as url:
        assert await _ask(url, headers=headers) == (403, lifecycle.CROSS_SITE)
    assert reloads.calls == 0


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Sec-Fetch-Site": "same-origin"},
        {"Sec-Fetch-Site": "none"},
        {"Content-Type": "application/json"},
        {"Sec-Fetch-Site": "same-origin", "Content-Type": "text/plain"},
    ],
)
async def test_a_same_origin_or_non_browser_request_reloads(headers: dict[str, str]) -> None:
    reloads = Reloads()
    async with serving(reloads, enabled=True) as url:
        assert await _ask(url, headers=headers) == (200, lifecycle.RELOADED)
    assert reloads.calls == 1


async def test_a_request_from_the_exporters_own_origin_reloads() -> None:
    reloads = Reloads()
    async with serving(reloads, enabled=True) as url:
        assert await _ask(url, headers={"Origin": url}) == (200, lifecycle.RELOADED)
    assert reloads.calls == 1


async def test_a_failed_reload_answers_without_the_errors() -> None:
    errors = ["/etc/exporter/config.yaml: targets[0].password: ${PG_PASSWORD} is not set"]
    async with serving(Reloads(errors), enabled=True) as url:
        status, body = await _ask(url)
    assert (status, body) == (500, lifecycle.FAILED)
    assert "PG_PASSWORD" not in body and "/etc/exporter" not in body


@pytest.mark.slow
async def test_200_concurrent_reload_requests_cost_at_most_two_reloads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    requests = 200
    arrived = 0
    all_arrived = asyncio.Event()
    original = ReloadQueue.reload

    async def counting(self: ReloadQueue) -> list[str]:
        nonlocal arrived
        arrived += 1
        if arrived == requests:
            all_arrived.set()
        return await original(self)

    monkeypatch.setattr(ReloadQueue, "reload", counting)
    calls = 0

    async def slow_reload() -> list[str]:
        nonlocal calls
        calls += 1
        if calls == 1:
            await all_arrived.wait()  # the first runs until every request is queued
        return []

    async with serving(slow_reload, enabled=True) as url:
        connector = aiohttp.TCPConnector(limit=requests)
        async with aiohttp.ClientSession(connector=connector) as session:

            async def post() -> int:
                async with session.post(url + lifecycle.PATH) as resp:
                    return resp.status

            statuses = await asyncio.gather(*(post() for _ in range(requests)))
    assert statuses == [200] * requests
    assert calls == 2


async def test_a_reload_requested_while_one_runs_starts_after_it() -> None:
    release = asyncio.Event()
    started = asyncio.Event()
    order: list[str] = []

    async def reload_fn() -> list[str]:
        order.append("start")
        started.set()
        if len(order) == 1:
            await release.wait()
        order.append("end")
        return [f"run {len(order)}"]

    queue = ReloadQueue(reload_fn)
    first = asyncio.ensure_future(queue.reload())
    await started.wait()
    followers = [asyncio.ensure_future(queue.reload()) for _ in range(5)]
    await asyncio.sleep(0)
    assert order == ["start"], "the queued reload waits for the running one"
    release.set()
    assert await first == ["run 2"]
    results = await asyncio.gather(*followers)
    assert results == [["run 4"]] * 5  # one reload shared by every follower
    assert queue.started == 2


async def test_closing_the_queue_cancels_its_reloads() -> None:
    never = asyncio.Event()

    async def stuck() -> list[str]:
        await never.wait()
        return []

    queue = ReloadQueue(stuck)
    waiter = asyncio.ensure_future(queue.reload())
    await asyncio.sleep(0)
    await queue.close()
    with pytest.raises(asyncio.CancelledError):
        await waiter


@pytest.mark.parametrize("command", [["run", "--config.file", "c.yaml"], ["demo"]])
def test_the_lifecycle_flag_is_off_by_default_and_on_when_given(command: list[str]) -> None:
    parser = build_parser()
    assert parser.parse_args(command).enable_lifecycle is False
    assert parser.parse_args([*command, "--web.enable-lifecycle"]).enable_lifecycle is True
