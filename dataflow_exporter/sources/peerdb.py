"""PeerDB CDC mirrors: state, identity, row counters, newest batch, errors and replication slots.

API facts: PeerDB's HTTP API is grpc-gateway (protojson: int64 as strings, enums by name, unset
messages null, unset oneofs and proto3 `optional` fields omitted), reached through the UI's
`/api/v1/...` proxy, Basic auth with an empty username. flow-api's own gateway (:8113) serves
the same API under `/v1/...` (with its own OAuth bearer token when configured); the exporter
does not read it, and a `url` on :8113 or an inventory answering the gateway's routing 404
says so (`PEERDB_URL_HINT`).

Inventory: `GET mirrors/list` (every supported release; an explicit `mirrors:` list selects from
it, so both modes give one mirror the same series). It carries each mirror's state from v0.36.7
(`ListMirrorsItem.status`); before that the state is a detail call per mirror, `POST
mirrors/status` without `includeFlowInfo` (which would query Temporal and can fail alone).

Details, each failing alone: `GET mirrors/total_rows_synced/{m}` (from v0.30.7; older releases
answer the gateway's routing 404, so the capability is learned missing instead of the mirror
looking dropped), `POST mirrors/cdc/batches` (from v0.19.0), `GET peers/slots/{peer}`
(FailedPrecondition 400 `{"code":9}` from v0.34.0, Unknown 500 `{"code":2}` before, when PeerDB
cannot reach that source database; `walStatus` on every release, `safeWalSize` from v0.35.3),
`GET instance/info` (from v0.19.1), and one fleet-wide `POST mirrors/logs` (from v0.15.2; see
`MirrorErrors`). `peerdbManagedOnly` is honoured from v0.36.10; releases without the list's `status`
return every slot of the database, so only PeerDB's own (`peerflow_slot_*`) are kept there.
Only `mirrors/status` means "dropped" by a 404 (`flow X not found`); `total_rows_synced` and
`cdc/batches` answer 200 with zeros for an unknown mirror on current releases. A route the
release lacks is the gateway's own `404 {"code":5,"message":"Not Found"}`, naming no mirror
(`route_missing`); any other 404 (a proxy that does not route one name) fails that mirror's
detail alone, unless most mirrors get it at once.

Reading: each answer has one typed shape (`MirrorList`, `CdcBatches`, `PeerSlots`, ...), decoded
and checked in one pass by `sources.typed.Decoder`, which reads protojson's int64 strings as
numbers and names a refused field in PeerDB's words. A plain field is one line on its shape,
`num_rows: Annotated[Integer | None, Plain(LAST_BATCH_ROWS)] = None`, and the shape's `Metrics`
table adds its samples; state sets, the info metric, the creation time (a broken one fails only
its mirror) and the error-log metrics are written out below.

Sample exposition::

    peerdb_mirror_status{target="pg",mirror="orders",status="STATUS_RUNNING"} 1.0
    peerdb_mirror_status{target="pg",mirror="orders",status="STATUS_PAUSED"} 0.0
    peerdb_mirror_info{target="pg",mirror="orders",source_peer="pg_prod",source_type="POSTGRES",
        destination_peer="ch",destination_type="CLICKHOUSE",cdc="true"} 1.0
    peerdb_mirror_rows_synced_total{target="pg",mirror="orders"} 4.8213377e+07
    peerdb_mirror_last_batch_end_timestamp_seconds{target="pg",mirror="orders"} 1.742471944e+09
    peerdb_slot_lag_bytes{target="pg",peer="pg_prod",slot="peerflow_slot_orders"} 1.9136512e+07
    peerdb_slot_wal_status{target="pg",peer="pg_prod",slot="peerflow_slot_orders",status="lost"} 0.0
    peerdb_slot_safe_wal_size_bytes{target="pg",peer="pg_prod",slot="peerflow_slot_orders"} 1.6e+10
    peerdb_mirror_last_error_timestamp_seconds{target="pg",mirror="orders"} 1.742471901e+09
    peerdb_mirror_recent_errors{target="pg",mirror="orders"} 3.0
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import urllib.parse
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, TypeVar

import msgspec
import msgspec.structs
from pydantic import FilePath, SecretStr, field_validator, model_validator

from dataflow_exporter import credential_text, thresholds
from dataflow_exporter.auth import Auth, BasicAuth, SecretReader
from dataflow_exporter.config_models import Filter, TargetConfig, not_both
from dataflow_exporter.errors import Reason, SchemaError, UpstreamError
from dataflow_exporter.families import (
    Family,
    LabelMemo,
    LabelValues,
    MetricSpec,
    State,
    StateSet,
    Unknown,
)
from dataflow_exporter.sources.base import (
    GONE,
    AnswerMemo,
    BrokenEntity,
    DetailFailure,
    Details,
    PollResult,
    Source,
    api_path,
    entity_time,
    fan_out,
    not_found,
    selector,
    unix_time,
)
from dataflow_exporter.sources.fields import (
    Metrics,
    Plain,
    Values,
    as_is,
    flag,
    plain_number,
    rfc3339,
)
from dataflow_exporter.sources.typed import Decoder, Finite, Integer
from dataflow_exporter.thresholds import AlertSettings
from dataflow_exporter.upstream import Answer, UpstreamClient

API = "/api/v1"
MIB = 1024 * 1024
# Slots PeerDB creates under its default name; a custom `replicationSlotName` has any name.
DEFAULT_SLOT_PREFIX = "peerflow_slot_"
GRPC_NOT_FOUND = 5  # google.rpc.Code NOT_FOUND
# What a `url` must point at, for errors that suggest it points elsewhere (flow-api's gateway
# serves `/v1/...`, not the UI's `/api/v1/...`, and checks its own OAuth token).
PEERDB_URL_HINT = (
    "set url to the PeerDB UI (port 3000 by default, which proxies /api/v1 to flow-api), "
    "not flow-api's HTTP gateway (port 8113), which serves /v1 only and checks its own "
    "OAuth token when one is set"
)
FLOW_API_PORT = 8113
# `mirrors/logs` pages: the newest MIRROR_LOG_PAGES * MIRROR_LOG_PAGE_ROWS error rows of the
# whole fleet per poll, newest first, each page after the first asked for by `beforeId`.
MIRROR_LOG_PAGE_ROWS = 100
MIRROR_LOG_PAGES = 3
# `peerdb_mirror_recent_errors` counts the error rows read that are younger than this.
RECENT_ERRORS_SECONDS = 900.0
# A batches answer longer than this is remembered by a digest, a shorter one as it is (the
# answer of two batches PeerDB gives is about 350 bytes).
DIGEST_FROM_BYTES = 1024
# A remembered error text is kept to this length: the status page scrubs and shows less.
MAX_ERROR_TEXT = 16384

FLOW_STATUSES = StateSet(
    (
        "STATUS_UNKNOWN",
        "STATUS_RUNNING",
        "STATUS_PAUSED",
        "STATUS_PAUSING",
        "STATUS_SETUP",
        "STATUS_SNAPSHOT",
        "STATUS_TERMINATING",
        "STATUS_TERMINATED",
        "STATUS_COMPLETED",
        "STATUS_RESYNC",
        "STATUS_FAILED",
        "STATUS_MODIFYING",
    )
)
# pg_replication_slots.wal_status (Postgres 13+), as PeerDB passes it on in `SlotInfo.walStatus`.
WAL_STATUSES = StateSet(("reserved", "extended", "unreserved", "lost"))
# What PeerDB writes for a slot whose WAL state Postgres cannot tell: its own "unknown" on
# Postgres before 13, "" where Postgres has NULL (a slot that has reserved no WAL yet).
NO_WAL_STATUS = frozenset({"", "unknown"})
INSTANCE_STATUSES = StateSet(
    ("INSTANCE_STATUS_UNKNOWN", "INSTANCE_STATUS_READY", "INSTANCE_STATUS_MAINTENANCE")
)
_INSTANCE_CODES = {
    0: "INSTANCE_STATUS_UNKNOWN",
    1: "INSTANCE_STATUS_READY",
    3: "INSTANCE_STATUS_MAINTENANCE",
}
DB_TYPES = {
    -1: "DBTYPE_UNKNOWN",
    0: "BIGQUERY",
    1: "SNOWFLAKE",
    2: "MONGO",
    3: "POSTGRES",
    5: "S3",
    6: "SQLSERVER",
    7: "MYSQL",
    8: "CLICKHOUSE",
    9: "KAFKA",
    10: "PUBSUB",
    11: "EVENTHUBS",
    12: "ELASTICSEARCH",
    13: "COCKROACHDB",
}

MIRROR_STATUS = MetricSpec(
    "peerdb_mirror_status",
    "gauge",
    "Mirror state (polled): 1 for the current FlowStatus, 0 for the others.",
    ("mirror", "status"),
)
MIRROR_INFO = MetricSpec(
    "peerdb_mirror_info",
    "info",
    "Mirror identity (polled): source and destination peers and types, CDC or query replication.",
    ("mirror", "source_peer", "source_type", "destination_peer", "destination_type", "cdc"),
)
MIRROR_CREATED = MetricSpec(
    "peerdb_mirror_created_timestamp_seconds",
    "gauge",
    "When the mirror was created (polled), Unix time.",
    ("mirror",),
)
MIRROR_ROWS_SYNCED = MetricSpec(
    "peerdb_mirror_rows_synced_total",
    "counter",
    "Rows synced by the mirror, initial load and CDC (polled).",
    ("mirror",),
)
MIRROR_BATCHES = MetricSpec(
    "peerdb_mirror_cdc_batches_total",
    "counter",
    "CDC batches the mirror has started (polled).",
    ("mirror",),
)
LAST_BATCH_END = MetricSpec(
    "peerdb_mirror_last_batch_end_timestamp_seconds",
    "gauge",
    "End time of the newest completed CDC batch (polled), Unix time: the mirror's freshness.",
    ("mirror",),
)
LAST_BATCH_ROWS = MetricSpec(
    "peerdb_mirror_last_batch_rows",
    "gauge",
    "Rows in the newest completed CDC batch (polled).",
    ("mirror",),
)
SLOT_LAG = MetricSpec(
    "peerdb_slot_lag_bytes",
    "gauge",
    "Replication slot lag on a Postgres source peer (polled; reported in MiB, exported in bytes).",
    ("peer", "slot"),
)
SLOT_ACTIVE = MetricSpec(
    "peerdb_slot_active",
    "gauge",
    "1 if the replication slot has an active consumer (polled).",
    ("peer", "slot"),
)
SLOT_WAL_STATUS = MetricSpec(
    "peerdb_slot_wal_status",
    "gauge",
    "Replication slot WAL state (polled, Postgres' wal_status): 1 for the current one. "
    "unreserved: past max_slot_wal_keep_size; lost: its WAL is gone and the mirror with it.",
    ("peer", "slot", "status"),
)
SLOT_SAFE_WAL = MetricSpec(
    "peerdb_slot_safe_wal_size_bytes",
    "gauge",
    "WAL that can still be written before the replication slot is lost (polled, Postgres' "
    "safe_wal_size; PeerDB v0.35.3+, absent without max_slot_wal_keep_size).",
    ("peer", "slot"),
)
MIRROR_LAST_ERROR = MetricSpec(
    "peerdb_mirror_last_error_timestamp_seconds",
    "gauge",
    "When PeerDB last logged an error for the mirror (polled from mirrors/logs, the newest "
    f"{MIRROR_LOG_PAGES * MIRROR_LOG_PAGE_ROWS} error rows of the instance), Unix time.",
    ("mirror",),
)
MIRROR_RECENT_ERRORS = MetricSpec(
    "peerdb_mirror_recent_errors",
    "gauge",
    f"Errors PeerDB logged for the mirror in the last {RECENT_ERRORS_SECONDS / 60:.0f} minutes "
    f"(polled, among the newest {MIRROR_LOG_PAGES * MIRROR_LOG_PAGE_ROWS} error rows).",
    ("mirror",),
)
INSTANCE_STATUS = MetricSpec(
    "peerdb_instance_status",
    "gauge",
    "PeerDB instance state (polled): 1 for the current one; MAINTENANCE during upgrades.",
    ("status",),
)


class PeerDBTarget(TargetConfig):
    """`system: peerdb`: the PeerDB UI's URL and the UI password, if one is set."""

    api_paths = ("/api/v1",)

    system: Literal["peerdb"]
    password: SecretStr | None = None
    password_file: FilePath | None = None
    mirrors: Filter | tuple[str, ...] = Filter()
    rows_synced: bool = True
    cdc_batches: bool = True
    slots: bool = True
    mirror_errors: bool = True

    @field_validator("url")
    @classmethod
    def _not_flow_api(cls, url: str) -> str:
        try:
            port = urllib.parse.urlsplit(url).port
        except ValueError:
            return url  # the shared URL check names what is wrong with it
        if port == FLOW_API_PORT:
            raise ValueError(f"port {FLOW_API_PORT} is PeerDB's flow-api: {PEERDB_URL_HINT}")
        return url

    @model_validator(mode="before")
    @classmethod
    def _one_password(cls, data: Any) -> Any:
        return not_both(data, "password", "password_file")


