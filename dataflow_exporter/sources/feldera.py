"""Feldera pipelines: lifecycle state, connector health and fatal errors, counters and freshness.

API facts: everything is under `/v0`, auth is `Authorization: Bearer <api key>` (the key a user
is given already starts with `apikey:`; the open-source default runs without auth), enums are
strings, errors are `{message, error_code, details}`. Discovery is `GET pipelines?selector=status`
(every pipeline, stopped and failed ones included), then `GET pipelines/{p}/stats` for the
Running and Paused ones: one call carries the global metrics and every connector (without the
recent-error lists). An explicit `connectors:` list uses the per-connector endpoints
`pipelines/{p}/tables/{t}/connectors/{c}/stats` (views: `views/{v}/...`) instead of `/stats`.
A pipeline that stops between the two calls answers 503 `PipelineInteractionNotDeployed`: its
status stays, its connector series go, and the target stays up.

Sample exposition::

    feldera_pipeline_status{target="f",pipeline="fraud-detection",status="Running"} 1.0
    feldera_pipeline_status{target="f",pipeline="fraud-detection",status="Stopped"} 0.0
    feldera_pipeline_deployment_error{target="f",pipeline="inventory-rollup"} 1.0
    feldera_pipeline_state{target="f",pipeline="fraud-detection",status="Running"} 1.0
    feldera_pipeline_rss_bytes{target="f",pipeline="fraud-detection"} 1.87695104e+09
    feldera_input_connector_health{target="f",pipeline="payments",table="payments",
        connector="kafka_in",status="Unhealthy"} 1.0
    feldera_input_connector_fatal_error{target="f",pipeline="payments",table="payments",
        connector="kafka_in"} 1.0
    feldera_input_connector_records_total{target="f",pipeline="fraud-detection",
        table="transactions",connector="kafka_in"} 1.048576e+06
    feldera_input_connector_processing_latency_p99_seconds{target="f",pipeline="fraud-detection",
        table="transactions",connector="kafka_in"} 0.04125
    feldera_output_connector_transmitted_records_total{target="f",pipeline="fraud-detection",
        view="fraud_alerts",connector="kafka_out"} 15320.0
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import msgspec
from pydantic import FilePath, SecretStr, model_validator

from dataflow_exporter.auth import BearerAuth, SecretReader
from dataflow_exporter.config_models import Filter, Strict, TargetConfig, one_of
from dataflow_exporter.families import Family, MetricSpec, State, StateSet, Unknown
from dataflow_exporter.sources.base import (
    GONE,
    BrokenEntity,
    Details,
    PollResult,
    Source,
    api_path,
    arr,
    boolean,
    fan_out,
    field_number,
    obj,
    optional_number,
    string,
    timestamp,
)
from dataflow_exporter.upstream import Auth, UpstreamClient, UpstreamError

API = "/v0"

DEPLOYMENT_STATUSES = StateSet(
    (
        "Stopped",
        "Provisioning",
        "Unavailable",
        "Coordination",
        "Standby",
        "AwaitingApproval",
        "Initializing",
        "Bootstrapping",
        "ConcurrentBootstrapping",
        "Synchronizing",
        "Replaying",
        "Paused",
        "Running",
        "Suspended",
        "Stopping",
    ),
    sparse=frozenset({"Suspending"}),  # v0.97.0 to v0.147.0 only
)
DESIRED_STATUSES = StateSet(("Stopped", "Unavailable", "Standby", "Paused", "Running", "Suspended"))
PROGRAM_STATUSES = StateSet(
    (
        "Pending",
        "CompilingSql",
        "SqlCompiled",
        "CompilingRust",
        "Success",
        "SqlError",
        "RustError",
        "SystemError",
    )
)
PIPELINE_STATES = StateSet(("Paused", "Running", "Terminated"))
MEMORY_PRESSURES = StateSet(("low", "moderate", "high", "critical"))
HEALTH_STATUSES = StateSet(("Healthy", "Unhealthy"))

# The deployment states whose pipeline process has a controller that answers `/stats`
# (crates/adapters/src/server.rs): a bootstrap or replay can take hours, and its connectors'
# health and fatal errors matter most then.
STATS_STATUSES = frozenset(
    {"Running", "Paused", "Bootstrapping", "Replaying", "ConcurrentBootstrapping", "Synchronizing"}
)
# The only 404 that means the pipeline itself is gone (deleted since the list call).
UNKNOWN_PIPELINE_CODE = "UnknownPipelineName"

PIPELINE = ("pipeline",)
INPUT = ("pipeline", "table", "connector")
OUTPUT = ("pipeline", "view", "connector")

PIPELINE_STATUS = MetricSpec(
    "feldera_pipeline_status",
    "gauge",
    "Pipeline deployment status (polled): 1 for the current one, 0 for the others.",
    (*PIPELINE, "status"),
)
PIPELINE_DESIRED_STATUS = MetricSpec(
    "feldera_pipeline_desired_status",
    "gauge",
    "Deployment status the pipeline was asked to reach (polled): 1 for the current one.",
    (*PIPELINE, "status"),
)
PIPELINE_STATUS_CHANGE = MetricSpec(
    "feldera_pipeline_status_change_timestamp_seconds",
    "gauge",
    "When the pipeline entered its current deployment status (polled), Unix time.",
    PIPELINE,
)
PIPELINE_DEPLOYMENT_ERROR = MetricSpec(
    "feldera_pipeline_deployment_error",
    "gauge",
    "1 if the pipeline's last deployment ended with an error (polled).",
    PIPELINE,
)
PIPELINE_PROGRAM_STATUS = MetricSpec(
    "feldera_pipeline_program_status",
    "gauge",
    "Pipeline program compilation status (polled): 1 for the current one.",
    (*PIPELINE, "status"),
)
PIPELINE_STATS_AVAILABLE = MetricSpec(
    "feldera_pipeline_stats_available",
    "gauge",
    "1 if the Running/Paused pipeline answered its stats call (polled); 0 when it was not "
    "deployed or unreachable, and its connector series are then absent.",
    PIPELINE,
)
PIPELINE_STATE = MetricSpec(
    "feldera_pipeline_state",
    "gauge",
    "State reported by the pipeline process (polled): 1 for the current one.",
    (*PIPELINE, "status"),
)
PIPELINE_RSS = MetricSpec(
    "feldera_pipeline_rss_bytes",
    "gauge",
    "Resident set size of the pipeline process (polled).",
    PIPELINE,
)
PIPELINE_MEMORY_PRESSURE = MetricSpec(
    "feldera_pipeline_memory_pressure",
    "gauge",
    "Memory pressure level of the pipeline (polled): 1 for the current one.",
    (*PIPELINE, "status"),
)
PIPELINE_UPTIME = MetricSpec(
    "feldera_pipeline_uptime_seconds",
    "gauge",
    "Time since the pipeline process started (polled).",
    PIPELINE,
)
PIPELINE_START = MetricSpec(
    "feldera_pipeline_start_timestamp_seconds",
    "gauge",
    "When the pipeline process started (polled), Unix time; counters restart from 0 then.",
    PIPELINE,
)
PIPELINE_PROCESSED = MetricSpec(
    "feldera_pipeline_processed_records_total",
    "counter",
    "Input records processed by the pipeline's engine since its process started (polled).",
    PIPELINE,
)
PIPELINE_OUTPUT_STALL = MetricSpec(
    "feldera_pipeline_output_stall_seconds",
    "gauge",
    "How long the pipeline has been stalled by full output buffers (polled; 0 when not).",
    PIPELINE,
)


def _input(name: str, kind: Literal["gauge", "counter"], help_text: str) -> MetricSpec:
    return MetricSpec(f"feldera_input_connector_{name}", kind, help_text, INPUT)


def _output(name: str, kind: Literal["gauge", "counter"], help_text: str) -> MetricSpec:
    return MetricSpec(f"feldera_output_connector_{name}", kind, help_text, OUTPUT)


IN_PAUSED = _input("paused", "gauge", "1 if the input connector was paused by a user (polled).")
IN_BARRIER = _input(
    "barrier", "gauge", "1 if the input connector currently blocks checkpoints (polled)."
)
IN_END_OF_INPUT = _input(
    "end_of_input", "gauge", "1 if the input connector has signalled end of input (polled)."
)
IN_FATAL_ERROR = _input(
    "fatal_error", "gauge", "1 if the input connector has hit a fatal error (polled)."
)
IN_HEALTH = MetricSpec(
    "feldera_input_connector_health",
    "gauge",
    "Input connector health (polled): 1 for the current one; absent when not reported.",
    (*INPUT, "status"),
)
IN_RECORDS = _input("records_total", "counter", "Records received by the input connector (polled).")
IN_BYTES = _input("bytes_total", "counter", "Bytes received by the input connector (polled).")
IN_PARSE_ERRORS = _input(
    "parse_errors_total", "counter", "Parse errors of the input connector (polled)."
)
IN_TRANSPORT_ERRORS = _input(
    "transport_errors_total", "counter", "Transport errors of the input connector (polled)."
)
IN_BUFFERED_RECORDS = _input(
    "buffered_records", "gauge", "Records buffered by the input connector, not processed (polled)."
)
IN_BUFFERED_BYTES = _input(
    "buffered_bytes", "gauge", "Bytes buffered by the input connector, not yet processed (polled)."
)
IN_LATENCY = _input(
    "processing_latency_p99_seconds",
    "gauge",
    "99th percentile of ingest-to-processed latency over recent batches (polled; absent "
    "before the first sample).",
)
IN_COMPLETED = _input(
    "completed_timestamp_seconds",
    "gauge",
    "When the newest input fully processed by every output was completed (polled), Unix time.",
)
OUT_FATAL_ERROR = _output(
    "fatal_error", "gauge", "1 if the output connector has hit a fatal error (polled)."
)
OUT_HEALTH = MetricSpec(
    "feldera_output_connector_health",
    "gauge",
    "Output connector health (polled): 1 for the current one; absent when not reported.",
    (*OUTPUT, "status"),
)
OUT_RECORDS = _output(
    "transmitted_records_total", "counter", "Records sent by the output connector (polled)."
)
OUT_BYTES = _output(
    "transmitted_bytes_total", "counter", "Bytes sent by the output connector (polled)."
)
OUT_ENCODE_ERRORS = _output(
    "encode_errors_total", "counter", "Encoding errors of the output connector (polled)."
)
OUT_TRANSPORT_ERRORS = _output(
    "transport_errors_total", "counter", "Transport errors of the output connector (polled)."
)
OUT_PROCESSED_INPUT = _output(
    "processed_input_records_total",
    "counter",
    "Input records whose outputs the connector has handled (polled); compare with the "
    "pipeline's processed records for output lag.",
)
OUT_QUEUED_RECORDS = _output(
    "queued_records", "gauge", "Records queued for the output connector (polled)."
)
OUT_QUEUED_BATCHES = _output(
    "queued_batches", "gauge", "Batches queued for the output connector (polled)."
)
OUT_BUFFERED_RECORDS = _output(
    "buffered_records", "gauge", "Records in the output connector's buffer (polled)."
)
OUT_BUFFERED_BATCHES = _output(
    "buffered_batches", "gauge", "Batches in the output connector's buffer (polled)."
)

SPECS = (
    PIPELINE_STATUS,
    PIPELINE_DESIRED_STATUS,
    PIPELINE_STATUS_CHANGE,
    PIPELINE_DEPLOYMENT_ERROR,
    PIPELINE_PROGRAM_STATUS,
    PIPELINE_STATS_AVAILABLE,
    PIPELINE_STATE,
    PIPELINE_RSS,
    PIPELINE_MEMORY_PRESSURE,
    PIPELINE_UPTIME,
    PIPELINE_START,
    PIPELINE_PROCESSED,
    PIPELINE_OUTPUT_STALL,
    IN_PAUSED,
    IN_BARRIER,
    IN_END_OF_INPUT,
    IN_FATAL_ERROR,
    IN_HEALTH,
    IN_RECORDS,
    IN_BYTES,
    IN_PARSE_ERRORS,
    IN_TRANSPORT_ERRORS,
    IN_BUFFERED_RECORDS,
    IN_BUFFERED_BYTES,
    IN_LATENCY,
    IN_COMPLETED,
    OUT_FATAL_ERROR,
    OUT_HEALTH,
    OUT_RECORDS,
    OUT_BYTES,
    OUT_ENCODE_ERRORS,
    OUT_TRANSPORT_ERRORS,
    OUT_PROCESSED_INPUT,
    OUT_QUEUED_RECORDS,
    OUT_QUEUED_BATCHES,
    OUT_BUFFERED_RECORDS,
    OUT_BUFFERED_BATCHES,
)


class ConnectorRef(Strict):
    """One connector polled through its own stats endpoint: a table's input or a view's output."""

    pipeline: str
    table: str | None = None
    view: str | None = None
    connector: str

    @model_validator(mode="after")
    def _table_or_view(self) -> ConnectorRef:
        if (self.table is None) == (self.view is None):
            raise ValueError("give exactly one of table (input connector) or view (output)")
        return self


class FelderaTarget(TargetConfig):
    """`system: feldera`: the API URL, an optional API key and which pipelines/connectors."""

    system: Literal["feldera"]
    api_key: SecretStr | None = None
    api_key_file: FilePath | None = None
    pipelines: Filter = Filter()
    # None: discover connectors with /stats; a list: poll only these, per connector.
    connectors: tuple[ConnectorRef, ...] | None = None
    include_ephemeral: bool = False

    @model_validator(mode="before")
    @classmethod
    def _one_api_key(cls, data: Any) -> Any:
        return one_of(data, "api_key", "api_key_file")


# ---------------------------------------------------------------------------------------------
# Records and pure parsers


class Pipeline(msgspec.Struct, frozen=True, gc=False):
    """One pipeline's lifecycle state from the pipeline list."""

    name: str
    status: State
    desired: State
    program: State
    # None: the last deployment ended without error; else its `deployment_error.message`, the
    # upstream's words ("" when it gives none).
    deployment_error: str | None
    status_since: float | None


