"""One successful poll, rendered: `build_snapshot` turns a poll's families into exposition sample
lines per family, under the target's `max_series` cap, and each family's lines into a deflate
piece (`gzip_parts`), ready for the store to hold and the exposition cache to join. It runs in
a render thread, so a scrape after the poll finds everything compressed already.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from dataflow_exporter.exposition import SeriesRenderer
from dataflow_exporter.families import Family, MetricSpec
from dataflow_exporter.gzip_parts import Deflated, deflate


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One successful poll, rendered: sample lines per family name, ready to be joined."""

    blocks: Mapping[str, bytes]
    specs: Mapping[str, MetricSpec]
    series: int
    dropped: int
    entities: Mapping[str, int]
    taken_at: float
    # Each block compressed; a block missing here is compressed when first asked for.
    deflated: Mapping[str, Deflated] = field(default_factory=lambda: MappingProxyType({}))


def build_snapshot(
    families: list[Family],
    constant_labels: tuple[tuple[str, str], ...],
    max_series: int,
    entities: Mapping[str, int],
    now: float,
    renderer: SeriesRenderer | None = None,
    previous: Snapshot | None = None,
) -> Snapshot:
    """Render a poll's families; beyond `max_series` samples are dropped deterministically (the
    family that crosses the cap keeps its lowest label sets, later families are dropped).

    Pass the target's `renderer` from poll to poll so unchanged label sets are not re-rendered,
    and its `previous` snapshot so unchanged blocks are not compressed again.
    """
    if renderer is None:
        renderer = SeriesRenderer(constant_labels)
    elif renderer.constant_labels != constant_labels:
        raise ValueError("renderer was made for other constant labels")
    renderer.begin()
    blocks: dict[str, bytes] = {}
    specs: dict[str, MetricSpec] = {}
    series = dropped = 0
    try:
        for family in families:
            name = family.spec.name
            budget = max_series - series
            if budget <= 0:
                dropped += len(_first_samples(family))
                continue
            kept = family
            if len(family.values) > budget:
                first = _first_samples(family)
                if len(first) > budget:
                    kept = Family.of(family.spec, sorted(first.items())[:budget])
                    dropped += len(first) - budget
            rendered, count = renderer.render(kept)
            if count == 0:
                continue
            series += count
            if name in blocks:
                blocks[name] += rendered
            else:
                blocks[name] = rendered
                specs[name] = family.spec
    except BaseException:
        renderer.begin()  # keep no half-rendered poll until the next one
        raise
    renderer.finish()
    return Snapshot(
        MappingProxyType(blocks),
        MappingProxyType(specs),
        series,
        dropped,
        MappingProxyType(dict(entities)),
        now,
        MappingProxyType(_deflated(blocks, previous)),
    )


def _deflated(blocks: dict[str, bytes], previous: Snapshot | None) -> dict[str, Deflated]:
    """Each block compressed, reusing the previous poll's piece for a block that did not change
    (the renderer hands back the very same object then; equal bytes are checked too, far
    cheaper than compressing them)."""
    old_blocks = previous.blocks if previous is not None else {}
    old_pieces = previous.deflated if previous is not None else {}
    pieces = {}
    for name, block in blocks.items():
        piece = old_pieces.get(name)
        if piece is None or not _same(old_blocks.get(name), block):
            piece = deflate(block)
        pieces[name] = piece
    return pieces


def _same(old: bytes | None, new: bytes) -> bool:
    return old is new or (old is not None and len(old) == len(new) and old == new)


def _first_samples(family: Family) -> dict[tuple[str, ...], float]:
    """Each label set's first value: what the renderer keeps, and what the cap counts."""
    first: dict[tuple[str, ...], float] = {}
    for labels, value in zip(family.keys, family.values, strict=True):
        first.setdefault(labels, value)
    return first