# ---------------------------------------------------------------------------------------------
# Answers: one typed shape each, decoded and checked in one pass (`sources.typed.Decoder`)


@plain_number(1 / MIB)  # a power of two: dividing by its inverse is multiplying, exactly
def mebibytes(value: Any, what: str) -> float:
    """MiB (PeerDB's `lagInMb`), exported in bytes."""
    return as_is(value, what) * MIB


class _Answer(msgspec.Struct, gc=False, kw_only=True, rename="camel"):
    """What any PeerDB answer may say besides its own fields: servers before v0.18.3 answer
    an error as 200 with `ok: false` and `errorMessage`."""

    ok: bool | None = None
    error_message: str | None = None


class ListedMirror(msgspec.Struct, frozen=True, gc=False, rename="camel"):
    """One `ListMirrorsItem` of `mirrors/list` (hashable: the last poll's are remembered)."""

    name: str
    status: str | Integer | None = None  # FlowStatus, by name or code; absent before v0.36.7
    created_at: float | None = None  # epoch ms; a broken one fails only its mirror (`Mirror`)
    source_name: str | None = None
    source_type: str | Integer | None = None  # DBType, by name or code
    destination_name: str | None = None
    destination_type: str | Integer | None = None
    is_cdc: bool | None = True


class MirrorList(_Answer):
    """`GET mirrors/list`."""

    mirrors: list[ListedMirror] | None


