"""What every simulated upstream provides, and helpers they share."""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar

import msgspec
from aiohttp import web

from dataflow_exporter.simulator.faults import Faults

Clock = Callable[[], float]


class SimulatedSystem(ABC):
    """One fake upstream: its API routes under `prefix`, error bodies and faults."""

    name: ClassVar[str]
    prefix: ClassVar[str]

    def __init__(self, clock: Clock, seed: int) -> None:
        self.clock = clock
        self.seed = seed
        self.started = clock()
        self.faults = Faults()
        # Per-entity field overrides set by tests through the control API.
        self.overrides: dict[str, dict[str, Any]] = {}

    def elapsed(self) -> float:
        """Seconds since the simulator started."""
        return self.clock() - self.started

    def chance(self, *key: object) -> float:
        """A deterministic pseudo-random number in [0, 1) for a key (same key, same number)."""
        digest = hashlib.sha256(repr((self.seed, *key)).encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64

    @abstractmethod
    def demo_target(self, url: str) -> dict[str, Any]:
        """A config target (as YAML data) that polls this simulator at `url`."""

    @abstractmethod
    def add_routes(self, router: web.UrlDispatcher) -> None:
        """Register the system's API routes."""

    @abstractmethod
    def error_response(self, status: int) -> web.Response:
        """The system's own error body for an HTTP status."""

    @abstractmethod
    def auth_failure(self) -> web.Response:
        """What the system answers to bad credentials."""


def json_response(
    data: Any, status: int = 200, content_type: str = "application/json"
) -> web.Response:
    """A compact JSON response."""
    return web.Response(body=msgspec.json.encode(data), status=status, content_type=content_type)


def protojson(data: Any, spaced: bool) -> bytes:
    """JSON as grpc-gateway's protojson writes it: compact, with a space after every comma or
    after none. protobuf-go's `detrand` makes that choice once per binary (seeded by the
    binary's own hash), so one flow-api build writes the same content as the same bytes."""
    comma = ", " if spaced else ","

    def enc(value: Any) -> str:
        if isinstance(value, dict):
            return (
                "{"
                + comma.join(
                    f"{msgspec.json.encode(k).decode()}:{enc(v)}" for k, v in value.items()
                )
                + "}"
            )
        if isinstance(value, list):
            return "[" + comma.join(enc(v) for v in value) + "]"
        return msgspec.json.encode(value).decode()

    return enc(data).encode()


Release = tuple[int, int, int]


def release(value: object, knob: str) -> Release:
    """A version knob ("0.30.6", "v0.30.6") as a comparable (major, minor, patch)."""
    text = str(value).strip().removeprefix("v")
    parts = text.split(".")
    if isinstance(value, float) or len(parts) != 3 or not all(p.isdecimal() for p in parts):
        raise ValueError(f"{knob}: expected a release such as 0.30.6, got {value!r}")
    major, minor, patch = (int(p) for p in parts)
    return major, minor, patch
