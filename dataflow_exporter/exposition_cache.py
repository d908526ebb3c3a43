"""Snapshots -> one exposition body (text or OpenMetrics, plain or gzip). No upstream I/O, no
waiting, no compressing of upstream samples.

The body only changes when the store changes or a snapshot turns stale, so its list of parts is
built once per (store version, stale set, format) and every other scrape returns the same parts,
followed by the process's own metrics read afresh (`runtime_metrics`, when given). The parts are
never joined: each family's header, then each target's block of it, in the order the text
format wants (one HELP and TYPE per family, its samples together). For gzip the body is one
gzip member of deflate pieces (`gzip_parts`), each compressed when its block was rendered (in
the poll's render thread) or, for a header, once for the process; only the exporter's own
families and the fresh tail are compressed per build and per scrape, a few kilobytes. So the
first scrape after a poll costs what a cached one does.

This module only caches and assembles: the snapshots' blocks come rendered from the polls, and
the exporter's own families from `self_metrics.families`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from dataflow_exporter import self_metrics
from dataflow_exporter.exposition import OPENMETRICS_EOF, header, join_exposition, render_samples
from dataflow_exporter.families import MetricSpec
from dataflow_exporter.gzip_parts import Deflated, Lined, deflate, line_up, member
from dataflow_exporter.runtime_metrics import RuntimeMetrics
from dataflow_exporter.store import Store


@dataclass(slots=True)
class _Cached:
    key: tuple[int, frozenset[str], bool]
    parts: tuple[bytes, ...]  # without the OpenMetrics `# EOF`
    # The same body as deflate pieces, lined up (CRC combined) on the first gzip scrape, so
    # later scrapes combine only their fresh tail.
    lined: Lined | None = None
    # Per family: its spec and every target's (block, piece or None) in target order.
    families: list[tuple[MetricSpec, list[tuple[bytes, Deflated | None]]]] = field(
        default_factory=list
    )
    own: bytes = b""


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
        # Headers compressed, per (family, format): they never change.
        self._headers: dict[tuple[MetricSpec, bool], Deflated] = {}

    def exposition(self, openmetrics: bool = False, gzipped: bool = False) -> bytes:
        """The current body in the asked format; gzip-compressed if `gzipped`."""
        return b"".join(self.exposition_parts(openmetrics, gzipped))

    def exposition_parts(
        self, openmetrics: bool = False, gzipped: bool = False
    ) -> tuple[bytes, ...]:
        """The current body as consecutive parts, shared with the snapshots and never copied
        into one object, so a scrape in flight holds no body of its own."""
        now = self.clock()
        stale = frozenset(n for n, s in self.store.targets.items() if s.stale(now))
        key = (self.store.version, stale, openmetrics)
        cached = self._cache.get(openmetrics)
        if cached is None or cached.key != key:
            cached = self._build(key, stale, openmetrics)
            self._cache[openmetrics] = cached
        tail = self.runtime.render(openmetrics) if self.runtime is not None else b""
        if openmetrics:
            tail += OPENMETRICS_EOF
        if not gzipped:
            return (*cached.parts, tail)
        if cached.lined is None:
            cached.lined = line_up(self._pieces(cached, openmetrics))
        return member(line_up((deflate(tail),), cached.lined))

    def _build(
        self, key: tuple[int, frozenset[str], bool], stale: frozenset[str], openmetrics: bool
    ) -> _Cached:
        blocks: dict[str, list[tuple[bytes, Deflated | None]]] = {}
        specs: dict[str, MetricSpec] = {}
        for name, state in sorted(self.store.targets.items()):
            snapshot = state.snapshot
            if snapshot is None or name in stale:
                continue
            for family_name, block in snapshot.blocks.items():
                if not block:
                    continue
                blocks.setdefault(family_name, []).append(
                    (block, snapshot.deflated.get(family_name))
                )
                specs.setdefault(family_name, snapshot.specs[family_name])
        own_families = [
            (f.spec, [render_samples(f)]) for f in self_metrics.families(self.store, stale)
        ]
        # `# EOF` is added per scrape, after the runtime metrics.
        own = join_exposition(own_families, openmetrics, eof=False)
        families = [(specs[name], blocks[name]) for name in sorted(blocks)]
        parts = [own] if own else []
        for spec, entries in families:
            parts.append(header(spec, openmetrics))
            parts.extend(block for block, _member in entries)
        return _Cached(key, tuple(parts), families=families, own=own)

    def _pieces(self, cached: _Cached, openmetrics: bool) -> list[Deflated]:
        pieces = [deflate(cached.own)]
        for spec, entries in cached.families:
            head = self._headers.get((spec, openmetrics))
            if head is None:
                head = self._headers[(spec, openmetrics)] = deflate(header(spec, openmetrics))
            pieces.append(head)
            # A snapshot built without pieces (by hand) is compressed here, once per build.
            pieces.extend(piece or deflate(block) for block, piece in entries)
        return pieces