class MirrorStatus(_Answer):
    """`POST mirrors/status` without `includeFlowInfo`."""

    current_flow_state: str | Integer | None = None


class TotalRows(_Answer):
    """`GET mirrors/total_rows_synced/{mirror}`: rows synced, initial load and CDC."""

    total_count: Annotated[Integer, Plain(MIRROR_ROWS_SYNCED)] = 0


class CdcBatch(msgspec.Struct, gc=False, rename="camel"):
    """One `CDCBatch`; a batch still running has no `endTime` (null)."""

    end_time: Annotated[str | None, Plain(LAST_BATCH_END, rfc3339)] = None
    num_rows: Annotated[Integer | None, Plain(LAST_BATCH_ROWS)] = None


class CdcBatches(_Answer):
    """`POST mirrors/cdc/batches`, newest first."""

    cdc_batches: list[CdcBatch] | None
    total: Annotated[Integer | None, Plain(MIRROR_BATCHES)] = None


class SlotInfo(msgspec.Struct, gc=False, rename="camel"):
    """One `SlotInfo` of `peers/slots/{peer}`."""

    slot_name: str
    lag_in_mb: Annotated[Finite | None, Plain(SLOT_LAG, mebibytes)] = 0.0
    active: Annotated[bool, Plain(SLOT_ACTIVE, flag)] = False
    wal_status: str | None = None  # Postgres' wal_status, a state set (`wal_status`)
    safe_wal_size: Annotated[Integer | None, Plain(SLOT_SAFE_WAL)] = None  # from v0.35.3


class PeerSlots(_Answer):
    """`GET peers/slots/{peer}`."""

    slot_data: list[SlotInfo] | None


class LogRow(msgspec.Struct, gc=False, rename="camel"):
    """One `MirrorLog` of `mirrors/logs`."""

    flow_name: str
    error_timestamp: float  # epoch ms
    id: int = 0
    error_message: str | None = None
    error_type: str = "error"


class MirrorLogs(_Answer):
    """`POST mirrors/logs`."""

    errors: list[LogRow] | None


class InstanceInfo(msgspec.Struct, gc=False):
    """`GET instance/info` (no `ok` there: it is newer than v0.18.3)."""

    status: str | Integer | None = None  # null or absent: unknown


# The plain fields of each answer, as metric tables (`sources.fields`), in family order.
ROWS_METRICS = Metrics(TotalRows)
BATCHES_METRICS = Metrics(CdcBatches)
NEWEST_BATCH_METRICS = Metrics(CdcBatch)
SLOT_METRICS = Metrics(SlotInfo, SLOT_WAL_STATUS)
_LAG_AT = SLOT_METRICS.position(SLOT_LAG.name)
_ACTIVE_AT = SLOT_METRICS.position(SLOT_ACTIVE.name)
_SAFE_WAL_AT = SLOT_METRICS.position(SLOT_SAFE_WAL.name)
# The slot families in the order they have always been exported (a `max_series` cap drops
# families from the end): the WAL state after the lag and activity, any other field after it.
_FIRST_SLOT_FAMILIES = (SLOT_LAG, SLOT_ACTIVE, SLOT_WAL_STATUS)
SLOT_FAMILIES = (
    *_FIRST_SLOT_FAMILIES,
    *(spec for spec in SLOT_METRICS.specs if spec not in _FIRST_SLOT_FAMILIES),
)
SPECS = (
    MIRROR_STATUS,
    MIRROR_INFO,
    MIRROR_CREATED,
    *ROWS_METRICS.specs,
    *BATCHES_METRICS.specs,
    *NEWEST_BATCH_METRICS.specs,
    *SLOT_FAMILIES,
    MIRROR_LAST_ERROR,
    MIRROR_RECENT_ERRORS,
    INSTANCE_STATUS,
)


# ---------------------------------------------------------------------------------------------
# Records and pure readers


class Mirror(msgspec.Struct, frozen=True, gc=False):
    """One mirror's identity and state (None: the list of this release does not carry it)."""

    name: str
    status: State | None
    source_peer: str = ""
    source_type: str = ""
    destination_peer: str = ""
    destination_type: str = ""
    created: float | None = None
    time_error: str = ""  # why `createdAt` was refused; the mirror's schema failure
    is_cdc: bool = True


class Batch(msgspec.Struct, frozen=True, gc=False):
    """What `cdc/batches` says of a mirror: its batch count (`BATCHES_METRICS`), and its newest
    completed batch (`NEWEST_BATCH_METRICS`; None while none has ended). A struct the collector
    does not track: one is read per mirror every poll."""

    count: Values
    newest: Values | None

    @property
    def end_time(self) -> float | None:
        """When the newest completed batch ended, Unix time."""
        return None if self.newest is None else self.newest[LAST_BATCH_END.name]


class Slot(msgspec.Struct, frozen=True, gc=False):
    """One replication slot on a source peer: its `SLOT_METRICS` and its WAL state (None:
    the release or Postgres does not say). Untracked by the collector, as `Batch` is."""

    peer: str
    name: str
    values: Values
    wal_status: State | None = None

    # By position, not by name: read for every slot of every poll (`broken_entities`).
    @property
    def lag_bytes(self) -> float | None:
        return self.values.values[_LAG_AT]

    @property
    def active(self) -> bool:
        return self.values.values[_ACTIVE_AT] == 1.0

    @property
    def safe_wal_bytes(self) -> float | None:
        return self.values.values[_SAFE_WAL_AT]