class Health(msgspec.Struct, frozen=True, gc=False):
    """A connector's reported health."""

    status: State
    description: str = ""  # why, in the connector's own words (Unhealthy)


class InputConnector(msgspec.Struct, frozen=True, gc=False):
    """One input connector's status and metrics."""

    pipeline: str
    table: str
    connector: str
    paused: bool
    barrier: bool
    end_of_input: bool
    fatal_error: str  # the connector's fatal error in its own words; "" while it has none
    health: Health | None
    records: float
    bytes: float
    parse_errors: float
    transport_errors: float
    buffered_records: float
    buffered_bytes: float | None  # from v0.125.0
    latency_p99_seconds: float | None
    completed_at: float | None

    @property
    def labels(self) -> tuple[str, str, str]:
        """Label values in the spec's order."""
        return (self.pipeline, self.table, self.connector)


class OutputConnector(msgspec.Struct, frozen=True, gc=False):
    """One output connector's status and metrics."""

    pipeline: str
    view: str
    connector: str
    fatal_error: str  # the connector's fatal error in its own words; "" while it has none
    health: Health | None
    transmitted_records: float
    transmitted_bytes: float
    encode_errors: float
    transport_errors: float
    processed_input_records: float
    queued_records: float
    queued_batches: float
    buffered_records: float
    buffered_batches: float

    @property
    def labels(self) -> tuple[str, str, str]:
        """Label values in the spec's order."""
        return (self.pipeline, self.view, self.connector)


