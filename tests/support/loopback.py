"""A real aiohttp application on a loopback port, for tests that talk HTTP to it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import web


@asynccontextmanager
async def serving(app: web.Application, **runner_options: Any) -> AsyncIterator[str]:
    """Serve `app` on a free port of 127.0.0.1 until the block ends; yields its base URL,
    `http://127.0.0.1:PORT` (`runner_options` go to `web.AppRunner`, e.g. `access_log=None`)."""
    runner = web.AppRunner(app, **runner_options)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()