class MirrorError(msgspec.Struct, frozen=True, gc=False):
    """One error row of `mirrors/logs`."""

    id: int
    mirror: str
    time: float
    message: str
    level: str = "error"


class MirrorErrors(msgspec.Struct, frozen=True, gc=False):
    """What the error log says of one mirror: its newest error and how many are recent."""

    last: MirrorError
    recent: int


def flow_status(value: Any) -> State:
    """A FlowStatus given by name or numeric code -> its name, or `Unknown`."""
    if isinstance(value, int) and not isinstance(value, bool):
        if 0 <= value < len(FLOW_STATUSES.values):
            return FLOW_STATUSES.values[value]
        return FLOW_STATUSES.normalise(value)
    if isinstance(value, str) and value.strip().isdecimal():  # not isdigit: "²" is a digit
        return flow_status(int(value.strip()))
    return FLOW_STATUSES.normalise(value)


def _db_type(value: str | int | None) -> str:
    if isinstance(value, int):
        return DB_TYPES.get(value, str(value))
    return value or ""


def check_ok(answer: _Answer, what: str) -> None:
    """Servers before v0.18.3 answer errors as 200 with `ok: false` and `errorMessage`."""
    if answer.ok is False:
        # Scrubbed before it is cut: a cut credential would no longer be recognised.
        message = credential_text.shorten(answer.error_message or "request failed", 200)
        status = 404 if "not found" in message.lower() else 500
        reason = Reason.HTTP_4XX if status == 404 else Reason.HTTP_5XX
        raise UpstreamError(reason, f"{what}: {message}", status=status)


def content_digest(body: bytes) -> bytes:
    """What tells an answer from the last poll's: its bytes themselves while short (comparing
    a few hundred bytes costs less than hashing them), else a digest of them. protojson's
    spacing is fixed per flow-api binary (protobuf-go's `detrand` is seeded by the binary),
    so one server writes the same content as the same bytes; an upgraded server's other
    spacing reads as a change, which costs a call, never a stale value."""
    if len(body) <= DIGEST_FROM_BYTES:
        return body
    return hashlib.blake2b(body, digest_size=16).digest()


A = TypeVar("A", bound=_Answer)

_ERROR_ANSWER = Decoder(_Answer)


def _decoded(decoder: Decoder[A], answer: Answer) -> A:
    """`answer` as its shape, or the error an old server's `ok: false` answer reports (such an
    answer lacks the fields the shape requires)."""
    try:
        decoded = decoder.answer(answer)
    except SchemaError as refused:
        try:
            error = _ERROR_ANSWER.answer(answer)
        except SchemaError:
            raise refused from None  # the shape's refusal names the field, not the envelope's
        check_ok(error, answer.what)
        raise refused from None
    if decoded.ok is False:
        check_ok(decoded, answer.what)
    return decoded


_MIRROR_LIST = Decoder(MirrorList)
_MIRROR_STATUS = Decoder(MirrorStatus)
_TOTAL_ROWS = Decoder(TotalRows)
_CDC_BATCHES = Decoder(CdcBatches)
_PEER_SLOTS = Decoder(PeerSlots)
_MIRROR_LOGS = Decoder(MirrorLogs)
_INSTANCE_INFO = Decoder(InstanceInfo)


def read_mirror_list(answer: Answer) -> list[Mirror]:
    """`GET mirrors/list` -> mirrors (createdAt is epoch milliseconds here)."""
    return mirror_list(answer, {})[0]


def mirror_list(
    answer: Answer, last: Mapping[ListedMirror, Mirror]
) -> tuple[list[Mirror], dict[ListedMirror, Mirror]]:
    """`read_mirror_list`, where an item equal to one of the last poll's (`last`, by item)
    is the mirror read from it then; and this poll's mirrors by item, for the next poll. A
    mirror whose item fails its own field is read again: its error names its place."""
    items = _decoded(_MIRROR_LIST, answer).mirrors or ()
    get = last.get
    mirrors = [get(item) or _listed_mirror(item, f"mirrors[{i}]") for i, item in enumerate(items)]
    return mirrors, {item: m for item, m in zip(items, mirrors, strict=True) if not m.time_error}


def _listed_mirror(item: ListedMirror, what: str) -> Mirror:
    created_ms = item.created_at
    created_at, time_error = entity_time(
        lambda: unix_time(created_ms / 1000.0, f"{what}.createdAt") if created_ms else None
    )
    return Mirror(
        name=item.name,
        status=None if item.status is None else flow_status(item.status),
        source_peer=item.source_name or "",
        source_type=_db_type(item.source_type),
        destination_peer=item.destination_name or "",
        destination_type=_db_type(item.destination_type),
        created=created_at,
        is_cdc=bool(item.is_cdc),
        time_error=time_error,
    )


def read_mirror_state(answer: Answer) -> State:
    """`POST mirrors/status` (without flow info) -> the mirror's FlowStatus."""
    return flow_status(_decoded(_MIRROR_STATUS, answer).current_flow_state)


def read_total_rows(answer: Answer) -> Values:
    """`GET mirrors/total_rows_synced/{name}` -> `ROWS_METRICS`."""
    return ROWS_METRICS.read(_decoded(_TOTAL_ROWS, answer), answer.what)


def read_batches(answer: Answer) -> Batch:
    """`POST cdc/batches` (newest first) -> the batch count and the newest batch that has
    ended."""
    return batch_of(_decoded(_CDC_BATCHES, answer), answer.what)


def batch_of(page: CdcBatches, where: str) -> Batch:
    """A `cdc/batches` answer's count and newest completed batch (`where`: the answer)."""
    count = BATCHES_METRICS.read(page, where)
    for i, batch in enumerate(page.cdc_batches or ()):
        # A batch still running has no end (null, or empty as absent): its table would read
        # none, and nothing in it could fail, so it is not read.
        if batch.end_time:
            return Batch(count, NEWEST_BATCH_METRICS.read(batch, f"{where}: cdcBatches[{i}]"))
    return Batch(count, None)


def wal_status(value: str | None) -> State | None:
    """`walStatus` -> Postgres' name, `Unknown`, or None where Postgres cannot tell."""
    if value is None or value in NO_WAL_STATUS:
        return None
    return WAL_STATUSES.normalise(value)


