"""Snapshots: one poll's families rendered under the `max_series` cap, which drops series
deterministically and counts what it dropped."""

from __future__ import annotations

import random
import zlib

import pytest

from dataflow_exporter.exposition import SeriesRenderer
from dataflow_exporter.families import Family, MetricSpec
from dataflow_exporter.snapshot import Snapshot, build_snapshot

LAG = MetricSpec("demo_partition_lag", "gauge", "Lag (polled).", ("topic", "partition"))
ROWS = MetricSpec("demo_rows_total", "counter", "Rows (polled).", ("topic",))
UP = MetricSpec("demo_up", "gauge", "Up (polled).")
LABELS = (("target", "t"),)


def _lag(topics: list[str]) -> Family:
    return Family.of(LAG, [((topic, "0"), float(i)) for i, topic in enumerate(topics)])


def _rows(topics: list[str]) -> Family:
    return Family.of(ROWS, [((topic,), 1.0) for topic in topics])


def _lines(snapshot: Snapshot) -> set[bytes]:
    return {line for block in snapshot.blocks.values() for line in block.splitlines()}


def test_under_the_cap_every_series_is_kept_and_nothing_dropped() -> None:
    snapshot = build_snapshot([_lag(["a", "b"]), _rows(["a"])], LABELS, 3, {}, 0.0)
    assert (snapshot.series, snapshot.dropped) == (3, 0)
    assert set(snapshot.blocks) == {LAG.name, ROWS.name}


def test_the_family_crossing_the_cap_keeps_its_lowest_label_sets() -> None:
    snapshot = build_snapshot([_lag(["c", "a", "d", "b"])], LABELS, 2, {}, 0.0)
    assert (snapshot.series, snapshot.dropped) == (2, 2)
    block = snapshot.blocks[LAG.name]
    assert b'topic="a"' in block
    assert b'topic="b"' in block
    assert b'topic="c"' not in block
    assert b'topic="d"' not in block


def test_families_after_the_cap_are_dropped_whole_and_counted() -> None:
    families = [_lag(["a", "b"]), _rows(["x", "y", "z"]), Family.of(UP, [((), 1.0)])]
    snapshot = build_snapshot(families, LABELS, 2, {}, 0.0)
    assert set(snapshot.blocks) == {LAG.name}
    assert set(snapshot.specs) == {LAG.name}
    assert (snapshot.series, snapshot.dropped) == (2, 4)


def test_the_series_cap_counts_label_sets_not_repeated_samples() -> None:
    repeated: list[tuple[tuple[str, ...], float]] = [
        (("a", "0"), 1.0),
        (("a", "0"), 9.0),
        (("b", "0"), 2.0),
        (("c", "0"), 3.0),
    ]
    snapshot = build_snapshot([Family.of(LAG, repeated)], LABELS, 2, {}, 0.0)
    assert (snapshot.series, snapshot.dropped) == (2, 1)
    assert snapshot.blocks[LAG.name].count(b"\n") == 2
    assert b'topic="a",partition="0"} 1.0' in snapshot.blocks[LAG.name]


def test_max_series_drops_deterministically_and_counts_the_drop() -> None:
    topics = [f"topic-{i:02d}" for i in range(30)]
    shuffled = list(topics)
    random.Random(7).shuffle(shuffled)
    first = build_snapshot([_lag(topics), _rows(topics)], LABELS, 40, {}, 1.0)
    again = build_snapshot([_lag(shuffled), _rows(shuffled)], LABELS, 40, {}, 1.0)
    assert (first.series, first.dropped) == (40, 20)
    # The values differ with the order (they are the positions); the series kept do not.
    assert {line.rsplit(b" ", 1)[0] for line in _lines(first)} == {
        line.rsplit(b" ", 1)[0] for line in _lines(again)
    }


def test_a_family_without_samples_leaves_no_block() -> None:
    snapshot = build_snapshot([Family(UP), _rows(["a"])], LABELS, 10, {}, 0.0)
    assert set(snapshot.blocks) == {ROWS.name}


def test_the_snapshot_carries_the_entities_and_time_read_only() -> None:
    entities = {"mirrors STATUS_RUNNING": 2}
    snapshot = build_snapshot([], LABELS, 10, entities, 123.5)
    entities["mirrors STATUS_RUNNING"] = 9
    assert snapshot.entities == {"mirrors STATUS_RUNNING": 2}
    assert snapshot.taken_at == 123.5
    with pytest.raises(TypeError):
        snapshot.blocks["x"] = b""  # type: ignore[index]


def test_a_renderer_made_for_other_labels_is_refused() -> None:
    renderer = SeriesRenderer((("target", "other"),))
    with pytest.raises(ValueError, match="constant labels"):
        build_snapshot([Family.of(UP, [((), 1.0)])], LABELS, 10, {}, 0.0, renderer)


def test_a_failed_render_leaves_the_renderer_as_a_fresh_one() -> None:
    renderer = SeriesRenderer(LABELS)
    build_snapshot([_lag(["a"])], LABELS, 10, {}, 0.0, renderer)
    with pytest.raises(ValueError, match="label values"):
        build_snapshot(
            [_lag(["b"]), Family.of(LAG, [(("x", "0", "extra"), 1.0)])],
            LABELS,
            10,
            {},
            0.0,
            renderer,
        )
    again = build_snapshot([_lag(["c"])], LABELS, 10, {}, 0.0, renderer)
    assert again.blocks == build_snapshot([_lag(["c"])], LABELS, 10, {}, 0.0).blocks
    assert len(renderer) == 1


def _inflate(data: bytes) -> bytes:
    return zlib.decompressobj(-zlib.MAX_WBITS).decompress(data)


def test_each_block_is_compressed_with_its_crc_and_size() -> None:
    snapshot = build_snapshot([_lag(["a", "b"]), _rows(["a"])], LABELS, 10, {}, 0.0)
    assert set(snapshot.deflated) == set(snapshot.blocks)
    for name, block in snapshot.blocks.items():
        piece = snapshot.deflated[name]
        assert _inflate(piece.data) == block
        assert (piece.crc, piece.size) == (zlib.crc32(block), len(block))


def test_a_block_unchanged_since_the_previous_snapshot_is_not_compressed_again() -> None:
    renderer = SeriesRenderer(LABELS)
    first = build_snapshot([_lag(["a", "b"]), _rows(["a"])], LABELS, 10, {}, 0.0, renderer)
    moved = Family.of(LAG, [(("a", "0"), 7.0), (("b", "0"), 1.0)])
    second = build_snapshot([moved, _rows(["a"])], LABELS, 10, {}, 1.0, renderer, first)
    assert second.deflated[ROWS.name] is first.deflated[ROWS.name]
    assert _inflate(second.deflated[LAG.name].data) == second.blocks[LAG.name]


def test_a_block_rendered_afresh_to_the_same_bytes_keeps_its_piece() -> None:
    first = build_snapshot([_rows(["a", "b"])], LABELS, 10, {}, 0.0)
    again = build_snapshot([_rows(["a", "b"])], LABELS, 10, {}, 1.0, previous=first)
    assert again.blocks[ROWS.name] is not first.blocks[ROWS.name]
    assert again.deflated[ROWS.name] is first.deflated[ROWS.name]
