"""A fake Feldera API server: the `/v0` endpoints the exporter reads, shaped as Feldera writes them.

Faithful where it matters: `GET pipelines?selector=status` lists every pipeline (stopped and
failed ones too); `/stats` answers while the pipeline has a controller (Running, Paused,
Bootstrapping, Replaying, ConcurrentBootstrapping, Synchronizing) and leaves the error lists out,
the per-connector endpoints include them; `processing_latency_p99_micros` is omitted before a
connector's first sample; table names in per-connector paths are parsed as SQL identifiers
(unquoted lower-cased, `"Quoted"` kept) and `config.stream` is the relation's sql_name(), quoted
when case-sensitive (`"Trades"`, endpoint `Trades.kafka_in`); a wrong API key gets 401 with a
body that has no `details` key.

It plays one release (`version`, default 0.336.0, the newest tag; supported from 0.100.0), as
feldera/feldera answers at that tag:
- `global_metrics.output_stall_msecs` from v0.254.0, `memory_pressure` and
  `memory_pressure_epoch` from v0.274.0; connector `health` from v0.265.0;
  `completed_frontier` from v0.149.0; `buffered_bytes` from v0.125.0;
  `processing_latency_p99_micros` from v0.333.0 (crates/adapters/src/controller/stats.rs);
  `checkpoint_activity` and `permanent_checkpoint_errors` from v0.288.0
  (crates/feldera-types/src/adapter_stats.rs); `storage_bytes` and `suspend_error` at every
  supported release.
- A pipeline in transition: from v0.148.0 the manager forwards the pipeline process's own answer
  (crates/adapters/src/server.rs): 503 `Initializing` (also Standby, AwaitingApproval),
  503 `Suspended`, 410 `Terminating` while Stopping; before, the manager answers 503
  `PipelineInteractionNotDeployed` itself. Unavailable is 503 `PipelineUnavailable` from
  v0.161.0, `PipelineInteractionUnreachable` before (crates/pipeline-manager/src/runner/).
- The 401 of a bad API key has a JSON body from v0.150.0; before, only `WWW-Authenticate`.
- List entries lack the `deployment_resources_*`/`deployment_runtime_*` fields before v0.148.0.

Scenario: "clickstream" (healthy Kafka inputs, restarts every `restart_period` seconds so its
counters go back to 0), "fraud-detection" (parse errors, a finished input, ephemeral HTTP
connectors), "payments-enrichment" (an input with a fatal error, Unhealthy), "ledger-audit"
(Paused), "inventory-rollup" (Stopped after a deployment error) and "market-data" (upper-case
quoted table and view), then generated Running pipelines with `connectors_per_pipeline`
connectors each, one of which turns Unhealthy now and then. Storage and checkpoints: healthy
everywhere but "fraud-detection" (storage growing 4 GiB an hour, a checkpoint delayed for ten
minutes by a transaction), "clickstream" (a checkpoint in progress), "market-data" (a checkpoint
delayed for two hours by an input barrier) and "ledger-audit" (cannot checkpoint:
`StorageRequired`).

Overrides (control API, entity = pipeline name): fields merged into the pipeline's list entry;
`_state` (a deployment status the pipeline really is in), `_dropped` (deleted), `_stats_error`
(an HTTP status its stats endpoints answer while the list is unchanged: 404 deleted and 503 not
deployed meanwhile, as Feldera words them, 500 a failed initialization), `_stats_as` (a deployment
state the pipeline's process answers as while the list still shows the old one: Stopping gives
410 `Terminating`, Initializing or Suspended 503), `_global` (merged into `global_metrics`),
`_checkpoint` (merged into the top level of `/stats`: `checkpoint_activity`, ...).
Entity `pipeline:endpoint_name`: fields merged into that connector's status (`metrics` merged
key by key).
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from dataflow_exporter.simulator.base import Clock, Release, SimulatedSystem, json_response, release

DAY = 86400.0
STATS_STATUSES = (
    "Running",
    "Paused",
    "Bootstrapping",
    "Replaying",
    "ConcurrentBootstrapping",
    "Synchronizing",
)
DESIRABLE = ("Stopped", "Paused", "Running", "Standby", "Suspended")
# What the pipeline process answers for `/stats` when it has no controller (server.rs).
PROCESS_ANSWERS = {
    "Initializing": (503, "Initializing"),
    "Standby": (503, "Initializing"),
    "AwaitingApproval": (503, "Initializing"),
    "Suspended": (503, "Suspended"),
    "Stopping": (410, "Terminating"),
}
FORWARDS_PROCESS_ANSWER: Release = (0, 148, 0)
PIPELINE_UNAVAILABLE_CODE: Release = (0, 161, 0)
AUTH_ERROR_BODY: Release = (0, 150, 0)
# Fields by the release that added them, for playing older releases.
GLOBAL_SINCE: dict[str, Release] = {
    "output_stall_msecs": (0, 254, 0),
    "memory_pressure": (0, 274, 0),
    "memory_pressure_epoch": (0, 274, 0),
    "concurrent_bootstrap_phase": (0, 324, 0),
    "transaction_status": (0, 138, 0),
    "transaction_id": (0, 138, 0),
    "transaction_initiators": (0, 179, 0),
    "total_initiated_steps": (0, 242, 0),
    "total_completed_steps": (0, 242, 0),
    "initial_start_time": (0, 125, 0),
    "buffered_input_bytes": (0, 125, 0),
    "total_input_bytes": (0, 125, 0),
    "total_processed_bytes": (0, 125, 0),
}
HEALTH_SINCE: Release = (0, 265, 0)
FRONTIER_SINCE: Release = (0, 149, 0)
BUFFERED_BYTES_SINCE: Release = (0, 125, 0)
LATENCY_SINCE: Release = (0, 333, 0)
STATUS_DETAILS_SINCE: Release = (0, 148, 0)
# `checkpoint_activity` and `permanent_checkpoint_errors` in `/stats` (ExternalControllerStatus,
# crates/feldera-types/src/adapter_stats.rs, commit 6e0bd0201).
CHECKPOINT_SINCE: Release = (0, 288, 0)
GIB = 1024**3
# How each named pipeline's checkpoints and storage behave: healthy, degrading or broken.
STORAGE_GROWTH_PER_HOUR = {"fraud-detection": 4 * GIB}  # degrading: no limit is reported
CHECKPOINT_DELAYED = {
    "market-data": ({"InputEndpointBarrier": "Trades.kafka_in"}, 2 * 3600.0),  # broken
    "fraud-detection": ("TransactionInProgress", 600.0),  # degrading: under the alert's 30m
}
CHECKPOINT_IN_PROGRESS = {"clickstream": 20.0}  # seconds into writing a checkpoint
PERMANENT_CHECKPOINT_ERRORS = {"ledger-audit": ["StorageRequired"]}
_PLAIN_SQL_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


def sql_name(name: str) -> str:
    """A relation's name as Feldera writes `config.stream`: quoted when case-sensitive."""
    return name if _PLAIN_SQL_NAME.match(name) else '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True, slots=True)
