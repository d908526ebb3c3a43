"""The exporter's HTTP endpoints: /metrics, the status page and its JSON API (their own modules),
health, readiness and reload.

`/metrics`, `/` and `/api/v1/status` stream cached bytes in chunks, each written only once the
client has taken the last, so a client that never reads pins one chunk, not the body. At most
`max_concurrent_scrapes` bodies are in flight, at most `max_scrapes_per_client` of them for one
client address (so clients that never read cannot keep a well-behaved scrape waiting), and a
body that stalls is cut. `/-/healthy` and `/-/ready` wait for none of this.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from aiohttp import web

from dataflow_exporter import lifecycle, request_errors, runbooks, status_api, status_page
from dataflow_exporter.exposition import OPENMETRICS_CONTENT_TYPE, TEXT_CONTENT_TYPE
from dataflow_exporter.exposition_cache import ExpositionCache
from dataflow_exporter.status_cache import StatusCache
from dataflow_exporter.store import Store
from dataflow_exporter.webconfig import WebConfig, auth_middleware

ReloadFn = lifecycle.ReloadFn


@dataclass(frozen=True, slots=True)
class ServerLimits:
    """What one client may cost the listener."""

    # Bodies (/metrics, /, /api/v1/status) being sent at once; more wait for a slot, then get a
    # 503. One client address holds at most `max_scrapes_per_client` of them (default: half).
    max_concurrent_scrapes: int = 10
    max_scrapes_per_client: int | None = None
    slot_wait_seconds: float = 10.0
    # A chunk the client has not taken within this time ends the scrape and the connection.
    write_stall_seconds: float = 10.0
    chunk_bytes: int = 64 * 1024
    # A connection that has sent no complete request head this long after it opened or after
    # its last answer (a silent or trickling client) is closed.
    idle_seconds: float = 30.0

    @property
    def per_client(self) -> int:
        """Bodies one client address may hold at once."""
        if self.max_scrapes_per_client is not None:
            return max(1, min(self.max_scrapes_per_client, self.max_concurrent_scrapes))
        return max(1, self.max_concurrent_scrapes // 2)


@dataclass(slots=True)
class _Client:
    slots: asyncio.Semaphore
    users: int = 0  # requests holding or waiting for one of its slots


@dataclass(slots=True)
class Slots:
    """The body slots: `total` in all, `per_client` for one client address. Waiting requests
    of one address queue on its own slots first, so they never stand between another address
    and a free slot."""

    total: int
    per_client: int
    _all: asyncio.Semaphore = field(init=False)
    _clients: dict[str, _Client] = field(init=False, default_factory=dict)
    in_use: int = field(init=False, default=0)  # slots held now
    _changed: asyncio.Event = field(init=False, default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self._all = asyncio.Semaphore(self.total)

    async def wait_until(self, held: Callable[[int], bool]) -> None:
        """Wait until the number of slots held satisfies `held` (for tests and benchmarks)."""
        while not held(self.in_use):
            await self._changed.wait()

    def users(self, client: str) -> int:
        """Requests of `client` holding or waiting for a slot (for tests and benchmarks)."""
        entry = self._clients.get(client)
        return entry.users if entry is not None else 0

    def _count(self, change: int) -> None:
        self.in_use += change
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def acquire(self, client: str) -> None:
        """Wait for one of `client`'s slots, then for one of all; cancel to give up."""
        entry = self._clients.get(client)
        if entry is None:
            entry = self._clients[client] = _Client(asyncio.Semaphore(self.per_client))
        entry.users += 1
        try:
            await entry.slots.acquire()
            try:
                await self._all.acquire()
                self._count(1)
            except BaseException:
                entry.slots.release()
                raise
        except BaseException:
            self._leave(client, entry)
            raise

    def release(self, client: str) -> None:
        """Give back a slot `acquire` gave `client`."""
        entry = self._clients[client]
        self._count(-1)
        self._all.release()
        entry.slots.release()
        self._leave(client, entry)

    def _leave(self, client: str, entry: _Client) -> None:
        entry.users -= 1
        if entry.users == 0:  # the table holds only addresses with requests in flight
            del self._clients[client]