class GlobalMetrics(msgspec.Struct, frozen=True, gc=False):
    """The pipeline-wide part of `/stats`."""

    pipeline: str
    state: State
    memory_pressure: State | None  # from v0.274.0
    rss_bytes: float
    uptime_seconds: float
    start_time: float
    processed_records: float
    output_stall_seconds: float | None  # from v0.254.0


class PipelineStats(msgspec.Struct, frozen=True, gc=False):
    """One pipeline's `/stats` answer."""

    global_metrics: GlobalMetrics
    inputs: tuple[InputConnector, ...]
    outputs: tuple[OutputConnector, ...]


def _state(states: StateSet, value: Any) -> State:
    return states.normalise("null" if value is None else value)


def parse_pipeline(raw: Any, what: str) -> Pipeline:
    """One `PipelineSelectedInfo` (selector=status) -> pipeline."""
    item = obj(raw, what)
    status = _state(DEPLOYMENT_STATUSES, item.get("deployment_status"))
    desired = _state(DESIRED_STATUSES, item.get("deployment_desired_status"))
    program = _state(PROGRAM_STATUSES, item.get("program_status"))
    error = item.get("deployment_error")
    message = None
    if error is not None:
        message = _words(obj(error, f"{what}.deployment_error").get("message"))
    return Pipeline(
        name=string(item.get("name"), f"{what}.name"),
        status=status,
        desired=desired,
        program=program,
        deployment_error=message,
        status_since=timestamp(
            item.get("deployment_status_since"), f"{what}.deployment_status_since"
        ),
    )


