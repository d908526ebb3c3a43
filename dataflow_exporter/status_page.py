"""The `/` status page: what is broken now, by name and in the upstream's own words, then every
target's poll health. Rendered from `status.status_view`, the same data as `/api/v1/status`
(`status_cache` renders it once per store change); every value is HTML-escaped, no URL or
config value is shown, and the page needs no script: `CONTENT_SECURITY_POLICY` allows its one
inline style and nothing else.
"""

from __future__ import annotations

import base64
import hashlib
import html
import math
import time
import urllib.parse

from dataflow_exporter import __version__
from dataflow_exporter.status import BrokenView, StatusView, TargetView, status_view
from dataflow_exporter.store import Store

# Error text shown inline; the whole (scrubbed) text is one click away in a <details>.
SHORT_ERROR_CHARS = 160
# Broken rows shown per target: enough to name what is broken without making the page huge
# (/api/v1/status lists the rest).
MAX_BROKEN_ROWS = 50

STYLE = """
body{font-family:sans-serif;margin:2em} table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}
td.name,td.status,td.entities,td.since{white-space:nowrap} td.status{font-weight:bold}
tr.up td.status{background:#cfc} tr.down td.status{background:#fcc}
tr.pending td.status{background:#ffc} tr.partial td.status{background:#fd9}
#broken td.state{font-weight:bold;color:#a00} #broken tr.old td{color:#666}
p.down,.bad{color:#a00;font-weight:bold} p.healthy{color:#060;font-weight:bold}
p.nodata{color:#a60;font-weight:bold}
td.old{color:#666} .note{font-size:90%;font-style:italic}
details summary{cursor:pointer} details pre{white-space:pre-wrap;max-width:60em}
"""

# The page's own inline style, allowed by its hash; no script, frame, form or other origin.
_STYLE_HASH = base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()
CONTENT_SECURITY_POLICY = (
    f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; img-src 'none'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
# Sent with the page: no MIME sniffing, no framing (older browsers), never cached (it names
# what is broken now).
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
}
CONTENT_TYPE = "text/html; charset=utf-8"

_STATUS = {
    "up": ("UP", "up"),
    "degraded": ("UP", "partial"),
    "down": ("DOWN", "down"),
    "pending": ("PENDING", "pending"),
}


def _age(now: float, then: float | None) -> str:
    if then is None:
        return "never"
    if not math.isfinite(now - then):  # rendering never raises, whatever a time holds
        return "unknown"
    seconds = int(now - then)
    if seconds < 0:
        return _in(-seconds)
    if seconds < 120:
        return f"{seconds}s ago"
    if seconds < 7200:
        return f"{seconds // 60}m ago"
    if seconds < 172800:
        return f"{seconds // 3600}h ago"
    return f"{seconds // 86400}d ago"


def _in(seconds: int) -> str:
    return f"in {seconds}s" if seconds < 120 else f"in {seconds // 60}m"


def _utc(then: float | None) -> str:
    if then is None:
        return ""
    try:
        return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(then))
    except (OverflowError, OSError, ValueError):  # beyond the platform's time_t, or NaN
        return "not a time"


def _error_cell(text: str) -> str:
    """The error, cut to a readable length with the whole text one click away."""
    esc = html.escape
    if len(text) <= SHORT_ERROR_CHARS:
        return f'<td class="error">{esc(text)}</td>'
    short = text[:SHORT_ERROR_CHARS].rstrip() + "…"
    return (
        f'<td class="error"><details><summary>{esc(short)}</summary>'
        f"<pre>{esc(text)}</pre></details></td>"
    )


def _entity_name(entity: BrokenView) -> str:
    """`mirror orders`, `input connector payments / table orders / connector kafka_in`."""
    values = list(entity.names.values())
    if entity.kind == "detail call":
        return f"{entity.names['entity']} ({entity.names['call']} call)"
    return f"{entity.kind} " + " / ".join(values)


