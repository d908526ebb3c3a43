"""Red team: hostile upstreams, scrapers, logins and config files (secret files: test_auth.py).

Each test replays one attack against the real code on loopback (port 0), bounded in count and
time. Memory and latency are asserted as ratios or generous bounds, so the suite holds on a
loaded two-vCPU machine.
"""

from __future__ import annotations

import asyncio
import base64
import gc
import gzip
import random
import re
import signal
import socket
import ssl
import sys
import textwrap
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import bcrypt
import psutil
import pytest
import trustme
import yaml
from aiohttp import web
from aioresponses import aioresponses
from pydantic import SecretStr
from structlog.testing import capture_logs

from dataflow_exporter import cli, known_secrets, lifecycle, webconfig
from dataflow_exporter import scheduler as scheduler_mod
from dataflow_exporter.auth import BasicAuth, SecretReader
from dataflow_exporter.config import load
from dataflow_exporter.config import parse as parse_config
from dataflow_exporter.config_models import TargetConfig
from dataflow_exporter.daemon import AcceptErrorFilter
from dataflow_exporter.errors import ConfigError, Reason, SchemaError, UpstreamError, WebConfigError
from dataflow_exporter.exporter import Exporter
from dataflow_exporter.exposition_cache import ExpositionCache
from dataflow_exporter.families import Family
from dataflow_exporter.scheduler import Poller
from dataflow_exporter.self_metrics import TARGET_UP
from dataflow_exporter.server import SLOTS_KEY, ServerLimits, make_app, wants_gzip
from dataflow_exporter.simulator import Simulation
from dataflow_exporter.snapshot import Snapshot, build_snapshot
from dataflow_exporter.sources.base import BrokenEntity, PollResult, Source, number
from dataflow_exporter.status_page import render_status_page
from dataflow_exporter.store import MAX_UNKNOWN_FIELDS, Store, TargetState
from dataflow_exporter.upstream import UpstreamClient, decode_json

MiB = 1024 * 1024


def _target(url: str, **extra: Any) -> TargetConfig:
    return TargetConfig.model_validate(
        {"name": "t", "system": "any", "url": url, "timeout": 5, "interval": 10, **extra}
    )


@asynccontextmanager
async def _serving(app: web.Application, **runner: Any) -> AsyncIterator[str]:
    """Serve `app` on a free loopback port; yields its base URL."""
    app_runner = web.AppRunner(app, access_log=None, **runner)
    await app_runner.setup()
    site = web.TCPSite(app_runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{app_runner.addresses[0][1]}"
    finally:
        await app_runner.cleanup()


@asynccontextmanager
async def _raw_server(answer: bytes) -> AsyncIterator[str]:
    """A server that answers every connection with `answer`, whatever was asked."""

    async def reply(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1024)
        writer.write(answer)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(reply, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()
        await server.wait_closed()


# --- 1. credentials must stay with the target ------------------------------------------------


@pytest.mark.parametrize("link", [".evil.test/steal", ":19402/steal", "@evil.test/steal"])
async def test_a_relative_link_resolves_under_the_target_and_keeps_its_host(link: str) -> None:
    async with aiohttp.ClientSession() as session:
        client = UpstreamClient(session, _target("http://cc.test/api"))
        with aioresponses() as mocked:
            mocked.get(f"http://cc.test/api/{link}", payload={}, repeat=True)
            mocked.get(f"http://cc.test/api{link}", payload={}, repeat=True)
            mocked.get(f"http://cc.test{link}", payload={}, repeat=True)
            mocked.get("http://cc.test/api.evil.test/steal", payload={}, repeat=True)
            await client.get(link)
            requested = [url for _method, url in mocked.requests]
    assert [(u.scheme, u.host, u.port) for u in requested] == [("http", "cc.test", 80)]
    assert requested[0].path.startswith("/api/")


@pytest.mark.parametrize(
    "link",
    ["//{evil}/steal", "http://{evil}/steal", "http://127.0.0.1:1@{evil}/steal", "/../steal"],
)
async def test_links_leaving_the_target_never_reach_another_server(link: str) -> None:
    hits: list[str] = []

    async def record(request: web.Request) -> web.Response:
        hits.append(request.headers.get("Authorization", ""))
        return web.json_response({})

    evil = web.Application()
    evil.router.add_route("*", "/{tail:.*}", record)
    async with _serving(evil) as evil_url, aiohttp.ClientSession() as session:
        client = UpstreamClient(session, _target("http://127.0.0.1:1/api"))
        with pytest.raises(SchemaError, match="another origin"):
            await client.get(link.format(evil=evil_url.removeprefix("http://")))
    assert hits == []


@pytest.mark.parametrize("link", ["..%2F..%2Fadmin", "..%5c..%5cadmin", "%2e%2e%2fadmin"])
async def test_an_encoded_escape_in_a_link_never_carries_credentials_out_of_the_prefix(
    link: str,
) -> None:
    hits: list[str] = []

    async def record(request: web.Request) -> web.Response:
        hits.append(f"{request.raw_path} {request.headers.get('Authorization', '')}")
        return web.json_response({})

    # One server under the target's prefix and outside it: a lenient router would decode the
    # link's path and serve /admin with the target's credentials.
    host = web.Application()
    host.router.add_route("*", "/{tail:.*}", record)
    async with _serving(host) as url, aiohttp.ClientSession() as session:
        auth = BasicAuth("u", SecretReader(SecretStr("pw-9f1c"), None))
        client = UpstreamClient(session, _target(f"{url}/api/v1"), auth)
        with pytest.raises(SchemaError, match="encoded"):
            await client.get(link)
    assert hits == []


async def test_the_default_port_written_out_is_the_same_origin() -> None:
    async with aiohttp.ClientSession() as session:
        client = UpstreamClient(session, _target("https://h.test"))
        with aioresponses() as mocked:
            mocked.get(re.compile(r"https://h\.test(:443)?/next\?page=2$"), payload={"ok": True})
            answer = await client.get("https://h.test:443/next?page=2")
    assert answer.json() == {"ok": True}


# --- 9. malformed answers and inflation ------------------------------------------------------


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 2xx OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nBad Header\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc",
    ],
)
async def test_a_malformed_http_answer_is_a_decode_error(answer: bytes) -> None:
    async with _raw_server(answer) as url, aiohttp.ClientSession() as session:
        with pytest.raises(UpstreamError) as caught:
            await UpstreamClient(session, _target(url)).get("/x")
    assert caught.value.reason is Reason.DECODE