def parse_pipeline_list(payload: Any) -> list[Pipeline]:
    """`GET /v0/pipelines?selector=status` -> every pipeline."""
    return [
        parse_pipeline(raw, f"pipelines[{i}]")
        for i, raw in enumerate(arr(payload, "GET /v0/pipelines"))
    ]


def split_endpoint(endpoint_name: str, stream: str) -> tuple[str, str]:
    """`endpoint_name` ("{table}.{connector}") -> (table, connector), the table taken from
    `config.stream` so a table name with dots in it (quoted) still splits right."""
    if stream and endpoint_name.startswith(stream + "."):
        return stream, endpoint_name[len(stream) + 1 :]
    table, dot, connector = endpoint_name.rpartition(".")
    if not dot:
        return stream, endpoint_name
    return stream or table, connector


def is_ephemeral(connector: str, output: bool) -> bool:
    """HTTP ingress/egress connectors, created per HTTP request and gone with it."""
    return connector.startswith("api-" if output else "api-ingress-")


def _health(value: Any, what: str) -> Health | None:
    if value is None:
        return None
    health = obj(value, what)
    return Health(_state(HEALTH_STATUSES, health.get("status")), _words(health.get("description")))


def _words(value: Any) -> str:
    """An optional free-text field; anything but a string counts as absent (it is only shown)."""
    return value if isinstance(value, str) else ""


def _fatal(value: Any, what: str) -> str:
    return "" if value is None else string(value, what)


def unquote_identifier(name: str) -> str:
    """A SQL identifier as the user wrote it, without the quotes Feldera keeps in
    `config.stream` for case-sensitive names (`"Trades"` -> `Trades`)."""
    if len(name) >= 2 and name.startswith('"') and name.endswith('"'):
        return name[1:-1].replace('""', '"')
    return name


def _endpoint(raw: Any, what: str) -> tuple[dict[str, Any], str, str, dict[str, Any]]:
    item = obj(raw, what)
    name = string(item.get("endpoint_name"), f"{what}.endpoint_name")
    config = obj(item.get("config"), f"{what}.config")
    # `stream` is the relation's sql_name(): quoted when case-sensitive, while the endpoint
    # name uses the bare name (`Trades.kafka_in`).
    stream = unquote_identifier(string(config.get("stream"), f"{what}.config.stream"))
    parent, connector = split_endpoint(name, stream)
    return item, parent, connector, obj(item.get("metrics"), f"{what}.metrics")