class SimConnector:
    """A connector of the scenario: `kind` decides how its numbers move."""

    stream: str
    name: str
    output: bool = False
    # kafka | parse_errors | ended | failed | ephemeral
    kind: str = "kafka"
    reports_health: bool = True

    @property
    def endpoint_name(self) -> str:
        """`{table}.{connector}`, as Feldera names endpoints."""
        return f"{self.stream}.{self.name}"


@dataclass(frozen=True, slots=True)
class SimPipeline:
    """A pipeline of the scenario."""

    name: str
    status: str  # a CombinedStatus, or RESTARTING (Running, restarts every restart_period)
    connectors: tuple[SimConnector, ...]
    deployment_error: dict[str, Any] | None = None
    description: str = ""


_FAILED_TOPIC = "Kafka error: Broker: Unknown topic or partition"

NAMED = (
    SimPipeline(
        "clickstream",
        "RESTARTING",
        (
            SimConnector("page_views", "kafka_in"),
            SimConnector("sessions", "kafka_in"),
            SimConnector("session_stats", "kafka_out", output=True),
        ),
        description="Sessionised page views",
    ),
    SimPipeline(
        "fraud-detection",
        "Running",
        (
            SimConnector("transactions", "kafka_in", kind="parse_errors"),
            SimConnector("cards", "unnamed-0", kind="ended", reports_health=False),
            SimConnector(
                "transactions",
                "api-ingress-transactions-3f1c",
                kind="ephemeral",
                reports_health=False,
            ),
            SimConnector("fraud_alerts", "kafka_out", output=True, reports_health=False),
            SimConnector(
                "fraud_alerts",
                "api-0195b0ab-77c1-7d10-9e42-3b5c6d7e8f90",
                output=True,
                kind="ephemeral",
                reports_health=False,
            ),
        ),
        description="Real-time card fraud scoring",
    ),
    SimPipeline(
        "payments-enrichment",
        "Running",
        (
            SimConnector("payments", "kafka_in", kind="failed"),
            SimConnector("merchants", "kafka_in"),
            SimConnector("enriched_payments", "kafka_out", output=True),
        ),
    ),
    SimPipeline(
        "ledger-audit",
        "Paused",
        (
            SimConnector("ledger_entries", "kafka_in"),
            SimConnector("audit_findings", "kafka_out", output=True),
        ),
    ),
    SimPipeline(
        "inventory-rollup",
        "Stopped",
        (SimConnector("stock_levels", "kafka_in"),),
        deployment_error={
            "message": "FATAL error on input endpoint 'stock_levels.kafka_in': "
            "Broker: Unknown topic or partition",
            "error_code": "InputTransportError",
            "details": {
                "endpoint_name": "stock_levels.kafka_in",
                "fatal": True,
                "error": "Broker: Unknown topic or partition",
            },
        },
    ),
    SimPipeline(
        "market-data",
        "Running",
        (
            SimConnector("Trades", "kafka_in"),
            SimConnector("QuoteSummary", "kafka_out", output=True),
        ),
        description="Quoted, case-sensitive table and view names",
    ),
)

