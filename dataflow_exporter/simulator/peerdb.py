"""A fake PeerDB UI/API: the `/api/v1` endpoints the exporter reads, as grpc-gateway writes them.

Faithful where it matters: int64 values as strings, enums by name, `null` for unset messages,
a space after every comma or none (one choice per simulator, as protobuf-go makes it once per
binary), google.rpc.Status error bodies, and the UI's auth (Basic with an
empty username; a wrong password gets 403 with an empty body, no credentials a redirect to the
sign-in page).

It plays one release (`version`, default 0.37.4, the newest tag; supported from 0.20.0), as that
release's code in PeerDB-io/peerdb answers (protos/route.proto and flow/cmd/ at the release's tag):
- `mirrors/list` items carry `status` from v0.36.7 (protos/route.proto `ListMirrorsItem`).
- `GET mirrors/total_rows_synced/{m}` exists from v0.30.7; before it grpc-gateway's router answers
  `404 {"code":5,"message":"Not Found"}`. It and `POST mirrors/cdc/batches` answer 200 with zeros
  or no batches for an unknown mirror (flow/cmd/mirror_status.go).
- `mirrors/status` for a dropped mirror answers `404 {"code":5,"message":"flow X not found"}` from
  v0.34.0; before, `500 {"code":2,...}` with the catalog's "no rows in result set".
- `peers/slots/{peer}` honours `peerdbManagedOnly` from v0.36.10 (older releases return every
  slot of the database, here also a non-PeerDB `debezium_*` slot); `lagInMb` is whole MiB
  (flow/connectors/postgres/client.go: `round((current_lsn - restart_lsn) / 1024 / 1024)`).
  Each slot carries `walStatus` (Postgres' wal_status, every release) and, from v0.35.3,
  `safeWalSize` (an int64 string; `SlotInfo.safe_wal_size`, an optional field, so omitted when
  Postgres has NULL: a lost slot). The WAL state follows the slot's lag against
  `slot_keep_size_mib` (the source's max_slot_wal_keep_size) and `max_wal_size_mib` (Postgres'
  max_wal_size, 1 GiB by default): healthy `reserved`, `extended` past max_wal_size,
  `unreserved` past the keep size, `lost` past it by a tenth more.
- `POST mirrors/logs` (ListMirrorLogs, flow/cmd/mirror_status.go, every supported release):
  rows newest first by id, `level` matched exactly against the row's type, `flowJobName` as a
  substring (`position($1 in flow_name) > 0`), `numPerPage` rows (none when 0: `limit 0`),
  `beforeId` for older pages, `errorTimestamp` in epoch milliseconds (a double), `total` the
  count of matching rows. The failed mirror has logged errors; `erroring_mirrors` keep
  logging one every `error_period` seconds while running (as does a mirror whose override
  sets `_erroring`); a warning row and an error row of
  a flow whose name contains a listed mirror's name test the exporter's own filtering.

For the runbooks: `GET mirrors/cdc/batches/{m}` (the GET form of the POST) and `POST mirrors/logs`
(flow/cmd/handler.go `ListMirrorLogs`: flow name contains `flowJobName`, `error_type = level`
unless "all", newest first, `numPerPage` rows, `errorTimestamp` in epoch milliseconds).

Partial failures (flow/cmd/peer_data.go, mirror_status.go): `unreachable_peers` answer slots with
`400 {"code":9}` (FailedPrecondition: PeerDB cannot connect to that source database) from
v0.34.0, and with `500 {"code":2}` (an untyped error, grpc's Unknown) before;
`flow_info_failures` mirrors answer `includeFlowInfo` with `500 {"code":13}` (the Temporal query).

Credential echo (`peer_dsn_password`): PeerDB answers a connector's error text verbatim in the
Status `message` (flow/cmd/peer_data.go wraps the connector's error), and connection errors are
known to quote the whole connection string, password included (libpq's `missing "=" after
"postgresql://..." in connection info string`; JDBC's `No suitable driver found for ...`). With
the knob set, an unreachable peer's error quotes its `postgresql://` URL with that password: a
credential the exporter never saw, which only scrubbing can keep off its pages. The failed
mirror's logged error then quotes its source's `mysql://` URL with that password too.

Scenario: a handful of named mirrors (running, paused, failed, a finished query replication, one
that is dropped and re-created over and over) and any number of generated ones that pause now
and then. Batches complete every `batch_period` seconds; slot lag grows while a mirror is stopped.
"""