def parse_input(pipeline: str, raw: Any, what: str) -> InputConnector:
    """One `InputEndpointStatus` -> input connector (optional keys may be absent)."""
    item, table, connector, metrics = _endpoint(raw, what)
    latency = optional_number(
        metrics.get("processing_latency_p99_micros"), f"{what}.processing_latency_p99_micros"
    )
    frontier = item.get("completed_frontier")
    completed = None
    if frontier is not None:
        completed = timestamp(
            obj(frontier, f"{what}.completed_frontier").get("completed_at"),
            f"{what}.completed_frontier.completed_at",
        )
    m = f"{what}.metrics"
    return InputConnector(
        pipeline=pipeline,
        table=table,
        connector=connector,
        paused=boolean(item.get("paused"), f"{what}.paused"),
        barrier=boolean(item.get("barrier"), f"{what}.barrier"),
        end_of_input=boolean(metrics.get("end_of_input"), f"{m}.end_of_input"),
        fatal_error=_fatal(item.get("fatal_error"), f"{what}.fatal_error"),
        health=_health(item.get("health"), f"{what}.health"),
        records=field_number(metrics, "total_records", m),
        bytes=field_number(metrics, "total_bytes", m),
        parse_errors=field_number(metrics, "num_parse_errors", m),
        transport_errors=field_number(metrics, "num_transport_errors", m),
        buffered_records=field_number(metrics, "buffered_records", m),
        buffered_bytes=optional_number(metrics.get("buffered_bytes"), f"{m}.buffered_bytes"),
        latency_p99_seconds=None if latency is None else latency / 1e6,
        completed_at=completed,
    )


def parse_output(pipeline: str, raw: Any, what: str) -> OutputConnector:
    """One `OutputEndpointStatus` -> output connector."""
    item, view, connector, metrics = _endpoint(raw, what)
    m = f"{what}.metrics"

    def count(key: str) -> float:
        return field_number(metrics, key, m)

    return OutputConnector(
        pipeline=pipeline,
        view=view,
        connector=connector,
        fatal_error=_fatal(item.get("fatal_error"), f"{what}.fatal_error"),
        health=_health(item.get("health"), f"{what}.health"),
        transmitted_records=count("transmitted_records"),
        transmitted_bytes=count("transmitted_bytes"),
        encode_errors=count("num_encode_errors"),
        transport_errors=count("num_transport_errors"),
        processed_input_records=count("total_processed_input_records"),
        queued_records=count("queued_records"),
        queued_batches=count("queued_batches"),
        buffered_records=count("buffered_records"),
        buffered_batches=count("buffered_batches"),
    )


def parse_global_metrics(pipeline: str, raw: Any) -> GlobalMetrics:
    """`global_metrics` of `/stats` -> the few pipeline-wide values we export."""
    what = "stats.global_metrics"
    data = obj(raw, what)

    def count(key: str) -> float:
        return field_number(data, key, what)

    # Absent before v0.274.0: no series, not an unknown value.
    raw_pressure = data.get("memory_pressure")
    return GlobalMetrics(
        pipeline=pipeline,
        state=_state(PIPELINE_STATES, data.get("state")),
        memory_pressure=None if raw_pressure is None else MEMORY_PRESSURES.normalise(raw_pressure),
        rss_bytes=count("rss_bytes"),
        uptime_seconds=count("uptime_msecs") / 1000.0,
        start_time=count("start_time"),
        processed_records=count("total_processed_records"),
        output_stall_seconds=_msecs(data.get("output_stall_msecs"), f"{what}.output_stall_msecs"),
    )


def _msecs(value: Any, what: str) -> float | None:
    milliseconds = optional_number(value, what)
    return None if milliseconds is None else milliseconds / 1000.0


def parse_stats(pipeline: str, payload: Any) -> PipelineStats:
    """`GET /v0/pipelines/{p}/stats` -> global metrics and every connector."""
    data = obj(payload, "stats")
    return PipelineStats(
        global_metrics=parse_global_metrics(pipeline, data.get("global_metrics")),
        inputs=tuple(
            parse_input(pipeline, raw, f"stats.inputs[{i}]")
            for i, raw in enumerate(arr(data.get("inputs"), "stats.inputs"))
        ),
        outputs=tuple(
            parse_output(pipeline, raw, f"stats.outputs[{i}]")
            for i, raw in enumerate(arr(data.get("outputs"), "stats.outputs"))
        ),
    )


_PLAIN_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")


def sql_identifier(name: str) -> str:
    """A table/view name as the per-connector endpoint parses it: unquoted names are lower-cased
    there, so any other spelling is sent quoted to keep its case."""
    if len(name) >= 2 and name.startswith('"') and name.endswith('"'):
        return name
    if _PLAIN_IDENTIFIER.match(name):
        return name
    return '"' + name.replace('"', '""') + '"'


def error_code(exc: UpstreamError) -> str | None:
    """Feldera's `error_code` from an error answer, if the body is Feldera's own."""
    payload = exc.payload
    if isinstance(payload, dict) and isinstance(payload.get("error_code"), str):
        code: str = payload["error_code"]
        return code
    return None


