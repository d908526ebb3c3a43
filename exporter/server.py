"""The exporter's HTTP endpoints: /metrics, the status page and its JSON API (their own modules),
health, readiness and reload."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from exporter import redact, status_api, status_page
from exporter.collector import Collector
from exporter.exposition import OPENMETRICS_CONTENT_TYPE, TEXT_CONTENT_TYPE
from exporter.store import Store
from exporter.webconfig import WebConfig, auth_middleware

ReloadFn = Callable[[], Awaitable[list[str]]]
STORE_KEY = web.AppKey("store", Store)
COLLECTOR_KEY = web.AppKey("collector", Collector)
RELOAD_KEY = web.AppKey("reload", object)


def wants_openmetrics(accept: str) -> bool:
    """True if the scraper asks for OpenMetrics (Prometheus does when it may)."""
    return "application/openmetrics-text" in accept


def wants_gzip(accept_encoding: str) -> bool:
    """True if the client accepts a gzip-encoded body."""
    return any(
        part.split(";")[0].strip() == "gzip" and "q=0" not in part.replace(" ", "")
        for part in accept_encoding.split(",")
    )


async def metrics(request: web.Request) -> web.Response:
    """`/metrics`: the cached exposition, in the negotiated format and encoding."""
    collector = request.app[COLLECTOR_KEY]
    openmetrics = wants_openmetrics(request.headers.get("Accept", ""))
    gzipped = wants_gzip(request.headers.get("Accept-Encoding", ""))
    body = collector.exposition(openmetrics, gzipped)
    headers = {"Content-Type": OPENMETRICS_CONTENT_TYPE if openmetrics else TEXT_CONTENT_TYPE}
    if gzipped:
        headers["Content-Encoding"] = "gzip"
    # The body depends on Accept-Encoding (and Accept): a cache in between must key on both.
    headers["Vary"] = "Accept-Encoding, Accept"
    return web.Response(body=body, headers=headers)


async def healthy(_request: web.Request) -> web.Response:
    """`/-/healthy`: the process is serving."""
    return web.Response(text="Healthy.\n")


async def ready(request: web.Request) -> web.Response:
    """`/-/ready`: every target has finished its first poll."""
    if request.app[STORE_KEY].ready():
        return web.Response(text="Ready.\n")
    return web.Response(status=503, text="Not ready: waiting for the first poll of every target.\n")


async def reload(request: web.Request) -> web.Response:
    """`POST /-/reload`: load the config file again; the old one stays on error."""
    reload_fn = request.app[RELOAD_KEY]
    assert callable(reload_fn)
    errors: list[str] = await reload_fn()
    if errors:
        text = "Reload failed; the previous config stays in effect:\n" + "\n".join(errors) + "\n"
        return web.Response(status=500, text=redact.redact(text))
    return web.Response(text="Reloaded.\n")


def make_app(
    store: Store, collector: Collector, reload_fn: ReloadFn, web_config: WebConfig | None = None
) -> web.Application:
    """The aiohttp application serving every endpoint."""
    middlewares = [auth_middleware(web_config)] if web_config and web_config.users else []
    app = web.Application(middlewares=middlewares)
    app[STORE_KEY] = store
    app[COLLECTOR_KEY] = collector
    app[RELOAD_KEY] = reload_fn
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/", status_page.handler(store))
    app.router.add_get(status_api.PATH, status_api.handler(store))
    app.router.add_get("/-/healthy", healthy)
    app.router.add_get("/-/ready", ready)
    app.router.add_post("/-/reload", reload)
    return app
