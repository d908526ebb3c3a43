"""The exposition cache: what `/metrics` serves from the store, and when that changes."""

from __future__ import annotations

import gzip

import pytest
from isal import isal_zlib

from dataflow_exporter.errors import Reason
from dataflow_exporter.exposition_cache import ExpositionCache
from dataflow_exporter.families import Family, MetricSpec
from dataflow_exporter.runtime_metrics import RuntimeMetrics
from dataflow_exporter.scheduler import Scheduler
from dataflow_exporter.simulator import Simulation
from dataflow_exporter.snapshot import Snapshot, build_snapshot
from dataflow_exporter.store import Store, TargetState
from dataflow_exporter.upstream import new_session
from tests.support.daemon import SECRET
from tests.support.helpers import poll_once, series_of, value


async def test_a_failed_poll_keeps_the_last_good_series_until_stale_after(
    peerdb_sim: Simulation,
) -> None:
    now = [1_000_000.0]
    store = Store()
    cfg = {
        "global": {"interval": "30s", "timeout": "5s", "stale_after": "5m"},
        "targets": [{"name": "pg", "system": "peerdb", "url": peerdb_sim.url, "password": SECRET}],
    }
    async with new_session() as session:
        scheduler = Scheduler(session, store, clock=lambda: now[0])
        assert (await poll_once(cfg, session, scheduler)).ok
        await session.post(
            f"{peerdb_sim.url}/_sim/peerdb/faults", json={"kind": "status", "status": 500}
        )
        now[0] += 60
        failed = await poll_once(cfg, session, scheduler)
        cache = ExpositionCache(store, clock=lambda: now[0])
        text = cache.exposition().decode()
        assert not failed.ok
        assert value(text, "dataflow_exporter_target_up", target="pg") == 0
        assert (
            value(text, "peerdb_mirror_status", mirror="orders_pg_to_ch", status="STATUS_RUNNING")
            == 1
        )
        now[0] += 300
        stale = cache.exposition().decode()
    assert series_of(stale, "peerdb_mirror_status") == []
    assert value(stale, "dataflow_exporter_target_stale", target="pg") == 1
    assert (
        value(stale, "dataflow_exporter_target_last_success_timestamp_seconds", target="pg")
        == 1_000_000.0
    )


UP = MetricSpec("demo_up", "gauge", "Up.")


def polled_store() -> Store:
    """A store with one target whose last poll succeeded with one series."""
    store = Store()
    store.add(TargetState("pg", "peerdb", 30.0, 300.0))
    block = b'demo_up{target="pg"} 1.0\n'
    snapshot = Snapshot({"demo_up": block}, {"demo_up": UP}, 1, 0, {}, 1.0)
    store.record_success("pg", snapshot, [], 0.1)
    return store


def test_the_body_is_built_once_until_the_store_changes() -> None:
    store = polled_store()
    cache = ExpositionCache(store, clock=lambda: 2.0)
    first = cache.exposition_parts()
    assert cache.exposition_parts()[0] is first[0]
    store.record_failure("pg", Reason.TIMEOUT, "timed out", 5.0, 2.0)
    after = cache.exposition_parts()
    assert after[0] is not first[0]
    assert value(b"".join(after).decode(), "dataflow_exporter_target_up", target="pg") == 0


def test_a_gzip_body_follows_the_store_like_the_plain_one() -> None:
    store = polled_store()
    cache = ExpositionCache(store, clock=lambda: 2.0, runtime=RuntimeMetrics())
    cache.exposition(gzipped=True)
    store.record_failure("pg", Reason.TIMEOUT, "timed out", 5.0, 2.0)
    text = gzip.decompress(cache.exposition(gzipped=True)).decode()
    assert value(text, "dataflow_exporter_target_up", target="pg") == 0
    assert "process_resident_memory_bytes" in text


def test_openmetrics_ends_with_eof_after_the_runtime_metrics_and_text_has_none() -> None:
    cache = ExpositionCache(polled_store(), clock=lambda: 2.0, runtime=RuntimeMetrics())
    body = cache.exposition(openmetrics=True).decode()
    assert body.endswith("# EOF\n") and body.count("# EOF") == 1
    assert body.index("process_resident_memory_bytes") < body.index("# EOF")
    assert "# EOF" not in cache.exposition().decode()