def read_slots(peer: str, answer: Answer) -> list[Slot]:
    """`GET peers/slots/{peer}` -> slots; `lagInMb` is MiB, exported as bytes."""
    return [
        slot_of(peer, slot, f"{answer.what}: slotData[{i}]")
        for i, slot in enumerate(_decoded(_PEER_SLOTS, answer).slot_data or ())
    ]


def slot_of(peer: str, slot: SlotInfo, where: str) -> Slot:
    """One slot of `peer` (`where`: the slot in its answer)."""
    return Slot(peer, slot.slot_name, SLOT_METRICS.read(slot, where), wal_status(slot.wal_status))


def read_mirror_logs(answer: Answer) -> list[MirrorError]:
    """`POST mirrors/logs` -> its error rows, newest first (`errorTimestamp` is epoch ms)."""
    return [
        MirrorError(
            row.id,
            row.flow_name,
            unix_time(row.error_timestamp / 1000.0, f"{answer.what}: errors[{i}].errorTimestamp"),
            (row.error_message or "")[:MAX_ERROR_TEXT],
            row.error_type,
        )
        for i, row in enumerate(_decoded(_MIRROR_LOGS, answer).errors or ())
    ]


def mirror_errors(
    rows: list[MirrorError], mirrors: set[str], now: float
) -> dict[str, MirrorErrors]:
    """Each listed mirror's newest error and recent count. `flowName` must equal the mirror's
    name: PeerDB's own mirror filter is a substring match (`position($1 in flow_name)`)."""
    newest: dict[str, MirrorError] = {}
    recent: dict[str, int] = {}
    for row in rows:
        # The request asks for level "error"; a server that ignored it must not count warnings.
        if row.mirror not in mirrors or row.level != "error":
            continue
        if row.mirror not in newest or row.time > newest[row.mirror].time:
            newest[row.mirror] = row
        if now - row.time <= RECENT_ERRORS_SECONDS:
            recent[row.mirror] = recent.get(row.mirror, 0) + 1
    return {name: MirrorErrors(last, recent.get(name, 0)) for name, last in newest.items()}


def read_instance(answer: Answer) -> State:
    """`GET instance/info` -> the instance status."""
    value = _INSTANCE_INFO.answer(answer).status
    if value is None:
        return INSTANCE_STATUSES.normalise("INSTANCE_STATUS_UNKNOWN")
    if isinstance(value, int):
        return INSTANCE_STATUSES.normalise(_INSTANCE_CODES.get(value, value))
    return INSTANCE_STATUSES.normalise(value)


# ---------------------------------------------------------------------------------------------
# Records -> families (pure)


@dataclass(slots=True)
class Observation:
    """Everything one poll read, ready to become families."""

    mirrors: list[Mirror]
    rows: dict[str, Values]
    batches: dict[str, Batch]
    slots: list[Slot]
    instance: str | None
    # Each mirror's errors from `mirrors/logs`; None when the poll did not read them.
    errors: dict[str, MirrorErrors] | None = None


def build_families(seen: Observation, memo: LabelMemo | None = None) -> list[Family]:
    """Translate one poll's records into PeerDB families (`memo`: the source's label sets of
    its last poll, `StateSet.one_hot_many`)."""
    # Family by family over the whole fleet, each in a few C-level passes: tens of thousands
    # of mirrors, where a call per mirror and family cost most of the translation.
    mirrors = seen.mirrors
    labels: list[LabelValues] = [(m.name,) for m in mirrors]
    status = Family(MIRROR_STATUS)
    stated = [m.status is not None for m in mirrors]
    FLOW_STATUSES.one_hot_many(
        status,
        list(itertools.compress(labels, stated)),
        [m.status for m in mirrors if m.status is not None],
        memo,
    )
    info = Family(MIRROR_INFO)
    info.keys = [
        (
            m.name,
            m.source_peer,
            m.source_type,
            m.destination_peer,
            m.destination_type,
            "true" if m.is_cdc else "false",
        )
        for m in mirrors
    ]
    info.values = [1.0] * len(mirrors)
    created = Family(MIRROR_CREATED)
    dated = [m.created is not None for m in mirrors]
    created.keys = list(itertools.compress(labels, dated))
    created.values = [m.created for m in mirrors if m.created is not None]
    rows = ROWS_METRICS.families()
    synced = [seen.rows.get(m.name) for m in mirrors]
    counted = [values is not None for values in synced]
    rows.add_many(list(itertools.compress(labels, counted)), [v for v in synced if v is not None])
    batches = BATCHES_METRICS.families()
    newest = NEWEST_BATCH_METRICS.families()
    read = [seen.batches.get(m.name) for m in mirrors]
    batched = [batch is not None for batch in read]
    found = [batch for batch in read if batch is not None]
    batches.add_many(list(itertools.compress(labels, batched)), [b.count for b in found])
    completed = [b is not None and b.newest is not None for b in read]
    newest.add_many(
        list(itertools.compress(labels, completed)),
        [b.newest for b in read if b is not None and b.newest is not None],
    )
    slots = SLOT_METRICS.families()
    slot_labels = [(slot.peer, slot.name) for slot in seen.slots]
    slots.add_many(slot_labels, [slot.values for slot in seen.slots])
    told = [slot.wal_status is not None for slot in seen.slots]
    WAL_STATUSES.one_hot_many(
        slots[SLOT_WAL_STATUS],
        list(itertools.compress(slot_labels, told)),
        [slot.wal_status for slot in seen.slots if slot.wal_status is not None],
        memo,
    )
    last_error = Family(MIRROR_LAST_ERROR)
    recent = Family(MIRROR_RECENT_ERRORS)
    if seen.errors is not None:
        errors = [seen.errors.get(m.name) for m in mirrors]
        recent.keys = labels.copy()
        recent.values = [0.0 if e is None else float(e.recent) for e in errors]
        erring = [e is not None for e in errors]
        last_error.keys = list(itertools.compress(labels, erring))
        last_error.values = [e.last.time for e in errors if e is not None]
    families = [status, info, created, *rows.all(), *batches.all(), *newest.all()]
    families += [slots[spec] for spec in SLOT_FAMILIES]
    families += [last_error, recent]
    if seen.instance is not None:
        instance = Family(INSTANCE_STATUS)
        INSTANCE_STATUSES.one_hot(instance, (), seen.instance)
        families.append(instance)
    return families


# Mirror states that need a person come from the alerts' `statuses`: PeerDBMirrorFailed's and
# PeerDBMirrorPaused's at once, and STATUS_UNKNOWN (PeerDB not knowing the state) where
# PeerDBMirrorStuck selects it. The other stuck and snapshot states are broken only once they
# last, and PeerDB's list gives no state-change time to tell, so the page leaves them to the
# alerts. The list carries no error text either; the error text is the mirror's newest row of
# `mirrors/logs` (an error history: for a failed mirror, the error that stopped it is usually
# the newest). Slots: a WAL status PeerDBSlotWalLost selects, a safe WAL size under
# PeerDBSlotSafeWalSizeLow's threshold, a lag over PeerDBSlotLagHigh's.
IMMEDIATE_MIRROR_ALERTS = ("PeerDBMirrorFailed", "PeerDBMirrorPaused")


