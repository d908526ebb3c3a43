"""A handler's bug: a plain 500 for the client, one structured, scrubbed line for the log."""

from __future__ import annotations

import io
import json
import logging

import aiohttp
import pytest
from aiohttp import web

from dataflow_exporter import request_errors
from dataflow_exporter.log import configure
from tests.support.loopback import serving


async def _failing(_request: web.Request) -> web.Response:
    raise OverflowError("timestamp out of range; dsn postgres://etl:Hunter2pw@db/app")


async def _not_found(_request: web.Request) -> web.Response:
    raise web.HTTPNotFound(text="no such thing\n")


async def test_a_handlers_exception_is_a_500_logged_as_one_scrubbed_structured_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    out = io.StringIO()
    configure("info", "json", out)
    app = web.Application(middlewares=[request_errors.middleware])
    app.router.add_get("/boom", _failing)
    async with serving(app) as base:
        with caplog.at_level(logging.DEBUG, logger="aiohttp"):
            async with aiohttp.ClientSession() as session, session.get(base + "/boom") as resp:
                body = await resp.text()
    assert resp.status == 500
    assert body == request_errors.ANSWER
    assert [r for r in caplog.records if r.name == "aiohttp.server"] == []
    (line,) = out.getvalue().splitlines()
    event = json.loads(line)
    assert (event["event"], event["path"]) == ("request_failed", "/boom")
    assert "OverflowError" in event["exception"]
    assert "Hunter2pw" not in line


async def test_aiohttps_own_answers_pass_through() -> None:
    out = io.StringIO()
    configure("info", "json", out)
    app = web.Application(middlewares=[request_errors.middleware])
    app.router.add_get("/gone", _not_found)
    async with (
        serving(app) as base,
        aiohttp.ClientSession() as session,
        session.get(base + "/gone") as resp,
    ):
        body = await resp.text()
    assert (resp.status, body) == (404, "no such thing\n")
    assert out.getvalue() == ""
