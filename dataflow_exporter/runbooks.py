"""`GET /runbooks`: the runbooks (docs/runbooks.md, shipped inside the package) as one page.

Every alert's `runbook_url` points here by default, at the exporter that raised it
(`http://{{ $labels.instance }}/runbooks#alertname`), so the link works wherever the exporter is
reachable and always matches the exporter's version, with no documentation site to publish.
The page is rendered once, when the app is built: each heading gets the id its anchor names
(GitHub's rule, so links into docs/runbooks.md and into this page are the same), everything
else is shown as preformatted text, every character escaped. Serving it costs one lookup.
"""

from __future__ import annotations

import html
import re
from collections.abc import Awaitable, Callable
from importlib import resources

from aiohttp import web

PATH = "/runbooks"
RESOURCE = "runbooks.md"
HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
FENCE = re.compile(r"^\s*(```|~~~)")
# Nothing runs and nothing loads from elsewhere: the page is text and one inline style sheet.
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}
STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:62rem;margin:auto;padding:0 1rem}"
    "pre{white-space:pre-wrap;font-size:.9rem}"
)


def anchor(heading: str) -> str:
    """The id of a heading as GitHub makes it: lower case, punctuation dropped, spaces to
    hyphens (`## PeerDBMirrorFailed` -> `peerdbmirrorfailed`)."""
    kept = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return kept.replace(" ", "-")


def render(markdown: str) -> str:
    """The markdown as an HTML page: headings with ids, the rest preformatted and escaped."""
    parts: list[str] = []
    text: list[str] = []
    seen: dict[str, int] = {}
    fenced = False

    def flush() -> None:
        if any(line.strip() for line in text):
            parts.append(f"<pre>{html.escape(chr(10).join(text).strip(chr(10)))}</pre>")
        text.clear()

    for line in markdown.splitlines():
        if FENCE.match(line):
            fenced = not fenced
        heading = None if fenced else HEADING.match(line)
        if heading is None:
            text.append(line)
            continue
        flush()
        level, title = len(heading[1]), heading[2]
        slug = anchor(title)
        # Repeated headings get -1, -2, ... as on GitHub, so each id is unique.
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        ident = f"{slug}-{count}" if count else slug
        parts.append(f'<h{level} id="{html.escape(ident)}">{html.escape(title)}</h{level}>')
    flush()
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>dataflow-exporter runbooks</title><style>{STYLE}</style></head><body>\n"
        + "\n".join(parts)
        + "\n</body></html>\n"
    )


def page() -> bytes:
    """The shipped runbooks, rendered."""
    markdown = resources.files("dataflow_exporter").joinpath(RESOURCE).read_text("utf-8")
    return render(markdown).encode("utf-8")


def handler() -> Callable[[web.Request], Awaitable[web.Response]]:
    """The `/runbooks` handler, serving a page rendered now."""
    body = page()

    async def runbooks(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="text/html", charset="utf-8", headers=HEADERS)

    return runbooks