def _broken_mirror_state(state: str, alerts: AlertSettings) -> bool:
    if any(alerts.selects(alert, state) for alert in IMMEDIATE_MIRROR_ALERTS):
        return True
    return state == "STATUS_UNKNOWN" and alerts.selects("PeerDBMirrorStuck", state)


def broken_entities(
    seen: Observation, now: float, alerts: AlertSettings | None = None
) -> list[BrokenEntity]:
    """Failed, paused or unknown mirrors, running mirrors without a recent batch or erroring,
    and slots losing their WAL or past the alert thresholds, with PeerDB's newest error text
    (`alerts`: the shipped settings if not given)."""
    alerts = alerts or thresholds.defaults()
    # Read once a poll, not once a mirror: a fleet has tens of thousands of mirrors in a
    # dozen states.
    limits = _MirrorLimits(
        alerts.number("PeerDBMirrorNoRecentBatch", "threshold_seconds"),
        alerts.number("PeerDBMirrorErroring", "window_seconds"),
        functools.cache(functools.partial(_broken_mirror_state, alerts=alerts)),
    )
    broken = [b for m in seen.mirrors if (b := _broken_mirror(m, seen, now, limits)) is not None]
    slot_limits = _SlotLimits(
        alerts.number("PeerDBSlotSafeWalSizeLow", "threshold_bytes"),
        alerts.number("PeerDBSlotLagHigh", "threshold_bytes"),
        functools.cache(functools.partial(alerts.selects, "PeerDBSlotWalLost")),
    )
    broken += [b for slot in seen.slots if (b := _broken_slot(slot, slot_limits)) is not None]
    return broken


@dataclass(frozen=True, slots=True)
class _MirrorLimits:
    """The mirror alerts' settings for one poll: the batch age, the error window, and whether
    a mirror in a state is broken whatever else is known of it (worked out once per state
    met: a fleet has tens of thousands of mirrors in a dozen states)."""

    batch_age: float
    error_window: float
    broken_state: Callable[[str], bool]


def _broken_mirror(
    m: Mirror, seen: Observation, now: float, limits: _MirrorLimits
) -> BrokenEntity | None:
    if m.status is None:
        return None
    errors = seen.errors.get(m.name) if seen.errors else None
    if isinstance(m.status, Unknown) or limits.broken_state(m.status):
        text = errors.last.message if errors is not None else ""
        return BrokenEntity("mirror", (("mirror", m.name),), str(m.status), text)
    if m.status != "STATUS_RUNNING":
        return None
    notes = []
    batch = seen.batches.get(m.name)
    end = batch.end_time if batch is not None else None
    if end is not None and now - end > limits.batch_age:
        notes.append(f"no CDC batch for {(now - end) / 3600:.1f}h")
    if errors is not None and now - errors.last.time <= limits.error_window:
        notes.append("erroring")
    if not notes:
        return None
    text = errors.last.message if errors is not None else ""
    return BrokenEntity(
        "mirror", (("mirror", m.name),), ", ".join(["STATUS_RUNNING", *notes]), text
    )


def _size(size: float) -> str:
    """Bytes for people: GiB from 1 GiB on (as before), whole MiB below it."""
    return f"{size / 2**30:.1f} GiB" if size >= 2**30 else f"{size / 2**20:.0f} MiB"


@dataclass(frozen=True, slots=True)
class _SlotLimits:
    """The slot alerts' settings for one poll: the safe WAL size and lag thresholds, and
    whether PeerDBSlotWalLost selects a WAL status (worked out once per status met)."""

    safe_wal: float
    lag: float
    wal_lost: Callable[[str], bool]


def _broken_slot(slot: Slot, limits: _SlotLimits) -> BrokenEntity | None:
    wal_status, safe, lag = slot.wal_status, slot.safe_wal_bytes, slot.lag_bytes
    notes = []
    if wal_status is not None and limits.wal_lost(wal_status):
        notes.append(f"wal_status {slot.wal_status}")
    if safe is not None and safe < limits.safe_wal:
        notes.append(f"safe WAL {_size(safe)}")
    if lag is not None and lag > limits.lag:
        notes.append(f"lag {_size(lag)}")
    if not notes:
        return None
    state = ", ".join(notes) + ("" if slot.active else ", inactive")
    return BrokenEntity("replication slot", (("peer", slot.peer), ("slot", slot.name)), state)


# ---------------------------------------------------------------------------------------------
# I/O


def _path(*parts: str) -> str:
    return api_path(API, *parts)


LIST_PATH = _path("mirrors", "list")
STATUS_PATH = _path("mirrors", "status")
BATCHES_PATH = _path("mirrors", "cdc", "batches")
ROWS_PATH = _path("mirrors", "total_rows_synced")  # + "/{mirror}"
INSTANCE_PATH = _path("instance", "info")
LOGS_PATH = _path("mirrors", "logs")


# States in which PeerDB syncs nothing until the state changes: a paused, completed or
# terminated flow runs no sync and no normalize (flow/workflows/cdc_flow.go), so no batch
# starts or ends and no row is counted.
STOPPED_STATES = frozenset({"STATUS_PAUSED", "STATUS_COMPLETED", "STATUS_TERMINATED"})
# A value kept instead of asked for is asked again once it is this old, whatever the signs.
REUSE_SECONDS = 300.0


class _Kept(msgspec.Struct, gc=False):
    """What one mirror's detail calls gave in the last poll, to skip the calls of the next poll
    that can only give the same answer. Untracked by the collector: one per mirror, anew
    every poll, holding untracked records only."""

    status: State | None
    batches: bytes | None = None  # the `cdc/batches` answer's `content_digest`, None: unread
    # Rows read in a poll whose state and batches answer were those of the poll before.
    rows: Values | None = None
    rows_at: float = 0.0
    # The batch read in a poll that found the mirror in the stopped state it had before.
    batch: Batch | None = None
    batch_at: float = 0.0


@dataclass(slots=True)
class _Reading:
    """What one poll's detail calls found, filled in as they answer."""

    states: dict[str, State]
    gone: set[str]
    rows: dict[str, Values]
    batches: dict[str, Batch]
    slots: list[Slot]
    instance: list[State]
    errors: list[list[MirrorError]]
    # The batches and rows answers, read after the fan-out (`PeerDBSource._read_answers`).
    batch_answers: list[_Unread] = field(default_factory=list)
    rows_answers: list[_Unread] = field(default_factory=list)


