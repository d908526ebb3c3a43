"""The exporter's HTTP endpoints: /metrics, the status page, health, readiness and reload.

`/metrics` streams the cached exposition in chunks, each written only once the client has taken
the last, so a client that never reads pins one chunk, not the body; at most
`max_concurrent_scrapes` bodies are in flight and a scrape that stalls is cut.
"""

from __future__ import annotations

import asyncio
import html
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from exporter import __version__, redact
from exporter.collector import Collector
from exporter.exposition import OPENMETRICS_CONTENT_TYPE, TEXT_CONTENT_TYPE
from exporter.store import Store, TargetState
from exporter.webconfig import WebConfig, auth_middleware

ReloadFn = Callable[[], Awaitable[list[str]]]


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
COLLECTOR_KEY = web.AppKey("collector", Collector)
RELOAD_KEY = web.AppKey("reload", object)
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
    collector = request.app[COLLECTOR_KEY]
    openmetrics = wants_openmetrics(request.headers.get("Accept", ""))
    gzipped = wants_gzip(request.headers.get("Accept-Encoding", ""))
    body = collector.exposition(openmetrics, gzipped)
    resp = web.StreamResponse(
        headers={"Content-Type": OPENMETRICS_CONTENT_TYPE if openmetrics else TEXT_CONTENT_TYPE}
    )
    if gzipped:
        resp.headers["Content-Encoding"] = "gzip"
    resp.content_length = len(body)
    await resp.prepare(request)
    view = memoryview(body)
    step = limits.chunk_bytes
    try:
        for start in range(0, len(body), step):
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


async def reload(request: web.Request) -> web.Response:
    """`POST /-/reload`: load the config file again; the old one stays on error."""
    reload_fn = request.app[RELOAD_KEY]
    assert callable(reload_fn)
    errors: list[str] = await reload_fn()
    if errors:
        text = "Reload failed; the previous config stays in effect:\n" + "\n".join(errors) + "\n"
        return web.Response(status=500, text=redact.redact(text))
    return web.Response(text="Reloaded.\n")


def _age(now: float, then: float | None) -> str:
    if then is None:
        return "never"
    seconds = max(0, int(now - then))
    if seconds < 120:
        return f"{seconds}s ago"
    if seconds < 7200:
        return f"{seconds // 60}m ago"
    return f"{seconds // 3600}h ago"


def _utc(then: float | None) -> str:
    if then is None:
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(then))


def _entities(state: TargetState, stale: bool) -> str:
    """Entity counts per state; marked as old when they come from an earlier poll."""
    if state.snapshot is None:
        return "<td></td>"
    esc = html.escape
    counts = "<br>".join(f"{esc(k)}: {v}" for k, v in sorted(state.snapshot.entities.items()))
    if state.up or not state.polled:
        return f'<td class="entities">{counts}</td>'
    # A failed poll keeps the last good snapshot: say so, or these counts read as current.
    note = "withheld from /metrics: stale" if stale else "as of the last success"
    return f'<td class="entities old">{counts}<br><span class="note">({note})</span></td>'


def _target_row(state: TargetState, now: float) -> str:
    esc = html.escape
    if not state.polled:
        status, cls = "PENDING", "pending"
    elif state.up:
        status, cls = "UP", "up"
    else:
        status, cls = "DOWN", "down"
    stale = state.stale(now)
    if stale:
        status += " (stale)"
    error = ""
    if state.last_error_reason:
        error = (
            f"<b>{esc(state.last_error_reason)}</b>: {esc(redact.redact(state.last_error or ''))}"
        )
    series = state.snapshot.series if state.snapshot else 0
    return (
        f'<tr class="{cls}" data-target="{esc(state.name)}">'
        f'<td class="name">{esc(state.name)}</td><td class="name">{esc(state.system)}</td>'
        f'<td class="status">{status}</td>'
        f'<td class="name" title="{_utc(state.last_success)}">{_age(now, state.last_success)}</td>'
        f'<td>{state.last_duration:.3f}s</td><td class="error">{error}</td>'
        f"{_entities(state, stale)}<td>{series}</td></tr>"
    )


def _attention_first(item: tuple[str, TargetState]) -> tuple[int, str]:
    """Down targets first, then pending ones, then the rest, each by name."""
    name, state = item
    if state.polled and not state.up:
        return 0, name
    return (1 if not state.polled else 2), name


def render_status_page(store: Store, now: float) -> str:
    """The `/` page: one row per target, those that are down first; never shows config values
    such as URLs or secrets."""
    targets = sorted(store.targets.items(), key=_attention_first)
    rows = "\n".join(_target_row(s, now) for _, s in targets)
    down = sum(1 for s in store.targets.values() if s.polled and not s.up)
    reload_note = "" if store.reload_ok else '<p class="down">Last config reload FAILED.</p>'
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="10">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>dataflow-exporter</title>
<style>
body{{font-family:sans-serif;margin:2em}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}}
td.name,td.status,td.entities{{white-space:nowrap}} td.status{{font-weight:bold}}
tr.up td.status{{background:#cfc}} tr.down td.status{{background:#fcc}}
tr.pending td.status{{background:#ffc}} p.down,.bad{{color:#a00;font-weight:bold}}
td.old{{color:#666}} .note{{font-size:90%;font-style:italic}}
</style></head><body>
<h1>dataflow-exporter {html.escape(__version__)}</h1>
<p>{len(store.targets)} targets, <span id="down-count"{' class="bad"' if down else ""}>{down}</span>
down. <a href="/metrics">/metrics</a> · <a href="/-/healthy">/-/healthy</a> ·
<a href="/-/ready">/-/ready</a></p>{reload_note}
<table id="targets"><thead><tr><th>Target</th><th>System</th><th>Status</th>
<th>Last success</th><th>Last poll took</th><th>Last error</th><th>Entities</th>
<th>Series</th></tr></thead>
<tbody>
{rows}
</tbody></table></body></html>
"""


async def status_page(request: web.Request) -> web.Response:
    """`/`: what on-call wants at a glance."""
    page = render_status_page(request.app[STORE_KEY], time.time())
    # Upstream names may hold lone surrogates, which UTF-8 cannot encode.
    body = page.encode("utf-8", "replace")
    return web.Response(body=body, content_type="text/html", charset="utf-8")


def make_app(
    store: Store,
    collector: Collector,
    reload_fn: ReloadFn,
    web_config: WebConfig | None = None,
    limits: ServerLimits | None = None,
) -> web.Application:
    """The aiohttp application serving every endpoint."""
    middlewares = [auth_middleware(web_config)] if web_config and web_config.users else []
    app = web.Application(middlewares=middlewares)
    limits = limits or ServerLimits()
    app[STORE_KEY] = store
    app[COLLECTOR_KEY] = collector
    app[RELOAD_KEY] = reload_fn
    app[LIMITS_KEY] = limits
    app[SLOTS_KEY] = asyncio.Semaphore(limits.max_concurrent_scrapes)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/", status_page)
    app.router.add_get("/-/healthy", healthy)
    app.router.add_get("/-/ready", ready)
    app.router.add_post("/-/reload", reload)
    return app