from __future__ import annotations

import base64
import random
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgspec
from aiohttp import web

from dataflow_exporter.simulator.base import Clock, Release, SimulatedSystem, protojson, release

MIB = 1024 * 1024
LIST_CARRIES_STATUS: Release = (0, 36, 7)
HAS_TOTAL_ROWS: Release = (0, 30, 7)
STATUS_NOT_FOUND_IS_404: Release = (0, 34, 0)
HONOURS_MANAGED_ONLY: Release = (0, 36, 10)
HAS_SAFE_WAL_SIZE: Release = (0, 35, 3)
SLOT_ERRORS_ARE_TYPED: Release = (0, 34, 0)
# A slot another tool made in the same database: PeerDB's own filter leaves it out.
FOREIGN_SLOT = "debezium_orders"


@dataclass(frozen=True, slots=True)
class SimMirror:
    """A mirror of the scenario."""

    name: str
    source: str
    source_type: str
    destination: str
    destination_type: str
    status: str  # the base state; generated mirrors may pause now and then
    is_cdc: bool = True
    created_ms: int = 1741944413589


NAMED = (
    SimMirror(
        "orders_pg_to_ch", "pg_prod", "POSTGRES", "ch_analytics", "CLICKHOUSE", "STATUS_RUNNING"
    ),
    SimMirror("events_pg_to_sf", "pg_prod", "POSTGRES", "sf_dw", "SNOWFLAKE", "STATUS_PAUSED"),
    SimMirror(
        "users_mysql_to_ch", "mysql_app", "MYSQL", "ch_analytics", "CLICKHOUSE", "STATUS_FAILED"
    ),
    SimMirror(
        "nightly_events_qrep",
        "pg_prod",
        "POSTGRES",
        "sf_dw",
        "SNOWFLAKE",
        "STATUS_COMPLETED",
        is_cdc=False,
    ),
    SimMirror("tmp_backfill", "pg_prod", "POSTGRES", "ch_analytics", "CLICKHOUSE", "CYCLE"),
)


