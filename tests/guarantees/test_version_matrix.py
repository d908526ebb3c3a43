"""Every supported upstream release, through the real source against a simulator playing it.

For each system: the oldest supported release, one in the middle and the newest. What an older
release lacks makes its series absent and shows as a missing capability: never a failed poll,
never a made-up state, never an unknown-value count, and a missing route is asked for once, not
once per entity per poll.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from dataflow_exporter.simulator import Simulation
from dataflow_exporter.upstream import new_session
from tests.support.helpers import Polled, poll_once, samples, series_of, value

FIXED_NOW = 1_700_000_000.0


def fixed_clock() -> float:
    return FIXED_NOW


@asynccontextmanager
async def playing(system: str, **knobs: Any) -> AsyncIterator[Simulation]:
    """A simulator of one system playing a release, its clock standing still."""
    async with Simulation({system: knobs}, clock=fixed_clock) as sim:
        yield sim


def config(sim: Simulation, system: str, **extra: Any) -> dict[str, Any]:
    target = {**sim.systems[system].demo_target(sim.url), **extra}
    return {"global": {"interval": "30s", "timeout": "10s"}, "targets": [target]}


def assert_clean(polled: Polled, target: str) -> None:
    """Up, nothing counted as an unknown value, no detail failure."""
    assert polled.ok, polled.store.targets[target].last_error
    assert value(polled.text, "dataflow_exporter_target_up", target=target) == 1
    unknown = [
        v
        for (name, _), v in samples(polled.text).items()
        if name == "dataflow_exporter_unknown_values_total"
    ]
    assert all(v == 0 for v in unknown), unknown
    assert polled.store.targets[target].detail_failures == ()


def capability(polled: Polled, target: str, name: str) -> float | None:
    return value(polled.text, "dataflow_exporter_target_capability", target=target, capability=name)


# PeerDB -------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["0.20.0", "0.30.6", "0.36.9", "0.37.4"])
async def test_peerdb_every_release_exports_each_mirrors_state(version: str) -> None:
    async with playing("peerdb", version=version) as sim:
        polled = await poll_once(config(sim, "peerdb"))
    assert_clean(polled, "peerdb-demo")
    running = value(
        polled.text, "peerdb_mirror_status", mirror="orders_pg_to_ch", status="STATUS_RUNNING"
    )
    failed = value(
        polled.text, "peerdb_mirror_status", mirror="users_mysql_to_ch", status="STATUS_FAILED"
    )
    assert (running, failed) == (1, 1)
    assert len(series_of(polled.text, "peerdb_mirror_info")) == len(
        {s["mirror"] for s in series_of(polled.text, "peerdb_mirror_status")}
    )


@pytest.mark.parametrize(("version", "has_rows"), [("0.30.6", False), ("0.30.7", True)])
async def test_peerdb_rows_synced_exist_from_0_30_7_and_are_absent_before(
    version: str, has_rows: bool
) -> None:
    async with playing("peerdb", version=version) as sim:
        polled = await poll_once(config(sim, "peerdb"))
    assert_clean(polled, "peerdb-demo")
    rows = series_of(polled.text, "peerdb_mirror_rows_synced_total")
    assert bool(rows) is has_rows
    assert capability(polled, "peerdb-demo", "rows_synced") == (1 if has_rows else 0)
    # Whatever the release, no mirror looks dropped.
    assert value(polled.text, "peerdb_mirror_info", mirror="orders_pg_to_ch") == 1


async def test_peerdb_a_missing_route_is_learned_in_one_poll_not_asked_every_poll() -> None:
    async with playing("peerdb", version="0.30.6", mirrors=40) as sim:
        faults = sim.systems["peerdb"].faults
        async with new_session() as session:
            first = await poll_once(config(sim, "peerdb"), session)
            asked_first = sum(
                n for path, n in faults.requests.items() if "total_rows_synced" in path
            )
            await poll_once(config(sim, "peerdb"), session, first.scheduler)
            asked_both = sum(
                n for path, n in faults.requests.items() if "total_rows_synced" in path
            )
    # The first poll asks each mirror once (one mirror's 404 must not hide the route for all);
    # the polls until the recheck ask none.
    assert asked_first == 40
    assert asked_both == asked_first


@pytest.mark.parametrize(("version", "from_list"), [("0.36.6", False), ("0.36.7", True)])
async def test_peerdb_state_comes_from_the_list_when_the_release_carries_it(
    version: str, from_list: bool
) -> None:
    async with playing("peerdb", version=version) as sim:
        polled = await poll_once(config(sim, "peerdb"))
        sent = sim.systems["peerdb"].status_requests  # type: ignore[attr-defined]
    assert_clean(polled, "peerdb-demo")
    assert (sent == []) is from_list
    # Asked for, the state never carries includeFlowInfo (a Temporal query per mirror).
    assert all(not r.get("includeFlowInfo") for r in sent)
    assert (
        value(polled.text, "peerdb_mirror_status", mirror="events_pg_to_sf", status="STATUS_PAUSED")
        == 1
    )


# 0.36.7 to 0.36.9 carry the list's status but still ignore peerdbManagedOnly: the exporter
# cannot tell them from 0.36.10 and trusts the server there (docs/compatibility.md).
@pytest.mark.parametrize("version", ["0.20.0", "0.36.6", "0.36.10", "0.37.4"])
async def test_peerdb_only_peerdbs_own_slots_are_exported(version: str) -> None:
    async with playing("peerdb", version=version) as sim:
        polled = await poll_once(config(sim, "peerdb"))
    slots = {s["slot"] for s in series_of(polled.text, "peerdb_slot_lag_bytes")}
    assert slots
    assert all(slot.startswith("peerflow_slot_") for slot in slots), slots


async def test_peerdb_slot_lag_is_whole_mebibytes_as_the_upstream_rounds_it() -> None:
    async with playing("peerdb") as sim:
        polled = await poll_once(config(sim, "peerdb"))
    lags = [v for (name, _), v in samples(polled.text).items() if name == "peerdb_slot_lag_bytes"]
    assert lags
    assert all(v % (1024 * 1024) == 0 for v in lags)


SLOT = "peerflow_slot_events_pg_to_sf"  # the paused mirror's slot: 64 MiB of WAL at the start

# Postgres' WAL state of that slot as the simulator's source database is sized (MiB): a healthy
# slot, one past max_wal_size (degrading), one whose WAL Postgres has removed (broken).
WAL_SCENARIOS = {
    "reserved": {},
    "extended": {"max_wal_size_mib": 32, "slot_keep_size_mib": 100},
    "lost": {"slot_keep_size_mib": 50},
}


@pytest.mark.parametrize("scenario", sorted(WAL_SCENARIOS))
@pytest.mark.parametrize(
    ("version", "has_safe_size"),
    [("0.20.0", False), ("0.30.6", False), ("0.35.2", False), ("0.35.3", True), ("0.37.4", True)],
)
async def test_peerdb_slot_wal_state_on_every_release_and_safe_size_from_0_35_3(
    version: str, has_safe_size: bool, scenario: str
) -> None:
    async with playing("peerdb", version=version, **WAL_SCENARIOS[scenario]) as sim:
        polled = await poll_once(config(sim, "peerdb"), clock=fixed_clock)
    assert_clean(polled, "peerdb-demo")
    states = {
        s["status"]: value(polled.text, "peerdb_slot_wal_status", **s)
        for s in series_of(polled.text, "peerdb_slot_wal_status")
        if s["slot"] == SLOT
    }
    assert states == {
        s: float(s == scenario) for s in ("reserved", "extended", "unreserved", "lost")
    }
    safe = value(polled.text, "peerdb_slot_safe_wal_size_bytes", slot=SLOT)
    if not has_safe_size or scenario == "lost":  # Postgres' safe_wal_size is NULL when lost
        assert safe is None
    else:
        keep = WAL_SCENARIOS[scenario].get("slot_keep_size_mib", 16384)
        assert safe == (keep - 64) * 1024 * 1024
    broken = {b.names: b.state for b in polled.store.targets["peerdb-demo"].broken}
    slot_names = (("peer", "pg_prod"), ("slot", SLOT))
    expected = {
        "reserved": None,
        # 100 MiB kept, 64 MiB held: 36 MiB left, under the 1 GiB alert threshold.
        "extended": "safe WAL 36 MiB, inactive" if has_safe_size else None,
        "lost": "wal_status lost, inactive",
    }
    assert broken.get(slot_names) == expected[scenario]


@pytest.mark.parametrize("version", ["0.20.0", "0.30.6", "0.37.4"])
@pytest.mark.parametrize("erroring", [False, True])
async def test_peerdb_every_release_exports_each_mirrors_logged_errors(
    version: str, erroring: bool
) -> None:
    knobs: dict[str, Any] = {"erroring_mirrors": ["orders_pg_to_ch"] if erroring else []}
    async with playing("peerdb", version=version, **knobs) as sim:
        polled = await poll_once(config(sim, "peerdb"), clock=fixed_clock)
    assert_clean(polled, "peerdb-demo")
    assert capability(polled, "peerdb-demo", "mirror_logs") == 1
    recent = value(polled.text, "peerdb_mirror_recent_errors", mirror="orders_pg_to_ch")
    assert recent == (5 if erroring else 0)  # the simulator's error_rows, a minute apart
    broken = {b.names: b for b in polled.store.targets["peerdb-demo"].broken}
    orders = broken.get((("mirror", "orders_pg_to_ch"),))
    if erroring:
        assert orders is not None and orders.state == "STATUS_RUNNING, erroring"
        assert "Memory limit (total) exceeded" in orders.error
    else:
        assert orders is None


# flow/cmd/peer_data.go: an untyped error (grpc Unknown, HTTP 500) before v0.34.0, then
# FailedPrecondition (HTTP 400).
@pytest.mark.parametrize(("version", "status"), [("0.20.0", 500), ("0.33.3", 500), ("0.34.0", 400)])
async def test_peerdb_an_unreachable_peer_fails_its_slots_alone_whatever_the_error_code(
    version: str, status: int
) -> None:
    async with playing("peerdb", version=version, unreachable_peers=["pg_prod"]) as sim:
        polled = await poll_once(config(sim, "peerdb"))
    assert polled.ok
    (failure,) = polled.store.targets["peerdb-demo"].detail_failures
    assert (failure.entity, failure.endpoint) == ("peer pg_prod", "slots")
    assert failure.message.startswith(f"HTTP {status} from GET /api/v1/peers/slots/pg_prod: ")
    assert value(polled.text, "dataflow_exporter_target_up", target="peerdb-demo") == 1


# Feldera ------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["0.100.0", "0.254.0", "0.336.0"])
async def test_feldera_every_release_exports_pipelines_and_connectors(version: str) -> None:
    async with playing("feldera", version=version) as sim:
        polled = await poll_once(config(sim, "feldera"))
    assert_clean(polled, "feldera-demo")
    text = polled.text
    assert value(text, "feldera_pipeline_status", pipeline="ledger-audit", status="Paused") == 1
    records = value(
        text,
        "feldera_input_connector_records_total",
        pipeline="clickstream",
        table="page_views",
        connector="kafka_in",
    )
    assert records is not None and records > 0
    fatal = value(
        text,
        "feldera_input_connector_fatal_error",
        pipeline="payments-enrichment",
        table="payments",
        connector="kafka_in",
    )
    assert fatal == 1


@pytest.mark.parametrize(
    ("version", "stall", "health", "pressure"),
    [
        ("0.253.0", False, False, False),
        ("0.254.0", True, False, False),
        ("0.265.0", True, True, False),
        ("0.274.0", True, True, True),
    ],
)
async def test_feldera_fields_of_newer_releases_are_absent_before_them(
    version: str, stall: bool, health: bool, pressure: bool
) -> None:
    async with playing("feldera", version=version) as sim:
        polled = await poll_once(config(sim, "feldera"))
    assert_clean(polled, "feldera-demo")
    text = polled.text
    assert bool(series_of(text, "feldera_pipeline_output_stall_seconds")) is stall
    assert bool(series_of(text, "feldera_input_connector_health")) is health
    assert bool(series_of(text, "feldera_pipeline_memory_pressure")) is pressure


@pytest.mark.parametrize(
    ("version", "checkpoints"),
    [("0.100.0", False), ("0.287.0", False), ("0.288.0", True), ("0.336.0", True)],
)
async def test_feldera_storage_at_every_release_checkpoints_from_0_288_0(
    version: str, checkpoints: bool
) -> None:
    async with playing("feldera", version=version) as sim:
        polled = await poll_once(config(sim, "feldera"), clock=fixed_clock)
    assert_clean(polled, "feldera-demo")
    text = polled.text
    # Storage: healthy (steady) and degrading (growing) pipelines alike report it.
    for pipeline in ("clickstream", "fraud-detection"):
        used = value(text, "feldera_pipeline_storage_bytes", pipeline=pipeline)
        assert used is not None and used >= 5 * 1024**3, pipeline
    activity = {
        s["pipeline"]: s["status"]
        for s in series_of(text, "feldera_pipeline_checkpoint_activity")
        if value(text, "feldera_pipeline_checkpoint_activity", **s) == 1
    }
    permanent = value(
        text,
        "feldera_pipeline_checkpoint_permanent_errors",
        pipeline="ledger-audit",
        reason="StorageRequired",
    )
    checkpoint_rows = {
        b.names[0][1]: b.state
        for b in polled.store.targets["feldera-demo"].broken
        if b.kind == "pipeline checkpoint"
    }
    assert capability(polled, "feldera-demo", "checkpoint_activity") == (1 if checkpoints else 0)
    if not checkpoints:
        # Older releases: absent, never a made-up idle, never a broken row.
        assert activity == {}
        assert permanent is None
        assert checkpoint_rows == {}
        return
    # Healthy (idle), degrading (in progress) and broken (delayed, impossible) as played.
    assert activity["payments-enrichment"] == "idle"
    assert activity["clickstream"] == "in_progress"
    assert activity["market-data"] == "delayed"
    assert activity["fraud-detection"] == "delayed"  # degrading: not yet past the threshold
    assert permanent == 1
    assert checkpoint_rows == {
        "market-data": "checkpoint delayed",
        "ledger-audit": "cannot checkpoint",
    }
    since = value(
        text, "feldera_pipeline_checkpoint_delayed_since_timestamp_seconds", pipeline="market-data"
    )
    assert since == FIXED_NOW - 2 * 3600


async def test_feldera_quoted_identifiers_are_labelled_without_their_quotes() -> None:
    async with playing("feldera") as sim:
        polled = await poll_once(config(sim, "feldera"))
        explicit = await poll_once(
            config(
                sim,
                "feldera",
                connectors=[
                    {"pipeline": "market-data", "table": "Trades", "connector": "kafka_in"}
                ],
            )
        )
    for text in (polled.text, explicit.text):
        tables = {
            s["table"]
            for s in series_of(text, "feldera_input_connector_records_total")
            if s["pipeline"] == "market-data"
        }
        assert tables == {"Trades"}
    views = {
        s["view"]
        for s in series_of(polled.text, "feldera_output_connector_transmitted_records_total")
        if s["pipeline"] == "market-data"
    }
    assert views == {"QuoteSummary"}


@pytest.mark.parametrize(
    "state", ["Bootstrapping", "Replaying", "ConcurrentBootstrapping", "Synchronizing"]
)
async def test_feldera_stats_are_read_while_a_pipeline_bootstraps_or_replays(state: str) -> None:
    async with playing("feldera") as sim:
        sim.systems["feldera"].overrides["clickstream"] = {"_state": state}
        polled = await poll_once(config(sim, "feldera"))
    assert_clean(polled, "feldera-demo")
    assert value(polled.text, "feldera_pipeline_status", pipeline="clickstream", status=state) == 1
    assert value(polled.text, "feldera_pipeline_stats_available", pipeline="clickstream") == 1
    assert value(
        polled.text,
        "feldera_input_connector_health",
        pipeline="clickstream",
        table="page_views",
        connector="kafka_in",
        status="Healthy",
    )


async def test_feldera_old_releases_suspending_state_is_known() -> None:
    async with playing("feldera", version="0.120.0") as sim:
        sim.systems["feldera"].overrides["ledger-audit"] = {"_state": "Suspending"}
        polled = await poll_once(config(sim, "feldera"))
    assert_clean(polled, "feldera-demo")
    assert (
        value(polled.text, "feldera_pipeline_status", pipeline="ledger-audit", status="Suspending")
        == 1
    )


# Confluent ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "link_state"), [("cp-7.5.0", False), ("cp-7.9.0", True), ("cloud", True)]
)
async def test_confluent_every_release_exports_mirror_topics(
    version: str, link_state: bool
) -> None:
    async with playing("confluent", version=version) as sim:
        polled = await poll_once(config(sim, "confluent"))
    assert_clean(polled, "confluent-demo")
    text = polled.text
    assert value(text, "confluent_mirror_topic_status", topic="orders", status="ACTIVE") == 1
    assert value(text, "confluent_mirror_topic_status", topic="payments", status="PAUSED") == 1
    lag = value(text, "confluent_mirror_topic_lag", topic="orders")
    assert lag is not None and lag >= 0  # present on every release, not just not negative
    # Older Platform releases report no link state: no series, not a made-up UNKNOWN.
    assert bool(series_of(text, "confluent_link_status")) is link_state
    assert bool(series_of(text, "confluent_mirror_topic_error")) is link_state


@pytest.mark.parametrize(
    ("version", "tasks"), [("cp-7.5.0", False), ("cp-7.9.0", True), ("cloud", True)]
)
async def test_confluent_link_tasks_from_cp_7_6_and_absent_before(
    version: str, tasks: bool
) -> None:
    async with playing("confluent", version=version) as sim:
        polled = await poll_once(config(sim, "confluent"), clock=fixed_clock)
    assert_clean(polled, "confluent-demo")
    text = polled.text
    assert capability(polled, "confluent-demo", "link_tasks") == (1 if tasks else 0)
    listed = {
        b.names for b in polled.store.targets["confluent-demo"].broken if b.kind == "link task"
    }
    if not tasks:
        assert series_of(text, "confluent_link_task_status") == []
        assert listed == set()
        return
    in_error = (("link", "dr-link"), ("task", "ConsumerOffsetSync"))
    assert listed == {in_error}
    # Healthy, broken, and repeating the link's own state, as the release reports them.
    assert (
        value(text, "confluent_link_task_status", link="dr-link", task="AclSync", status="ACTIVE")
        == 1
    )
    assert (
        value(
            text,
            "confluent_link_task_status",
            link="dr-link",
            task="ConsumerOffsetSync",
            status="IN_ERROR",
        )
        == 1
    )
    assert (
        value(
            text,
            "confluent_link_task_status",
            link="partner-link",
            task="AclSync",
            status="LINK_UNAVAILABLE",
        )
        == 1
    )


# Etlworks -----------------------------------------------------------------------------------


@pytest.mark.parametrize("route", ["issue", "token-auth"])
async def test_etlworks_either_documented_token_route_logs_in(route: str) -> None:
    async with playing("etlworks", token_route=route) as sim:
        async with new_session() as session:
            first = await poll_once(config(sim, "etlworks"), session)
            await poll_once(config(sim, "etlworks"), session, first.scheduler)
        issues = sim.systems["etlworks"].token_issues  # type: ignore[attr-defined]
    assert_clean(first, "etlworks-demo")
    assert series_of(first.text, "etlworks_flow_last_execution_status")
    assert issues == 1  # the route is learned, the token reused