NAMED_NAMES = frozenset(p.name for p in NAMED)


def _rfc3339(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _uuid(*key: object) -> str:
    """A stable UUID shaped like Feldera's (version 7; Python 3.11's uuid cannot set 7)."""
    raw = bytearray(hashlib.sha256(repr(key).encode()).digest()[:16])
    raw[6] = (raw[6] & 0x0F) | 0x70
    raw[8] = (raw[8] & 0x3F) | 0x80
    return str(uuid.UUID(bytes=bytes(raw)))


def parse_sql_identifier(segment: str) -> str:
    """A table/view name from a URL path the way Feldera reads it: quoted keeps its case."""
    if len(segment) >= 2 and segment.startswith('"') and segment.endswith('"'):
        return segment[1:-1].replace('""', '"')
    return segment.lower()


_SELECTORS = ("all", "status", "status_with_connectors")


class FelderaSimulator(SimulatedSystem):
    """The fake Feldera."""

    name = "feldera"
    prefix = "/v0/"

    def __init__(
        self,
        clock: Clock,
        seed: int = 1,
        pipelines: int = len(NAMED),
        connectors_per_pipeline: int = 4,
        api_key: str | None = None,
        restart_period: float = 600.0,
        churn_period: float = 60.0,
        version: str = "0.336.0",
    ) -> None:
        super().__init__(clock, seed)
        self.plays = release(version, "feldera.version")
        self.api_key = api_key
        self.restart_period = restart_period
        self.churn_period = churn_period
        generated = tuple(
            SimPipeline(
                f"pipeline-{i:05d}",
                "Running",
                tuple(
                    SimConnector(f"view_{j}", "kafka_out", output=True)
                    if j % 4 == 3
                    else SimConnector(f"table_{j}", "kafka_in")
                    for j in range(max(0, connectors_per_pipeline))
                ),
            )
            for i in range(max(0, pipelines - len(NAMED)))
        )
        self.pipelines = (*NAMED[: max(0, pipelines)], *generated)
        self._by_name = {p.name: p for p in self.pipelines}

    # -- scenario -------------------------------------------------------------------------------

    def status_of(self, pipeline: SimPipeline) -> str | None:
        """The pipeline's deployment status now; None once it is deleted."""
        override = self.overrides.get(pipeline.name, {})
        if override.get("_dropped"):
            return None
        if "_state" in override:
            return str(override["_state"])
        return "Running" if pipeline.status == "RESTARTING" else pipeline.status

    def incarnation(self, pipeline: SimPipeline) -> tuple[int, float]:
        """(restart count, start time) of the pipeline's current process."""
        first = self.started - DAY * (1 + self.chance(pipeline.name, "uptime"))
        if pipeline.status != "RESTARTING" or self.restart_period <= 0:
            return 0, first
        count = int(self.elapsed() // self.restart_period)
        return count, first if count == 0 else self.started + count * self.restart_period

    def active_until(self, pipeline: SimPipeline, status: str) -> float:
        """Until when the pipeline processed data: now while Running, earlier when Paused."""
        if status == "Paused":
            return self.started - 600.0
        return self.clock()

    def _rate(self, pipeline: SimPipeline, connector: SimConnector) -> float:
        return 500.0 + 1000.0 * self.chance(pipeline.name, connector.endpoint_name, "rate")

    def _record_size(self, pipeline: SimPipeline, connector: SimConnector) -> int:
        return 200 + int(800 * self.chance(pipeline.name, connector.endpoint_name, "size"))

    def _input_records(self, pipeline: SimPipeline, connector: SimConnector, active: float) -> int:
        if connector.kind == "failed":
            return 0
        if connector.kind == "ended":
            return int(min(active, 200.0) * 1000)
        rate = 5.0 if connector.kind == "ephemeral" else self._rate(pipeline, connector)
        return int(rate * active)

    def _unhealthy_now(self, pipeline: SimPipeline, connector: SimConnector) -> bool:
        if pipeline.name in NAMED_NAMES or self.churn_period <= 0:
            return False
        epoch = int(self.elapsed() // self.churn_period)
        return self.chance(pipeline.name, connector.endpoint_name, epoch) < 0.02

    # -- payloads -------------------------------------------------------------------------------

    def _health(self, pipeline: SimPipeline, connector: SimConnector) -> dict[str, Any] | None:
        if not connector.reports_health:
            return None
        if connector.kind == "failed":
            return {"status": "Unhealthy", "description": _FAILED_TOPIC}
        if self._unhealthy_now(pipeline, connector):
            return {
                "status": "Unhealthy",
                "description": "Kafka error: Local: Timed out (after 30012ms in state UP)",
            }
        return {"status": "Healthy", "description": None}

    def input_status(
        self, pipeline: SimPipeline, connector: SimConnector, status: str, full: bool
    ) -> dict[str, Any]:
        """An `InputEndpointStatus`; `full` adds the recent error lists (per-connector call)."""
        _, start = self.incarnation(pipeline)
        until = self.active_until(pipeline, status)
        active = max(0.0, until - start)
        records = self._input_records(pipeline, connector, active)
        size = self._record_size(pipeline, connector)
        running = status == "Running" and connector.kind not in ("ended", "failed")
        buffered = int(2048 * self.chance(pipeline.name, connector.endpoint_name, int(until)))
        buffered = min(buffered, records) if running else 0
        parse_errors = records // 25_000 if connector.kind == "parse_errors" else 0
        transport_errors = 1 if connector.kind == "failed" else records // 50_000_000
        metrics: dict[str, Any] = {
            "total_bytes": records * size,
            "total_records": records,
            "buffered_records": buffered,
            "buffered_bytes": buffered * size,
            "num_transport_errors": transport_errors,
            "num_parse_errors": parse_errors,
            "end_of_input": connector.kind == "ended",
        }
        sampled = records > 0 and connector.kind != "ended"
        if sampled:
            jitter = self.chance(pipeline.name, connector.endpoint_name, int(until // 10))
            metrics["processing_latency_p99_micros"] = 20_000 + int(40_000 * jitter)
        if self.plays < BUFFERED_BYTES_SINCE:
            del metrics["buffered_bytes"]
        if self.plays < LATENCY_SINCE:
            metrics.pop("processing_latency_p99_micros", None)
        out: dict[str, Any] = {
            "endpoint_name": connector.endpoint_name,
            "config": {"stream": sql_name(connector.stream)},
            "metrics": metrics,
            "fatal_error": _FAILED_TOPIC if connector.kind == "failed" else None,
        }
        if full:
            out["parse_errors"] = self._errors(parse_errors, until, "json")
            out["transport_errors"] = self._errors(transport_errors, until, None)
        if self.plays >= HEALTH_SINCE:
            out["health"] = self._health(pipeline, connector)
        out["paused"] = connector.kind == "failed"
        out["barrier"] = False
        if self.plays >= FRONTIER_SINCE:
            out["completed_frontier"] = (
                {
                    "metadata": {"offsets": [{"start": max(0, records - 576), "end": records}]},
                    "ingested_at": _rfc3339(until - 0.09),
                    "processed_at": _rfc3339(until - 0.04),
                    "completed_at": _rfc3339(until),
                }
                if sampled
                else None
            )
        return self._overridden(pipeline, connector, out)

    def output_status(
        self,
        pipeline: SimPipeline,
        connector: SimConnector,
        status: str,
        full: bool,
        processed: int,
    ) -> dict[str, Any]:
        """An `OutputEndpointStatus` (`processed`: the pipeline's processed input records);
        `full` adds the recent error lists."""
        _, start = self.incarnation(pipeline)
        until = self.active_until(pipeline, status)
        active = max(0.0, until - start)
        rate = 1.0 if connector.kind == "ephemeral" else self._rate(pipeline, connector) / 50
        transmitted = int(rate * active)
        jitter = self.chance(pipeline.name, connector.endpoint_name, int(until))
        buffered = int(16 * jitter) if status == "Running" else 0
        out: dict[str, Any] = {
            "endpoint_name": connector.endpoint_name,
            "config": {"stream": sql_name(connector.stream)},
            "metrics": {
                "transmitted_records": transmitted,
                "transmitted_bytes": transmitted * 600,
                "queued_records": 0,
                "queued_batches": 0,
                "buffered_records": buffered,
                "buffered_batches": 1 if buffered else 0,
                "num_encode_errors": 0,
                "num_transport_errors": 0,
                "total_processed_input_records": processed,
                "total_processed_steps": int(active * 10),
                "memory": 0,
            },
            "fatal_error": None,
        }
        if full:
            out["encode_errors"] = []
            out["transport_errors"] = []
        if self.plays >= HEALTH_SINCE:
            out["health"] = self._health(pipeline, connector)
        return self._overridden(pipeline, connector, out)

    def _errors(self, count: int, until: float, tag: str | None) -> list[dict[str, Any]]:
        """The most recent (at most 3 here) of `count` errors, oldest first."""
        message = (
            "failed to deserialize JSON record: missing field `amount` at line 1 column 57"
            if tag
            else _FAILED_TOPIC
        )
        return [
            {
                "timestamp": _rfc3339(until - 7.0 * (count - index)),
                "index": index,
                "tag": tag,
                "message": message,
            }
            for index in range(max(0, count - 3), count)
        ]

    def _overridden(
        self, pipeline: SimPipeline, connector: SimConnector, out: dict[str, Any]
    ) -> dict[str, Any]:
        changes = self.overrides.get(f"{pipeline.name}:{connector.endpoint_name}")
        if not changes:
            return out
        for key, value in changes.items():
            if key == "metrics" and isinstance(value, dict):
                out["metrics"] = {**out["metrics"], **value}
            else:
                out[key] = value
        return out

    def inputs(self, pipeline: SimPipeline, status: str) -> list[dict[str, Any]]:
        """Every input connector's status as `/stats` lists it."""
        return [
            self.input_status(pipeline, c, status, full=False)
            for c in pipeline.connectors
            if not c.output
        ]

    def global_metrics(
        self, pipeline: SimPipeline, status: str, inputs: list[dict[str, Any]]
    ) -> dict[str, Any]:
        """The `global_metrics` of a pipeline with a controller, summed over its `inputs`."""
        restarts, start = self.incarnation(pipeline)
        uptime = max(0.0, self.clock() - start)
        metrics = [i["metrics"] for i in inputs]
        records = sum(m["total_records"] for m in metrics)
        in_bytes = sum(m["total_bytes"] for m in metrics)
        buffered = sum(m["buffered_records"] for m in metrics)
        buffered_bytes = sum(m.get("buffered_bytes", 0) for m in metrics)
        steps = int(uptime * 10)
        data: dict[str, Any] = {
            "state": status,
            "bootstrap_in_progress": False,
            "transaction_status": "NoTransaction",
            "transaction_id": 0,
            "transaction_initiators": {
                "transaction_id": None,
                "initiated_by_api": None,
                "initiated_by_connectors": {},
            },
            "concurrent_bootstrap_phase": "Inactive",
            "rss_bytes": int(1.2e9 + 8e8 * self.chance(pipeline.name, "rss", int(uptime // 60))),
            "memory_pressure": "low",
            "memory_pressure_epoch": 0,
            "cpu_msecs": int(uptime * 1500),
            "uptime_msecs": int(uptime * 1000),
            "start_time": int(start),
            "incarnation_uuid": _uuid(self.seed, pipeline.name, restarts),
            "initial_start_time": int(self.started - 30 * DAY),
            "storage_bytes": int(
                5 * GIB
                + STORAGE_GROWTH_PER_HOUR.get(pipeline.name, 0) * max(0.0, self.elapsed()) / 3600
            ),
            "storage_mb_secs": int(uptime * 5120),
            "runtime_elapsed_msecs": int(uptime * 800),
            "buffered_input_records": buffered,
            "buffered_input_bytes": buffered_bytes,
            "total_input_records": records,
            "total_input_bytes": in_bytes,
            "total_processed_records": records - buffered,
            "total_processed_bytes": in_bytes - buffered_bytes,
            "total_completed_records": records - buffered,
            "output_stall_msecs": 0,
            "total_initiated_steps": steps + 1,
            "total_completed_steps": steps,
            "pipeline_complete": False,
        }
        for key, since in GLOBAL_SINCE.items():
            if self.plays < since:
                data.pop(key, None)
        if status != "Paused":
            data["state"] = "Running"  # a bootstrapping or replaying controller is running
        data.update(self.overrides.get(pipeline.name, {}).get("_global", {}))
        return data

    def stats(self, pipeline: SimPipeline, status: str) -> dict[str, Any]:
        """`ControllerStatus`: global metrics and every connector, without error lists."""
        inputs = self.inputs(pipeline, status)
        global_metrics = self.global_metrics(pipeline, status, inputs)
        processed = global_metrics["total_processed_records"]
        stats: dict[str, Any] = {
            "global_metrics": global_metrics,
            **self.checkpoint(pipeline),
            "inputs": inputs,
            "outputs": [
                self.output_status(pipeline, c, status, False, processed)
                for c in pipeline.connectors
                if c.output
            ],
        }
        stats.update(self.overrides.get(pipeline.name, {}).get("_checkpoint", {}))
        return stats

    def checkpoint(self, pipeline: SimPipeline) -> dict[str, Any]:
        """`suspend_error`, `checkpoint_activity` and `permanent_checkpoint_errors` as the
        controller writes them (serde: the activity tagged by `status`, errors by variant)."""
        permanent = PERMANENT_CHECKPOINT_ERRORS.get(pipeline.name)
        activity: dict[str, Any] = {"status": "idle"}
        suspend: dict[str, Any] | None = None
        if pipeline.name in CHECKPOINT_DELAYED:
            reason, ago = CHECKPOINT_DELAYED[pipeline.name]
            since = _rfc3339(self.clock() - ago)
            activity = {"status": "delayed", "reasons": [reason], "delayed_since": since}
            suspend = {"Temporary": [reason]}
        elif pipeline.name in CHECKPOINT_IN_PROGRESS:
            started = _rfc3339(self.clock() - CHECKPOINT_IN_PROGRESS[pipeline.name])
            activity = {"status": "in_progress", "started_at": started}
        if permanent:
            suspend = {"Permanent": permanent}
        fields: dict[str, Any] = {"suspend_error": suspend}
        if self.plays >= CHECKPOINT_SINCE:
            fields["checkpoint_activity"] = activity
            fields["permanent_checkpoint_errors"] = permanent
        return fields

    def list_item(self, index: int, pipeline: SimPipeline, status: str) -> dict[str, Any]:
        """A `PipelineSelectedInfo` as `selector=status` returns it."""
        restarts, start = self.incarnation(pipeline)
        deployed = status not in ("Stopped", "Provisioning", "Stopping")
        desired = status if status in DESIRABLE else "Running"
        since = _rfc3339(self.started - 2 * DAY)
        if deployed:
            since = _rfc3339(self.active_until(pipeline, status) if status == "Paused" else start)
        runtime = status if deployed and status != "Stopped" else None
        resources = {"Stopped": "Stopped", "Provisioning": "Provisioning"}.get(
            status, "Provisioned"
        )
        if status == "Stopping":
            resources = "Stopping"
        item: dict[str, Any] = {
            "id": _uuid(self.seed, "pipeline", pipeline.name),
            "name": pipeline.name,
            "description": pipeline.description,
            "tags": [],
            "created_at": _rfc3339(self.started - 40 * DAY - index),
            "version": 3 + index % 5,
            "platform_version": "v{}.{}.{}".format(*self.plays),
            "program_config": {
                "profile": "optimized",
                "cache": True,
                "runtime_version": None,
                "use_platform_compiler": False,
            },
            "program_version": 2,
            "program_status": "Success",
            "program_status_since": _rfc3339(self.started - 40 * DAY),
            "deployment_error": pipeline.deployment_error,
            "refresh_version": 3 + index % 5,
            "storage_status": "InUse",
            "storage_status_details": None,
            "deployment_id": _uuid(self.seed, pipeline.name, restarts) if deployed else None,
            "deployment_initial": "Running" if deployed else None,
            "deployment_status": status,
            "deployment_status_since": since,
            "deployment_desired_status": desired,
            "deployment_desired_status_since": since,
            "deployment_resources_status": resources,
            "deployment_resources_status_since": since,
            "deployment_resources_desired_status": "Stopped"
            if desired == "Stopped"
            else "Provisioned",
            "deployment_resources_desired_status_since": since,
            "deployment_runtime_status": runtime,
            "deployment_runtime_status_details": None,
            "deployment_runtime_status_since": since if runtime else None,
            "deployment_runtime_desired_status": runtime and desired,
            "deployment_runtime_desired_status_since": since if runtime else None,
        }
        if self.plays < STATUS_DETAILS_SINCE:
            for key in list(item):
                if key.startswith(("deployment_resources_", "deployment_runtime_")) or key in (
                    "deployment_desired_status_since",
                    "deployment_id",
                    "deployment_initial",
                ):
                    del item[key]
        item.update(
            {
                k: v
                for k, v in self.overrides.get(pipeline.name, {}).items()
                if not k.startswith("_")
            }
        )
        return item

    def demo_target(self, url: str) -> dict[str, Any]:
        """A target polling this simulator."""
        target: dict[str, Any] = {"name": "feldera-demo", "system": "feldera", "url": url}
        if self.api_key:
            target["api_key"] = self.api_key
        return target

    # -- HTTP -------------------------------------------------------------------------------------

    @staticmethod
    def _error(status: int, code: str, message: str, details: Any) -> web.Response:
        return json_response(
            {"message": message, "error_code": code, "details": details}, status=status
        )

    def _unreachable(self, name: str) -> web.Response:
        if self.plays >= PIPELINE_UNAVAILABLE_CODE and name:
            return self._error(
                503,
                "PipelineUnavailable",
                f"Pipeline {name} is currently unavailable",
                {"pipeline_name": name},
            )
        error = "deployment status is currently 'unavailable' -- wait for it to become 'running' "
        error += "or 'paused' again"
        return self._error(
            503,
            "PipelineInteractionUnreachable",
            f"Error sending HTTP request to pipeline: {error} Failed request: /stats "
            f'pipeline-id=N/A pipeline-name="{name}"',
            {"pipeline_name": name, "request": "/stats", "error": error},
        )

    def error_response(self, status: int) -> web.Response:
        """Feldera's `ErrorResponse` body for an injected status."""
        if status == 503:
            return self._unreachable("")
        if status == 404:
            return self._not_found("")
        return self._error(status, "UnknownInternalError", "internal error", {})

    def auth_failure(self) -> web.Response:
        """401 without `details` and not labelled JSON, as the API server builds it (before
        v0.150.0: an empty body and only the `WWW-Authenticate` header)."""
        if self.plays < AUTH_ERROR_BODY:
            return web.Response(
                status=401,
                headers={"WWW-Authenticate": 'Bearer error_description="Unauthorized API key"'},
            )
        return web.Response(
            status=401,
            text='{"message":"Unauthorized API key","error_code":"AuthenticationFailed"}',
            content_type="text/plain",
        )

    def _denied(self, request: web.Request) -> web.Response | None:
        if not self.api_key:
            return None  # like the open-source default: the header is ignored
        if request.headers.get("Authorization", "") == f"Bearer {self.api_key}":
            return None
        return self.auth_failure()

    def _not_found(self, name: str) -> web.Response:
        return self._error(
            404, "UnknownPipelineName", f"Unknown pipeline name '{name}'", {"pipeline_name": name}
        )

    def _not_deployed(self, name: str, status: str) -> web.Response:
        return self._error(
            503,
            "PipelineInteractionNotDeployed",
            "Unable to interact with pipeline because the deployment status "
            f"({status.lower()}) indicates it is not (yet) fully provisioned "
            f'pipeline-id={_uuid(self.seed, "pipeline", name)} pipeline-name="{name}"',
            {"pipeline_name": name, "status": status, "desired_status": status},
        )

    def _deployed(self, name: str) -> tuple[SimPipeline, str] | web.Response:
        """The pipeline and its status if its process would answer, else Feldera's error."""
        pipeline = self._by_name.get(name)
        status = None if pipeline is None else self.status_of(pipeline)
        if pipeline is None or status is None:
            return self._not_found(name)
        forced = self.overrides.get(name, {}).get("_stats_error")
        if forced == 404:
            return self._not_found(name)
        if forced == 503:
            return self._not_deployed(name, "Stopped")
        if forced == 500:
            return self._error(
                500,
                "InitializationError",
                "Error initializing the pipeline: failed to open checkpoint: storage unavailable",
                {"error": "failed to open checkpoint: storage unavailable"},
            )
        if isinstance(forced, int):
            return self.error_response(forced)
        # The process moved on since the list was read: it answers as that state does.
        status = str(self.overrides.get(name, {}).get("_stats_as", status))
        if status == "Unavailable":
            return self._unreachable(name)
        if status in PROCESS_ANSWERS and self.plays >= FORWARDS_PROCESS_ANSWER:
            code, error_code = PROCESS_ANSWERS[status]
            message = {
                "Initializing": "The pipeline is still initializing",
                "Suspended": "The pipeline has been suspended",
                "Terminating": "The pipeline is shutting down",
            }[error_code]
            return self._error(code, error_code, message, None)
        if status not in STATS_STATUSES:
            return self._not_deployed(name, status)
        return pipeline, status

    def add_routes(self, router: web.UrlDispatcher) -> None:
        """The endpoints the exporter uses."""
        router.add_get("/v0/pipelines", self.list_pipelines)
        router.add_get("/v0/pipelines/{pipeline}", self.get_pipeline)
        router.add_get("/v0/pipelines/{pipeline}/stats", self.pipeline_stats)
        router.add_get(
            "/v0/pipelines/{pipeline}/tables/{table}/connectors/{connector}/stats",
            self.input_connector_stats,
        )
        router.add_get(
            "/v0/pipelines/{pipeline}/views/{view}/connectors/{connector}/stats",
            self.output_connector_stats,
        )

    def _bad_selector(self, request: web.Request) -> web.Response | None:
        selector = request.query.get("selector", "all")
        if selector in _SELECTORS:
            return None
        return self._error(
            400,
            "InvalidRequest",
            f"unknown variant `{selector}`, expected one of `all`, `status`, "
            "`status_with_connectors`",
            {},
        )

    async def list_pipelines(self, request: web.Request) -> web.Response:
        """GET /v0/pipelines (the status fields whatever the selector)."""
        if (denied := self._denied(request) or self._bad_selector(request)) is not None:
            return denied
        items = []
        for index, pipeline in enumerate(self.pipelines):
            status = self.status_of(pipeline)
            if status is not None:
                items.append(self.list_item(index, pipeline, status))
        return json_response(items)

    async def get_pipeline(self, request: web.Request) -> web.Response:
        """GET /v0/pipelines/{pipeline}."""
        if (denied := self._denied(request) or self._bad_selector(request)) is not None:
            return denied
        name = request.match_info["pipeline"]
        for index, pipeline in enumerate(self.pipelines):
            status = self.status_of(pipeline)
            if pipeline.name == name and status is not None:
                return json_response(self.list_item(index, pipeline, status))
        return self._not_found(name)

    async def pipeline_stats(self, request: web.Request) -> web.Response:
        """GET /v0/pipelines/{pipeline}/stats."""
        if (denied := self._denied(request)) is not None:
            return denied
        found = self._deployed(request.match_info["pipeline"])
        if isinstance(found, web.Response):
            return found
        return json_response(self.stats(*found))

    def _connector(
        self, request: web.Request, parent_key: str, output: bool
    ) -> tuple[SimPipeline, SimConnector, str] | web.Response:
        found = self._deployed(request.match_info["pipeline"])
        if isinstance(found, web.Response):
            return found
        pipeline, status = found
        parent = parse_sql_identifier(request.match_info[parent_key])
        name = request.match_info["connector"]
        for connector in pipeline.connectors:
            if (connector.output, connector.stream, connector.name) == (output, parent, name):
                return pipeline, connector, status
        endpoint = f"{parent}.{name}"
        side = "output" if output else "input"
        return self._error(
            404,
            "UnknownOutputEndpoint" if output else "UnknownInputEndpoint",
            f"unknown {side} endpoint name '{endpoint}'",
            {"endpoint_name": endpoint},
        )

    async def input_connector_stats(self, request: web.Request) -> web.Response:
        """GET /v0/pipelines/{p}/tables/{t}/connectors/{c}/stats (with error lists)."""
        if (denied := self._denied(request)) is not None:
            return denied
        found = self._connector(request, "table", output=False)
        if isinstance(found, web.Response):
            return found
        pipeline, connector, status = found
        return json_response(self.input_status(pipeline, connector, status, full=True))

    async def output_connector_stats(self, request: web.Request) -> web.Response:
        """GET /v0/pipelines/{p}/views/{v}/connectors/{c}/stats (with error lists)."""
        if (denied := self._denied(request)) is not None:
            return denied
        found = self._connector(request, "view", output=True)
        if isinstance(found, web.Response):
            return found
        pipeline, connector, status = found
        inputs = self.inputs(pipeline, status)
        processed = self.global_metrics(pipeline, status, inputs)["total_processed_records"]
        return json_response(self.output_status(pipeline, connector, status, True, processed))