def _broken_row(entity: BrokenView, now: float) -> str:
    esc = html.escape
    since = _age(now, entity.since)
    who = "reported by the upstream" if entity.since_source == "upstream" else "first seen"
    if entity.since_source == "exporter":
        since += " (first seen)"
    old = "" if entity.current else ' class="old"'
    state = esc(entity.state) + (
        "" if entity.current else ' <span class="note">(as of the last success)</span>'
    )
    return (
        f'<tr{old} data-target="{esc(entity.target)}" data-kind="{esc(entity.kind)}" '
        f'data-entity="{esc(" / ".join(entity.names.values()))}">'
        f'<td class="name">{esc(entity.system)}</td><td class="name">{esc(entity.target)}</td>'
        f'<td class="entity">{esc(_entity_name(entity))}</td><td class="state">{state}</td>'
        f'<td class="since" title="{esc(_utc(entity.since))}, {who}">{esc(since)}</td>'
        f"{_error_cell(entity.error)}</tr>"
    )


def _broken_section(view: StatusView, now: float) -> str:
    """Every broken entity across targets, or a clear "nothing broken" that is never shown
    when it could mean "no data"."""
    rows: list[str] = []
    shown: dict[str, int] = {}
    for entity in view.broken:
        count = shown[entity.target] = shown.get(entity.target, 0) + 1
        if count <= MAX_BROKEN_ROWS:
            rows.append(_broken_row(entity, now))
    for target in view.targets:
        more = max(0, shown.get(target.name, 0) - MAX_BROKEN_ROWS) + target.broken_omitted
        if more:
            # Counts those the store's and the view's caps left out, too.
            query = html.escape(urllib.parse.quote(target.name, safe=""))
            rows.append(
                f'<tr><td colspan="6" class="note">{html.escape(target.name)}: {more} more '
                f"(see /api/v1/status?target={query})</td></tr>"
            )
    parts = ['<h2 id="broken-now">Broken now</h2>']
    parts.append(_no_data_note(view.targets))
    if rows:
        parts.append(
            '<table id="broken"><thead><tr><th>System</th><th>Target</th><th>Entity</th>'
            "<th>State</th><th>Since</th><th>Upstream's error</th></tr></thead><tbody>\n"
            + "\n".join(rows)
            + "\n</tbody></table>"
            + '<p class="note">Failed, paused, unhealthy, erroring or stuck entities, those '
            "past an alert threshold and those whose detail call fails. "
            '"Since" is the upstream\'s own state-change time, or when this exporter first '
            "saw it (first seen). Error texts are the upstream's own words, with credentials "
            "masked.</p>"
        )
        return "".join(parts)
    current = [t for t in view.targets if t.data == "current"]
    if current:
        entities = sum(sum(t.entities.values()) for t in current)
        parts.append(
            f'<p id="all-healthy" class="healthy">Nothing broken: {entities} entities on '
            f"{len(current)} target{'s' if len(current) != 1 else ''} with current data report "
            "healthy.</p>"
        )
    return "".join(parts)


def _no_data_note(targets: list[TargetView]) -> str:
    """Targets whose entities are unknown now: their silence must not read as health."""
    blind = [t for t in targets if t.data != "current"]
    if not blind:
        return ""
    words = {
        "none": "no data yet",
        "last_success": "down, showing its last good poll",
        "withheld": "down, data too old to show",
    }
    items = ", ".join(
        f'<span data-target="{html.escape(t.name)}">{html.escape(t.name)} '
        f"({words[t.data] if t.health != 'pending' else 'first poll pending'})</span>"
        for t in targets
        if t.data != "current"
    )
    return f'<p id="no-data" class="nodata">Not known now: {items}.</p>'


def _entities_cell(target: TargetView) -> str:
    esc = html.escape
    if target.data == "none":
        return '<td class="entities old">no data</td>'
    if not target.entities:
        counts = '<span class="quiet">none listed (the upstream reports no entities)</span>'
    else:
        counts = "<br>".join(f"{esc(k)}: {v}" for k, v in sorted(target.entities.items()))
    if target.data == "current":
        return f'<td class="entities">{counts}</td>'
    # A failed poll keeps the last good snapshot: say so, or these counts read as current.
    note = "withheld from /metrics: stale" if target.stale else "as of the last success"
    return f'<td class="entities old">{counts}<br><span class="note">({note})</span></td>'