# ---------------------------------------------------------------------------------------------
# Records -> families (pure)


@dataclass(slots=True)
class Observation:
    """Everything one poll read, ready to become families."""

    pipelines: list[Pipeline]
    # Per Running/Paused pipeline: did its stats (or connector) calls answer?
    stats_available: dict[str, bool] = field(default_factory=dict)
    global_metrics: list[GlobalMetrics] = field(default_factory=list)
    inputs: list[InputConnector] = field(default_factory=list)
    outputs: list[OutputConnector] = field(default_factory=list)
    # Explicitly listed connectors the upstream does not know.
    missing_connectors: int = 0


def _flag(family: Family, labels: tuple[str, ...], on: bool) -> None:
    family.add(labels, 1 if on else 0)


def _pipeline_families(seen: Observation) -> list[Family]:
    status = Family(PIPELINE_STATUS)
    desired = Family(PIPELINE_DESIRED_STATUS)
    since = Family(PIPELINE_STATUS_CHANGE)
    error = Family(PIPELINE_DEPLOYMENT_ERROR)
    program = Family(PIPELINE_PROGRAM_STATUS)
    available = Family(PIPELINE_STATS_AVAILABLE)
    for p in seen.pipelines:
        DEPLOYMENT_STATUSES.one_hot(status, (p.name,), p.status)
        DESIRED_STATUSES.one_hot(desired, (p.name,), p.desired)
        PROGRAM_STATUSES.one_hot(program, (p.name,), p.program)
        _flag(error, (p.name,), p.deployment_error is not None)
        if p.status_since is not None:
            since.add((p.name,), p.status_since)
        if p.name in seen.stats_available:
            _flag(available, (p.name,), seen.stats_available[p.name])
    return [status, desired, since, error, program, available]


def _global_families(seen: Observation) -> list[Family]:
    state = Family(PIPELINE_STATE)
    rss = Family(PIPELINE_RSS)
    pressure = Family(PIPELINE_MEMORY_PRESSURE)
    uptime = Family(PIPELINE_UPTIME)
    start = Family(PIPELINE_START)
    processed = Family(PIPELINE_PROCESSED)
    stall = Family(PIPELINE_OUTPUT_STALL)
    for g in seen.global_metrics:
        labels = (g.pipeline,)
        PIPELINE_STATES.one_hot(state, labels, g.state)
        if g.memory_pressure is not None:
            MEMORY_PRESSURES.one_hot(pressure, labels, g.memory_pressure)
        rss.add(labels, g.rss_bytes)
        uptime.add(labels, g.uptime_seconds)
        start.add(labels, g.start_time)
        processed.add(labels, g.processed_records)
        if g.output_stall_seconds is not None:
            stall.add(labels, g.output_stall_seconds)
    return [state, rss, pressure, uptime, start, processed, stall]


def _input_families(inputs: Iterable[InputConnector]) -> list[Family]:
    flags = {spec: Family(spec) for spec in (IN_PAUSED, IN_BARRIER, IN_END_OF_INPUT)}
    fatal, health = Family(IN_FATAL_ERROR), Family(IN_HEALTH)
    values = {
        spec: Family(spec)
        for spec in (
            IN_RECORDS,
            IN_BYTES,
            IN_PARSE_ERRORS,
            IN_TRANSPORT_ERRORS,
            IN_BUFFERED_RECORDS,
            IN_BUFFERED_BYTES,
        )
    }
    latency, completed = Family(IN_LATENCY), Family(IN_COMPLETED)
    for c in inputs:
        labels = c.labels
        _flag(flags[IN_PAUSED], labels, c.paused)
        _flag(flags[IN_BARRIER], labels, c.barrier)
        _flag(flags[IN_END_OF_INPUT], labels, c.end_of_input)
        _flag(fatal, labels, bool(c.fatal_error))
        if c.health is not None:
            HEALTH_STATUSES.one_hot(health, labels, c.health.status)
        values[IN_RECORDS].add(labels, c.records)
        values[IN_BYTES].add(labels, c.bytes)
        values[IN_PARSE_ERRORS].add(labels, c.parse_errors)
        values[IN_TRANSPORT_ERRORS].add(labels, c.transport_errors)
        values[IN_BUFFERED_RECORDS].add(labels, c.buffered_records)
        if c.buffered_bytes is not None:
            values[IN_BUFFERED_BYTES].add(labels, c.buffered_bytes)
        if c.latency_p99_seconds is not None:
            latency.add(labels, c.latency_p99_seconds)
        if c.completed_at is not None:
            completed.add(labels, c.completed_at)
    return [*flags.values(), fatal, health, *values.values(), latency, completed]


