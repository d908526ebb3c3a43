"""PeerDB answers (as grpc-gateway writes them) -> typed shapes -> records -> families."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dataflow_exporter.errors import SchemaError, UpstreamError
from dataflow_exporter.families import State, Unknown, families_by_name
from dataflow_exporter.snapshot import build_snapshot
from dataflow_exporter.sources.fields import Values
from dataflow_exporter.sources.peerdb import (
    DIGEST_FROM_BYTES,
    FLOW_STATUSES,
    INSTANCE_STATUSES,
    MIB,
    SPECS,
    WAL_STATUSES,
    Batch,
    Mirror,
    MirrorError,
    Observation,
    Slot,
    broken_entities,
    build_families,
    content_digest,
    flow_status,
    mebibytes,
    mirror_errors,
    mirror_list,
    read_batches,
    read_instance,
    read_mirror_list,
    read_mirror_logs,
    read_mirror_state,
    read_slots,
    read_total_rows,
)
from dataflow_exporter.upstream import Answer
from tests.sources.peerdb.upstream_enums import FLOW_STATUS, INSTANCE_STATUS, WAL_STATUS

FIXTURES = Path(__file__).parent / "fixtures"
GOLDEN = Path(__file__).resolve().parents[2] / "golden" / "peerdb.prom"


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def answer(payload: object, what: str = "GET /api/v1/x") -> Answer:
    """A 200 answer with `payload` as its JSON body."""
    return Answer(json.dumps(payload).encode(), what)


def mirrors_listed(payload: object) -> list[Mirror]:
    return read_mirror_list(answer(payload, "GET /api/v1/mirrors/list"))


def state_of(payload: object) -> State:
    return read_mirror_state(answer(payload, "POST /api/v1/mirrors/status"))


def total_rows(payload: object) -> Values:
    return read_total_rows(answer(payload, "GET /api/v1/mirrors/total_rows_synced/m"))


def batches_of(payload: object) -> Batch:
    return read_batches(answer(payload, "POST /api/v1/mirrors/cdc/batches"))


def slots_of(peer: str, payload: object) -> list[Slot]:
    return read_slots(peer, answer(payload, f"GET /api/v1/peers/slots/{peer}"))


def log_rows(payload: object) -> list[MirrorError]:
    return read_mirror_logs(answer(payload, "POST /api/v1/mirrors/logs"))


def instance_of(payload: object) -> State:
    return read_instance(answer(payload, "GET /api/v1/instance/info"))


def batch_fields(batch: Batch) -> tuple[float | None, float | None, float | None]:
    """A batch's count, and its newest completed batch's end time and rows."""
    newest = batch.newest
    return (
        batch.count["peerdb_mirror_cdc_batches_total"],
        newest["peerdb_mirror_last_batch_end_timestamp_seconds"] if newest else None,
        newest["peerdb_mirror_last_batch_rows"] if newest else None,
    )


def rows_synced(values: Values) -> float | None:
    return values["peerdb_mirror_rows_synced_total"]


def kind(state: object) -> tuple[type, object]:
    """A state with its type: `str` for a known state, `Unknown` for any other."""
    return (type(state), state)


def test_the_flow_status_series_are_peerdbs_enum_in_wire_order() -> None:
    assert FLOW_STATUSES.values == tuple(FLOW_STATUS[code] for code in sorted(FLOW_STATUS))
    assert set(INSTANCE_STATUSES.values) == set(INSTANCE_STATUS.values())


@pytest.mark.parametrize(("code", "name"), sorted(FLOW_STATUS.items()))
def test_every_flow_status_is_accepted_by_name_and_by_code(code: int, name: str) -> None:
    assert kind(flow_status(name)) == (str, name)
    assert kind(flow_status(code)) == (str, name)
    assert kind(flow_status(str(code))) == (str, name)


@pytest.mark.parametrize(
    ("raw", "label"),
    # "²" is a digit to str.isdigit, but not a number to int(): an unknown value, not a crash.
    [("STATUS_HIBERNATING", "STATUS_HIBERNATING"), (42, "42"), ("²", "_")],
)
def test_an_unknown_flow_status_keeps_its_own_value_and_is_flagged(raw: object, label: str) -> None:
    assert kind(flow_status(raw)) == (Unknown, label)


def test_unknown_status_gets_its_own_series_besides_the_twelve_known() -> None:
    mirror = mirrors_listed({"mirrors": [{"name": "m", "status": 42}]})[0]
    status = families_by_name(build_families(Observation([mirror], {}, {}, [], None)))[
        "peerdb_mirror_status"
    ]
    values = {labels[1]: v for labels, v in status.samples}
    assert values["42"] == 1.0
    assert len(values) == 13
    assert sum(values.values()) == 1.0


def test_a_mirror_in_an_unknown_state_is_broken_in_its_own_words() -> None:
    mirror = mirrors_listed({"mirrors": [{"name": "m", "status": "STATUS_HIBERNATING"}]})[0]
    (broken,) = broken_entities(Observation([mirror], {}, {}, [], None), now=0.0)
    assert (broken.names, broken.state) == ((("mirror", "m"),), "STATUS_HIBERNATING")
    assert type(broken.state) is str


def test_mirror_list_reads_identity_state_and_epoch_millisecond_creation() -> None:
    mirrors = mirrors_listed(fixture("mirrors_list"))
    first = mirrors[0]
    assert [m.name for m in mirrors] == [
        "orders_pg_to_ch",
        "nightly_events_qrep",
        "users_mysql_to_ch",
    ]
    assert (first.status, first.source_peer, first.source_type) == (
        "STATUS_RUNNING",
        "pg_prod",
        "POSTGRES",
    )
    assert first.created == pytest.approx(1741944413.589)
    assert [m.is_cdc for m in mirrors] == [True, False, True]


def test_mirror_status_gives_the_state_with_or_without_flow_info() -> None:
    assert kind(state_of(fixture("mirror_status_cdc_excl"))) == (str, "STATUS_PAUSED")
    assert kind(state_of(fixture("mirror_status_basic"))) == (str, "STATUS_RUNNING")
    assert kind(state_of(fixture("mirror_status_qrep"))) == (str, "STATUS_COMPLETED")


def test_a_list_without_status_leaves_the_state_unknown_not_null() -> None:
    # Releases before v0.36.7 have no `status` in ListMirrorsItem.
    listed = fixture("mirrors_list")
    for item in listed["mirrors"]:
        del item["status"]
    assert {m.status for m in mirrors_listed(listed)} == {None}


def test_newest_completed_batch_is_used_when_the_newest_is_still_running() -> None:
    running = fixture("cdc_batches_running_batch")
    completed = fixture("cdc_batches_limit1")["cdcBatches"][0]
    running["cdcBatches"].append(completed)
    total, end, rows = batch_fields(batches_of(running))
    assert rows == 812.0
    assert end == pytest.approx(1742471944.118942)
    assert total == 9124.0


def test_a_batch_with_an_empty_end_time_counts_as_still_running() -> None:
    running = fixture("cdc_batches_running_batch")
    running["cdcBatches"][0]["endTime"] = ""
    running["cdcBatches"].append(fixture("cdc_batches_limit1")["cdcBatches"][0])
    _total, end, rows = batch_fields(batches_of(running))
    assert rows == 812.0
    assert end == pytest.approx(1742471944.118942)


def test_only_a_running_batch_gives_no_end_time() -> None:
    assert batch_fields(batches_of(fixture("cdc_batches_running_batch"))) == (9124.0, None, None)


def test_a_batch_end_time_that_is_no_timestamp_names_that_batch() -> None:
    payload = {"cdcBatches": [{"endTime": "yesterday", "numRows": "1"}], "total": 1}
    with pytest.raises(SchemaError, match=r"cdc/batches: cdcBatches\[0\]\.endTime: invalid"):
        batches_of(payload)


def test_total_rows_are_int64_strings() -> None:
    assert rows_synced(total_rows(fixture("total_rows_synced"))) == 48213377.0


@pytest.mark.parametrize("count", ["1.5", "many", True, None])
def test_a_row_count_that_is_no_int64_is_refused_by_its_name(count: object) -> None:
    with pytest.raises(SchemaError, match=r"total_rows_synced/m: totalCount: expected int"):
        total_rows({"totalCount": count})


def test_a_row_count_an_answer_leaves_out_is_zero() -> None:
    # protojson leaves out nothing by default, but a zero int64 is "0" or nothing.
    assert rows_synced(total_rows({})) == 0.0


def test_slot_lag_is_converted_from_mebibytes_to_bytes() -> None:
    (slot,) = slots_of("pg_prod", fixture("peer_slots"))
    assert slot.lag_bytes == 18.25 * MIB
    assert (slot.peer, slot.name, slot.active) == ("pg_prod", "peerflow_slot_orders_pg_to_ch", True)


@pytest.mark.parametrize(
    ("raw", "state"),
    [*INSTANCE_STATUS.items(), *((name, name) for name in INSTANCE_STATUS.values())],
)
def test_instance_status_by_name_or_code(raw: object, state: str) -> None:
    assert kind(instance_of({"status": raw})) == (str, state)


def test_old_servers_answering_ok_false_are_errors() -> None:
    with pytest.raises(UpstreamError) as caught:
        state_of({"ok": False, "errorMessage": "flow x not found"})
    assert caught.value.status == 404
    with pytest.raises(UpstreamError) as caught:
        total_rows({"ok": False, "errorMessage": "catalog unavailable"})
    assert caught.value.status == 500


def test_an_ok_false_answer_without_the_fields_a_good_one_requires_says_its_own_error() -> None:
    with pytest.raises(UpstreamError) as caught:
        mirrors_listed({"ok": False, "errorMessage": "catalog unavailable"})
    assert (caught.value.reason, caught.value.status) == ("http_5xx", 500)
    assert str(caught.value) == "GET /api/v1/mirrors/list: catalog unavailable"


def test_an_error_answer_with_the_usual_fields_still_fails_as_an_error() -> None:
    with pytest.raises(UpstreamError, match="mirror not found"):
        batches_of({"ok": False, "errorMessage": "mirror not found", "cdcBatches": []})


def test_a_list_without_its_mirrors_field_is_refused_not_empty() -> None:
    # An inventory that silently lost its list must not make every mirror vanish.
    with pytest.raises(SchemaError, match=r"mirrors/list: object missing required field mirrors"):
        mirrors_listed({})


@pytest.mark.parametrize(
    "payload",
    [[], {"mirrors": {}}, {"mirrors": [{"status": "STATUS_RUNNING"}]}, {"mirrors": ["x"]}],
)
def test_wrong_shapes_are_schema_errors(payload: object) -> None:
    with pytest.raises(SchemaError):
        mirrors_listed(payload)


def test_null_lists_and_messages_are_normal() -> None:
    assert mirrors_listed({"mirrors": None}) == []
    assert batch_fields(batches_of({"cdcBatches": None, "total": 0})) == (0.0, None, None)
    assert slots_of("p", {"slotData": None}) == []


@pytest.mark.parametrize(
    ("raw", "cdc"), [(True, True), ("false", False), (0, False), (None, False)]
)
def test_is_cdc_is_a_boolean_or_its_protojson_spelling(raw: object, cdc: bool) -> None:
    (mirror,) = mirrors_listed({"mirrors": [{"name": "m", "isCdc": raw}]})
    assert mirror.is_cdc is cdc


def test_is_cdc_left_out_is_a_cdc_mirror() -> None:
    (mirror,) = mirrors_listed({"mirrors": [{"name": "m"}]})
    assert mirror.is_cdc is True


@pytest.mark.parametrize(
    ("raw", "label"), [(3, "POSTGRES"), ("CLICKHOUSE", "CLICKHOUSE"), (99, "99")]
)
def test_a_peer_type_is_read_by_name_or_code(raw: object, label: str) -> None:
    (mirror,) = mirrors_listed({"mirrors": [{"name": "m", "sourceType": raw}]})
    assert mirror.source_type == label


# Under 15 minutes after the fixture's newest error row (1742471901.123 s) and over 15 minutes
# after the mirror's older one (1742471800.456 s): one recent error, not two.
LOGS_NOW = 1742472760.0


def _fixture_exposition() -> str:
    mirrors = mirrors_listed(fixture("mirrors_list"))
    seen = Observation(
        mirrors=mirrors,
        rows={"orders_pg_to_ch": total_rows(fixture("total_rows_synced"))},
        batches={"orders_pg_to_ch": batches_of(fixture("cdc_batches_limit1"))},
        slots=slots_of("pg_prod", fixture("peer_slots")),
        instance=instance_of(fixture("instance_info")),
        errors=mirror_errors(log_rows(fixture("mirror_logs")), {m.name for m in mirrors}, LOGS_NOW),
    )
    snapshot = build_snapshot(build_families(seen), (("target", "peerdb-prod"),), 10_000, {}, 0.0)
    return b"".join(snapshot.blocks[name] for name in sorted(snapshot.blocks)).decode()


def test_fixture_set_renders_the_golden_exposition() -> None:
    assert _fixture_exposition() == GOLDEN.read_text()


# The order PeerDB's families have always been built in: a `max_series` cap keeps the first.
FAMILY_ORDER = [
    "peerdb_mirror_status",
    "peerdb_mirror_info",
    "peerdb_mirror_created_timestamp_seconds",
    "peerdb_mirror_rows_synced_total",
    "peerdb_mirror_cdc_batches_total",
    "peerdb_mirror_last_batch_end_timestamp_seconds",
    "peerdb_mirror_last_batch_rows",
    "peerdb_slot_lag_bytes",
    "peerdb_slot_active",
    "peerdb_slot_wal_status",
    "peerdb_slot_safe_wal_size_bytes",
    "peerdb_mirror_last_error_timestamp_seconds",
    "peerdb_mirror_recent_errors",
    "peerdb_instance_status",
]


def test_families_are_built_in_their_order_and_each_is_a_declared_spec() -> None:
    seen = Observation([], {}, {}, [], "INSTANCE_STATUS_READY", {})
    families = build_families(seen)
    assert [f.spec.name for f in families] == FAMILY_ORDER
    assert [f.spec for f in families] == list(SPECS)


def test_an_old_servers_error_text_is_redacted_before_it_is_cut() -> None:
    from dataflow_exporter import known_secrets

    secret = "peer-password-Xk9-0123456789"
    known_secrets.register(secret)
    # The secret straddles the 200-character cut: cut first, its head would survive unmasked.
    text = "x" * 190 + secret
    with pytest.raises(UpstreamError) as caught:
        mirrors_listed({"ok": False, "errorMessage": text})
    assert secret[:10] not in str(caught.value)


@pytest.mark.parametrize("created_ms", [1e300, -1000, "1e300", "nan", "-inf"])
def test_an_absurd_creation_time_is_that_mirrors_error(created_ms: object) -> None:
    listed = [{"name": "ok", "createdAt": 1742471944000}, {"name": "m", "createdAt": created_ms}]
    ok, bad = mirrors_listed({"mirrors": listed})
    assert (ok.created, ok.time_error) == (1742471944.0, "")
    assert bad.created is None
    assert bad.time_error.startswith("mirrors[1].createdAt: time out of range")


def test_an_unchanged_list_item_is_the_mirror_read_from_it_the_poll_before() -> None:
    items = [
        {"name": "a", "status": "STATUS_RUNNING", "createdAt": 1742471944000},
        {"name": "b", "status": "STATUS_RUNNING", "createdAt": 1742471944000},
    ]
    first, last = mirror_list(answer({"mirrors": items}), {})
    items[1]["status"] = "STATUS_PAUSED"
    again, _ = mirror_list(answer({"mirrors": items}), last)
    assert again[0] is first[0]
    assert again[1].status == "STATUS_PAUSED"


def test_a_list_item_whose_time_fails_is_read_again_and_named_by_its_new_place() -> None:
    broken = {"name": "m", "createdAt": 1e300}
    _, last = mirror_list(answer({"mirrors": [{"name": "ok"}, broken]}), {})
    (moved,), _ = mirror_list(answer({"mirrors": [broken]}), last)
    assert moved.time_error.startswith("mirrors[0].createdAt: time out of range")


def test_an_old_servers_error_text_is_scrubbed_before_it_is_cut() -> None:
    # A peer's password the exporter never knew, straddling the 200-character cut.
    text = "x" * 180 + " postgres://etl:Peer-Dsn-Pw-0123@db/app"
    with pytest.raises(UpstreamError) as caught:
        mirrors_listed({"ok": False, "errorMessage": text})
    assert "Peer-Dsn" not in str(caught.value)


# Replication-slot WAL safety (walStatus on every release, safeWalSize from v0.35.3) ----------


def _slot_payload(**fields: object) -> dict[str, Any]:
    return {"slotData": [{"slotName": "peerflow_slot_m", "lagInMb": 1, "active": True, **fields}]}


def _slot(**fields: object) -> Slot:
    (slot,) = slots_of("pg", _slot_payload(**fields))
    return slot


@pytest.mark.parametrize("status", WAL_STATUS)
def test_each_postgres_wal_status_is_one_hot_under_its_own_name(status: str) -> None:
    slot = _slot(walStatus=status)
    family = families_by_name(build_families(Observation([], {}, {}, [slot], None)))
    samples = dict(family["peerdb_slot_wal_status"].samples)
    assert slot.wal_status == status
    assert samples == {("pg", "peerflow_slot_m", s): float(s == status) for s in WAL_STATUS}
    assert WAL_STATUSES.values == WAL_STATUS


@pytest.mark.parametrize(("raw", "kind"), [({"x": 1}, "object"), (["lost"], "array"), (7, "int")])
def test_a_wal_status_that_is_no_string_is_that_slots_schema_error(raw: object, kind: str) -> None:
    expected = rf"peers/slots/pg: slotData\[0\]\.walStatus: expected str \| null, got {kind}$"
    with pytest.raises(SchemaError, match=expected):
        slots_of("pg", _slot_payload(walStatus=raw))


@pytest.mark.parametrize("raw", ["unknown", "", None])
def test_a_wal_status_postgres_cannot_tell_gives_no_series_and_no_unknown_value(
    raw: str | None,
) -> None:
    # PeerDB writes "unknown" before Postgres 13 and "" for NULL (no WAL reserved yet).
    slot = _slot(walStatus=raw)
    family = families_by_name(build_families(Observation([], {}, {}, [slot], None)))
    assert slot.wal_status is None
    assert family["peerdb_slot_wal_status"].samples == []


def test_a_wal_status_outside_postgres_names_is_an_unknown_value() -> None:
    assert isinstance(_slot(walStatus="drained").wal_status, Unknown)


def test_safe_wal_size_is_an_int64_string_in_bytes_and_absent_when_not_sent() -> None:
    assert _slot(safeWalSize="17161068544").safe_wal_bytes == 17161068544.0
    missing = _slot()  # before v0.35.3, or a lost slot
    assert missing.safe_wal_bytes is None
    family = families_by_name(build_families(Observation([], {}, {}, [missing], None)))
    assert family["peerdb_slot_safe_wal_size_bytes"].samples == []


def test_the_mib_conversion_computes_what_its_fast_path_divides_by() -> None:
    # `Row.read` divides a decoded number by 1 / MIB itself (`plain_number`); the conversion,
    # called for anything else, must give the same.
    assert mebibytes(3, "w") == 3 / (1 / MIB) == 3 * MIB
    assert mebibytes("2.5", "w") == 2.5 * MIB


@pytest.mark.parametrize("lag", ["nan", "inf", "-inf", "many"])
def test_a_slot_lag_that_is_no_finite_number_is_that_peers_schema_error(lag: str) -> None:
    with pytest.raises(SchemaError, match=r"peers/slots/pg: slotData\[0\]\.lagInMb: expected"):
        slots_of("pg", _slot_payload(lagInMb=lag))


def test_a_slot_lag_left_out_is_zero_and_a_null_one_gives_no_sample() -> None:
    (left_out,) = slots_of("pg", {"slotData": [{"slotName": "peerflow_slot_a"}]})
    (null,) = slots_of("pg", {"slotData": [{"slotName": "peerflow_slot_b", "lagInMb": None}]})
    family = families_by_name(build_families(Observation([], {}, {}, [left_out, null], None)))
    assert family["peerdb_slot_lag_bytes"].samples == [(("pg", "peerflow_slot_a"), 0.0)]
    assert (left_out.active, null.lag_bytes) == (False, None)


# Mirror errors (mirrors/logs) -----------------------------------------------------------------


def test_mirror_log_rows_are_read_with_their_time_in_seconds() -> None:
    rows = log_rows(fixture("mirror_logs"))
    assert [(r.id, r.mirror, r.time) for r in rows] == [
        (412, "orders_pg_to_ch", 1742471901.123),
        (411, "orders_pg_to_ch_v2", 1742471890.0),
        (407, "orders_pg_to_ch", 1742471800.456),
    ]
    assert rows[0].message.endswith("Memory limit (total) exceeded")


def test_a_mirrors_errors_are_only_rows_of_exactly_its_name() -> None:
    rows = log_rows(fixture("mirror_logs"))
    found = mirror_errors(rows, {"orders_pg_to_ch", "orders"}, LOGS_NOW + 10_000)
    assert set(found) == {"orders_pg_to_ch"}, "PeerDB's own filter is a substring match"
    assert found["orders_pg_to_ch"].last.id == 412


def test_warnings_a_server_returned_anyway_are_not_errors() -> None:
    payload = {
        "errors": [
            {
                "flowName": "m",
                "errorMessage": "slow",
                "errorType": "warn",
                "errorTimestamp": 1e12,
                "id": 1,
            }
        ],
        "total": 1,
    }
    assert mirror_errors(log_rows(payload), {"m"}, 1e9) == {}


def test_recent_errors_count_rows_up_to_exactly_the_window() -> None:
    payload = {
        "errors": [
            {
                "flowName": "m",
                "errorMessage": "x",
                "errorType": "error",
                "errorTimestamp": 1_000_000_000_000,
                "id": 1,
            }
        ],
        "total": 1,
    }
    rows = log_rows(payload)
    at_edge = mirror_errors(rows, {"m"}, 1_000_000_000.0 + 900)
    past = mirror_errors(rows, {"m"}, 1_000_000_000.0 + 901)
    assert (at_edge["m"].recent, past["m"].recent) == (1, 0)


def test_a_mirror_log_time_outside_1970_to_9999_is_a_schema_error() -> None:
    payload = {
        "errors": [
            {
                "flowName": "m",
                "errorMessage": "x",
                "errorType": "error",
                "errorTimestamp": -5,
                "id": 1,
            }
        ],
        "total": 1,
    }
    with pytest.raises(UpstreamError):
        log_rows(payload)


def test_a_batches_answer_is_told_apart_by_its_bytes() -> None:
    body = b'{"total":"3","cdcBatches":[{"numRows":"1"}]}'
    assert content_digest(body) == content_digest(bytes(body))
    assert content_digest(body) != content_digest(body.replace(b'"1"', b'"2"'))
    # Another build's spacing reads as a change: one more rows call, never a stale value.
    assert content_digest(body) != content_digest(body.replace(b",", b", "))


def test_a_short_answer_is_its_own_digest_and_a_longer_one_is_hashed() -> None:
    short = b"x" * DIGEST_FROM_BYTES
    assert content_digest(short) == short
    long = short + b"y"
    assert len(content_digest(long)) == 16
    assert content_digest(long) != content_digest(short + b"z")  # the end counts too


@pytest.mark.parametrize(
    "odd",
    [b'"\\ud800"', b"1e400", b"1" + b"0" * 400, b'"\xff"'],
    ids=["surrogate", "1e400", "big", "utf8"],
)
def test_a_batches_answer_with_odd_json_where_no_shape_reads_is_read(odd: bytes) -> None:
    body = b'{"total":"3","cdcBatches":[],"running":' + odd + b"}"
    assert read_batches(Answer(body, "POST /api/v1/mirrors/cdc/batches")).count.values == (3.0,)


def test_the_shapes_refusal_is_reported_not_the_error_envelopes() -> None:
    body = b'{"slotData":[{"slotName":5}],"ok":"maybe"}'
    with pytest.raises(SchemaError, match=r"slotData\[0\]\.slotName: expected str"):
        read_slots("pg", Answer(body, "GET /api/v1/peers/slots/pg"))


@pytest.mark.parametrize("written", [b'"1' + b"0" * 400 + b'"', b"1" + b"0" * 30])
def test_a_count_beyond_int64_is_the_fields_schema_error_not_an_overflow(written: bytes) -> None:
    body = b'{"totalCount":' + written + b"}"
    with pytest.raises(SchemaError, match=r"^GET /t: totalCount: expected int <= "):
        read_total_rows(Answer(body, "GET /t"))


def test_an_instance_status_of_null_is_unknown() -> None:
    assert read_instance(Answer(b'{"status":null}', "GET /i")) == "INSTANCE_STATUS_UNKNOWN"


def test_a_flow_status_code_beyond_int64_is_refused() -> None:
    body = b'{"mirrors":[{"name":"m","status":' + b"9" * 30 + b"}]}"
    with pytest.raises(SchemaError, match=r"mirrors\[0\]\.status"):
        read_mirror_list(Answer(body, "GET /api/v1/mirrors/list"))
