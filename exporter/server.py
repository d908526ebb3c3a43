"""The exporter's HTTP endpoints: /metrics, the status page, health, readiness and reload."""

from __future__ import annotations

import html
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from exporter import __version__, redact
from exporter.collector import Collector
from exporter.exposition import OPENMETRICS_CONTENT_TYPE, TEXT_CONTENT_TYPE
from exporter.store import Store, TargetState
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
    elif state.up and state.detail_failures:
        status, cls = "UP (partial)", "partial"
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


# Rows shown per target: enough to name what is broken without making the page huge.
MAX_DETAIL_ROWS = 50


def _partial_section(targets: list[tuple[str, TargetState]]) -> str:
    """Entities whose detail calls failed while their target was up, and the capabilities the
    targets' upstream releases lack (their series are absent, not failing)."""
    esc = html.escape
    rows = []
    for name, state in targets:
        failures = sorted(state.detail_failures, key=lambda f: (f.endpoint, f.entity))
        for failure in failures[:MAX_DETAIL_ROWS]:
            rows.append(
                f'<tr data-target="{esc(name)}"><td class="name">{esc(name)}</td>'
                f'<td class="name">{esc(failure.entity)}</td><td>{esc(failure.endpoint)}</td>'
                f'<td class="error"><b>{esc(failure.reason.value)}</b>: '
                f"{esc(redact.redact(failure.message))}</td></tr>"
            )
        if len(failures) > MAX_DETAIL_ROWS:
            more = len(failures) - MAX_DETAIL_ROWS
            rows.append(f'<tr><td colspan="4" class="note">{esc(name)}: {more} more</td></tr>')
    lacking = [
        f'<li data-target="{esc(name)}">{esc(name)} ({esc(state.system)}): '
        + ", ".join(esc(c) for c, served in state.capabilities.items() if not served)
        + "</li>"
        for name, state in targets
        if not all(state.capabilities.values())
    ]
    html_out = ""
    if rows:
        html_out += (
            '<h2>Failing details</h2><p class="note">The target is up; these entities keep '
            "their state from the inventory, but the series of the failed call are absent."
            '</p><table id="details"><thead><tr><th>Target</th><th>Entity</th><th>Call</th>'
            "<th>Error</th></tr></thead><tbody>\n" + "\n".join(rows) + "\n</tbody></table>"
        )
    if lacking:
        html_out += (
            '<h2>Not served by the upstream release</h2><ul id="capabilities">'
            + "".join(lacking)
            + '</ul><p class="note">Their series are absent; see docs/compatibility.md.</p>'
        )
    return html_out


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
tr.pending td.status{{background:#ffc}} tr.partial td.status{{background:#fd9}}
p.down,.bad{{color:#a00;font-weight:bold}}
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
</tbody></table>
<p class="note" id="state-names">State names are each upstream's own spelling, shown as it
reports them: PeerDB <code>STATUS_RUNNING</code>, Feldera <code>Running</code>, Confluent
<code>ACTIVE</code>, Etlworks <code>success</code>.</p>
{_partial_section(targets)}
</body></html>
"""


async def status_page(request: web.Request) -> web.Response:
    """`/`: what on-call wants at a glance."""
    page = render_status_page(request.app[STORE_KEY], time.time())
    return web.Response(text=page, content_type="text/html")


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
    app.router.add_get("/", status_page)
    app.router.add_get("/-/healthy", healthy)
    app.router.add_get("/-/ready", ready)
    app.router.add_post("/-/reload", reload)
    return app