STORE_KEY = web.AppKey("store", Store)
CACHE_KEY = web.AppKey("exposition_cache", ExpositionCache)
LIMITS_KEY = web.AppKey("limits", ServerLimits)
SLOTS_KEY = web.AppKey("scrape_slots", Slots)
STATUS_KEY = web.AppKey("status_cache", StatusCache)


def wants_openmetrics(accept: str) -> bool:
    """True if the scraper asks for OpenMetrics (Prometheus does when it may)."""
    return "application/openmetrics-text" in accept.lower()


def wants_gzip(accept_encoding: str) -> bool:
    """True if the client accepts gzip (RFC 9110: codings are case-insensitive and a `q` of 0
    refuses one; `*` stands for any coding not named)."""
    weights: dict[str, float] = {}
    for part in accept_encoding.split(","):
        coding, *params = (item.strip() for item in part.split(";"))
        weights.setdefault(coding.lower(), _quality(params))
    gzip_q = weights.get("gzip", weights.get("x-gzip", weights.get("*", 0.0)))
    return gzip_q > 0


def _quality(params: list[str]) -> float:
    """The `q` parameter's value (1 when absent, 0 when malformed: refuse what is unclear)."""
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            try:
                q = float(value.strip())
            except ValueError:
                return 0.0
            return q if 0.0 <= q <= 1.0 else 0.0
    return 1.0


def client_address(request: web.Request) -> str:
    """The address slots are counted by: the peer's IP (a proxy in front counts as one)."""
    return request.remote or ""


def chunks(parts: Sequence[bytes], size: int) -> Iterator[bytes | memoryview]:
    """`parts` as consecutive chunks of `size` bytes (the last may be shorter): slices of a
    large part are not copied, small parts (one JSON entity each) are joined, so a body of
    thousands of small parts is written in a few calls."""
    pending: list[memoryview] = []
    held = 0
    for part in parts:
        view = memoryview(part)
        start = 0
        while start < len(view):
            piece = view[start : start + size - held]
            start += len(piece)
            if not pending and len(piece) == size:
                yield piece
                continue
            pending.append(piece)
            held += len(piece)
            if held == size:
                yield b"".join(pending)
                pending, held = [], 0
    if pending:
        yield b"".join(pending)


async def _stream(
    request: web.Request, body: Callable[[], Sequence[bytes]], headers: Mapping[str, str]
) -> web.StreamResponse:
    """Send the parts `body()` gives as one body through a slot, chunk by chunk with
    back-pressure, cutting a client that stops reading; a 503 when no slot frees up in time.
    `body` runs once the slot is held: a request turned away costs nothing, and one that
    waited sends what is current then."""
    limits = request.app[LIMITS_KEY]
    slots = request.app[SLOTS_KEY]
    client = client_address(request)
    try:
        async with asyncio.timeout(limits.slot_wait_seconds):
            await slots.acquire(client)
    except TimeoutError:
        return web.Response(
            status=503,
            text="Too many concurrent requests; try again shortly.\n",
            headers={"Retry-After": "1"},
        )
    try:
        return await _send(request, body(), headers, limits)
    finally:
        slots.release(client)


async def _send(
    request: web.Request,
    parts: Sequence[bytes],
    headers: Mapping[str, str],
    limits: ServerLimits,
) -> web.StreamResponse:
    resp = web.StreamResponse(headers=headers)
    resp.content_length = sum(len(part) for part in parts)
    await resp.prepare(request)
    if request.method == "HEAD":
        await resp.write_eof()
        return resp
    try:
        for chunk in chunks(parts, limits.chunk_bytes):
            # aiohttp waits for the socket to drain once a chunk is buffered: back-pressure.
            async with asyncio.timeout(limits.write_stall_seconds):
                await resp.write(chunk)
    except TimeoutError:
        # The client stopped reading: drop it rather than hold its slot and buffers (aiohttp
        # then finds the connection gone and closes it quietly).
        if request.transport is not None:
            request.transport.abort()
        return resp
    except ConnectionError:
        return resp  # the client went away mid-body: nothing to answer
    await resp.write_eof()
    return resp


