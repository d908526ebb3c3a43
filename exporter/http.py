"""The upstream HTTP layer: one ClientSession, timeouts, a body-size cap, JSON decoding, and the
classification of every failure into the closed `Reason` set exported as the `reason` label.
"""

from __future__ import annotations

import asyncio
import email.utils
import math
import ssl
import time
import urllib.parse
from collections.abc import Mapping
from enum import StrEnum
from typing import Any, NamedTuple, Protocol

import aiohttp
import orjson

from exporter import __version__, redact
from exporter.schema import TargetConfig, TLSConfig

USER_AGENT = f"dataflow-exporter/{__version__}"
MAX_RETRY_AFTER_SECONDS = 3600.0
_MESSAGE_LIMIT = 200
_CHUNK = 64 * 1024


class Reason(StrEnum):
    """Why a poll failed; the closed set of `reason` label values."""

    TIMEOUT = "timeout"
    CONNECT = "connect"
    TLS = "tls"
    AUTH = "auth"
    RATE_LIMITED = "rate_limited"
    HTTP_4XX = "http_4xx"
    HTTP_5XX = "http_5xx"
    DECODE = "decode"
    SCHEMA = "schema"
    INTERNAL = "internal"  # a bug in the exporter, not a fault of the upstream


class UpstreamError(Exception):
    """A failed upstream call, classified; `status` and `payload` let sources special-case it."""

    def __init__(
        self,
        reason: Reason,
        message: str,
        *,
        status: int | None = None,
        payload: Any = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(redact.redact(message))
        self.reason = reason
        self.status = status
        self.payload = payload
        self.retry_after = retry_after


class SchemaError(UpstreamError):
    """The upstream answered JSON that does not have the shape its API documents."""

    def __init__(self, message: str) -> None:
        super().__init__(Reason.SCHEMA, message)


class Auth(Protocol):
    """Supplies credentials for requests; may renew them once after a 401."""

    async def headers(self) -> Mapping[str, str]:
        """Headers to add to the next request."""
        ...

    async def renew(self) -> bool:
        """Called after a 401: return True if new credentials are worth one retry."""
        ...


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date), capped at 1 h."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if math.isnan(seconds):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)


def decode_json(body: bytes, what: str) -> Any:
    """Decode a JSON body whatever its Content-Type; HTML and truncation become `decode` errors."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        head = body[:64].lstrip().lower()
        if head.startswith((b"<!doctype", b"<html", b"<")):
            raise UpstreamError(Reason.DECODE, f"{what}: HTML page instead of JSON") from None
        if not body.strip():
            raise UpstreamError(Reason.DECODE, f"{what}: empty body instead of JSON") from None
        raise UpstreamError(Reason.DECODE, f"{what}: invalid JSON ({exc})") from None


class Answer(NamedTuple):
    """A 2xx answer's body, undecoded, and the request it answers (`GET /path`, for errors)."""

    body: bytes
    what: str

    def json(self) -> Any:
        """The body decoded as JSON (a `decode` error if it is not)."""
        return decode_json(self.body, self.what)


def _error_text(body: bytes) -> str:
    """A short, safe description of an error body for logs and the status page."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        head = body[:64].lstrip().lower()
        return "HTML error page" if head.startswith(b"<") else ""
    if isinstance(data, dict):
        for key in ("message", "error", "errorMessage"):
            value = data.get(key)
            if isinstance(value, str) and value:
                return value[:_MESSAGE_LIMIT]
    return ""


def classify_status(
    status: int, what: str, body: bytes, headers: Mapping[str, str]
) -> UpstreamError:
    """Turn a non-2xx answer into an `UpstreamError` with the right reason."""
    detail = _error_text(body)
    message = f"HTTP {status} from {what}" + (f": {detail}" if detail else "")
    payload: Any = None
    try:
        payload = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        payload = None
    retry_after = parse_retry_after(headers.get("Retry-After"))
    if 300 <= status < 400:
        reason = Reason.AUTH
        message = f"HTTP {status} redirect from {what} (a login page?): check credentials"
    elif status in (401, 403):
        reason = Reason.AUTH
    elif status == 429:
        reason = Reason.RATE_LIMITED
    elif 400 <= status < 500:
        reason = Reason.HTTP_4XX
    else:
        reason = Reason.HTTP_5XX
    return UpstreamError(reason, message, status=status, payload=payload, retry_after=retry_after)


def make_ssl_context(tls: TLSConfig | None) -> ssl.SSLContext | bool:
    """An SSL context for a target's TLS settings (True: the default verification)."""
    if tls is None:
        return True
    ctx = ssl.create_default_context(cafile=str(tls.ca_file) if tls.ca_file else None)
    if tls.cert_file and tls.key_file:
        ctx.load_cert_chain(str(tls.cert_file), str(tls.key_file))
    if tls.insecure_skip_verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


