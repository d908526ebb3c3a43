"""The upstream HTTP layer: every failure lands in the closed reason set."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import aiohttp
import pytest
from aiohttp import web
from aioresponses import aioresponses
from multidict import CIMultiDict

from dataflow_exporter.config_models import TargetConfig
from dataflow_exporter.errors import Reason, SchemaError, UpstreamError
from dataflow_exporter.sources.base import api_path, field_number, number
from dataflow_exporter.upstream import UpstreamClient, parse_retry_after

BASE = "http://upstream.test:8080"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _config(url: str = BASE, **overrides: object) -> TargetConfig:
    return TargetConfig.model_validate(
        {"name": "t", "system": "any", "url": url, "timeout": 2, "interval": 10, **overrides}
    )


@pytest.fixture
async def client() -> AsyncIterator[UpstreamClient]:
    async with aiohttp.ClientSession() as session:
        yield UpstreamClient(session, _config())


async def _reason_of(client: UpstreamClient, path: str = "/x") -> UpstreamError:
    with pytest.raises(UpstreamError) as caught:
        await client.get_json(path)
    return caught.value


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (301, Reason.AUTH),
        (307, Reason.AUTH),
        (401, Reason.AUTH),
        (403, Reason.AUTH),
        (404, Reason.HTTP_4XX),
        (429, Reason.RATE_LIMITED),
        (500, Reason.HTTP_5XX),
        (503, Reason.HTTP_5XX),
    ],
)
async def test_status_codes_map_to_reasons(
    client: UpstreamClient, status: int, reason: Reason
) -> None:
    with aioresponses() as mocked:
        mocked.get(f"{BASE}/x", status=status, body=b"", headers={"Location": "/login"})
        error = await _reason_of(client)
    assert (error.reason, error.status) == (reason, status)


async def test_redirects_are_not_followed(client: UpstreamClient) -> None:
    with aioresponses() as mocked:
        mocked.get(f"{BASE}/x", status=307, headers={"Location": f"{BASE}/login"})
        mocked.get(f"{BASE}/login", status=200, payload={"ok": True})
        error = await _reason_of(client)
    assert error.reason is Reason.AUTH
    assert "redirect" in str(error)


async def test_retry_after_seconds_are_kept_on_429(client: UpstreamClient) -> None:
    with aioresponses() as mocked:
        mocked.get(
            f"{BASE}/x", status=429, body=b"<html>slow down</html>", headers={"Retry-After": "17"}
        )
        error = await _reason_of(client)
    assert error.retry_after == 17.0


def test_retry_after_accepts_http_dates_and_caps_absurd_values() -> None:
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0) == 10.0
    assert parse_retry_after("99999999") == 3600.0
    assert parse_retry_after("soon") is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"<!DOCTYPE html><html><body>Login</body></html>", "HTML page instead of JSON"),
        (b'{"mirrors": [{"name": "a"', "invalid JSON"),
        (b"", "empty body"),
    ],
)
async def test_undecodable_bodies_are_decode_errors(
    client: UpstreamClient, body: bytes, message: str
) -> None:
    with aioresponses() as mocked:
        mocked.get(f"{BASE}/x", status=200, body=body)
        error = await _reason_of(client)
    assert error.reason is Reason.DECODE
    assert message in str(error)


async def test_json_is_decoded_whatever_the_content_type(client: UpstreamClient) -> None:
    with aioresponses() as mocked:
        mocked.get(f"{BASE}/x", status=200, body=b'{"a": 1}', content_type="text/plain")
        assert await client.get_json("/x") == {"a": 1}


async def test_upstream_error_message_is_kept_short_and_classified(client: UpstreamClient) -> None:
    with aioresponses() as mocked:
        mocked.get(f"{BASE}/x", status=500, payload={"code": 13, "message": "boom " * 100})
        error = await _reason_of(client)
    assert error.reason is Reason.HTTP_5XX
    assert len(str(error)) < 300
    assert error.payload["code"] == 13


async def test_links_to_another_origin_are_refused(client: UpstreamClient) -> None:
    with pytest.raises(SchemaError, match="another origin"):
        await client.get_json("http://evil.test/steal")


async def test_connection_refused_is_connect() -> None:
    async with aiohttp.ClientSession() as session:
        client = UpstreamClient(session, _config("http://127.0.0.1:9"))
        error = await _reason_of(client)
    assert error.reason is Reason.CONNECT


@asynccontextmanager
async def _served(handler: Handler, **config: object) -> AsyncIterator[UpstreamClient]:
    """A client for a real loopback server answering `GET /x` with `handler`."""
    app = web.Application()
    app.router.add_get("/x", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        async with aiohttp.ClientSession() as session:
            yield UpstreamClient(session, _config(url, **config))
    finally:
        await runner.cleanup()


async def test_a_body_over_the_size_cap_is_refused_without_reading_it_all() -> None:
    async def big(_request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(_request)
        for _ in range(64):
            await response.write(b"[" + b"0," * 8192)
        return response

    async with _served(big, max_response_bytes=65536) as client:
        error = await _reason_of(client)
    assert error.reason is Reason.DECODE
    assert "byte cap" in str(error)


@pytest.mark.parametrize(
    "encodings",
    [
        ["gzip"],
        # aiohttp inflates by the last Content-Encoding header, whatever the first one says.
        ["identity", "gzip"],
    ],
    ids=["gzip", "identity-then-gzip"],
)
async def test_a_compressed_body_is_capped_by_its_inflated_size(encodings: list[str]) -> None:
    inflated = b"[" + b"0," * 100_000 + b"0]"
    compressed = gzip.compress(inflated)
    assert len(compressed) < 65536 < len(inflated)

    async def bomb(_request: web.Request) -> web.Response:
        headers = CIMultiDict([("Content-Encoding", e) for e in encodings])
        return web.Response(body=compressed, headers=headers, content_type="application/json")

    async with _served(bomb, max_response_bytes=65536) as client:
        error = await _reason_of(client)
    assert error.reason is Reason.DECODE
    assert "byte cap" in str(error)


async def test_a_body_within_the_cap_is_read_whole() -> None:
    body = b"[" + b"0," * 20_000 + b"0]"

    async def plain(_request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    async with _served(plain, max_response_bytes=65536) as client:
        answer = await client.get("/x")
    assert answer.body == body
    assert answer.what == "GET /x"


@pytest.mark.slow
async def test_a_slow_answer_is_a_timeout() -> None:
    async def slow(_request: web.Request) -> web.Response:
        await asyncio.sleep(1.5)
        return web.json_response({})

    async with _served(slow, timeout=0.3) as client:
        error = await _reason_of(client)
    assert error.reason is Reason.TIMEOUT


@pytest.mark.parametrize(
    ("segment", "encoded"),
    [
        ("orders-v2_cdc.1~x", "orders-v2_cdc.1~x"),
        ("a/b", "a%2Fb"),
        ("sp ace", "sp%20ace"),
        ("?#%", "%3F%23%25"),
        ("ünï", "%C3%BCn%C3%AF"),
    ],
)
def test_path_segments_are_percent_encoded_one_by_one(segment: str, encoded: str) -> None:
    assert api_path("/api/v1", "mirrors", segment) == f"/api/v1/mirrors/{encoded}"


@pytest.mark.parametrize("text", ["9" * 400, "NaN", "twelve"])
def test_numbers_out_of_range_or_not_numbers_are_schema_errors(text: str) -> None:
    with pytest.raises(SchemaError, match="rows"):
        number(text, "rows")


def test_a_counter_field_reads_as_a_float_and_a_bad_one_names_its_path() -> None:
    metrics = {"total_records": 7, "total_bytes": "12", "num_parse_errors": True}
    assert field_number(metrics, "total_records", "stats.inputs[0].metrics") == 7.0
    assert type(field_number(metrics, "total_records", "m")) is float
    assert field_number(metrics, "total_bytes", "m") == 12.0  # an int64 sent as a string
    with pytest.raises(SchemaError, match=r"stats\.inputs\[0\]\.metrics\.num_parse_errors"):
        field_number(metrics, "num_parse_errors", "stats.inputs[0].metrics")
    with pytest.raises(SchemaError, match=r"metrics\.buffered_records"):
        field_number(metrics, "buffered_records", "metrics")
