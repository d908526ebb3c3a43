"""Each source names its broken entities in the upstream's own words, and the store remembers
since when the exporter has seen each one broken.

The simulator's scenario breaks named entities in each upstream (docs/simulator.md); a poll of
each must list exactly those, with the upstream's error text and state-change time where the
upstream gives them, and none of the healthy ones.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml

from dataflow_exporter.records import BrokenEntity
from dataflow_exporter.simulator import Simulation
from dataflow_exporter.snapshot import build_snapshot
from dataflow_exporter.sources import confluent, peerdb
from dataflow_exporter.sources.fields import Values
from dataflow_exporter.status_page import render_status_page
from dataflow_exporter.store import Store, TargetState
from tests.support.helpers import poll_once

FIXED_NOW = 1_700_000_000.0
# The thresholds the shipped rules were generated from, read where the rules read them.
SHIPPED = yaml.safe_load(
    (Path(__file__).resolve().parents[2] / "alerts" / "config.yml").read_text(encoding="utf-8")
)["alerts"]


def fixed_clock() -> float:
    return FIXED_NOW


async def broken_of(system: str, knobs: dict[str, Any] | None = None) -> list[BrokenEntity]:
    async with Simulation({system: knobs or {}}, clock=fixed_clock) as sim:
        target = sim.systems[system].demo_target(sim.url)
        polled = await poll_once(
            {"global": {"interval": "30s", "timeout": "10s"}, "targets": [target]},
            clock=fixed_clock,
        )
    assert polled.ok
    return list(polled.store.targets[target["name"]].broken)


def by_name(broken: list[BrokenEntity]) -> dict[tuple[str, ...], BrokenEntity]:
    return {tuple(value for _, value in b.names): b for b in broken}


async def test_peerdb_lists_failed_and_paused_mirrors_with_their_newest_logged_error() -> None:
    found = by_name(await broken_of("peerdb", {"mirrors": 5}))
    assert {name: b.state for name, b in found.items()} == {
        ("events_pg_to_sf",): "STATUS_PAUSED",
        ("users_mysql_to_ch",): "STATUS_FAILED",
    }
    # The error text is PeerDB's own, from mirrors/logs; the paused mirror logged none.
    assert found[("users_mysql_to_ch",)].error.startswith("failed to sync records: [mysql]")
    assert found[("events_pg_to_sf",)].error == ""
    # PeerDB reports no state-change time.
    assert all(b.since is None for b in found.values())


async def test_peerdb_error_text_shows_on_the_status_page_scrubbed() -> None:
    secret = "dsn-Secret-7731"
    async with Simulation({"peerdb": {"peer_dsn_password": secret}}, clock=fixed_clock) as sim:
        target = sim.systems["peerdb"].demo_target(sim.url)
        polled = await poll_once(
            {"global": {"interval": "30s", "timeout": "10s"}, "targets": [target]},
            clock=fixed_clock,
        )
    page = render_status_page(polled.store, FIXED_NOW)
    broken = page[page.index('id="broken"') :]
    assert "binlog position not found" in broken
    assert "mysql://&lt;redacted&gt;@mysql_app.db.internal" in broken
    assert secret not in page


async def test_peerdb_lists_a_running_mirror_that_keeps_erroring_in_peerdbs_words() -> None:
    found = by_name(await broken_of("peerdb", {"erroring_mirrors": ["orders_pg_to_ch"]}))
    erroring = found[("orders_pg_to_ch",)]
    assert erroring.state == "STATUS_RUNNING, erroring"
    assert "Memory limit (total) exceeded" in erroring.error


async def test_peerdb_lists_a_slot_whose_wal_is_lost() -> None:
    # Postgres has removed the WAL of the running mirror's slot: listed under Postgres' name.
    async with Simulation({"peerdb": {"mirrors": 5}}, clock=fixed_clock) as sim:
        sim.systems["peerdb"].overrides["orders_pg_to_ch"] = {"_wal_status": "lost"}
        target = sim.systems["peerdb"].demo_target(sim.url)
        polled = await poll_once(
            {"global": {"interval": "30s", "timeout": "10s"}, "targets": [target]},
            clock=fixed_clock,
        )
    found = by_name(list(polled.store.targets[target["name"]].broken))
    assert found[("pg_prod", "peerflow_slot_orders_pg_to_ch")].state == "wal_status lost"


async def test_feldera_lists_deployment_errors_and_fatal_connectors_in_feldera_words() -> None:
    listed = await broken_of("feldera", {"pipelines": 6})
    found = by_name([b for b in listed if b.kind != "pipeline checkpoint"])
    assert set(found) == {
        ("ledger-audit",),
        ("inventory-rollup",),
        ("payments-enrichment", "payments", "kafka_in"),
    }
    rollup = found[("inventory-rollup",)]
    assert rollup.error.startswith("FATAL error on input endpoint 'stock_levels.kafka_in'")
    assert rollup.since is not None, "Feldera reports deployment_status_since"
    connector = found[("payments-enrichment", "payments", "kafka_in")]
    assert connector.kind == "input connector"
    assert connector.state == "fatal error, Unhealthy"
    assert connector.error == "Kafka error: Broker: Unknown topic or partition"
    assert found[("ledger-audit",)].state == "Paused"


async def test_feldera_lists_checkpoints_delayed_too_long_or_impossible_in_feldera_words() -> None:
    listed = await broken_of("feldera", {"pipelines": 6})
    found = by_name([b for b in listed if b.kind == "pipeline checkpoint"])
    # clickstream's checkpoint in progress and every idle one are healthy.
    assert {name: b.state for name, b in found.items()} == {
        ("market-data",): "checkpoint delayed",
        ("ledger-audit",): "cannot checkpoint",
    }
    delayed = found[("market-data",)]
    assert delayed.error == "InputEndpointBarrier: Trades.kafka_in"
    assert delayed.since == FIXED_NOW - 2 * 3600, "Feldera's delayed_since"
    assert found[("ledger-audit",)].error == "StorageRequired"


async def test_confluent_lists_links_and_topics_with_their_error_and_state_time() -> None:
    found = by_name(await broken_of("confluent", {"links": 2, "topics": 6}))
    assert {name: b.state for name, b in found.items()} == {
        ("partner-link",): "UNAVAILABLE",
        ("dr-link", "payments"): "PAUSED",
        ("dr-link", "audit-log"): "FAILED",
        ("partner-link", "partner-events"): "SOURCE_UNAVAILABLE",
        ("dr-link", "ConsumerOffsetSync"): "IN_ERROR",
    }
    assert found[("partner-link",)].error.startswith("AUTHENTICATION_ERROR: ")
    task = found[("dr-link", "ConsumerOffsetSync")]
    assert task.kind == "link task"
    assert task.error == "AUTHORIZATION_ERROR: Not authorized to describe consumer group 'billing'"
    assert found[("dr-link", "audit-log")].error == "SOURCE_TOPIC_MAY_BE_DELETED"
    assert found[("dr-link", "audit-log")].since is not None, "state_time_ms"


async def test_etlworks_lists_the_failed_flow_with_its_exception() -> None:
    found = by_name(await broken_of("etlworks", {"flows": 10}))
    failed = found[("5010", "Sync customers to Salesforce")]
    assert failed.state == "error"
    assert failed.error.startswith("java.sql.SQLTransientConnectionException")
    assert failed.since is not None, "the execution's end time"
    assert all(b.state == "error" or b.state.startswith("running for") for b in found.values())


def _topic(status: str, state_time: float, lag: float) -> confluent.MirrorTopic:
    lags = (confluent.PartitionLag(0, lag, 10.0),)
    values = Values(confluent.TOPIC_METRICS, (state_time, 1.0))  # state-change time, partitions
    return confluent.MirrorTopic("l", "t", status, "NO_ERROR", values, lags)


def test_an_active_topic_is_broken_only_past_the_lag_threshold() -> None:
    limit = float(SHIPPED["ConfluentMirrorLagHigh"]["threshold_messages"])
    for lag, listed in ((limit, False), (limit + 1, True)):
        seen = confluent.Observation(topics=[_topic("ACTIVE", FIXED_NOW, lag)])
        broken = confluent.broken_entities(seen, [lag], FIXED_NOW)
        assert bool(broken) is listed, lag
    (entity,) = confluent.broken_entities(
        confluent.Observation(topics=[_topic("ACTIVE", FIXED_NOW, limit * 2)]),
        [limit * 2],
        FIXED_NOW,
    )
    assert entity.state == f"ACTIVE, lag {limit * 2:.0f} messages"


def test_a_pending_topic_is_broken_once_pending_longer_than_its_alert_waits() -> None:
    assert SHIPPED["ConfluentMirrorTopicStuckPending"]["for"] == "30m"
    recent = FIXED_NOW - 30 * 60 + 60
    old = FIXED_NOW - 30 * 60 - 60
    for since, listed in ((recent, False), (old, True)):
        seen = confluent.Observation(topics=[_topic("PENDING_MIRROR", since, 0)])
        assert bool(confluent.broken_entities(seen, [0], FIXED_NOW)) is listed


def _errored(age: float) -> dict[str, peerdb.MirrorErrors]:
    row = peerdb.MirrorError(1, "m", FIXED_NOW - age, "[clickhouse] code: 241")
    return {"m": peerdb.MirrorErrors(row, 1)}


# The states that need a person (a failed mirror, one paused by someone, PeerDB not knowing),
# written out here, not taken from the code under test.
@pytest.mark.parametrize("state", ["STATUS_FAILED", "STATUS_PAUSED", "STATUS_UNKNOWN"])
def test_each_mirror_state_peerdb_calls_broken_is_listed_with_its_error(state: str) -> None:
    mirror = peerdb.Mirror("m", state)
    seen = peerdb.Observation([mirror], {}, {}, [], None, _errored(86_400))
    (entity,) = peerdb.broken_entities(seen, FIXED_NOW)
    assert (entity.state, entity.error) == (state, "[clickhouse] code: 241")


def test_a_mirror_state_outside_peerdbs_enum_is_listed() -> None:
    state = peerdb.flow_status("STATUS_NEW_IN_A_LATER_RELEASE")
    seen = peerdb.Observation([peerdb.Mirror("m", state)], {}, {}, [], None)
    (entity,) = peerdb.broken_entities(seen, FIXED_NOW)
    assert entity.state == "STATUS_NEW_IN_A_LATER_RELEASE"


@pytest.mark.parametrize("status", ["STATUS_RUNNING", "STATUS_SNAPSHOT", "STATUS_COMPLETED"])
def test_a_mirror_is_erroring_only_while_running_and_up_to_the_alerts_window(status: str) -> None:
    window = float(SHIPPED["PeerDBMirrorErroring"]["window_seconds"])
    listed = {}
    for age in (window, window + 1):
        seen = peerdb.Observation([peerdb.Mirror("m", status)], {}, {}, [], None, _errored(age))
        listed[age] = [b.state for b in peerdb.broken_entities(seen, FIXED_NOW)]
    running = status == "STATUS_RUNNING"
    assert listed == {window: ["STATUS_RUNNING, erroring"] if running else [], window + 1: []}


def _slot(
    lag: float = 0.0, wal: str | None = "reserved", safe: float | None = None, active: bool = True
) -> peerdb.Slot:
    safe_wal_size = None if safe is None else int(safe)
    shape = peerdb.SlotInfo("peerflow_slot_m", lag / peerdb.MIB, active, wal, safe_wal_size)
    return peerdb.slot_of("pg", shape, "slotData[0]")


def _slot_states(slot: peerdb.Slot) -> list[str]:
    seen = peerdb.Observation([], {}, {}, [slot], None)
    return [b.state for b in peerdb.broken_entities(seen, FIXED_NOW)]


@pytest.mark.parametrize(
    ("wal", "listed"),
    [("reserved", False), ("extended", False), ("unreserved", True), ("lost", True)],
)
def test_a_slot_is_broken_once_its_wal_is_past_max_slot_wal_keep_size(
    wal: str, listed: bool
) -> None:
    assert _slot_states(_slot(wal=wal)) == ([f"wal_status {wal}"] if listed else [])


def test_a_slot_is_broken_below_the_safe_wal_size_threshold_not_at_it() -> None:
    limit = float(SHIPPED["PeerDBSlotSafeWalSizeLow"]["threshold_bytes"])
    assert _slot_states(_slot(safe=limit)) == []
    assert _slot_states(_slot(safe=limit - 1)) != []
    assert _slot_states(_slot(safe=36 * 2**20)) == ["safe WAL 36 MiB"]


def test_a_slot_is_broken_past_the_lag_threshold_not_at_it() -> None:
    limit = float(SHIPPED["PeerDBSlotLagHigh"]["threshold_bytes"])
    assert _slot_states(_slot(lag=limit)) == []
    assert _slot_states(_slot(lag=limit + 1, active=False)) == [
        f"lag {(limit + 1) / 2**30:.1f} GiB, inactive"
    ]


def test_a_running_mirror_without_a_recent_batch_is_broken() -> None:
    mirror = peerdb.Mirror("m", "STATUS_RUNNING")
    for age, listed in (
        (600, False),
        (SHIPPED["PeerDBMirrorNoRecentBatch"]["threshold_seconds"] + 600, True),
    ):
        ended = datetime.fromtimestamp(FIXED_NOW - age, UTC).isoformat()
        batches = peerdb.CdcBatches([peerdb.CdcBatch(ended, 1)], 1)
        batch = peerdb.batch_of(batches, "cdc/batches")
        seen = peerdb.Observation([mirror], {}, {"m": batch}, [], None)
        assert bool(peerdb.broken_entities(seen, FIXED_NOW)) is listed, age


def _record(store: Store, broken: tuple[BrokenEntity, ...], now: float) -> None:
    store.record_success(
        "t", build_snapshot([], (("target", "t"),), 10, {}, now), [], 0.1, (), {}, broken
    )


def test_the_store_remembers_when_it_first_saw_an_entity_broken_until_it_heals() -> None:
    store = Store()
    store.add(TargetState("t", "peerdb", 30, 300))
    failed = BrokenEntity("mirror", (("mirror", "m"),), "STATUS_FAILED")
    key = ("mirror", (("mirror", "m"),), "STATUS_FAILED")
    _record(store, (failed,), 100.0)
    _record(store, (failed,), 130.0)
    assert store.targets["t"].seen_since(key) == 100.0
    paused = msgspec.structs.replace(failed, state="STATUS_PAUSED")
    _record(store, (paused,), 160.0)
    assert store.targets["t"].seen_since(key) is None, "a new state starts a new 'since'"
    _record(store, (), 190.0)
    _record(store, (failed,), 220.0)
    assert store.targets["t"].seen_since(key) == 220.0, "healed in between"
    assert len(store.targets["t"].first_seen) == 1, "only what is broken now is kept"