async def test_gzip_bodies_are_inflated_in_a_worker_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import dataflow_exporter.upstream as http_mod

    threads: list[str] = []
    real = http_mod.inflate

    def recording(*args: Any) -> bytes:
        threads.append(threading.current_thread().name)
        return real(*args)

    monkeypatch.setattr(http_mod, "inflate", recording)

    async def gzipped(_request: web.Request) -> web.Response:
        body = gzip.compress(b'{"x": "' + b"a" * 1_000_000 + b'"}')
        return web.Response(body=body, headers={"Content-Encoding": "gzip"})

    app = web.Application()
    app.router.add_get("/x", gzipped)
    async with _serving(app) as url, aiohttp.ClientSession() as session:
        answer = await UpstreamClient(session, _target(url)).get("/x")
    assert len(answer.json()["x"]) == 1_000_000
    assert threads and threads[0] != threading.main_thread().name


# --- 2. a poll's cost: rendering is inside the timeout and off the loop ----------------------


class _Instant(Source[TargetConfig]):
    system = "any"
    config_model = TargetConfig
    specs = (TARGET_UP,)

    async def poll(self, client: UpstreamClient) -> PollResult:
        # Enough series to be rendered in a render thread, as a large poll is.
        family = Family(TARGET_UP)
        for i in range(scheduler_mod.RENDER_INLINE_SAMPLES):
            family.add(("any", f"t{i}"), 1.0)
        return PollResult([family])


def _poller(timeout: float) -> tuple[Poller, Store]:
    cfg = _target("http://127.0.0.1:1", timeout=timeout)
    store = Store()
    store.add(TargetState("t", "any", cfg.interval, cfg.stale_after))
    poller = Poller(cfg, _Instant(cfg), None, store, time.time, random.Random(1))  # type: ignore[arg-type]
    return poller, store


def _slow_render(seconds: float) -> Callable[..., Snapshot]:
    real = build_snapshot

    def render(*args: Any) -> Snapshot:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:  # pure Python: holds the GIL like real rendering
            sum(range(200))
        return real(*args)

    return render


@pytest.mark.slow
async def test_rendering_counts_against_the_poll_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scheduler_mod, "build_snapshot", _slow_render(2.0))
    poller, store = _poller(timeout=0.3)
    assert not await poller.poll_once()
    assert store.targets["t"].last_error_reason == Reason.TIMEOUT.value


@pytest.mark.slow
async def test_rendering_does_not_hold_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    render_seconds = 2.0
    monkeypatch.setattr(scheduler_mod, "build_snapshot", _slow_render(render_seconds))
    poller, _store = _poller(timeout=30)
    gaps: list[float] = []

    async def tick() -> None:
        last = time.monotonic()
        while True:
            await asyncio.sleep(0.01)
            now = time.monotonic()
            gaps.append(now - last)
            last = now

    ticker = asyncio.create_task(tick())
    try:
        assert await poller.poll_once()
    finally:
        ticker.cancel()
        await asyncio.gather(ticker, return_exceptions=True)
    assert max(gaps) < render_seconds / 4


