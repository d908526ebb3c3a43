"""Snapshots -> one exposition body (text or OpenMetrics, plain or gzip). No upstream I/O, no
waiting.

The body only changes when the store changes or a snapshot turns stale, so it is built once per
(store version, stale set, format) and every other scrape returns the cached bytes, followed by
the process's own metrics read afresh (`runtime_metrics`, when given). For gzip the cached body
is kept as a sync-flushed deflate stream: the fresh tail is compressed on its own and spliced
after it in one gzip member, so the large body is never compressed twice.
"""

from __future__ import annotations

import platform
import struct
import time
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from dataflow_exporter import __version__
from dataflow_exporter import self_metrics as m
from dataflow_exporter.exposition import OPENMETRICS_EOF, join_exposition, render_samples
from dataflow_exporter.families import Family, MetricSpec
from dataflow_exporter.runtime_metrics import RuntimeMetrics
from dataflow_exporter.store import Store

GZIP_LEVEL = 1  # the body is cached; a rebuild should stay cheap at 100k series
# A gzip member header: deflate, no name, mtime 0, "fastest" (level 1), unknown OS.
_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x04\xff"


@dataclass(slots=True)
class _Cached:
    key: tuple[int, frozenset[str], bool]
    body: bytes  # without the OpenMetrics `# EOF`
    deflated: bytes | None = None  # raw deflate of `body`, sync-flushed so more can follow
    crc: int = 0


class ExpositionCache:
    """Renders the store for `/metrics`."""

    def __init__(
        self,
        store: Store,
        clock: Callable[[], float] = time.time,
        runtime: RuntimeMetrics | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.runtime = runtime
        self._cache: dict[bool, _Cached] = {}

    def exposition(self, openmetrics: bool = False, gzipped: bool = False) -> bytes:
        """The current body in the asked format; gzip-compressed if `gzipped`."""
        return b"".join(self.exposition_parts(openmetrics, gzipped))

    def exposition_parts(
        self, openmetrics: bool = False, gzipped: bool = False
    ) -> tuple[bytes, ...]:
        """The current body as consecutive parts: the cached (large, shared) body and the
        fresh tail, never copied into one object, so a scrape in flight holds no body of its
        own."""
        now = self.clock()
        stale = frozenset(n for n, s in self.store.targets.items() if s.stale(now))
        key = (self.store.version, stale, openmetrics)
        cached = self._cache.get(openmetrics)
        if cached is None or cached.key != key:
            cached = _Cached(key, self._render(stale, openmetrics))
            self._cache[openmetrics] = cached
        tail = self.runtime.render(openmetrics) if self.runtime is not None else b""
        if openmetrics:
            tail += OPENMETRICS_EOF
        if not gzipped:
            return (cached.body, tail)
        if cached.deflated is None:
            compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS)
            deflated = compressor.compress(cached.body) + compressor.flush(zlib.Z_SYNC_FLUSH)
            cached.deflated, cached.crc = deflated, zlib.crc32(cached.body)
        compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS)
        rest = compressor.compress(tail) + compressor.flush()
        size = (len(cached.body) + len(tail)) & 0xFFFFFFFF
        trailer = struct.pack("<II", zlib.crc32(tail, cached.crc), size)
        return (_GZIP_HEADER, cached.deflated, rest + trailer)

    def _render(self, stale: frozenset[str], openmetrics: bool) -> bytes:
        blocks: dict[str, list[bytes]] = {}
        specs: dict[str, MetricSpec] = {}
        for name, state in sorted(self.store.targets.items()):
            if state.snapshot is None or name in stale:
                continue
            for family_name, block in state.snapshot.blocks.items():
                blocks.setdefault(family_name, []).append(block)
                specs.setdefault(family_name, state.snapshot.specs[family_name])
        own = [(f.spec, [render_samples(f)]) for f in self._self_families(stale)]
        upstream = [(specs[name], blocks[name]) for name in sorted(blocks)]
        # `# EOF` is added per scrape, after the runtime metrics.
        return join_exposition([*own, *upstream], openmetrics, eof=False)

    def _self_families(self, stale: frozenset[str]) -> list[Family]:
        fams = {spec.name: Family(spec) for spec in m.SELF_SPECS}

        def add(spec: MetricSpec, labels: tuple[str, ...], value: float) -> None:
            fams[spec.name].add(labels, value)

        for name, state in sorted(self.store.targets.items()):
            key = (state.system, name)
            is_stale = name in stale
            add(m.TARGET_UP, key, 1 if state.up else 0)
            if state.last_success is not None:
                add(m.TARGET_LAST_SUCCESS, key, state.last_success)
            add(m.TARGET_POLL_DURATION, key, state.last_duration)
            add(m.TARGET_POLL_INTERVAL, key, state.interval)
            series = 0 if is_stale or state.snapshot is None else state.snapshot.series
            add(m.TARGET_SERIES, key, series)
            add(m.TARGET_STALE, key, 1 if is_stale else 0)
            add(m.TARGET_POLLS, key, state.polls_total)
            for reason in m.REASONS:
                add(m.TARGET_ERRORS, (*key, reason), state.errors_total.get(reason, 0))
            add(m.SERIES_DROPPED, key, state.dropped_total)
            failing = Counter(f.endpoint for f in state.detail_failures)
            for endpoint in sorted({*state.detail_endpoints, *failing}):
                add(m.DETAIL_FAILURES, (*key, endpoint), failing.get(endpoint, 0))
                for reason in m.DETAIL_REASONS:
                    count = state.detail_errors_total.get((endpoint, reason), 0)
                    add(m.DETAIL_ERRORS, (*key, endpoint, reason), count)
            for capability, served in state.capabilities.items():
                add(m.CAPABILITY, (*key, capability), 1 if served else 0)
        unknown = {
            (state.system, field_name): 0
            for state in self.store.targets.values()
            for field_name in state.unknown_value_fields
        }
        unknown.update(self.store.unknown_values)
        for (system, field_name), count in sorted(unknown.items()):
            add(m.UNKNOWN_VALUES, (system, field_name), count)
        add(m.BUILD_INFO, (__version__, platform.python_version()), 1)
        add(m.RELOAD_OK, (), 1 if self.store.reload_ok else 0)
        if self.store.reload_at is not None:
            add(m.RELOAD_AT, (), self.store.reload_at)
        shard = self.store.shard
        add(m.SHARD_INFO, (str(shard.index), str(shard.count)), 1)
        return list(fams.values())