async def metrics(request: web.Request) -> web.StreamResponse:
    """`/metrics`: the cached exposition, in the negotiated format and encoding."""
    cache = request.app[CACHE_KEY]
    openmetrics = wants_openmetrics(request.headers.get("Accept", ""))
    gzipped = wants_gzip(request.headers.get("Accept-Encoding", ""))
    headers = {
        "Content-Type": OPENMETRICS_CONTENT_TYPE if openmetrics else TEXT_CONTENT_TYPE,
        # The body depends on Accept-Encoding (and Accept): a cache in between must key on both.
        "Vary": "Accept-Encoding, Accept",
    }
    if gzipped:
        headers["Content-Encoding"] = "gzip"
    return await _stream(request, lambda: cache.exposition_parts(openmetrics, gzipped), headers)


async def page(request: web.Request) -> web.StreamResponse:
    """`/`: the status page, rendered once per store change."""
    bodies = await request.app[STATUS_KEY].bodies()
    headers = {"Content-Type": status_page.CONTENT_TYPE, **status_page.HEADERS}
    return await _stream(request, lambda: (bodies.page,), headers)


async def api(request: web.Request) -> web.StreamResponse:
    """`/api/v1/status`: the status document, one page of broken entities at a time."""
    try:
        query = status_api.parse_query(request.query)
    except ValueError as exc:
        return web.Response(status=400, text=f"{exc}\n", headers=status_api.HEADERS)
    bodies = await request.app[STATUS_KEY].bodies()
    if query.target is not None and query.target not in bodies.api.target_names:
        return web.Response(
            status=404, text="No target of that name.\n", headers=status_api.HEADERS
        )
    headers = {"Content-Type": status_api.CONTENT_TYPE, **status_api.HEADERS}
    return await _stream(request, lambda: status_api.document_parts(bodies.api, query), headers)


async def healthy(_request: web.Request) -> web.Response:
    """`/-/healthy`: the process is serving."""
    return web.Response(text="Healthy.\n")


async def ready(request: web.Request) -> web.Response:
    """`/-/ready`: every target has finished its first poll."""
    if request.app[STORE_KEY].ready():
        return web.Response(text="Ready.\n")
    return web.Response(status=503, text="Not ready: waiting for the first poll of every target.\n")


def make_app(
    store: Store,
    cache: ExpositionCache,
    reload_fn: ReloadFn,
    web_config: WebConfig | None = None,
    limits: ServerLimits | None = None,
    status: StatusCache | None = None,
    *,
    enable_lifecycle: bool = False,
) -> web.Application:
    """The aiohttp application serving every endpoint (`status`: the status bodies' cache; one
    reading the exposition cache's clock by default); `POST /-/reload` reloads only with
    `enable_lifecycle` (`--web.enable-lifecycle`)."""
    middlewares = [request_errors.middleware]
    if web_config and web_config.users:
        middlewares.append(auth_middleware(web_config))
    app = web.Application(middlewares=middlewares)
    limits = limits or ServerLimits()
    app[STORE_KEY] = store
    app[CACHE_KEY] = cache
    app[LIMITS_KEY] = limits
    app[SLOTS_KEY] = Slots(limits.max_concurrent_scrapes, limits.per_client)
    # The pages read the time from the cache's clock, so they call a target stale exactly
    # when /metrics does.
    app[STATUS_KEY] = status or StatusCache(store, cache.clock)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/", page)
    app.router.add_get(status_api.PATH, api)
    app.router.add_get("/-/healthy", healthy)
    app.router.add_get("/-/ready", ready)
    app.router.add_get(runbooks.PATH, runbooks.handler())
    lifecycle.register(app, reload_fn, enabled=enable_lifecycle)
    return app