@pytest.mark.slow
async def test_cancelling_a_poll_with_many_queued_requests_stays_linear() -> None:
    async def cancel_queued(count: int) -> float:
        async with aiohttp.ClientSession() as session:
            client = UpstreamClient(session, _target("http://127.0.0.1:1", max_concurrency=1))
            # Requests wait for the target's concurrency limit, as a poll's per-entity calls do.
            tasks = [asyncio.create_task(client.get("/x")) for _ in range(count)]
            await asyncio.sleep(0.05)
            gc.disable()  # full collections over 20k live tasks would blur the measure
            try:
                started = time.perf_counter()
                for task in reversed(tasks):  # a TaskGroup cancels in no particular order
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                return time.perf_counter() - started
            finally:
                gc.enable()

    small, large = await cancel_queued(2_000), await cancel_queued(20_000)
    # Linear work is a ratio near 10; a waiter list searched per cancellation is near 100.
    assert large / small < 35, f"{small:.3f}s for 2k, {large:.3f}s for 20k"


_RUN_WITH_ENDLESS_RENDER = textwrap.dedent(
    """
    import sys, time
    from dataflow_exporter import cli, scheduler

    def endless(*args):
        while True:
            sum(range(200))

    scheduler.build_snapshot = endless
    sys.exit(cli.main(["run", "--config", sys.argv[1], "--web.listen-address", "127.0.0.1:0",
                       "--log.format", "json"]))
    """
)