def _output_families(outputs: Iterable[OutputConnector]) -> list[Family]:
    fatal, health = Family(OUT_FATAL_ERROR), Family(OUT_HEALTH)
    fields_by_spec = {
        OUT_RECORDS: "transmitted_records",
        OUT_BYTES: "transmitted_bytes",
        OUT_ENCODE_ERRORS: "encode_errors",
        OUT_TRANSPORT_ERRORS: "transport_errors",
        OUT_PROCESSED_INPUT: "processed_input_records",
        OUT_QUEUED_RECORDS: "queued_records",
        OUT_QUEUED_BATCHES: "queued_batches",
        OUT_BUFFERED_RECORDS: "buffered_records",
        OUT_BUFFERED_BATCHES: "buffered_batches",
    }
    values = {spec: Family(spec) for spec in fields_by_spec}
    for c in outputs:
        labels = c.labels
        _flag(fatal, labels, bool(c.fatal_error))
        if c.health is not None:
            HEALTH_STATUSES.one_hot(health, labels, c.health.status)
        for spec, name in fields_by_spec.items():
            values[spec].add(labels, getattr(c, name))
    return [fatal, health, *values.values()]


def build_families(seen: Observation) -> list[Family]:
    """Translate one poll's records into Feldera families."""
    return [
        *_pipeline_families(seen),
        *_global_families(seen),
        *_input_families(seen.inputs),
        *_output_families(seen.outputs),
    ]


def summarise(seen: Observation) -> PollResult:
    """Entity counts for the status page and unknown enum values, without families yet."""
    result = PollResult(families=[])

    def count(key: str) -> None:
        result.entities[key] = result.entities.get(key, 0) + 1

    def check(field_name: str, state: State | None) -> None:
        if isinstance(state, Unknown):
            result.unknown_values.append((field_name, str(state)))

    for p in seen.pipelines:
        count(f"pipelines {p.status}")
        check("deployment_status", p.status)
        check("deployment_desired_status", p.desired)
        check("program_status", p.program)
    for g in seen.global_metrics:
        check("pipeline_state", g.state)
        check("memory_pressure", g.memory_pressure)
    connectors: list[InputConnector | OutputConnector] = [*seen.inputs, *seen.outputs]
    for c in connectors:
        count(f"connectors {c.health.status}" if c.health else "connectors health unreported")
        if c.health is not None:
            check("connector_health", c.health.status)
    if seen.missing_connectors:
        result.entities["connectors not found"] = seen.missing_connectors
    return result


# Deployment states that need a person (with or without a deployment error).
BROKEN_PIPELINE_STATES = frozenset({"Paused", "Unavailable", "Failed"})
BROKEN_PROGRAM_STATES = frozenset({"SqlError", "RustError", "SystemError"})


def broken_entities(seen: Observation) -> list[BrokenEntity]:
    """Pipelines with a deployment error, a failed program or a paused or unavailable
    deployment, and connectors with a fatal error or unhealthy, in Feldera's own words."""
    broken = []
    for p in seen.pipelines:
        if p.program in BROKEN_PROGRAM_STATES:
            state = p.program
        elif (
            p.deployment_error is not None
            or p.status in BROKEN_PIPELINE_STATES
            or isinstance(p.status, Unknown)
        ):
            state = p.status
        else:
            continue
        names: tuple[tuple[str, str], ...] = (("pipeline", p.name),)
        error = p.deployment_error or ""
        broken.append(BrokenEntity("pipeline", names, str(state), error, p.status_since))
    connectors: list[tuple[str, str, InputConnector | OutputConnector]] = [
        *(("input connector", "table", c) for c in seen.inputs),
        *(("output connector", "view", c) for c in seen.outputs),
    ]
    for kind, parent, c in connectors:
        unhealthy = c.health is not None and c.health.status != "Healthy"
        if not (c.fatal_error or unhealthy):
            continue
        pipeline, relation, name = c.labels
        names = (("pipeline", pipeline), (parent, relation), ("connector", name))
        state = "fatal error" if c.fatal_error else ""
        if c.health is not None:
            state = ", ".join(s for s in (state, c.health.status) if s)
        words = [c.fatal_error, c.health.description if c.health else ""]
        error = "\n".join(dict.fromkeys(w for w in words if w))
        broken.append(BrokenEntity(kind, names, state, error))
    return broken


# ---------------------------------------------------------------------------------------------
# I/O


def _path(*parts: str) -> str:
    return api_path(API, *parts)


def _pipeline_deleted(exc: UpstreamError) -> bool:
    """Only `UnknownPipelineName` means the pipeline is gone; any other 404 (a proxy's, an
    unknown connector) is not a deletion."""
    return exc.status == 404 and error_code(exc) == UNKNOWN_PIPELINE_CODE


class _Missing:
    """An explicitly listed connector the pipeline does not have."""


MISSING = _Missing()


