"""`POST /-/reload`, as Prometheus serves its lifecycle endpoints.

- Off unless `--web.enable-lifecycle`: the endpoint answers 403 saying so (SIGHUP reloads
  either way).
- POST only, and never for a cross-site browser request: a page elsewhere can make the
  browser of someone inside the network send a form POST (no CORS preflight for one), so a
  request is refused when the browser says it comes from another site (`Sec-Fetch-Site`),
  when its `Origin` is not this host, or when it carries a form's or plain text's content
  type. `curl -X POST`, Kubernetes hooks and config reloaders send none of these.
- Reloads queue at most one: while one runs, the requests that arrive share one more that
  starts after it (the file may have changed after the running one read it), so a burst of
  requests costs at most two reloads.
- The answer says only whether the reload worked; why it failed (file paths, variable names)
  goes to the log, which the exporter's operator reads, not to whoever can reach the port.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from aiohttp import web
from yarl import URL

ReloadFn = Callable[[], Awaitable[list[str]]]

PATH = "/-/reload"
DISABLED = "Lifecycle API is not enabled; start the exporter with --web.enable-lifecycle.\n"
CROSS_SITE = (
    "Refused: this looks like a cross-site request from a browser. Reload with a POST that "
    "has no form body, e.g. curl -X POST <exporter>/-/reload, or send SIGHUP.\n"
)
RELOADED = "Reloaded.\n"
FAILED = "Reload failed; the previous config stays in effect. See the exporter's log.\n"

# Content types a browser sends cross-site without a CORS preflight (a plain HTML form).
_SIMPLE_TYPES = frozenset(
    {"application/x-www-form-urlencoded", "multipart/form-data", "text/plain"}
)


class ReloadQueue:
    """At most one reload running and one queued; callers arriving while one is queued share
    its result. Owns the tasks it starts (`close` cancels them)."""

    def __init__(self, reload_fn: ReloadFn) -> None:
        self._reload = reload_fn
        self._running: asyncio.Task[list[str]] | None = None
        self._queued: asyncio.Task[list[str]] | None = None
        self.started = 0  # reloads started, for tests and debugging

    async def reload(self) -> list[str]:
        """The errors of a reload that starts after this call (none: it worked)."""
        if self._queued is None:
            self._queued = asyncio.get_running_loop().create_task(self._run(self._running))
        # shield: a caller that goes away must not cancel the reload others wait for.
        return await asyncio.shield(self._queued)

    async def _run(self, before: asyncio.Task[list[str]] | None) -> list[str]:
        if before is not None:
            await asyncio.wait([before])
        self._running, self._queued = self._queued, None
        self.started += 1
        return await self._reload()

    async def close(self) -> None:
        """Cancel the running and the queued reload, and wait for them."""
        tasks = [t for t in (self._running, self._queued) if t is not None and not t.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)


def cross_site(request: web.Request) -> bool:
    """True if a browser may have sent this request on behalf of another site's page."""
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site is not None:
        # Set by the browser, not by the page; "none" is a user's own action (address bar).
        return fetch_site.strip().lower() not in ("same-origin", "none")
    origin = request.headers.get("Origin")
    if origin is not None:
        try:
            host = URL(origin).raw_authority
        except ValueError:
            return True
        return host.lower() != request.host.lower()
    return request.content_type in _SIMPLE_TYPES and "Content-Type" in request.headers


QUEUE_KEY = web.AppKey("reload_queue", ReloadQueue)


async def _disabled(_request: web.Request) -> web.Response:
    return web.Response(status=403, text=DISABLED)


async def _reload(request: web.Request) -> web.Response:
    if cross_site(request):
        return web.Response(status=403, text=CROSS_SITE)
    errors = await request.app[QUEUE_KEY].reload()
    if errors:
        return web.Response(status=500, text=FAILED)
    return web.Response(text=RELOADED)


def register(app: web.Application, reload_fn: ReloadFn, *, enabled: bool) -> None:
    """Add `POST /-/reload` to `app`: reloading through `reload_fn` when `enabled`, else
    answering 403."""
    if not enabled:
        app.router.add_post(PATH, _disabled)
        return
    queue = ReloadQueue(reload_fn)
    app[QUEUE_KEY] = queue

    async def close(_app: web.Application) -> None:
        await queue.close()

    app.on_cleanup.append(close)
    app.router.add_post(PATH, _reload)