@pytest.mark.slow
async def test_sigterm_ends_the_process_within_seconds_even_mid_render(
    simulation: Any, tmp_path: Path
) -> None:
    config = tmp_path / "config.yaml"
    target = {"name": "pg", "system": "peerdb", "url": simulation.url, "password": "x"}
    config.write_text(
        yaml.safe_dump({"global": {"interval": "30s", "timeout": "20s"}, "targets": [target]})
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _RUN_WITH_ENDLESS_RENDER,
        str(config),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        assert proc.stdout is not None
        while b"exporter_started" not in await asyncio.wait_for(proc.stdout.readline(), 60):
            pass
        await asyncio.sleep(3)  # the first poll is fetched and its render is spinning
        proc.send_signal(signal.SIGTERM)
        started = time.monotonic()
        await asyncio.wait_for(proc.wait(), 30)
        assert time.monotonic() - started < 20
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


# --- 3. scrapers that never read -------------------------------------------------------------


def _big_store(body_mib: int) -> Store:
    """A store whose exposition is about `body_mib` MiB (one synthetic target)."""
    line = b'peerdb_mirror_rows_synced_total{target="t",mirror="m%08d"} 12345.0\n'
    block = b"".join(line % i for i in range(body_mib * MiB // len(line)))
    store = Store()
    store.add(TargetState("t", "peerdb", 3600, 3600))
    snapshot = Snapshot({TARGET_UP.name: block}, {TARGET_UP.name: TARGET_UP}, 1, 0, {}, time.time())
    store.record_success("t", snapshot, [], 0.1)
    return store


def _stalled_scrapers(
    port: int, count: int, path: str = "/metrics", source: str = "127.0.0.1"
) -> list[socket.socket]:
    """Connections from `source` (any 127.x address: Linux routes them all to loopback) that
    ask for `path` and never read a byte of the answer."""
    sockets = []
    for _ in range(count):
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.bind((source, 0))
        sock.connect(("127.0.0.1", port))
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        sockets.append(sock)
    return sockets


async def _slots_held(app: web.Application, count: int) -> None:
    """Wait until `count` bodies hold their slots."""
    await asyncio.wait_for(app[SLOTS_KEY].wait_until(lambda held: held >= count), 30)


async def _reload() -> list[str]:
    return []


@pytest.mark.slow
async def test_forty_never_reading_scrapers_grow_rss_by_less_than_150_mib() -> None:
    store = _big_store(12)
    cache = ExpositionCache(store)
    cache.exposition()  # rendered once before measuring, as a running exporter has
    app = make_app(store, cache, _reload)
    process = psutil.Process()
    async with _serving(app) as url:
        port = int(url.rsplit(":", 1)[1])
        before = process.memory_info().rss
        scrapers = _stalled_scrapers(port, 40)
        try:
            await asyncio.sleep(3)  # the server writes all it can
            grown = process.memory_info().rss - before
        finally:
            for sock in scrapers:
                sock.close()
    assert grown < 150 * MiB, f"RSS grew {grown / MiB:.0f} MiB"


@pytest.mark.slow
async def test_scrapes_beyond_the_limit_wait_then_get_a_503() -> None:
    limits = ServerLimits(max_concurrent_scrapes=2, slot_wait_seconds=0.5, write_stall_seconds=60)
    store = _big_store(8)
    app = make_app(store, ExpositionCache(store), _reload, limits=limits)
    async with _serving(app) as url:
        port = int(url.rsplit(":", 1)[1])
        # Two addresses, one slot each (one address may hold half the slots).
        scrapers = [*_stalled_scrapers(port, 1, source="127.0.0.2")]
        scrapers += _stalled_scrapers(port, 1, source="127.0.0.3")
        try:
            await _slots_held(app, 2)
            async with aiohttp.ClientSession() as session, session.get(f"{url}/metrics") as resp:
                assert resp.status == 503
                assert "Retry-After" in resp.headers
        finally:
            for sock in scrapers:
                sock.close()


@pytest.mark.slow
async def test_a_scraper_that_stops_reading_is_cut_off() -> None:
    limits = ServerLimits(max_concurrent_scrapes=1, slot_wait_seconds=30, write_stall_seconds=1)
    store = _big_store(8)
    app = make_app(store, ExpositionCache(store), _reload, limits=limits)
    async with _serving(app) as url:
        scrapers = _stalled_scrapers(int(url.rsplit(":", 1)[1]), 1)
        try:
            async with aiohttp.ClientSession() as session, session.get(f"{url}/metrics") as resp:
                assert resp.status == 200
                assert len(await resp.read()) > 8 * MiB - 1024
        finally:
            scrapers[0].close()


@pytest.mark.slow
async def test_a_scrape_is_served_at_once_however_many_stall_from_another_address() -> None:
    limits = ServerLimits(max_concurrent_scrapes=4, slot_wait_seconds=30, write_stall_seconds=60)
    store = _big_store(8)
    cache = ExpositionCache(store)
    cache.exposition()
    app = make_app(store, cache, _reload, limits=limits)
    async with _serving(app) as url:
        scrapers = _stalled_scrapers(int(url.rsplit(":", 1)[1]), 20, source="127.0.0.2")
        try:
            await _slots_held(app, limits.per_client)
            started = time.monotonic()
            async with aiohttp.ClientSession() as session, session.get(f"{url}/metrics") as resp:
                assert resp.status == 200
                assert len(await resp.read()) > 8 * MiB - 1024
            took = time.monotonic() - started
            assert app[SLOTS_KEY].in_use == limits.per_client, "the staller held only its share"
        finally:
            for sock in scrapers:
                sock.close()
    # Waiting for a slot the stallers hold would take the 60 s stall cut-off.
    assert took < 10, f"the scrape took {took:.1f}s"


def _status_store(targets: int, entities: int, text_chars: int) -> Store:
    """A store whose status is large: `entities` broken pipelines per target, each with a long
    upstream error."""
    store = Store()
    text = ("java.lang.IllegalStateException: deployment failed " * 200)[:text_chars]
    for t in range(targets):
        name = f"t{t:03}"
        store.add(TargetState(name, "feldera", 3600, 3600))
        snapshot = Snapshot({}, {}, 1, 0, {"pipelines Failed": entities}, time.time())
        broken = tuple(
            BrokenEntity("pipeline", (("pipeline", f"p{i:05}"),), "Failed", f"{i} {text}")
            for i in range(entities)
        )
        store.record_success(name, snapshot, [], 0.1, broken=broken)
    return store


@pytest.mark.slow
@pytest.mark.parametrize(
    ("path", "end"), [("/", b"</html>\n"), ("/api/v1/status?limit=5000", b"]}")]
)
async def test_status_readers_that_never_read_hold_a_slot_and_are_cut_off(
    path: str, end: bytes
) -> None:
    limits = ServerLimits(max_concurrent_scrapes=2, slot_wait_seconds=30, write_stall_seconds=1)
    store = _status_store(40, 50, 4000)  # a page of 9 MB, a document of 8 MB
    app = make_app(store, ExpositionCache(store), _reload, limits=limits)
    async with _serving(app) as url:
        (reader,) = _stalled_scrapers(int(url.rsplit(":", 1)[1]), 1, path=path)
        try:
            await _slots_held(app, 1)
            # The write-stall cut-off frees the slot and drops the connection.
            await asyncio.wait_for(app[SLOTS_KEY].wait_until(lambda held: held == 0), 30)
            reader.settimeout(30)
            received = b""
            while chunk := reader.recv(1 << 20):
                received += chunk
        finally:
            reader.close()
    assert b"200 OK" in received[:100]
    assert not received.endswith(end), "cut off mid-body"


# --- 4. silent and slow connections, descriptor exhaustion -----------------------------------


@pytest.fixture
async def quick_exporter(tmp_path: Path) -> AsyncIterator[Exporter]:
    """An exporter with a one-second idle timeout and one unreachable target."""
    config = tmp_path / "config.yaml"
    target = {"name": "t", "system": "peerdb", "url": "http://127.0.0.1:1", "password": "x"}
    config.write_text(
        yaml.safe_dump({"global": {"interval": "1h", "timeout": "1s"}, "targets": [target]})
    )
    exporter = Exporter(
        config, "127.0.0.1:0", limits=ServerLimits(idle_seconds=1.0), enable_lifecycle=True
    )
    await exporter.start()
    try:
        yield exporter
    finally:
        await exporter.stop()


@pytest.mark.slow
async def test_silent_and_trickling_connections_are_closed(quick_exporter: Exporter) -> None:
    assert quick_exporter.port is not None
    connections = [
        await asyncio.open_connection("127.0.0.1", quick_exporter.port) for _ in range(6)
    ]
    head = b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: "
    try:
        for _reader, writer in connections[3:]:
            writer.write(head)

        async def trickle() -> None:
            for _ in range(40):
                for _reader, writer in connections[3:]:
                    writer.write(b"a")
                await asyncio.sleep(0.25)

        trickler = asyncio.create_task(trickle())
        closed = await asyncio.wait_for(
            asyncio.gather(*(reader.read() for reader, _writer in connections)), 20
        )
        trickler.cancel()
        await asyncio.gather(trickler, return_exceptions=True)
    finally:
        for _reader, writer in connections:
            writer.close()
    assert all(b"200 OK" not in data for data in closed)


@pytest.mark.slow
async def test_an_idle_keep_alive_connection_is_closed(quick_exporter: Exporter) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", quick_exporter.port)
    try:
        writer.write(b"GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n")
        first = await asyncio.wait_for(reader.readuntil(b"Healthy.\n"), 10)
        rest = await asyncio.wait_for(reader.read(), 20)
    finally:
        writer.close()
    assert b"200 OK" in first
    assert rest == b""


def test_running_out_of_descriptors_is_logged_once() -> None:
    loop = asyncio.new_event_loop()
    try:
        handler = AcceptErrorFilter()
        with capture_logs() as logs:
            for _ in range(500):
                handler(
                    loop,
                    {
                        "message": "socket.accept() out of system resource",
                        "exception": OSError(24, "Too many open files"),
                    },
                )
    finally:
        loop.close()
    assert len(logs) == 1
    assert handler.suppressed == 500


# --- 5. logins ---------------------------------------------------------------------------------


def _hash(password: str, cost: int) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(cost)).decode()


def _auth_header(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def _web_config(tmp_path: Path, users: dict[str, str], **tls: Any) -> Path:
    data: dict[str, Any] = {"basic_auth_users": users}
    if tls:
        data = {"tls_server_config": tls}
    path = tmp_path / "web.yml"
    path.write_text(yaml.safe_dump(data))
    return path


async def test_a_flood_of_bad_logins_from_one_client_is_answered_without_checks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    checks: list[str] = []
    real = bcrypt.checkpw

    def counting(password: bytes, hashed: bytes) -> bool:
        checks.append(threading.current_thread().name)
        return real(password, hashed)

    monkeypatch.setattr("dataflow_exporter.webconfig.bcrypt.checkpw", counting)
    config = webconfig.load_web_config(_web_config(tmp_path, {"prom": _hash("right", 4)}))
    limits = webconfig.LoginLimits(failures_burst=3, failures_per_second=0.01)
    app = web.Application(middlewares=[webconfig.auth_middleware(config, limits)])
    app.router.add_get("/metrics", _ok)
    async with _serving(app) as url:
        attacker = aiohttp.TCPConnector(local_addr=("127.0.0.2", 0))
        async with aiohttp.ClientSession(connector=attacker) as session:

            async def bad_login() -> int:
                async with session.get(f"{url}/metrics", headers=_auth_header("prom", "x")) as r:
                    return r.status

            statuses = await asyncio.gather(*(bad_login() for _ in range(40)))
        good = _auth_header("prom", "right")
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{url}/metrics", headers=good) as r,
        ):
            assert r.status == 200
    assert statuses.count(401) <= 3
    assert statuses.count(429) >= 37
    assert len(checks) <= 4
    assert all(name.startswith("password-check") for name in checks)


async def _ok(_request: web.Request) -> web.Response:
    return web.Response(text="ok")


def test_unknown_users_cost_as_much_as_the_dearest_configured_hash(tmp_path: Path) -> None:
    users = {"cheap": _hash("a", 4), "dear": _hash("b", 7)}
    config = webconfig.load_web_config(_web_config(tmp_path, users))
    assert config.dummy_hash.startswith(b"$2b$07$")


async def test_a_failed_login_takes_as_long_as_the_dearest_check(tmp_path: Path) -> None:
    users = {"cheap": _hash("a", 4), "dear": _hash("b", 9)}
    config = webconfig.load_web_config(_web_config(tmp_path, users))
    checker = webconfig.PasswordChecker(config)
    try:
        started = time.monotonic()
        verdict = await checker.check("client", "cheap", "wrong")
        elapsed = time.monotonic() - started
    finally:
        checker.close()
    assert verdict is webconfig.Verdict.DENIED
    assert elapsed >= config.failed_check_seconds * 0.9


async def test_a_password_over_72_bytes_is_a_plain_401(tmp_path: Path) -> None:
    config = webconfig.load_web_config(_web_config(tmp_path, {"prom": _hash("right", 4)}))
    app = web.Application(middlewares=[webconfig.auth_middleware(config)])
    app.router.add_get("/metrics", _ok)
    async with _serving(app) as url, aiohttp.ClientSession() as session:
        headers = _auth_header("prom", "right" + "x" * 100)
        async with session.get(f"{url}/metrics", headers=headers) as resp:
            assert resp.status == 401


# --- 9. web TLS versions and cipher suites ---------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def _tls_files(tmp_path: Path, ca: trustme.CA) -> dict[str, str]:
    cert = ca.issue_cert("127.0.0.1")
    cert_file, key_file = tmp_path / "server.pem", tmp_path / "server.key"
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    return {"cert_file": str(cert_file), "key_file": str(key_file)}


def _handshake(port: int, ca: trustme.CA, version: ssl.TLSVersion) -> str:
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    ctx.minimum_version = ctx.maximum_version = version
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        return tls.version() or ""


@pytest.mark.parametrize(
    ("settings", "refused", "accepted"),
    [
        ({"min_version": "TLS13"}, ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3),
        ({"max_version": "TLS12"}, ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2),
    ],
)
async def test_web_tls_versions_are_honoured(
    tmp_path: Path,
    ca: trustme.CA,
    settings: dict[str, str],
    refused: ssl.TLSVersion,
    accepted: ssl.TLSVersion,
) -> None:
    path = _web_config(tmp_path, {}, **_tls_files(tmp_path, ca), **settings)
    context = webconfig.load_web_config(path).ssl_context
    server = await asyncio.start_server(lambda _r, w: w.close(), "127.0.0.1", 0, ssl=context)
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises(ssl.SSLError):
            await asyncio.to_thread(_handshake, port, ca, refused)
        assert await asyncio.to_thread(_handshake, port, ca, accepted)
    finally:
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"min_version": "TLS99"}, "min_version"),
        ({"cipher_suites": ["TLS_NOT_A_SUITE"]}, "unknown cipher suite"),
        ({"min_version": "TLS13", "max_version": "TLS12"}, "above max_version"),
    ],
)
def test_unknown_tls_settings_are_refused(
    tmp_path: Path, ca: trustme.CA, settings: dict[str, Any], message: str
) -> None:
    path = _web_config(tmp_path, {}, **_tls_files(tmp_path, ca), **settings)
    with pytest.raises(WebConfigError, match=message):
        webconfig.load_web_config(path)