class UpstreamClient:
    """Requests to one target: base URL, auth, TLS, per-target concurrency limit and size cap."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        config: TargetConfig,
        auth: Auth | None = None,
    ) -> None:
        self.base_url = config.url
        self._session = session
        self._auth = auth
        self._limit = asyncio.Semaphore(config.max_concurrency)
        self._max_bytes = config.max_response_bytes
        self._ssl = make_ssl_context(config.tls)
        self._timeout = aiohttp.ClientTimeout(
            total=config.timeout, sock_connect=min(config.timeout, 10.0)
        )

    async def get_json(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        """GET `path` (relative to the target URL, or an absolute URL on the same origin, as
        pagination links are) and return its decoded JSON."""
        return (await self.get(path, params)).json()

    async def get(self, path: str, params: Mapping[str, str] | None = None) -> Answer:
        """GET `path` and return the answer undecoded, for a source that decodes it itself."""
        return await self.request("GET", path, params=params)

    async def post(self, path: str, body: Mapping[str, Any]) -> Answer:
        """POST a JSON body to `path` and return the answer undecoded."""
        return await self.request("POST", path, body=body)

    async def post_json(
        self, path: str, body: Mapping[str, Any], *, authenticate: bool = True
    ) -> Any:
        """POST a JSON body to `path` and return the decoded JSON answer (`authenticate=False`
        for the call that obtains credentials)."""
        return (await self.request("POST", path, body=body, authenticate=authenticate)).json()

    def _url(self, path: str) -> str:
        if not path.startswith(("http://", "https://")):
            return self.base_url + path
        here, there = urllib.parse.urlsplit(self.base_url), urllib.parse.urlsplit(path)
        if (here.scheme, here.netloc) != (there.scheme, there.netloc):
            # Never send this target's credentials to another host named in a payload.
            raise SchemaError(f"link to another origin refused: {there.scheme}://{there.netloc}")
        return path

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Mapping[str, Any] | None = None,
        authenticate: bool = True,
    ) -> Answer:
        """One request with auth (renewed and retried once after a 401): a 2xx answer's body,
        or the classified `UpstreamError`."""
        url = self._url(path)
        relative = not path.startswith(("http://", "https://"))
        what = f"{method} {path if relative else urllib.parse.urlsplit(url).path}"
        auth = self._auth if authenticate else None
        status, content, headers = await self._send(method, url, params, body, what, auth)
        if status == 401 and auth is not None and await auth.renew():
            status, content, headers = await self._send(method, url, params, body, what, auth)
        if not 200 <= status < 300:
            raise classify_status(status, what, content, headers)
        return Answer(content, what)

    async def _send(
        self,
        method: str,
        url: str,
        params: Mapping[str, str] | None,
        body: Mapping[str, Any] | None,
        what: str,
        auth: Auth | None,
    ) -> tuple[int, bytes, Mapping[str, str]]:
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        if auth is not None:
            headers.update(await auth.headers())
        data = None
        if body is not None:
            data = orjson.dumps(body)
            headers["Content-Type"] = "application/json"
        async with self._limit:
            try:
                async with self._session.request(
                    method,
                    url,
                    params=params,
                    data=data,
                    headers=headers,
                    allow_redirects=False,
                    ssl=self._ssl,
                    timeout=self._timeout,
                ) as resp:
                    if self._whole(resp, what):
                        return resp.status, await resp.read(), resp.headers
                    return resp.status, await self._read_chunks(resp, what), resp.headers
            except UpstreamError:
                raise
            except (TimeoutError, aiohttp.ServerTimeoutError):
                raise UpstreamError(Reason.TIMEOUT, f"{what}: timed out") from None
            except (aiohttp.ClientSSLError, ssl.SSLError) as exc:
                raise UpstreamError(Reason.TLS, f"{what}: TLS error: {_short(exc)}") from None
            except aiohttp.ClientError as exc:
                raise UpstreamError(Reason.CONNECT, f"{what}: {_short(exc)}") from None
            except OSError as exc:
                raise UpstreamError(Reason.CONNECT, f"{what}: {_short(exc)}") from None

    def _whole(self, resp: aiohttp.ClientResponse, what: str) -> bool:
        """True if the body can be read whole: it declares its length, within the cap, and is
        not compressed (a small gzip can inflate past the cap, so it is counted as it inflates)."""
        declared = resp.content_length
        if declared is None:
            return False
        if declared > self._max_bytes:
            raise UpstreamError(
                Reason.DECODE,
                f"{what}: body of {declared} bytes exceeds the {self._max_bytes} byte cap",
            )
        # Every Content-Encoding header must say identity: aiohttp inflates by the last one.
        encodings = resp.headers.getall("Content-Encoding", [])
        return all(encoding.strip().lower() == "identity" for encoding in encodings)

    async def _read_chunks(self, resp: aiohttp.ClientResponse, what: str) -> bytes:
        """The body, counted chunk by chunk against the cap as it arrives (and inflates)."""
        limit = self._max_bytes
        chunks: list[bytes] = []
        size = 0
        async for chunk in resp.content.iter_chunked(_CHUNK):
            size += len(chunk)
            if size > limit:
                raise UpstreamError(Reason.DECODE, f"{what}: body exceeds the {limit} byte cap")
            chunks.append(chunk)
        return b"".join(chunks)


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text[:_MESSAGE_LIMIT]


def new_session() -> aiohttp.ClientSession:
    """The process's one ClientSession (connection reuse across every target)."""
    connector = aiohttp.TCPConnector(limit=256, limit_per_host=64, ttl_dns_cache=300)
    return aiohttp.ClientSession(connector=connector, raise_for_status=False)