class _Unread(msgspec.Struct, gc=False):
    """A mirror's answer, to be read after the fan-out: what the next poll keeps of the
    mirror (`after`), and whether the record read from it is kept too, as of `now`. Untracked
    by the collector, as the answer's parts are."""

    name: str
    body: bytes
    what: str
    after: _Kept
    keep: bool
    now: float


class PeerDBSource(Source[PeerDBTarget]):
    """Polls one PeerDB instance."""

    system = "peerdb"
    config_model = PeerDBTarget
    specs = SPECS
    # `mirrors_list` is the inventory: a mirror whose own fields it breaks (a time out of range)
    # fails alone under that name.
    detail_endpoints = (
        "mirror_status",
        "rows_synced",
        "cdc_batches",
        "slots",
        "instance_info",
        "mirrors_list",
        "mirror_logs",
    )
    unknown_value_fields = ("flow_status", "instance_status", "wal_status")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Each mirror's newest error seen so far: a mirror whose error has left the newest
        # rows read keeps its last error time (pruned to the mirrors listed).
        self._last_errors: dict[str, MirrorError] = {}
        self._kept: dict[str, _Kept] = {}
        # The last poll's mirrors by their `mirrors/list` item: an unchanged item is not read.
        self._listed: dict[ListedMirror, Mirror] = {}
        # Each mirror's last batches and rows answers and what they say (`AnswerMemo`).
        self._batch_answers: AnswerMemo[Batch] = AnswerMemo()
        self._rows_answers: AnswerMemo[Values] = AnswerMemo()

    def route_missing(self, exc: UpstreamError) -> bool:
        """grpc-gateway's routing 404 (`{"code":5,"message":"Not Found"}`): the release has no
        such route. PeerDB's own NotFound names the entity (`flow X not found`)."""
        payload = exc.payload
        return (
            isinstance(payload, dict)
            and payload.get("code") == GRPC_NOT_FOUND
            and payload.get("message") == "Not Found"
        )

    def auth(self) -> Auth | None:
        """Basic auth with an empty username, as the PeerDB UI expects."""
        cfg = self.config
        if cfg.password is None and cfg.password_file is None:
            return None
        return BasicAuth("", SecretReader(cfg.password, cfg.password_file))

    async def poll(self, client: UpstreamClient) -> PollResult:
        """The mirror list, then each mirror's details and each source peer's slots."""
        details = self.details()
        self._batch_answers.begin()
        self._rows_answers.begin()
        listed, self._listed = mirror_list(await self._inventory(client), self._listed)
        selected = [m for m in listed if self._selected(m.name)]
        mirrors = [m for m in selected if self.shard.owns(m.name)]
        self.admit(len(mirrors), "mirrors/list: mirrors")
        details.failures.extend(
            DetailFailure(f"mirror {m.name}", "mirrors_list", Reason.SCHEMA, m.time_error)
            for m in mirrors
            if m.time_error
        )
        # The list carries every mirror's state from v0.36.7 on; an empty list says nothing.
        carries_state = all(m.status is not None for m in listed)
        seen = _Reading({}, set(), {}, {}, [], [], [])
        jobs: list[Callable[[], Awaitable[None]]] = []
        kept: dict[str, _Kept] = {}
        for m in mirrors:
            if m.status is None:
                jobs.append(functools.partial(self._state, client, details, m.name, seen))
            jobs.append(functools.partial(self._mirror, client, details, m, seen, kept))
        if self.config.slots:
            # Slots belong to peers, not mirrors: each replica takes the peers it owns.
            peers = {m.source_peer for m in selected if m.source_type == "POSTGRES"}
            jobs.extend(
                functools.partial(self._slots, client, details, p, seen, carries_state)
                for p in sorted(peers)
                if p and self.shard.owns("peer/" + p)
            )
        if self.shard.primary:
            jobs.append(functools.partial(self._instance, client, details, seen))
        if self.config.mirror_errors and mirrors:
            jobs.append(functools.partial(self._logs, client, details, seen))
        await fan_out(jobs, details.limit)
        self._read_answers(details, seen)
        self._kept = kept
        live = [
            m if m.name not in seen.states else _with_state(m, seen.states[m.name])
            for m in mirrors
            if m.name not in seen.gone
        ]
        result = PollResult(families=[])
        instance = None
        if seen.instance:
            instance = seen.instance[0]
            if isinstance(instance, Unknown):
                result.unknown_values.append(("instance_status", str(instance)))
        for m in live:
            if isinstance(m.status, Unknown):
                result.unknown_values.append(("flow_status", str(m.status)))
            key = f"mirrors {m.status or 'state unavailable'}"
            result.entities[key] = result.entities.get(key, 0) + 1
        now = self.clock()
        errors = None
        if seen.errors:
            errors = self._remember_errors(seen.errors[0], {m.name for m in live}, now)
        observation = Observation(live, seen.rows, seen.batches, seen.slots, instance, errors)
        result.families = build_families(observation, self.labels)
        for slot in seen.slots:
            if isinstance(slot.wal_status, Unknown):
                result.unknown_values.append(("wal_status", str(slot.wal_status)))
        result.broken = broken_entities(observation, now, self.alerts)
        self._batch_answers.finish()
        self._rows_answers.finish()
        return details.into(result)

    async def _inventory(self, client: UpstreamClient) -> Answer:
        """`mirrors/list`; the gateway's routing 404 there means `url` is not the UI."""
        try:
            return await client.get(LIST_PATH)
        except UpstreamError as exc:
            if exc.status == 404 and self.route_missing(exc):
                raise UpstreamError(
                    exc.reason,
                    f"{LIST_PATH}: 404 Not Found, no such route at this url: {PEERDB_URL_HINT}",
                    status=exc.status,
                    payload=exc.payload,
                ) from exc
            raise

    def _remember_errors(
        self, rows: list[MirrorError], live: set[str], now: float
    ) -> dict[str, MirrorErrors]:
        found = mirror_errors(rows, live, now)
        remembered = {n: e for n, e in self._last_errors.items() if n in live}
        for name, errors in found.items():
            old = remembered.get(name)
            if old is None or errors.last.time >= old.time:
                remembered[name] = errors.last
        self._last_errors = remembered
        return {
            name: MirrorErrors(last, found[name].recent if name in found else 0)
            for name, last in remembered.items()
        }

    @functools.cached_property
    def _selected(self) -> Callable[[str], bool]:
        """Whether the config selects a mirror, by name."""
        return selector(self.config.mirrors)

    async def _state(
        self, client: UpstreamClient, details: Details, name: str, seen: _Reading
    ) -> None:
        # Without includeFlowInfo: the state alone, no Temporal query.
        body = {"flowJobName": name, "includeFlowInfo": False}

        async def call() -> State:
            return read_mirror_state(await client.post(STATUS_PATH, body))

        # 404 "flow X not found": the drop has finished and the catalog row is gone.
        state = await details.fetch(f"mirror {name}", "mirror_status", call, gone_if=not_found)
        if state is GONE:
            seen.gone.add(name)
        elif isinstance(state, str):
            seen.states[name] = state

    async def _mirror(
        self,
        client: UpstreamClient,
        details: Details,
        m: Mirror,
        seen: _Reading,
        kept: dict[str, _Kept],
    ) -> None:
        """A mirror's newest batch, then its rows synced, each asked only if it may have
        changed since it was last read (and at least every `REUSE_SECONDS`):

        - in a stopped state held since the last poll, neither can change;
        - while running, rows grow only with CDC batches: PeerDB records a batch's rows and adds
          them to the table counts at its sync (flow/activities/flowable_core.go), and initial
          loads run in STATUS_SNAPSHOT. So while the state and the whole `cdc/batches` answer
          (the running batch's rows included) stay those of the last poll, the rows do too.

        A value is kept only once its signs held across two polls, so a change that lands
        between two reads of one poll (the batch's rows written, the table counts not yet) is
        read again in the next poll rather than kept.
        """
        name, status, now = m.name, m.status, self.clock()
        before = self._kept.get(name)
        steady_state = before is not None and status is not None and before.status == status
        stopped = steady_state and status in STOPPED_STATES
        after = kept[name] = _Kept(status)
        batched = self.config.cdc_batches and m.is_cdc
        if batched:
            if (
                stopped
                and before
                and before.batch is not None
                and now - before.batch_at < REUSE_SECONDS
                and details.reused("cdc_batches")
            ):
                after.batch, after.batch_at = before.batch, before.batch_at
                seen.batches[name] = before.batch
                after.batches = before.batches
            else:
                answer = await self._batch(client, details, name)
                if answer is not None:
                    after.batches = content_digest(answer.body)
                    unread = _Unread(name, answer.body, answer.what, after, stopped, now)
                    seen.batch_answers.append(unread)
        if not self.config.rows_synced:
            return
        # Rows follow batches only while running; stopped, nothing moves.
        follows = stopped or (status == "STATUS_RUNNING" and batched)
        steady = (
            steady_state
            and follows
            and before is not None
            and after.batches == before.batches
            and (after.batches is not None or not batched)
        )
        if (
            steady
            and before
            and before.rows is not None
            and now - before.rows_at < REUSE_SECONDS
            and details.reused("rows_synced")
        ):
            after.rows, after.rows_at = before.rows, before.rows_at
            seen.rows[name] = before.rows
            return
        call = functools.partial(client.get, api_path(ROWS_PATH, name))
        entity = f"mirror {name}"
        rows = await details.fetch(entity, "rows_synced", call, capability="rows_synced")
        if isinstance(rows, Answer):
            seen.rows_answers.append(_Unread(name, rows.body, rows.what, after, steady, now))

    async def _batch(self, client: UpstreamClient, details: Details, name: str) -> Answer | None:
        """The `cdc/batches` answer: the newest batches, the newest maybe still running."""
        call = functools.partial(client.post, BATCHES_PATH, {"flowJobName": name, "limit": 2})
        entity = f"mirror {name}"
        answer = await details.fetch(entity, "cdc_batches", call, capability="cdc_batches")
        return answer if isinstance(answer, Answer) else None

    def _read_answers(self, details: Details, seen: _Reading) -> None:
        """Read the batches and rows answers in one pass after the fan-out. Read as each
        arrived, among the HTTP client's work on the others, an answer cost about three times
        the CPU; an answer byte-identical to the last poll's is not read again."""
        parse = self._batch_answers.parse
        for u in seen.batch_answers:
            answer = Answer(u.body, u.what)
            batch = details.read(
                f"mirror {u.name}", "cdc_batches", parse, u.name, answer, read_batches
            )
            if batch is None:
                # Refused: not an answer the next poll may call unchanged to skip the rows.
                u.after.batches = None
                continue
            seen.batches[u.name] = batch
            if u.keep:
                u.after.batch, u.after.batch_at = batch, u.now
        parse_rows = self._rows_answers.parse
        for u in seen.rows_answers:
            answer = Answer(u.body, u.what)
            rows = details.read(
                f"mirror {u.name}", "rows_synced", parse_rows, u.name, answer, read_total_rows
            )
            if rows is not None:
                seen.rows[u.name] = rows
                if u.keep:
                    u.after.rows, u.after.rows_at = rows, u.now

    async def _slots(
        self,
        client: UpstreamClient,
        details: Details,
        peer: str,
        seen: _Reading,
        filtered_upstream: bool,
    ) -> None:
        async def call() -> list[Slot]:
            path = _path("peers", "slots", peer)
            return read_slots(peer, await client.get(path, {"peerdbManagedOnly": "true"}))

        slots = await details.fetch(f"peer {peer}", "slots", call)
        if isinstance(slots, list):
            seen.slots.extend(
                slot
                for slot in slots
                if filtered_upstream or slot.name.startswith(DEFAULT_SLOT_PREFIX)
            )

    async def _logs(self, client: UpstreamClient, details: Details, seen: _Reading) -> None:
        """The fleet's newest error rows: one call per poll, a page more only while full."""

        async def call() -> list[MirrorError]:
            rows: list[MirrorError] = []
            body: dict[str, Any] = {"level": "error", "numPerPage": MIRROR_LOG_PAGE_ROWS}
            for _ in range(MIRROR_LOG_PAGES):
                page = read_mirror_logs(await client.post(LOGS_PATH, body))
                rows += page
                if len(page) < MIRROR_LOG_PAGE_ROWS:
                    break
                body = {**body, "beforeId": min(row.id for row in page)}
            return rows

        rows = await details.fetch("mirrors", "mirror_logs", call, capability="mirror_logs")
        if isinstance(rows, list):
            seen.errors.append(rows)

    async def _instance(self, client: UpstreamClient, details: Details, seen: _Reading) -> None:
        async def call() -> State:
            return read_instance(await client.get(INSTANCE_PATH))

        state = await details.fetch("instance", "instance_info", call, capability="instance_info")
        if isinstance(state, str):
            seen.instance.append(state)


def _with_state(mirror: Mirror, status: State) -> Mirror:
    return msgspec.structs.replace(mirror, status=status)