def test_a_stale_targets_series_count_drops_to_zero_with_its_withheld_series() -> None:
    store = polled_store()  # one series, taken at 1.0, stale_after 300 s
    store.record_failure("pg", Reason.TIMEOUT, "timed out", 5.0, 2.0)
    now = [301.0]
    cache = ExpositionCache(store, clock=lambda: now[0])
    fresh = cache.exposition().decode()
    assert value(fresh, "dataflow_exporter_target_series", target="pg") == 1
    assert value(fresh, "demo_up", target="pg") == 1
    now[0] = 301.5
    stale = cache.exposition().decode()
    assert value(stale, "dataflow_exporter_target_stale", target="pg") == 1
    assert series_of(stale, "demo_up") == []
    assert value(stale, "dataflow_exporter_target_series", target="pg") == 0


def two_target_store() -> Store:
    """Two targets sharing a family, each with a snapshot compressed in its poll."""
    store = Store()
    for name in ("a", "b"):
        store.add(TargetState(name, "peerdb", 30.0, 300.0))
        lag = Family.of(LAG, [(("orders",), 1.0), (("users",), 2.0)])
        rows = Family.of(ROWS, [(("orders",), 5.0)])
        snapshot = build_snapshot([lag, rows], (("target", name),), 10, {}, 1.0)
        store.record_success(name, snapshot, [], 0.1)
    return store


LAG = MetricSpec("demo_lag", "gauge", "Lag.", ("topic",))
ROWS = MetricSpec("demo_rows_total", "counter", "Rows.", ("topic",))


def lag_piece(store: Store, target: str) -> bytes:
    snapshot = store.targets[target].snapshot
    assert snapshot is not None
    return snapshot.deflated[LAG.name].data


def test_a_repeated_gzip_scrape_combines_only_its_fresh_tail(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cache = ExpositionCache(two_target_store(), clock=lambda: 2.0)
    first = gzip.decompress(cache.exposition(gzipped=True))
    combined: list[int] = []
    real = isal_zlib.crc32_combine

    def counted(crc1: int, crc2: int, length2: int) -> int:
        combined.append(crc2)
        return real(crc1, crc2, length2)

    monkeypatch.setattr(isal_zlib, "crc32_combine", counted)
    assert gzip.decompress(cache.exposition(gzipped=True)) == first
    assert len(combined) <= 1, "the cached pieces' CRC is combined once per build, not per scrape"


def test_the_gzip_body_lines_up_the_pieces_compressed_in_the_poll() -> None:
    store = two_target_store()
    cache = ExpositionCache(store, clock=lambda: 2.0)
    parts = cache.exposition_parts(gzipped=True)
    for name in ("a", "b"):
        assert any(part is lag_piece(store, name) for part in parts)
    store.version += 1  # a poll landed: the first scrape after it compresses no block again
    after = cache.exposition_parts(gzipped=True)
    assert after is not parts
    assert any(part is lag_piece(store, "a") for part in after)


@pytest.mark.parametrize(
    ("openmetrics", "counter_type"),
    [(False, "# TYPE demo_rows_total counter"), (True, "# TYPE demo_rows counter")],
)
def test_a_family_of_two_targets_has_one_header_then_both_blocks(
    openmetrics: bool, counter_type: str
) -> None:
    cache = ExpositionCache(two_target_store(), clock=lambda: 2.0)
    # The other format first: compressed headers are kept, and must be kept per format.
    for asked in (not openmetrics, openmetrics):
        plain = cache.exposition(openmetrics=asked)
        assert gzip.decompress(cache.exposition(asked, gzipped=True)) == plain
    text = plain.decode()
    assert text.count(counter_type) == 1
    assert text.count("# TYPE demo_lag gauge") == 1
    lines = [line for line in text.splitlines() if line.startswith("demo_lag")]
    assert [line.split('target="')[1][0] for line in lines] == ["a", "a", "b", "b"]


def test_a_snapshot_without_pieces_is_compressed_when_asked_for() -> None:
    store = polled_store()  # its snapshot was made by hand, with no pieces
    cache = ExpositionCache(store, clock=lambda: 2.0)
    assert gzip.decompress(cache.exposition(gzipped=True)) == cache.exposition()
