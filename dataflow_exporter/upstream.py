"""The upstream HTTP layer: one ClientSession, timeouts, a body-size cap, JSON decoding, and the
classification of every failure into the closed `Reason` set (errors.py) exported as the `reason`
label.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import math
import re
import ssl
import time
import zlib
from collections import OrderedDict
from collections.abc import Coroutine, Mapping, Sequence
from typing import Any, NamedTuple

import aiohttp
import msgspec
from aiohttp.http_exceptions import ContentLengthError
from yarl import URL

from dataflow_exporter import __version__, credential_text
from dataflow_exporter.auth import Auth
from dataflow_exporter.config_models import TargetConfig, TLSConfig
from dataflow_exporter.errors import Reason, SchemaError, UpstreamError, os_error_text

USER_AGENT = f"dataflow-exporter/{__version__}"
# How many resolved request paths a client keeps (see `UpstreamClient._resolve`).
_RESOLVED_PATHS = 256
MAX_RETRY_AFTER_SECONDS = 3600.0
_MESSAGE_LIMIT = 200
_CHUNK = 64 * 1024


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


_DECODER = msgspec.json.Decoder()
# Failures of msgspec's decoder, JSON's own and the nesting limit's.
_DECODE_ERRORS = (msgspec.DecodeError, UnicodeDecodeError, RecursionError)


def decode_json(body: bytes, what: str) -> Any:
    """Decode a JSON body whatever its Content-Type; HTML and truncation become `decode` errors.

    Integers stay exact within 64 bits (signed or unsigned); longer ones become floats, and one
    beyond a float's range is refused, as Infinity and NaN are: a metric value must be finite.
    """
    try:
        data = _DECODER.decode(body)
    except _DECODE_ERRORS as exc:
        if isinstance(exc, RecursionError):
            # How deep a decoder gets depends on the stack it starts from: one wording whoever
            # meets the limit (see `sources.typed.Decoder`).
            raise UpstreamError(Reason.DECODE, f"{what}: JSON nested too deeply") from None
        if _SURROGATE_ESCAPE.search(body):
            try:
                return _decode_with_lone_surrogates(body)
            except (ValueError, RecursionError):
                pass  # not that: say what else is wrong with it
        head = body[:64].lstrip().lower()
        if head.startswith((b"<!doctype", b"<html", b"<")):
            raise UpstreamError(Reason.DECODE, f"{what}: HTML page instead of JSON") from None
        if not body.strip():
            raise UpstreamError(Reason.DECODE, f"{what}: empty body instead of JSON") from None
        raise UpstreamError(Reason.DECODE, f"{what}: invalid JSON ({_short(exc)})") from None
    # msgspec keeps integers of any length; a body without 19 digits in a row holds none
    # beyond 64 bits, so only the rare one with such a run is walked. (Found by `translate`
    # and `in`, which run at memory speed; a regular expression took 3 us for 150 bytes.)
    if _LONG_RUN not in body.translate(_DIGITS_AS_ZERO):
        return data
    try:
        return _within_64_bits(data)
    except (ValueError, OverflowError):
        raise UpstreamError(Reason.DECODE, f"{what}: invalid JSON (number out of range)") from None


# A `\uD800`-`\uDFFF` escape: msgspec refuses one that is not half of a pair.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
# Every ASCII digit as `0`, every other byte as a space: a run of 19 zeros is 19 digits.
_DIGITS_AS_ZERO = bytes(b"0"[0] if b"0"[0] <= i <= b"9"[0] else b" "[0] for i in range(256))
_LONG_RUN = b"0" * 19


def _within_64_bits(value: Any) -> Any:
    """`value` with every integer beyond 64 bits turned into a float (OverflowError for one
    beyond a float's range). Changes the freshly decoded containers in place, without
    recursion: msgspec decodes nesting deeper than Python's recursion limit allows."""
    if type(value) is int:
        return _as_64_bits(value)
    pending = [value]
    while pending:
        container = pending.pop()
        slots = container.items() if type(container) is dict else enumerate(container)
        for slot, item in slots:
            if type(item) is int:
                container[slot] = _as_64_bits(item)
            elif type(item) is dict or type(item) is list:
                pending.append(item)
    return value


def _as_64_bits(value: int) -> int | float:
    return value if -(2**63) <= value < 2**64 else float(value)


def _decode_with_lone_surrogates(body: bytes) -> Any:
    """JSON that escapes a lone UTF-16 surrogate (`"\\ud800"`) is still JSON (RFC 8259 allows
    it) but msgspec refuses it; one odd entity name must not fail the whole target, so such a
    body is decoded by the standard library (the names render with a replacement character)."""
    return json.loads(
        body, parse_constant=_not_json, parse_float=_finite_float, parse_int=_bounded_int
    )


# The standard library accepts what msgspec refuses; the fallback must refuse it too, or a body
# with one odd name would let NaN, Infinity or a 400-digit number through to the metrics.
def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError("number is infinity")
    return value


def _bounded_int(text: str) -> int | float:
    value = int(text)
    # The main path's range: 64-bit integers as they are, anything longer as a (finite) float.
    return value if -(2**63) <= value < 2**64 else _finite_float(text)


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
        data = _DECODER.decode(body)
    except _DECODE_ERRORS:
        head = body[:64].lstrip().lower()
        return "HTML error page" if head.startswith(b"<") else ""
    if isinstance(data, dict):
        for key in ("message", "error", "errorMessage"):
            value = data.get(key)
            if isinstance(value, str) and value:
                return credential_text.shorten(value, _MESSAGE_LIMIT)
    return ""


def classify_status(
    status: int, what: str, body: bytes, headers: Mapping[str, str]
) -> UpstreamError:
    """Turn a non-2xx answer into an `UpstreamError` with the right reason."""
    detail = _error_text(body)
    message = f"HTTP {status} from {what}" + (f": {detail}" if detail else "")
    payload: Any = None
    try:
        payload = _DECODER.decode(body) if body else None
    except _DECODE_ERRORS:
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


class Limiter:
    """At most `limit` holders at once, woken in arrival order (`async with limiter:`).

    Like asyncio.Semaphore, except that a cancelled waiter leaves in O(1): Python 3.11's
    semaphore removes it from a deque, so cancelling a poll with 100k requests queued spent
    minutes on the event loop.
    """

    def __init__(self, limit: int) -> None:
        self._free = limit
        self._waiters: OrderedDict[asyncio.Future[None], None] = OrderedDict()

    async def __aenter__(self) -> None:
        if self._free > 0 and not self._waiters:
            self._free -= 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters[waiter] = None
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._release()  # handed the slot and cancelled at once: pass it on
            raise
        finally:
            self._waiters.pop(waiter, None)

    async def __aexit__(self, *_exc: object) -> None:
        if self._waiters:
            self._release()
        else:
            self._free += 1

    def _release(self) -> None:
        """Hand the slot to the first waiter still waiting, or free it."""
        while self._waiters:
            waiter, _ = self._waiters.popitem(last=False)
            if not waiter.done():
                waiter.set_result(None)
                return
        self._free += 1


class UpstreamClient:
    """Requests to one target: base URL, auth, TLS, per-target concurrency limit and size cap."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        config: TargetConfig,
        auth: Auth | None = None,
    ) -> None:
        self.base_url = config.url
        # A trailing slash makes relative links resolve under the target's path prefix.
        self._base = URL(config.url + "/")
        self._session = session
        self._auth = auth
        self._limit = Limiter(config.max_concurrency)
        self._max_bytes = config.max_response_bytes
        self._ssl = make_ssl_context(config.tls)
        self._timeout = aiohttp.ClientTimeout(
            total=config.timeout, sock_connect=min(config.timeout, 10.0)
        )
        # Built once: aiohttp copies the headers it is given, so requests can share them.
        self._headers = {
            "User-Agent": USER_AGENT,
            "Accept": "application/json",
            "Accept-Encoding": ACCEPT_ENCODING,
        }
        self._json_headers = {**self._headers, "Content-Type": "application/json"}
        # The resolved URL and error prefix of recent (method, path)s: a source asks for the
        # same path thousands of times a poll (PeerDB's mirror status, a POST), and resolving
        # and checking it again costs more than the rest of the client's work for a request.
        self._resolved: dict[tuple[str, str], tuple[URL, str]] = {}
        self._direct = _direct_parts(self._base, self.base_url)

    async def get_json(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        """GET `path` (relative to the target URL, or an absolute URL on the same origin, as
        pagination links are) and return its decoded JSON."""
        return (await self.request("GET", path, params=params)).json()

    # `get` and `post` hand back `request`'s own coroutine rather than await it in one more:
    # each level of coroutines is passed through every time a request resumes, tens of
    # thousands of times a poll.
    def get(
        self, path: str, params: Mapping[str, str] | None = None
    ) -> Coroutine[Any, Any, Answer]:
        """GET `path` and return the answer undecoded, for a source that decodes it itself."""
        return self.request("GET", path, params=params)

    def post(self, path: str, body: Mapping[str, Any]) -> Coroutine[Any, Any, Answer]:
        """POST a JSON body to `path` and return the answer undecoded."""
        return self.request("POST", path, body=body)

    async def post_json(
        self, path: str, body: Mapping[str, Any], *, authenticate: bool = True
    ) -> Any:
        """POST a JSON body to `path` and return the decoded JSON answer (`authenticate=False`
        for the call that obtains credentials)."""
        return (await self.request("POST", path, body=body, authenticate=authenticate)).json()

    def _url(self, path: str) -> URL:
        """The URL to request for `path`: a path starting with `/` (the sources' API paths)
        goes under the target URL's path prefix; anything else, such as a pagination link, is
        resolved against the target URL as a browser would. The result must keep the target's
        scheme, host, port and path prefix: credentials never go anywhere else."""
        if self._direct is not None and _PLAIN_PATH.fullmatch(path):
            # Nothing in it to quote or resolve, so it is the prefix's path plus this one:
            # built from the target URL's parts rather than parsed and checked again (a
            # source asks tens of thousands of such paths per poll, one per entity).
            scheme, authority, prefix = self._direct
            return URL.build(scheme=scheme, authority=authority, path=prefix + path, encoded=True)
        if path.startswith("/") and not path.startswith("//"):
            url = URL(self.base_url + path)
        else:
            try:
                url = self._base.join(URL(path))
            except ValueError:
                raise SchemaError(f"link {_quoted(path)} is not a valid URL") from None
            if _ENCODED_ESCAPE.search(url.raw_path):
                # The path checked below is the decoded one; a server that decodes `%2F` or
                # `%2E` before routing would walk out of the prefix the check approved.
                raise SchemaError(
                    f"link {_quoted(path)} refused: its path holds an encoded '/', '\\' or "
                    "'.', which could lead outside the target's URL"
                )
        if not _same_place(self._base, url):
            raise SchemaError(
                f"link {_quoted(path)} refused: it points to another origin or outside "
                f"{self.base_url} (credentials go only to the target's own URL)"
            )
        return url

    def _resolve(self, method: str, path: str) -> tuple[URL, str]:
        """`path`'s URL and the request's name in errors, from the recent ones if it is there."""
        key = (method, path)
        known = self._resolved.get(key)
        if known is not None:
            return known
        url = self._url(path)
        # The whole path, the target URL's prefix included: a prefix given twice
        # (`url: http://h/api/v1`) or a proxy's must show in every error and log line.
        known = url, f"{method} {url.raw_path}"
        if len(self._resolved) >= _RESOLVED_PATHS:
            # Most paths name one entity and come once a poll: forgetting them all at once
            # costs less than ordering them, and the frequent ones come back at once.
            self._resolved.clear()
        self._resolved[key] = known
        return known

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
        url, what = self._resolve(method, path)
        auth = self._auth if authenticate else None
        status, content, headers = await self._send(method, url, params, body, what, auth)
        if status == 401 and auth is not None and await auth.renew(self):
            status, content, headers = await self._send(method, url, params, body, what, auth)
        if not 200 <= status < 300:
            raise classify_status(status, what, content, headers)
        return Answer(content, what)

    async def _send(
        self,
        method: str,
        url: URL,
        params: Mapping[str, str] | None,
        body: Mapping[str, Any] | None,
        what: str,
        auth: Auth | None,
    ) -> tuple[int, bytes, Mapping[str, str]]:
        headers = self._headers
        data = None
        if body is not None:
            data = msgspec.json.encode(body)
            headers = self._json_headers
        if auth is not None and (credentials := await auth.headers(self)):
            headers = {**headers, **credentials}
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
                    # Inflated here, in a worker thread, not by aiohttp on the event loop.
                    auto_decompress=False,
                ) as resp:
                    encodings = _encodings(resp, what)
                    if not encodings and self._whole(resp, what):
                        return resp.status, await resp.read(), resp.headers
                    raw = await self._read_chunks(resp, what)
                    if encodings:
                        raw = await asyncio.to_thread(
                            inflate, raw, encodings, self._max_bytes, what
                        )
                    return resp.status, raw, resp.headers
            except UpstreamError:
                raise
            except (TimeoutError, aiohttp.ServerTimeoutError):
                raise UpstreamError(Reason.TIMEOUT, f"{what}: timed out") from None
            except (aiohttp.ClientSSLError, ssl.SSLError) as exc:
                raise UpstreamError(Reason.TLS, f"{what}: TLS error: {_short(exc)}") from None
            except (aiohttp.ClientPayloadError, aiohttp.ClientResponseError) as exc:
                raise _malformed(exc, what) from None
            except aiohttp.ClientError as exc:
                raise UpstreamError(Reason.CONNECT, f"{what}: {_short(exc)}") from None
            except OSError as exc:
                raise UpstreamError(Reason.CONNECT, f"{what}: {os_error_text(exc)}") from None

    def _whole(self, resp: aiohttp.ClientResponse, what: str) -> bool:
        """True if the body can be read whole: it declares its length, within the cap."""
        declared = resp.content_length
        if declared is None:
            return False
        if declared > self._max_bytes:
            raise UpstreamError(
                Reason.DECODE,
                f"{what}: body of {declared} bytes exceeds the {self._max_bytes} byte cap",
            )
        return True

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


# What this client asks for and can inflate; anything else an upstream sends is a decode error.
ACCEPT_ENCODING = "gzip, deflate"
# zlib window bits: 47 accepts a gzip or a zlib header; -15 is raw deflate (sent by some servers
# as `deflate`).
_WBITS = {"gzip": 47, "x-gzip": 47, "deflate": 47}


def _encodings(resp: aiohttp.ClientResponse, what: str) -> list[str]:
    """The body's content codings in the order they were applied (identity left out)."""
    found: list[str] = []
    for header in resp.headers.getall("Content-Encoding", []):
        for part in header.split(","):
            coding = part.strip().lower()
            if coding in ("", "identity"):
                continue
            if coding not in _WBITS:
                raise UpstreamError(
                    Reason.DECODE, f"{what}: unsupported Content-Encoding {coding[:40]!r}"
                )
            found.append(coding)
    return found


def inflate(body: bytes, encodings: list[str], limit: int, what: str) -> bytes:
    """Undo each content coding, last applied first, never producing more than `limit` bytes
    (a gzip bomb stops at the cap). CPU-bound: called in a worker thread."""
    for coding in reversed(encodings):
        body = _inflate_one(body, _WBITS[coding], limit, what)
    return body


def _inflate_one(body: bytes, wbits: int, limit: int, what: str) -> bytes:
    try:
        inflater = zlib.decompressobj(wbits)
        out = inflater.decompress(body, limit + 1)
    except zlib.error:
        if wbits != 47:
            raise UpstreamError(Reason.DECODE, f"{what}: corrupt compressed body") from None
        # `deflate` is sometimes sent raw, without the zlib header.
        return _inflate_one(body, -15, limit, what)
    if len(out) > limit or inflater.unconsumed_tail:
        raise UpstreamError(Reason.DECODE, f"{what}: body exceeds the {limit} byte cap")
    return out


def _malformed(exc: aiohttp.ClientError, what: str) -> UpstreamError:
    """A broken answer: cut short (the connection dropped: `connect`) or not well-formed HTTP
    (bad status line, headers or chunking: `decode`, as the upstream did answer)."""
    if isinstance(exc.__cause__, ContentLengthError):
        return UpstreamError(Reason.CONNECT, f"{what}: connection lost mid-answer")
    if isinstance(exc, aiohttp.ClientPayloadError):
        return UpstreamError(Reason.DECODE, f"{what}: malformed HTTP body (framing or encoding)")
    return UpstreamError(Reason.DECODE, f"{what}: malformed HTTP status line or headers")


def _short(exc: BaseException) -> str:
    return credential_text.shorten(str(exc) or type(exc).__name__, _MESSAGE_LIMIT)


def _quoted(text: str) -> str:
    """A value from an upstream payload, shortened for an error message."""
    shown = credential_text.shorten(text, 80)
    return repr(shown + ("…" if len(shown) < len(text) else ""))


def _same_place(base: URL, url: URL) -> bool:
    """True if `url` has `base`'s scheme, host and port (the default port written or not) and
    lies under its path."""
    if not url.is_absolute() or url.user is not None or url.password is not None:
        return False
    if (url.scheme, url.host, url.port) != (base.scheme, base.host, base.port):
        return False
    # yarl resolves `.` and `..` segments when it builds or joins a URL, so `path` is the
    # normalised, decoded path; encoded separators and dots are refused before (`_url`).
    return url.path.startswith(base.path) or url.path + "/" == base.path


# A path starting with `/` whose segments hold only characters a path takes as they are (no
# `%` escape, no `?` or `#`), none of them empty, `.` or `..`: the URL for it is the target
# URL's with the path appended.
_PLAIN_PATH = re.compile(r"(?:/(?!\.\.?(?:/|$))[A-Za-z0-9\-._~!$&'()*+,;=:@]+)+/?")


def _direct_parts(base: URL, base_url: str) -> tuple[str, str, str] | None:
    """The target URL's scheme, authority and path prefix, to build the URL of a plain path
    from (`UpstreamClient._url`); None unless that gives exactly the URL parsing the target
    URL with the path appended gives (a URL with credentials or a query never does)."""
    if base.user is not None or base.password is not None or base.query_string or base.fragment:
        return None
    if not base.raw_path.endswith("/"):
        return None
    parts = (base.scheme, base.raw_authority, base.raw_path[:-1])
    scheme, authority, prefix = parts
    probe = "/api/v1/probe"
    built = URL.build(scheme=scheme, authority=authority, path=prefix + probe, encoded=True)
    return parts if str(built) == str(URL(base_url + probe)) else None


# Percent-encoded `/`, `\` and `.` in a link's raw path: refused rather than trusted to be
# decoded the same way by every server and proxy on the way.
_ENCODED_ESCAPE = re.compile(r"%(?:2f|5c|2e)", re.IGNORECASE)


def new_session(trace_configs: Sequence[aiohttp.TraceConfig] = ()) -> aiohttp.ClientSession:
    """The process's one ClientSession (connection reuse across every target); `trace_configs`
    observe its requests (aiohttp's public tracing hooks)."""
    connector = aiohttp.TCPConnector(limit=256, limit_per_host=64, ttl_dns_cache=300)
    return aiohttp.ClientSession(
        connector=connector, raise_for_status=False, trace_configs=list(trace_configs) or None
    )