def _next_poll_cell(target: TargetView, now: float) -> str:
    if target.next_poll is None:
        return "<td></td>"
    text = "due now" if target.next_poll <= now else _in(int(target.next_poll - now))
    if target.backoff_factor > 1:
        text += f"<br>backoff ×{target.backoff_factor} ({target.consecutive_failures} failures)"
    if target.retry_after_seconds is not None:
        text += f"<br>Retry-After {target.retry_after_seconds:g}s"
    return f'<td class="next" title="{_utc(target.next_poll)}">{text}</td>'


def _target_row(target: TargetView, now: float) -> str:
    esc = html.escape
    status, cls = _STATUS[target.health]
    if target.health == "degraded":
        status += f" ({target.broken} broken)"
    if target.stale:
        status += " (stale)"
    error = ""
    if target.last_error is not None:
        error = f"<b>{esc(target.last_error.reason)}</b>: {esc(target.last_error.message)}"
    return (
        f'<tr class="{cls}" data-target="{esc(target.name)}">'
        f'<td class="name">{esc(target.name)}</td><td class="name">{esc(target.system)}</td>'
        f'<td class="status">{status}</td>'
        f'<td class="name" title="{_utc(target.last_success)}">'
        f"{_age(now, target.last_success)}</td>"
        f'<td>{target.last_poll_duration_seconds:.3f}s</td><td class="error">{error}</td>'
        f"{_entities_cell(target)}<td>{target.series}</td>{_next_poll_cell(target, now)}</tr>"
    )


def _capabilities(targets: list[TargetView]) -> str:
    lacking = [
        f'<li data-target="{html.escape(t.name)}">{html.escape(t.name)} '
        f"({html.escape(t.system)}): {', '.join(html.escape(c) for c in t.capability_gaps)}</li>"
        for t in targets
        if t.capability_gaps
    ]
    if not lacking:
        return ""
    return (
        '<h2>Not served by the upstream release</h2><ul id="capabilities">'
        + "".join(lacking)
        + '</ul><p class="note">Their series are absent; see docs/compatibility.md.</p>'
    )


def render_status_page(store: Store, now: float) -> str:
    """The page for `store` as of `now` (the server serves `render_page` of a cached view)."""
    return render_page(status_view(store, now), now)


def render_page(view: StatusView, now: float) -> str:
    """The `/` page: broken entities first, then one row per target, those needing attention
    first; never shows config values such as URLs or secrets."""
    rows = "\n".join(_target_row(t, now) for t in view.targets)
    down = sum(1 for t in view.targets if t.health == "down")
    reload_note = (
        "" if view.config_reload_successful else '<p class="down">Last config reload FAILED.</p>'
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="10">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>dataflow-exporter</title>
<style>{STYLE}</style></head><body>
<h1>dataflow-exporter {html.escape(__version__)}</h1>
<p>{len(view.targets)} targets, <span id="down-count"{' class="bad"' if down else ""}>{down}</span>
down. <a href="/metrics">/metrics</a> · <a href="/api/v1/status">/api/v1/status</a> ·
<a href="/-/healthy">/-/healthy</a> · <a href="/-/ready">/-/ready</a></p>{reload_note}
<p class="note" id="as-of">As of {_utc(now)}: built when a poll finishes; ages are as of then.</p>
{_broken_section(view, now)}
<h2>Targets</h2>
<table id="targets"><thead><tr><th>Target</th><th>System</th><th>Status</th>
<th>Last success</th><th>Last poll took</th><th>Last error</th><th>Entities</th>
<th>Series</th><th>Next poll</th></tr></thead>
<tbody>
{rows}
</tbody></table>
<p class="note" id="state-names">State names are each upstream's own spelling, shown as it
reports them: PeerDB <code>STATUS_RUNNING</code>, Feldera <code>Running</code>, Confluent
<code>ACTIVE</code>, Etlworks <code>success</code>. Invisible characters in upstream names and
texts (controls, bidi and zero-width characters) are shown as <code>&lt;U+202E&gt;</code>.</p>
{_capabilities(view.targets)}
</body></html>
"""