def test_exporter_toolkit_cipher_suites_are_accepted(tmp_path: Path, ca: trustme.CA) -> None:
    suites = ["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"]
    path = _web_config(
        tmp_path, {}, **_tls_files(tmp_path, ca), cipher_suites=suites, max_version="TLS12"
    )
    context = webconfig.load_web_config(path).ssl_context
    assert context is not None
    # TLS 1.3 suites (TLS_*) are not configurable, in Go as in OpenSSL's cipher list.
    names = {c["name"] for c in context.get_ciphers() if not c["name"].startswith("TLS_")}
    assert names == {"ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES256-GCM-SHA384"}


# --- 6. redaction ------------------------------------------------------------------------------


async def test_an_echoed_basic_authorization_header_is_redacted() -> None:
    async def echo(request: web.Request) -> web.Response:
        return web.json_response(
            {"message": f"bad credentials: {request.headers['Authorization']}"}, status=400
        )

    app = web.Application()
    app.router.add_get("/x", echo)
    password = "echo-me-Xk9q"
    auth = BasicAuth("svc", SecretReader(None, None))
    auth._password = _Fixed(password)  # type: ignore[assignment]
    async with _serving(app) as url, aiohttp.ClientSession() as session:
        with pytest.raises(UpstreamError) as caught:
            await UpstreamClient(session, _target(url), auth).get("/x")
    token = base64.b64encode(f"svc:{password}".encode()).decode()
    assert token[:12] not in str(caught.value)
    assert known_secrets.MASK in str(caught.value)