class FelderaSource(Source[FelderaTarget]):
    """Polls one Feldera API server."""

    system = "feldera"
    config_model = FelderaTarget
    specs = SPECS
    detail_endpoints = ("stats", "connector_stats")
    unknown_value_fields = (
        "connector_health",
        "deployment_desired_status",
        "deployment_status",
        "memory_pressure",
        "pipeline_state",
        "program_status",
    )

    def auth(self) -> Auth | None:
        """Bearer auth with the API key as given (it already starts with `apikey:`)."""
        cfg = self.config
        if cfg.api_key is None and cfg.api_key_file is None:
            return None
        return BearerAuth(SecretReader(cfg.api_key, cfg.api_key_file))

    async def poll(self, client: UpstreamClient) -> PollResult:
        """Pipeline list, then `/stats` (or the listed connectors) of the live ones."""
        details = self.details()
        listed = parse_pipeline_list(
            await client.get_json(_path("pipelines"), {"selector": "status"})
        )
        pipelines = [
            p for p in listed if self.config.pipelines.matches(p.name) and self.shard.owns(p.name)
        ]
        self.admit(len(pipelines), "GET /v0/pipelines: pipelines")
        live = sorted(p.name for p in pipelines if p.status in STATS_STATUSES)
        seen = Observation(pipelines)
        gone: set[str] = set()
        if self.config.connectors is None:
            jobs = [functools.partial(self._stats, client, details, n, seen, gone) for n in live]
        else:
            alive = set(live)
            refs = [r for r in dict.fromkeys(self.config.connectors) if r.pipeline in alive]
            jobs = [
                functools.partial(self._connector, client, details, r, seen, gone) for r in refs
            ]
        await fan_out(jobs, details.limit)
        if gone:
            seen = _without(seen, gone)
        result = summarise(seen)
        result.families = build_families(seen)
        result.broken = broken_entities(seen)
        return details.into(result)

    async def _stats(
        self,
        client: UpstreamClient,
        details: Details,
        pipeline: str,
        seen: Observation,
        gone: set[str],
    ) -> None:
        async def call() -> PipelineStats:
            payload = await client.get_json(_path("pipelines", pipeline, "stats"))
            return parse_stats(pipeline, payload)

        # During a transition the manager forwards the pipeline's own answer (410 Terminating,
        # 503 Initializing or Suspended, 500 InitializationError) or answers 503 itself: that
        # pipeline's stats are missing this poll, the rest of the target is fine.
        stats = await details.fetch(
            f"pipeline {pipeline}", "stats", call, gone_if=_pipeline_deleted
        )
        if stats is GONE:
            gone.add(pipeline)
            return
        seen.stats_available[pipeline] = isinstance(stats, PipelineStats)
        if isinstance(stats, PipelineStats):
            keep = self.config.include_ephemeral
            seen.global_metrics.append(stats.global_metrics)
            seen.inputs.extend(
                c for c in stats.inputs if keep or not is_ephemeral(c.connector, False)
            )
            seen.outputs.extend(
                c for c in stats.outputs if keep or not is_ephemeral(c.connector, True)
            )

    async def _connector(
        self,
        client: UpstreamClient,
        details: Details,
        ref: ConnectorRef,
        seen: Observation,
        gone: set[str],
    ) -> None:
        output = ref.view is not None
        parent = ref.view if ref.view is not None else ref.table or ""
        kind = "views" if output else "tables"
        path = _path(
            "pipelines",
            ref.pipeline,
            kind,
            sql_identifier(parent),
            "connectors",
            ref.connector,
            "stats",
        )
        what = f"{kind}/{parent}/connectors/{ref.connector}"

        async def call() -> InputConnector | OutputConnector | _Missing:
            try:
                payload = await client.get_json(path)
            except UpstreamError as exc:
                if exc.status == 404 and not _pipeline_deleted(exc):
                    return MISSING
                raise
            if output:
                return parse_output(ref.pipeline, payload, what)
            return parse_input(ref.pipeline, payload, what)

        entity = f"connector {ref.pipeline}/{parent}.{ref.connector}"
        found = await details.fetch(entity, "connector_stats", call, gone_if=_pipeline_deleted)
        if found is GONE:
            gone.add(ref.pipeline)
        elif found is MISSING:
            seen.missing_connectors += 1
        elif isinstance(found, InputConnector):
            seen.inputs.append(found)
        elif isinstance(found, OutputConnector):
            seen.outputs.append(found)
        # A pipeline answers for all its connectors or none: one failure marks it unavailable.
        available = found is not None and found is not GONE
        seen.stats_available[ref.pipeline] = (
            seen.stats_available.get(ref.pipeline, True) and available
        )


def _without(seen: Observation, gone: set[str]) -> Observation:
    """The observation less the pipelines deleted since the list call."""
    return Observation(
        pipelines=[p for p in seen.pipelines if p.name not in gone],
        stats_available={n: v for n, v in seen.stats_available.items() if n not in gone},
        global_metrics=[g for g in seen.global_metrics if g.pipeline not in gone],
        inputs=[c for c in seen.inputs if c.pipeline not in gone],
        outputs=[c for c in seen.outputs if c.pipeline not in gone],
        missing_connectors=seen.missing_connectors,
    )
