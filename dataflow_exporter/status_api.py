"""`GET /api/v1/status`: the status page's content as JSON, for chat-ops bots and scripts.

The document is `status.StatusView` encoded by msgspec; its JSON Schema ships beside this module
(`status_api.schema.json`) and is described in docs/status-api.md. `api_version` changes only
when a field is removed or changes meaning; new fields may appear at any time.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from importlib import resources

import msgspec
from aiohttp import web

from dataflow_exporter.status import status_view
from dataflow_exporter.store import Store

PATH = "/api/v1/status"
SCHEMA_FILE = "status_api.schema.json"


def status_json(store: Store, now: float) -> bytes:
    """The status document as JSON bytes."""
    return msgspec.json.encode(status_view(store, now))


def schema_text() -> str:
    """The JSON Schema the document follows."""
    return resources.files("dataflow_exporter").joinpath(SCHEMA_FILE).read_text(encoding="utf-8")


def handler(
    store: Store, clock: Callable[[], float]
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """The aiohttp handler serving the document for `store`, as of `clock`."""

    async def status_api(_request: web.Request) -> web.Response:
        return web.Response(
            body=status_json(store, clock()),
            content_type="application/json",
            headers={"Cache-Control": "no-store"},
        )

    return status_api