class _Fixed:
    def __init__(self, value: str) -> None:
        self.value = value

    async def get(self) -> str:
        return self.value


@pytest.mark.parametrize(
    "shown",
    [
        lambda s: s,
        lambda s: base64.b64encode(f":{s}".encode()).decode(),
        lambda s: __import__("urllib.parse").parse.quote(s, safe=""),
    ],
    ids=["plain", "base64-colon", "url-encoded"],
)
def test_every_encoding_of_a_secret_is_redacted(shown: Callable[[str], str]) -> None:
    secret = "p@ss/w0rd+Xk9?"
    known_secrets.register(secret)
    assert shown(secret) not in known_secrets.redact(f"echoed: {shown(secret)} end")


async def test_error_text_is_redacted_before_it_is_cut() -> None:
    secret = "cut-me-Xk9q-0123456789"
    known_secrets.register(secret)

    async def padded(_request: web.Request) -> web.Response:
        return web.json_response({"message": "p" * 188 + secret}, status=500)

    app = web.Application()
    app.router.add_get("/x", padded)
    async with _serving(app) as url, aiohttp.ClientSession() as session:
        with pytest.raises(UpstreamError) as caught:
            await UpstreamClient(session, _target(url)).get("/x")
    assert secret[:8] not in str(caught.value)


