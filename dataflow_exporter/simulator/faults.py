"""Fault injection for the simulated upstreams, switchable at run time over HTTP.

Each system has its own `Faults`; a middleware applies them to that system's API paths only, so a
test can break one upstream while the others keep answering normally.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import msgspec
from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

FAULT_KINDS = (
    "none",  # answer normally
    "status",  # answer `status` with the system's own error body
    "rate_limit",  # 429 (with Retry-After when retry_after is set)
    "html",  # 200 with an HTML page instead of JSON
    "truncated",  # 200 with the real JSON cut in half
    "oversize",  # 200 with a body of `size` bytes
    "auth",  # the system's own authentication failure
    "reset",  # close the connection mid-body
    "drip",  # send the real body one byte every `drip_interval` seconds
    "wrong_types",  # the real JSON with its top-level object and array swapped
    "missing_fields",  # the real JSON with every field of its top-level objects removed
)


@dataclass(slots=True)
class Faults:
    """What a system's simulated API does wrong right now."""

    kind: str = "none"
    latency: float = 0.0  # seconds added before answering
    status: int = 500
    retry_after: float | None = None
    size: int = 8 * 1024 * 1024
    drip_interval: float = 0.05
    # Share of requests affected (1.0: all), for bursts and flapping.
    ratio: float = 1.0
    requests: Counter[str] = field(default_factory=Counter)
    in_flight: int = 0
    max_in_flight: int = 0

    def update(self, changes: dict[str, Any]) -> None:
        """Apply a JSON object of changes (unknown keys and kinds are rejected)."""
        names = {f.name for f in fields(self)} - _COUNTERS
        unknown = set(changes) - names
        if unknown:
            raise ValueError(f"unknown fault settings: {sorted(unknown)}")
        if changes.get("kind", self.kind) not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {changes.get('kind')!r}")
        for key, value in changes.items():
            setattr(self, key, value)

    def reset(self) -> None:
        """Back to answering normally (request counts are kept)."""
        for f in fields(self):
            if f.name not in _COUNTERS:
                setattr(self, f.name, f.default)

    def describe(self) -> dict[str, Any]:
        """The settings and request counts as JSON."""
        data = asdict(self)
        data["requests"] = dict(self.requests)
        return data


_COUNTERS = frozenset({"requests", "in_flight", "max_in_flight"})
ErrorBody = Callable[[int], web.Response]


def fault_middleware(
    prefix: str,
    faults: Faults,
    error_body: ErrorBody,
    auth_failure: Callable[[], web.Response],
    rng: random.Random,
) -> Any:
    """Middleware applying `faults` to requests under `prefix`."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith(prefix):
            return await handler(request)
        faults.requests["total"] += 1
        faults.requests[request.path] += 1
        faults.in_flight += 1
        faults.max_in_flight = max(faults.max_in_flight, faults.in_flight)
        try:
            if faults.latency:
                await asyncio.sleep(faults.latency)
            kind = faults.kind
            if kind == "none" or rng.random() >= faults.ratio:
                return await handler(request)
            return await _apply(kind, faults, request, handler, error_body, auth_failure)
        finally:
            faults.in_flight -= 1

    return middleware


async def _apply(
    kind: str,
    faults: Faults,
    request: web.Request,
    handler: Handler,
    error_body: ErrorBody,
    auth_failure: Callable[[], web.Response],
) -> web.StreamResponse:
    if kind == "status":
        return error_body(faults.status)
    if kind == "auth":
        return auth_failure()
    if kind == "rate_limit":
        headers = {} if faults.retry_after is None else {"Retry-After": f"{faults.retry_after:g}"}
        return web.Response(status=429, text=_HTML_429, content_type="text/html", headers=headers)
    if kind == "html":
        return web.Response(
            text="<!DOCTYPE html><html><body>Gateway</body></html>", content_type="text/html"
        )
    if kind == "oversize":
        return web.Response(
            body=b"[" + b"0," * (faults.size // 2) + b"0]", content_type="application/json"
        )
    real = await handler(request)
    body = real.body if isinstance(real, web.Response) and isinstance(real.body, bytes) else b"{}"
    if kind == "truncated":
        return web.Response(body=body[: max(1, len(body) // 2)], content_type="application/json")
    if kind in ("wrong_types", "missing_fields"):
        mutated = _mutate(kind, msgspec.json.decode(body) if body.strip() else {})
        return web.Response(body=msgspec.json.encode(mutated), content_type="application/json")
    if kind == "reset":
        return await _reset_mid_body(request, body)
    return await _drip(request, body, faults.drip_interval)


def _mutate(kind: str, data: Any) -> Any:
    if kind == "wrong_types":
        return list(data.values()) if isinstance(data, dict) else {"items": data}
    if isinstance(data, list):
        return [{} for _ in data] or [{}]
    return {}


async def _reset_mid_body(request: web.Request, body: bytes) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    response.content_length = len(body) + 1024
    await response.prepare(request)
    await response.write(body[: len(body) // 2])
    transport = request.transport
    if transport is not None:
        transport.abort()
    return response


async def _drip(request: web.Request, body: bytes, interval: float) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    response.content_length = len(body)
    await response.prepare(request)
    for i in range(len(body)):
        await response.write(body[i : i + 1])
        await asyncio.sleep(interval)
    await response.write_eof()
    return response


_HTML_429 = (
    '<html> <head> <meta http-equiv="Content-Type" content="text/html;charset=utf-8"/> '
    "<title>Error 429 Too Many Requests</title> </head> <body> <h2>HTTP ERROR 429 Too Many "
    "Requests</h2> </body> </html>"
)
