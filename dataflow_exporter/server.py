"""The exporter's HTTP endpoints: /metrics, the status page and its JSON API (their own modules),
health, readiness and reload.

`/metrics` streams the cached exposition in chunks, each written only once the client has taken
the last, so a client that never reads pins one chunk, not the body; at most
`max_concurrent_scrapes` bodies are in flight and a scrape that stalls is cut.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from aiohttp import web

from dataflow_exporter import lifecycle, request_errors, runbooks, status_api, status_page
from dataflow_exporter.exposition import OPENMETRICS_CONTENT_TYPE, TEXT_CONTENT_TYPE
from dataflow_exporter.exposition_cache import ExpositionCache
from dataflow_exporter.store import Store
from dataflow_exporter.webconfig import WebConfig, auth_middleware

ReloadFn = lifecycle.ReloadFn


@dataclass(frozen=True, slots=True)
class ServerLimits:
    """What one client may cost the listener."""

    # Bodies being sent at once; more scrapes wait for a slot, then get a 503.
    max_concurrent_scrapes: int = 10
    slot_wait_seconds: float = 10.0
    # A chunk the client has not taken within this time ends the scrape and the connection.
    write_stall_seconds: float = 10.0
    chunk_bytes: int = 64 * 1024
    # A connection that has sent no complete request head this long after it opened or after
    # its last answer (a silent or trickling client) is closed.
    idle_seconds: float = 30.0


STORE_KEY = web.AppKey("store", Store)
CACHE_KEY = web.AppKey("exposition_cache", ExpositionCache)
LIMITS_KEY = web.AppKey("limits", ServerLimits)
SLOTS_KEY = web.AppKey("scrape_slots", asyncio.Semaphore)


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


async def metrics(request: web.Request) -> web.StreamResponse:
    """`/metrics`: the cached exposition, in the negotiated format and encoding."""
    limits = request.app[LIMITS_KEY]
    slots = request.app[SLOTS_KEY]
    try:
        async with asyncio.timeout(limits.slot_wait_seconds):
            await slots.acquire()
    except TimeoutError:
        return web.Response(
            status=503,
            text="Too many concurrent scrapes; try again shortly.\n",
            headers={"Retry-After": "1"},
        )
    try:
        return await _stream_metrics(request, limits)
    finally:
        slots.release()


async def _stream_metrics(request: web.Request, limits: ServerLimits) -> web.StreamResponse:
    cache = request.app[CACHE_KEY]
    openmetrics = wants_openmetrics(request.headers.get("Accept", ""))
    gzipped = wants_gzip(request.headers.get("Accept-Encoding", ""))
    parts = cache.exposition_parts(openmetrics, gzipped)
    resp = web.StreamResponse(
        headers={"Content-Type": OPENMETRICS_CONTENT_TYPE if openmetrics else TEXT_CONTENT_TYPE}
    )
    if gzipped:
        resp.headers["Content-Encoding"] = "gzip"
    # The body depends on Accept-Encoding (and Accept): a cache in between must key on both.
    resp.headers["Vary"] = "Accept-Encoding, Accept"
    resp.content_length = sum(len(part) for part in parts)
    await resp.prepare(request)
    step = limits.chunk_bytes
    try:
        for part in parts:
            view = memoryview(part)
            for start in range(0, len(part), step):
                # aiohttp waits for the socket to drain once a chunk is buffered: back-pressure.
                async with asyncio.timeout(limits.write_stall_seconds):
                    await resp.write(view[start : start + step])
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
    *,
    enable_lifecycle: bool = False,
) -> web.Application:
    """The aiohttp application serving every endpoint; `POST /-/reload` reloads only with
    `enable_lifecycle` (`--web.enable-lifecycle`)."""
    middlewares = [request_errors.middleware]
    if web_config and web_config.users:
        middlewares.append(auth_middleware(web_config))
    app = web.Application(middlewares=middlewares)
    limits = limits or ServerLimits()
    app[STORE_KEY] = store
    app[CACHE_KEY] = cache
    app[LIMITS_KEY] = limits
    app[SLOTS_KEY] = asyncio.Semaphore(limits.max_concurrent_scrapes)
    app.router.add_get("/metrics", metrics)
    # The pages read the time from the cache's clock, so they call a target stale exactly
    # when /metrics does.
    app.router.add_get("/", status_page.handler(store, cache.clock))
    app.router.add_get(status_api.PATH, status_api.handler(store, cache.clock))
    app.router.add_get("/-/healthy", healthy)
    app.router.add_get("/-/ready", ready)
    app.router.add_get(runbooks.PATH, runbooks.handler())
    lifecycle.register(app, reload_fn, enabled=enable_lifecycle)
    return app