@pytest.mark.slow
def test_registering_many_secrets_stays_linear() -> None:
    def timed(count: int) -> float:
        known_secrets.forget_all()
        values = [f"secret-{i:06d}-Xk9" for i in range(count)]
        started = time.perf_counter()
        for value in values:
            known_secrets.register(value)
        known_secrets.redact("x" * 200 + values[-1])
        return time.perf_counter() - started

    small, large = timed(10_000), timed(100_000)
    # Linear work is a ratio near 10; a set copied per registration is near 100.
    assert large / small < 35
    assert known_secrets.redact("key secret-099999-Xk9") == f"key {known_secrets.MASK}"


# --- 7. config files ---------------------------------------------------------------------------


_ALIAS_BOMB = "a: &a [x,x,x,x,x,x,x,x,x,x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{','.join([f'*{chr(97 + i)}'] * 10)}]\n" for i in range(9)
)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("targets: " + "[" * 20_000 + "]" * 20_000 + "\n", "nested more than"),
        (_ALIAS_BOMB + "targets: *j\n", "aliases expand"),
    ],
    ids=["deep-nesting", "alias-bomb"],
)
def test_hostile_yaml_is_refused_quickly(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    started = time.monotonic()
    with pytest.raises(ConfigError, match=message):
        load(path)
    assert time.monotonic() - started < 10


@pytest.mark.parametrize("value", ["!Xk9TagSecret", "*Xk9AliasSecret"])
def test_yaml_errors_never_print_a_value(tmp_path: Path, value: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(f"targets:\n  - name: a\n    password: {value}\n")
    with pytest.raises(ConfigError) as caught:
        load(path)
    assert "Xk9" not in str(caught.value)
    assert "line 3" in str(caught.value)


@pytest.mark.slow
def test_check_never_prints_a_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("targets: " + "[" * 20_000 + "]" * 20_000 + "\n")
    assert cli.main(["check", str(path)]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "nested" in err


def test_a_config_file_that_is_not_text_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_bytes(b"targets: []\n\xff\xfe\x00")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load(path)


async def test_any_error_while_reloading_keeps_the_old_config(
    quick_exporter: Exporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash() -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(quick_exporter, "_load", crash)
    errors = await quick_exporter.reload()
    assert errors and "RuntimeError" in errors[0]
    assert not quick_exporter.store.reload_ok
    assert quick_exporter.scheduler is not None
    assert set(quick_exporter.scheduler.pollers) == {"t"}
    async with aiohttp.ClientSession() as session:
        url = f"http://127.0.0.1:{quick_exporter.port}/-/reload"
        async with session.post(url) as resp:
            assert resp.status == 500
            assert await resp.text() == lifecycle.FAILED  # the error is in the log only


# --- 9. the smaller ones -----------------------------------------------------------------------


@pytest.mark.parametrize("text", ["1e400", "-inf", "Infinity", "-1E999"])
def test_numbers_in_strings_must_be_finite(text: str) -> None:
    with pytest.raises(SchemaError, match="out of range"):
        number(text, "createdAt")


def test_a_lone_surrogate_in_a_name_does_not_fail_the_answer() -> None:
    assert decode_json(b'[{"name": "mirror-\\ud800"}]', "GET /x") == [{"name": "mirror-\ud800"}]


def test_the_status_page_shows_a_lone_surrogate_as_a_replacement() -> None:
    store = Store()
    store.add(TargetState("t", "peerdb", 60, 300))
    snapshot = Snapshot({}, {}, 1, 0, {"mirrors/\ud800": 1}, time.time())
    store.record_success("t", snapshot, [], 0.1)
    page = render_status_page(store, time.time())
    assert "mirrors/?: 1" in page
    page.encode("utf-8")  # nothing left that UTF-8 cannot encode


async def test_the_status_page_answers_with_a_lone_surrogate() -> None:
    store = Store()
    store.add(TargetState("t", "peerdb", 60, 300))
    snapshot = Snapshot({}, {}, 1, 0, {"mirrors/\ud800": 1}, time.time())
    store.record_success("t", snapshot, [], 0.1)
    app = make_app(store, ExpositionCache(store), _reload)
    async with (
        _serving(app) as url,
        aiohttp.ClientSession() as session,
        session.get(f"{url}/") as resp,
    ):
        assert resp.status == 200
        assert "mirrors/?" in await resp.text()


@pytest.mark.parametrize(
    ("header", "gzip_wanted"),
    [
        ("gzip", True),
        ("GZIP", True),
        ("gzip;q=0.5", True),
        ("identity, gzip; q=0.001", True),
        ("*", True),
        ("gzip;q=0", False),
        ("gzip; q=0.0", False),
        ("*;q=0, identity", False),
        ("br", False),
        ("", False),
    ],
)
def test_accept_encoding_is_parsed_with_q_values_and_any_case(
    header: str, gzip_wanted: bool
) -> None:
    assert wants_gzip(header) is gzip_wanted


def test_unknown_value_self_metrics_are_capped() -> None:
    store = Store()
    store.add(TargetState("t", "etlworks", 60, 300))
    snapshot = Snapshot({}, {}, 0, 0, {}, time.time())
    fields = [(f"records{i}", "x") for i in range(MAX_UNKNOWN_FIELDS * 3)]
    store.record_success("t", snapshot, fields, 0.1)
    assert len(store.unknown_values) <= MAX_UNKNOWN_FIELDS + 1


# An absurd upstream time (issue 21): refused where it is parsed, never reaching the page.


ABSURD_TIMES: dict[str, tuple[str, dict[str, Any], str, str]] = {
    # system: (entity, field values that break its time, the failing call, the field)
    "etlworks": ("5010", {"started": 1e300, "ended": 1e300}, "executions", "started"),
    "confluent": (
        "orders",
        {"state_time_ms": 1e300, "mirror_status": "FAILED"},
        "mirrors",
        "state_time_ms",
    ),
    "peerdb": ("orders_pg_to_ch", {"createdAt": 1e300}, "mirrors_list", "createdAt"),
    "feldera": (
        "clickstream",
        {"deployment_status_since": "0001-01-01T00:00:00Z"},
        "pipelines",
        "deployment_status_since",
    ),
}


async def test_an_absurd_upstream_time_fails_only_its_entity_and_the_page_still_answers() -> None:
    async with Simulation({system: {} for system in ABSURD_TIMES}) as sim:
        for system, (entity, fields, _, _) in ABSURD_TIMES.items():
            sim.systems[system].overrides[entity] = fields
        targets = [sim.systems[system].demo_target(sim.url) for system in ABSURD_TIMES]
        config = parse_config({"global": {"interval": "30s"}, "targets": targets}, env={})
        exporter = Exporter(config, listen="127.0.0.1:0", runtime_metrics=False)
        try:
            assert await exporter.poll_once(), "every target stays up"
            await exporter.serve()
            base = f"http://127.0.0.1:{exporter.port}"
            async with aiohttp.ClientSession() as session:
                for path in ("/", "/api/v1/status"):
                    async with session.get(base + path) as resp:
                        assert resp.status == 200, path
        finally:
            await exporter.stop()
    for system, (entity, _, endpoint, field) in ABSURD_TIMES.items():
        state = exporter.store.targets[f"{system}-demo"]
        (failure,) = [f for f in state.detail_failures if entity in f.entity]
        assert (failure.endpoint, failure.reason) == (endpoint, Reason.SCHEMA), system
        assert f"{field}: time out of range" in failure.message, system
