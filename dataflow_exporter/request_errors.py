"""A bug in an HTTP handler, answered with a plain 500 and logged through the structured log.

Without this, aiohttp prints the traceback through its own `aiohttp.server` logger: raw text on
stderr, outside the JSON/logfmt lines and outside the scrubbing every other line goes through.
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

from dataflow_exporter.log import get_logger

log = get_logger("dataflow_exporter.server")

ANSWER = "Internal error while answering this request; see the exporter's log.\n"


@web.middleware
async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The handler's answer; for any exception but aiohttp's own answers, a 500 whose body
    says nothing of the error, which goes to the log (scrubbed, with its traceback)."""
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except Exception:  # the request boundary: one request's bug must not reach aiohttp raw
        log.error("request_failed", method=request.method, path=request.path, exc_info=True)
        return web.Response(status=500, text=ANSWER)