def _rfc3339(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class PeerDBSimulator(SimulatedSystem):
    """The fake PeerDB."""

    name = "peerdb"
    prefix = "/api/v1/"

    def __init__(
        self,
        clock: Clock,
        seed: int = 1,
        mirrors: int = len(NAMED),
        password: str | None = None,
        churn_period: float = 60.0,
        batch_period: float = 10.0,
        version: str = "0.37.4",
        unreachable_peers: Iterable[str] = (),
        flow_info_failures: Iterable[str] = (),
        peer_dsn_password: str | None = None,
        slot_keep_size_mib: float = 16384.0,
        max_wal_size_mib: float = 1024.0,
        erroring_mirrors: Iterable[str] = (),
        error_period: float = 60.0,
        error_rows: int = 5,
    ) -> None:
        super().__init__(clock, seed)
        self.plays = release(version, "peerdb.version")
        self.unreachable_peers = frozenset(unreachable_peers)
        self.flow_info_failures = frozenset(flow_info_failures)
        self.password = password
        self.peer_dsn_password = peer_dsn_password
        self.slot_keep_size_mib = slot_keep_size_mib
        self.max_wal_size_mib = max_wal_size_mib
        self.erroring_mirrors = frozenset(erroring_mirrors)
        self.error_period = error_period
        self.error_rows = error_rows
        # Bodies of mirrors/logs requests, so tests can count and check them.
        self.log_requests: list[dict[str, Any]] = []
        self.churn_period = churn_period
        self.batch_period = batch_period
        # protobuf-go's detrand: whether a space follows each comma is fixed per binary.
        self.spaced = random.Random(seed).random() < 0.5
        # Bodies of mirrors/status requests, so tests can check what the exporter asks for.
        self.status_requests: list[dict[str, Any]] = []
        generated = tuple(
            SimMirror(
                f"mirror_{i:05d}",
                f"pg_shard_{i % 10}",
                "POSTGRES",
                "ch_analytics",
                "CLICKHOUSE",
                "GENERATED",
            )
            for i in range(max(0, mirrors - len(NAMED)))
        )
        self.mirrors = (*NAMED[: max(0, mirrors)], *generated)
        self._by_name = {m.name: i for i, m in enumerate(self.mirrors)}
        self._by_peer: dict[str, list[int]] = {}
        for i, m in enumerate(self.mirrors):
            self._by_peer.setdefault(m.source, []).append(i)

    # -- scenario -------------------------------------------------------------------------------

    def status_of(self, mirror: SimMirror) -> str | None:
        """The mirror's state now; None while a cycling mirror is dropped."""
        epoch = int(self.elapsed() // self.churn_period)
        if mirror.status == "CYCLE":
            return ("STATUS_RUNNING", "STATUS_TERMINATING", None)[epoch % 3]
        if mirror.status == "GENERATED":
            return "STATUS_PAUSED" if self.chance(mirror.name, epoch) < 0.05 else "STATUS_RUNNING"
        return mirror.status

    def _item(self, index: int, mirror: SimMirror, status: str) -> dict[str, Any]:
        item = {
            "id": str(index + 7),
            "workflowId": f"{mirror.name}-{index:04x}",
            "name": mirror.name,
            "sourceName": mirror.source,
            "sourceType": mirror.source_type,
            "destinationName": mirror.destination,
            "destinationType": mirror.destination_type,
            "createdAt": mirror.created_ms,
            "isCdc": mirror.is_cdc,
        }
        if self.plays >= LIST_CARRIES_STATUS:
            item["status"] = status
        # Keys starting with "_" steer the simulator; they are not payload.
        item.update({k: v for k, v in self.overrides.get(mirror.name, {}).items() if k[0] != "_"})
        return item

    def _live_one(self, index: int) -> tuple[int, SimMirror, str] | None:
        mirror = self.mirrors[index]
        status = self.status_of(mirror)
        if status is None or self.overrides.get(mirror.name, {}).get("_dropped"):
            return None
        return index, mirror, status

    def _live(self, indexes: Iterable[int] | None = None) -> list[tuple[int, SimMirror, str]]:
        chosen = range(len(self.mirrors)) if indexes is None else indexes
        return [found for i in chosen if (found := self._live_one(i)) is not None]

    def _find(self, name: str) -> tuple[int, SimMirror, str] | None:
        # Indexed, so per-mirror calls stay O(1) at thousands of mirrors.
        index = self._by_name.get(name)
        if index is None or self.overrides.get(name, {}).get("_dropped_after_list"):
            return None  # dropped between the list call and this one: still listed, gone here
        return self._live_one(index)

    def batch(self, mirror: SimMirror, status: str) -> tuple[int, float, float | None, int]:
        """(batch id, start, end or None while running, rows) of the mirror's newest batch."""
        offset = self.chance(mirror.name, "offset") * self.batch_period
        now = self.elapsed() + offset
        if status not in ("STATUS_RUNNING", "STATUS_TERMINATING"):
            now = offset - 3600.0  # stopped mirrors stopped an hour before the simulator began
        seq = int(now // self.batch_period)
        started = self.started - offset + seq * self.batch_period
        running = (now % self.batch_period) < self.batch_period * 0.2
        rows = 100 + int(self.chance(mirror.name, seq) * 900)
        return 10_000 + seq, started, None if running else started + self.batch_period * 0.2, rows

    def demo_target(self, url: str) -> dict[str, Any]:
        """A target polling this simulator."""
        target: dict[str, Any] = {"name": "peerdb-demo", "system": "peerdb", "url": url}
        if self.password:
            target["password"] = self.password
        return target

    # -- HTTP -------------------------------------------------------------------------------------

    def _body(self, data: Any, status: int = 200) -> web.Response:
        return web.Response(
            body=protojson(data, self.spaced), status=status, content_type="application/json"
        )

    def error_response(self, status: int) -> web.Response:
        """google.rpc.Status JSON as grpc-gateway writes it."""
        code = {400: 3, 401: 16, 403: 7, 404: 5, 409: 6, 429: 8, 500: 13, 501: 12, 503: 14, 504: 4}
        message = {404: "not found", 503: "service unavailable"}.get(status, "internal error")
        return self._body({"code": code.get(status, 2), "message": message, "details": []}, status)

    def auth_failure(self) -> web.Response:
        """Wrong password: 403 with an empty body, as the UI's proxy answers."""
        return web.Response(status=403)

    def _denied(self, request: web.Request) -> web.Response | None:
        if not self.password:
            return None
        header = request.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return web.Response(
                status=307,
                headers={"Location": "/api/auth/signin?callbackUrl=%2F"},
                text="<html><body>Redirecting to sign in</body></html>",
                content_type="text/html",
            )
        expected = base64.b64encode(f":{self.password}".encode()).decode()
        return None if header[len("Basic ") :] == expected else self.auth_failure()

    def add_routes(self, router: web.UrlDispatcher) -> None:
        """The endpoints the exporter uses."""
        router.add_get("/api/v1/mirrors/list", self.mirrors_list)
        router.add_post("/api/v1/mirrors/status", self.mirror_status)
        router.add_get("/api/v1/mirrors/total_rows_synced/{name}", self.total_rows)
        router.add_post("/api/v1/mirrors/cdc/batches", self.cdc_batches)
        # The GET form the runbooks use (grpc-gateway maps the query onto the same request).
        router.add_get("/api/v1/mirrors/cdc/batches/{name}", self.cdc_batches_of)
        router.add_post("/api/v1/mirrors/logs", self.mirror_logs)
        router.add_get("/api/v1/peers/slots/{peer}", self.slots)
        router.add_get("/api/v1/instance/info", self.instance_info)
        router.add_get("/api/v1/version", self.version)

    async def mirrors_list(self, request: web.Request) -> web.Response:
        """GET mirrors/list."""
        if (denied := self._denied(request)) is not None:
            return denied
        return self._body({"mirrors": [self._item(i, m, s) for i, m, s in self._live()]})

    async def _json_body(self, request: web.Request) -> dict[str, Any]:
        try:
            data = msgspec.json.decode(await request.read())
        except msgspec.DecodeError:
            return {}
        return data if isinstance(data, dict) else {}

    def _not_found(self, name: str) -> web.Response:
        if self.plays < STATUS_NOT_FOUND_IS_404:
            message = f"unable to get the workflow ID of mirror {name}: no rows in result set"
            return self._body({"code": 2, "message": message, "details": []}, 500)
        return self._body({"code": 5, "message": f"flow {name} not found", "details": []}, 404)

    def _no_route(self) -> web.Response:
        """grpc-gateway's router for a path this release does not serve."""
        return self._body({"code": 5, "message": "Not Found", "details": []}, 404)

    async def mirror_status(self, request: web.Request) -> web.Response:
        """POST mirrors/status."""
        if (denied := self._denied(request)) is not None:
            return denied
        body = await self._json_body(request)
        self.status_requests.append(body)
        name = str(body.get("flowJobName") or body.get("flow_job_name") or "")
        found = self._find(name)
        if found is None:
            return self._not_found(name)
        _, mirror, status = found
        status = self.overrides.get(mirror.name, {}).get("status", status)
        flow_info = body.get("includeFlowInfo") or body.get("include_flow_info")
        if flow_info and name in self.flow_info_failures:
            message = (
                f"unable to obtain CDC information for mirror {name}: context deadline exceeded"
            )
            return self._body({"code": 13, "message": message, "details": []}, 500)
        created = _rfc3339(mirror.created_ms / 1000)
        if not mirror.is_cdc:
            qrep: dict[str, Any] = {"partitions": []}
            return self._body(
                {
                    "flowJobName": name,
                    "qrepStatus": qrep,
                    "currentFlowState": status,
                    "createdAt": created,
                }
            )
        out: dict[str, Any] = {"flowJobName": name}
        if flow_info:
            batch_id, *_ = self.batch(mirror, status)
            out["cdcStatus"] = {
                "config": {
                    "flowJobName": name,
                    "sourceName": mirror.source,
                    "destinationName": mirror.destination,
                    "publicationName": f"peerflow_pub_{name}",
                    "replicationSlotName": f"peerflow_slot_{name}",
                    "maxBatchSize": 1000000,
                    "idleTimeoutSeconds": "60",
                    "env": {},
                    "flags": [],
                },
                "snapshotStatus": None,
                "cdcBatches": [],
                "sourceType": mirror.source_type,
                "destinationType": mirror.destination_type,
                "rowsSynced": str(batch_id * 500),
            }
        out["currentFlowState"] = status
        out["createdAt"] = created
        return self._body(out)

    async def total_rows(self, request: web.Request) -> web.Response:
        """GET mirrors/total_rows_synced/{name}."""
        if (denied := self._denied(request)) is not None:
            return denied
        if self.plays < HAS_TOTAL_ROWS:
            return self._no_route()
        found = self._find(request.match_info["name"])
        cdc = initial = 0  # an unknown mirror: zeros, not 404
        if found is not None:
            _, mirror, status = found
            batch_id, *_ = self.batch(mirror, status)
            cdc, initial = batch_id * 500, 1_000_000
        return self._body(
            {
                "totalCountCDC": str(cdc),
                "totalCountInitialLoad": str(initial),
                "totalCount": str(cdc + initial),
            }
        )

    async def cdc_batches(self, request: web.Request) -> web.Response:
        """POST mirrors/cdc/batches, newest first."""
        if (denied := self._denied(request)) is not None:
            return denied
        body = await self._json_body(request)
        return self._batches(str(body.get("flowJobName") or ""), body.get("limit"))

    async def cdc_batches_of(self, request: web.Request) -> web.Response:
        """GET mirrors/cdc/batches/{m}?limit=N: the same answer as the POST form."""
        if (denied := self._denied(request)) is not None:
            return denied
        limit = request.query.get("limit", "")
        return self._batches(request.match_info["name"], int(limit) if limit.isdigit() else None)

    def _batches(self, name: str, limit: Any) -> web.Response:
        found = self._find(name)
        if found is None:  # an unknown mirror has no batches: 200, not 404
            return self._body({"cdcBatches": [], "total": 0, "page": 0})
        _, mirror, status = found
        limit = int(limit or 0) or 100
        batch_id, started, ended, rows = self.batch(mirror, status)
        batches = []
        for back in range(min(limit, 3)):
            b_start = started - back * self.batch_period
            b_end = ended if back == 0 else b_start + self.batch_period * 0.2
            batches.append(
                {
                    "startLsn": str(1_000_000 + (batch_id - back) * 4096),
                    "endLsn": "0"
                    if b_end is None
                    else str(1_000_000 + (batch_id - back + 1) * 4096),
                    "numRows": "0" if b_end is None else str(rows if back == 0 else 500),
                    "startTime": _rfc3339(b_start),
                    "endTime": None if b_end is None else _rfc3339(b_end),
                    "batchId": str(batch_id - back),
                }
            )
        return self._body({"cdcBatches": batches, "total": batch_id, "page": 1})

    async def slots(self, request: web.Request) -> web.Response:
        """GET peers/slots/{peer}: one slot per CDC mirror reading from the peer."""
        if (denied := self._denied(request)) is not None:
            return denied
        peer = request.match_info["peer"]
        if peer in self.unreachable_peers:
            message = (
                "failed to get postgres connector: failed to connect to "
                f"`host={peer}.db.internal user=peerdb database=app`: dial error (timeout)"
            )
            if self.peer_dsn_password:
                dsn = f"postgresql://peerdb:{self.peer_dsn_password}@{peer}.db.internal:5432/app"
                message = (
                    "failed to get postgres connector: cannot parse connection string: "
                    f'missing "=" after "{dsn}" in connection info string'
                )
            if self.plays < SLOT_ERRORS_ARE_TYPED:
                # The connector's error as it is: v0.34.0 added the wrapping text and the code.
                bare = message.removeprefix("failed to get postgres connector: ")
                return self._body({"code": 2, "message": bare, "details": []}, 500)
            return self._body({"code": 9, "message": message, "details": []}, 400)
        data = []
        indexes = self._by_peer.get(peer, [])
        managed_only = request.query.get("peerdbManagedOnly", "").lower() in ("true", "1")
        if indexes and not (managed_only and self.plays >= HONOURS_MANAGED_ONLY):
            data.append(self._slot(FOREIGN_SLOT, 512.0, active=True))
        for _, mirror, status in self._live(indexes):
            if not mirror.is_cdc:
                continue
            running = status == "STATUS_RUNNING"
            lag = (
                2.0 + 10 * self.chance(mirror.name, int(self.elapsed()))
                if running
                else 64.0 + self.elapsed() * 0.5
            )
            slot = self._slot(f"peerflow_slot_{mirror.name}", lag, active=running)
            steer = self.overrides.get(mirror.name, {})
            if "_wal_status" in steer:
                slot["walStatus"] = steer["_wal_status"]
            if "_safe_wal_mib" in steer and "safeWalSize" in slot:
                slot["safeWalSize"] = str(int(steer["_safe_wal_mib"] * MIB))
            data.append(slot)
        return self._body({"slotData": data})

    def _wal(self, lag_mib: float) -> tuple[str, int | None]:
        """Postgres' wal_status and safe_wal_size (bytes) of a slot holding `lag_mib` of WAL."""
        keep = self.slot_keep_size_mib
        if lag_mib > keep * 1.1:
            return "lost", None  # Postgres: safe_wal_size is NULL for a lost slot
        safe = int((keep - lag_mib) * MIB)
        if lag_mib > keep:
            return "unreserved", safe
        return ("extended" if lag_mib > self.max_wal_size_mib else "reserved"), safe

    def _slot(self, name: str, lag_mib: float, active: bool) -> dict[str, Any]:
        # PeerDB's query rounds to whole MiB in SQL; the float field then carries an integer.
        whole = round(lag_mib)
        status, safe = self._wal(lag_mib)
        slot = {
            "slotName": name,
            "redoLSN": "4/4D3A2B10",
            "restartLSN": "4/4C000028",
            "active": active,
            "lagInMb": whole,
            "confirmedFlushLSN": "4/4D1F0E40",
            "walStatus": status,
            "currentLSN": "4/4E2A9F88",
            "restartToConfirmedMb": whole,
            "confirmedToCurrentMb": whole,
            "waitEventType": "Activity",
            "waitEvent": "WalSenderMain",
            "backendState": "active" if active else "idle",
            "logicalDecodingWorkMemMb": "64",
        }
        if self.plays >= HAS_SAFE_WAL_SIZE and safe is not None:
            slot["safeWalSize"] = str(safe)  # int64: a string in protojson
        return slot

    def log_rows(self) -> list[dict[str, Any]]:
        """Every row of peerdb_stats.flow_errors now, newest (highest id) first."""
        rows: list[tuple[float, str, str, str]] = []
        failed = "users_mysql_to_ch"
        if failed in self._by_name:
            message = (
                "failed to sync records: [mysql] binlog position not found: "
                "ERROR 1236 (HY000): Could not find first log file name in binary log index file"
            )
            if self.peer_dsn_password:  # the connector quotes its connection URL
                dsn = f"mysql://peerdb:{self.peer_dsn_password}@mysql_app.db.internal:3306/app"
                message += f" (source {dsn})"
            for back in (3, 2, 1):
                rows.append((self.started - 600.0 * back, failed, message, "error"))
        if "orders_pg_to_ch" in self._by_name:
            rows.append((self.started - 30.0, "orders_pg_to_ch", "slot lag is 2 GiB", "warn"))
            rows.append(
                (self.started - 20.0, "orders_pg_to_ch_resync", "resync failed: dropped", "error")
            )
        steered = {n for n, o in self.overrides.items() if o.get("_erroring")}
        for name in sorted(self.erroring_mirrors | steered):
            found = self._find(name)
            if found is None or found[2] != "STATUS_RUNNING":
                continue
            newest = self.clock() - (self.elapsed() % self.error_period)
            for back in range(self.error_rows):
                message = (
                    f"[clickhouse] failed to push records for {name}: code: 241, "
                    "message: Memory limit (total) exceeded; retrying"
                )
                rows.append((newest - back * self.error_period, name, message, "error"))
        rows.sort()
        return [
            {
                "flowName": name,
                "errorMessage": message,
                "errorType": level,
                "errorTimestamp": round(at * 1000.0),  # a double of epoch milliseconds
                "id": i + 1,
            }
            for i, (at, name, message, level) in reversed(list(enumerate(rows)))
        ]

    async def mirror_logs(self, request: web.Request) -> web.Response:
        """POST mirrors/logs (ListMirrorLogs), newest first."""
        if (denied := self._denied(request)) is not None:
            return denied
        body = await self._json_body(request)
        self.log_requests.append(body)
        rows = self.log_rows()
        name = str(body.get("flowJobName") or "")
        if name:
            rows = [r for r in rows if name in r["flowName"]]  # position($1 in flow_name) > 0
        level = str(body.get("level") or "")
        if level and level != "all":
            rows = [r for r in rows if r["errorType"] == level]
        total = len(rows)
        before = int(body.get("beforeId") or 0)
        if before:
            rows = [r for r in rows if r["id"] < before]
        per_page = int(body.get("numPerPage") or 0)
        page = int(body.get("page") or 0)
        start = (page - 1) * per_page if page else 0
        return self._body({"errors": rows[start : start + per_page], "total": total, "page": 1})

    async def instance_info(self, request: web.Request) -> web.Response:
        """GET instance/info."""
        if (denied := self._denied(request)) is not None:
            return denied
        return self._body(
            {"status": self.overrides.get("_instance", {}).get("status", "INSTANCE_STATUS_READY")}
        )

    async def version(self, request: web.Request) -> web.Response:
        """GET version."""
        if (denied := self._denied(request)) is not None:
            return denied
        # PeerDB answers its build's short commit, not a release name.
        return self._body({"version": "6b52fb6c"})
