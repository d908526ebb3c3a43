"""The upstream HTTP layer: every failure lands in the closed reason set."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager

import aiohttp
import pytest
from aiohttp import web
from aioresponses import aioresponses
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from dataflow_exporter.auth import Auth
from dataflow_exporter.config_models import TargetConfig
from dataflow_exporter.errors import Reason, SchemaError, UpstreamError
from dataflow_exporter.upstream import (
    _RESOLVED_PATHS,
    USER_AGENT,
    Limiter,
    UpstreamClient,
    decode_json,
    parse_retry_after,
)
from tests.support.loopback import serving

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
    async with serving(app) as url, aiohttp.ClientSession() as session:
        yield UpstreamClient(session, _config(url, **config))


@asynccontextmanager
async def _under_prefix(seen: list[str]) -> AsyncIterator[UpstreamClient]:
    """A client for a loopback server whose target URL has the path prefix `/api/v1`; every
    request path the server receives, raw, is appended to `seen`."""

    async def anything(request: web.Request) -> web.Response:
        seen.append(request.raw_path)
        return web.json_response({})

    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", anything)
    async with serving(app) as url, aiohttp.ClientSession() as session:
        yield UpstreamClient(session, _config(url + "/api/v1"))


@pytest.mark.parametrize(
    "link",
    [
        "..%2F..%2Fadmin",
        "..%2f..%2fadmin",
        "..%5C..%5Cadmin",
        "%2E%2E%2Fadmin",
        "x%2e%2e%2fadmin",
    ],
)
async def test_a_link_with_an_encoded_separator_or_dot_is_refused_unsent(link: str) -> None:
    seen: list[str] = []
    async with _under_prefix(seen) as client:
        with pytest.raises(SchemaError, match="refused: its path holds an encoded") as caught:
            await client.get_json(link)
    assert link[:8] in str(caught.value)  # the error names the link
    assert seen == []


async def test_a_link_that_climbs_out_of_the_prefix_is_refused_unsent() -> None:
    seen: list[str] = []
    async with _under_prefix(seen) as client:
        with pytest.raises(SchemaError, match="outside"):
            await client.get_json("../../admin")
    assert seen == []


async def test_an_encoded_slash_in_a_links_query_does_not_refuse_it() -> None:
    seen: list[str] = []
    async with _under_prefix(seen) as client:
        await client.get_json("links?after=a%2Fb")
    assert [path.partition("?")[0] for path in seen] == ["/api/v1/links"]


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


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400", "9" * 400])
def test_a_body_with_a_lone_surrogate_still_refuses_what_json_does_not_allow(number: str) -> None:
    # Such a body is decoded by the standard library, which by default accepts these.
    body = ('{"name": "\\ud800", "value": ' + number + "}").encode()
    with pytest.raises(UpstreamError) as caught:
        decode_json(body, "GET /x")
    assert caught.value.reason is Reason.DECODE


def test_a_body_with_a_lone_surrogate_keeps_long_integers_as_the_usual_path_does() -> None:
    body = b'{"name": "\\ud800", "small": 7, "big": 18446744073709551616}'
    decoded = decode_json(body, "GET /x")
    assert decoded["small"] == 7 and isinstance(decoded["small"], int)
    assert decoded["big"] == 1.8446744073709552e19


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400", "9" * 400])
def test_a_body_refuses_numbers_a_metric_cannot_hold(number: str) -> None:
    with pytest.raises(UpstreamError) as caught:
        decode_json(('{"value": ' + number + "}").encode(), "GET /x")
    assert caught.value.reason is Reason.DECODE
    assert "GET /x: invalid JSON" in str(caught.value)


@pytest.mark.parametrize("number", [-(2**63), 2**63 - 1, 2**64 - 1, 10**18, -(10**18)])
def test_integers_within_64_bits_stay_exact(number: int) -> None:
    decoded = decode_json(b'{"n": %d, "id": "1234567890123456789012"}' % number, "GET /x")
    assert decoded["n"] == number and isinstance(decoded["n"], int)


@pytest.mark.parametrize("number", [-(2**63) - 1, 2**64, 10**30])
def test_integers_beyond_64_bits_become_floats(number: int) -> None:
    decoded = decode_json(b'{"n": [%d]}' % number, "GET /x")
    assert decoded == {"n": [float(number)]} and isinstance(decoded["n"][0], float)


def test_a_long_integer_deep_in_a_body_becomes_a_float() -> None:
    decoded = decode_json(b"[" * 900 + b"%d" % 2**64 + b"]" * 900, "GET /x")
    for _ in range(900):
        decoded = decoded[0]
    assert decoded == float(2**64) and isinstance(decoded, float)


def test_a_long_integer_alone_becomes_a_float() -> None:
    decoded = decode_json(b"%d" % 2**64, "GET /x")
    assert decoded == float(2**64) and isinstance(decoded, float)


def test_a_lone_surrogate_escape_does_not_hide_what_else_is_wrong() -> None:
    with pytest.raises(UpstreamError) as caught:
        decode_json(b'<html>"\\ud800"', "GET /x")
    assert "HTML page instead of JSON" in str(caught.value)


def test_a_lone_low_surrogate_escape_is_decoded_too() -> None:
    assert decode_json(b'{"name": "a\\udc00b"}', "GET /x") == {"name": "a\udc00b"}


def test_nesting_beyond_the_decoder_limit_is_a_decode_error() -> None:
    with pytest.raises(UpstreamError) as caught:
        decode_json(b"[" * 100_000 + b"]" * 100_000, "GET /x")
    assert caught.value.reason is Reason.DECODE


async def test_a_waiter_cancelled_as_it_is_handed_the_slot_passes_it_on() -> None:
    limiter = Limiter(1)
    await limiter.__aenter__()
    entered: list[str] = []

    async def hold(name: str) -> None:
        async with limiter:
            entered.append(name)

    first = asyncio.create_task(hold("first"))
    second = asyncio.create_task(hold("second"))
    await asyncio.sleep(0)  # both wait for the slot
    await limiter.__aexit__(None, None, None)  # the slot goes to `first`...
    first.cancel()  # ...which is cancelled before it runs
    await asyncio.wait_for(asyncio.gather(first, second, return_exceptions=True), 5)
    assert entered == ["second"]
    # Nothing holds the slot now: it is free again, not lost.
    await asyncio.wait_for(limiter.__aenter__(), 5)


class _OnceAuth:
    """Credentials for the first request only, as a token that expired and was dropped."""

    def __init__(self) -> None:
        self.given = False

    async def headers(self, client: UpstreamClient) -> Mapping[str, str]:
        if self.given:
            return {}
        self.given = True
        return {"Authorization": "Bearer first"}

    async def renew(self, client: UpstreamClient) -> bool:
        return False


@asynccontextmanager
async def _recording(
    seen: list[tuple[str, str, CIMultiDictProxy[str]]], auth: Auth | None = None
) -> AsyncIterator[UpstreamClient]:
    """A client for a loopback server under `/api` that answers any request with `{}` and
    appends its method, raw path and headers to `seen`."""

    async def anything(request: web.Request) -> web.Response:
        seen.append((request.method, request.raw_path, request.headers))
        return web.json_response({})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", anything)
    async with serving(app) as url, aiohttp.ClientSession() as session:
        yield UpstreamClient(session, _config(url + "/api"), auth)


async def test_a_request_carries_only_its_own_credentials_and_content_type() -> None:
    seen: list[tuple[str, str, CIMultiDictProxy[str]]] = []
    async with _recording(seen, _OnceAuth()) as client:
        await client.post_json("/status", {"name": "m1"})
        await client.post_json("/status", {"name": "m2"})
        await client.get_json("/status")
    (_, _, first), (_, _, second), (_, _, got) = seen
    assert first["Authorization"] == "Bearer first"
    assert "Authorization" not in second and "Authorization" not in got
    assert first["Content-Type"] == second["Content-Type"] == "application/json"
    assert "Content-Type" not in got
    assert got["User-Agent"] == USER_AGENT and got["Accept-Encoding"] == "gzip, deflate"


async def test_a_path_asked_again_by_another_method_is_named_by_that_method() -> None:
    with aioresponses() as mocked:
        mocked.get(f"{BASE}/x", status=200, body=b"{}")
        mocked.post(f"{BASE}/x", status=500, body=b"")
        async with aiohttp.ClientSession() as session:
            client = UpstreamClient(session, _config())
            await client.get_json("/x")
            with pytest.raises(UpstreamError, match=r"^HTTP 500 from POST /x$"):
                await client.post_json("/x", {})


async def test_every_path_of_a_poll_reaches_its_own_url_however_many_there_are() -> None:
    seen: list[tuple[str, str, CIMultiDictProxy[str]]] = []
    paths = [f"/mirrors/m{i}" for i in range(_RESOLVED_PATHS + 3)]
    async with _recording(seen) as client:
        for path in paths * 2:
            await client.get_json(path)
    assert [raw for _, raw, _ in seen] == ["/api" + path for path in paths * 2]


async def test_a_client_keeps_a_bounded_number_of_resolved_paths() -> None:
    async with aiohttp.ClientSession() as session:
        client = UpstreamClient(session, _config())
        for i in range(_RESOLVED_PATHS + 1):
            client._resolve("GET", f"/m{i}")
    assert len(client._resolved) <= _RESOLVED_PATHS
    assert client._resolve("GET", f"/m{_RESOLVED_PATHS}")[1] == f"GET /m{_RESOLVED_PATHS}"


_PATH_SEGMENTS = st.text(
    st.sampled_from("AZaz09-._~!$&'()*+,;=:@%?#/ \u00e9"), min_size=1, max_size=6
)


@settings(max_examples=300, deadline=None)
@given(
    base=st.sampled_from(
        [
            "http://127.0.0.1:3000",
            "https://peerdb.example.com",
            "http://peerdb.example.com:80/ui",
            "https://[::1]:8443/a/b",
            "http://bücher.example:8080",
            "http://host.test/p%20q",
        ]
    ),
    segments=st.lists(_PATH_SEGMENTS, min_size=1, max_size=4),
)
async def test_a_path_reaches_the_url_the_target_url_with_it_appended_parses_to(
    base: str, segments: list[str]
) -> None:
    # Plain paths are built from the target URL's parts; every path must reach the URL that
    # parsing the target URL with the path appended gives, the same origin under its prefix.
    path = "/" + "/".join(segments)
    assume(not path.startswith("//"))  # a network-path reference: a link, resolved as one
    async with aiohttp.ClientSession() as session:
        client = UpstreamClient(session, _config(base))
        try:
            url = client._url(path)
        except SchemaError:
            return  # refused: no request is made (`..` and the like, checked elsewhere)
    assert str(url) == str(URL(base + path))


async def test_a_refused_link_is_refused_every_time() -> None:
    async with aiohttp.ClientSession() as session:
        client = UpstreamClient(session, _config())
        for _ in range(2):
            with pytest.raises(SchemaError, match="points to another origin"):
                await client.get_json("http://elsewhere.test/x")


def test_a_body_nested_beyond_the_stack_is_a_decode_error_in_one_wording() -> None:
    with pytest.raises(UpstreamError) as caught:
        decode_json(b"[" * 100_000 + b"]" * 100_000, "GET /x")
    assert caught.value.reason is Reason.DECODE
    assert str(caught.value) == "GET /x: JSON nested too deeply"
