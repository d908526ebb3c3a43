"""Feldera pipelines: lifecycle state, connector health and fatal errors, counters and freshness.

API facts: everything is under `/v0`, auth is `Authorization: Bearer <api key>` (the key a user
is given already starts with `apikey:`; the open-source default runs without auth), enums are
strings, errors are `{message, error_code, details}`. Discovery is `GET pipelines?selector=status`
(every pipeline, stopped and failed ones included), then `GET pipelines/{p}/stats` for each
pipeline whose process has a controller (Running, Paused, Bootstrapping, Replaying,
ConcurrentBootstrapping, Synchronizing): one call carries the global metrics (storage used
included), the checkpoint state (from v0.288.0) and every connector (without the recent-error
lists). An explicit `connectors:` list uses the per-connector endpoints
`pipelines/{p}/tables/{t}/connectors/{c}/stats` (views: `views/{v}/...`) instead of `/stats`.
A pipeline that stops between the two calls answers 503 `PipelineInteractionNotDeployed`: its
status stays, its connector series go, and the target stays up.

Each answer has one typed shape (`PipelineSelectedInfo`, `ControllerStatus`,
`Input/OutputEndpointStatus`), written as Feldera's openapi.json describes it, and one decoder
that checks it in one pass (`sources.typed`). A plain field is one line on its shape::

    total_records: Annotated[Integer, Plain(_input("records_total", "Records ..."))]

Its metric lands in the table of its kind of entity (`PIPELINE_METRICS`, `GLOBAL_METRICS`,
`INPUT_METRICS`, `OUTPUT_METRICS`, see `sources.fields`); state sets and derived values are
specs placed in those tables and filled by the builders.

Sample exposition::

    feldera_pipeline_status{target="f",pipeline="fraud-detection",status="Running"} 1.0
    feldera_pipeline_status{target="f",pipeline="fraud-detection",status="Stopped"} 0.0
    feldera_pipeline_deployment_error{target="f",pipeline="inventory-rollup"} 1.0
    feldera_pipeline_state{target="f",pipeline="fraud-detection",status="Running"} 1.0
    feldera_pipeline_rss_bytes{target="f",pipeline="fraud-detection"} 1.87695104e+09
    feldera_pipeline_storage_bytes{target="f",pipeline="fraud-detection"} 5.36870912e+09
    feldera_pipeline_checkpoint_activity{target="f",pipeline="market-data",status="delayed"} 1.0
    feldera_pipeline_checkpoint_delayed_since_timestamp_seconds{target="f",
        pipeline="market-data"} 1.7762428e+09
    feldera_pipeline_checkpoint_permanent_errors{target="f",pipeline="ledger-audit",
        reason="StorageRequired"} 1.0
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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, UnsetType
from pydantic import FilePath, SecretStr, model_validator

from dataflow_exporter import thresholds
from dataflow_exporter.auth import Auth, BearerAuth, SecretReader
from dataflow_exporter.config_models import ConfigModel, Filter, TargetConfig, not_both
from dataflow_exporter.errors import Reason, SchemaError, TimeRangeError, UpstreamError
from dataflow_exporter.families import Family, MetricSpec, State, StateSet, Unknown
from dataflow_exporter.sources.base import (
    GONE,
    BrokenEntity,
    DetailFailure,
    Details,
    PollResult,
    Source,
    api_path,
    fan_out,
)
from dataflow_exporter.sources.fields import (
    Families,
    Metrics,
    Plain,
    Values,
    flag,
    micros,
    msecs,
    plain_fields,
    plain_spec,
    rfc3339,
    unix_seconds,
)
from dataflow_exporter.sources.typed import Decoder, Integer
from dataflow_exporter.thresholds import AlertSettings
from dataflow_exporter.upstream import Answer, UpstreamClient

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
# `checkpoint_activity.status` (crates/feldera-types/src/checkpoint.rs `CheckpointActivity`,
# `#[serde(tag = "status", rename_all = "snake_case")]`), from v0.288.0.
CHECKPOINT_ACTIVITIES = StateSet(("idle", "delayed", "in_progress"))
# `permanent_checkpoint_errors[]` (crates/feldera-types/src/suspend.rs `PermanentSuspendError`,
# serde's external tagging: a unit variant is its name, `UnsupportedInputEndpoint` is
# `{"UnsupportedInputEndpoint": "<endpoint>"}`), from v0.288.0.
PERMANENT_CHECKPOINT_ERRORS = StateSet(
    ("EnterpriseFeature", "StorageRequired", "UnsupportedInputEndpoint")
)
HEALTH_STATUSES = StateSet(("Healthy", "Unhealthy"))

# The deployment states whose pipeline process has a controller that answers `/stats`
# (crates/adapters/src/server.rs): a bootstrap or replay can take hours, and its connectors'
# health and fatal errors matter most then.
STATS_STATUSES = frozenset(
    {"Running", "Paused", "Bootstrapping", "Replaying", "ConcurrentBootstrapping", "Synchronizing"}
)
# The capability the target reports for `checkpoint_activity` and `permanent_checkpoint_errors`.
CHECKPOINT_CAPABILITY = "checkpoint_activity"
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
    "1 if the pipeline, in a deployment status whose process has a controller (Running, "
    "Paused, Bootstrapping, Replaying, ConcurrentBootstrapping, Synchronizing), answered its "
    "stats call (polled); 0 when it was not deployed or unreachable, and its connector series "
    "are then absent.",
    PIPELINE,
)
PIPELINE_STATE = MetricSpec(
    "feldera_pipeline_state",
    "gauge",
    "State reported by the pipeline process (polled): 1 for the current one.",
    (*PIPELINE, "status"),
)
PIPELINE_MEMORY_PRESSURE = MetricSpec(
    "feldera_pipeline_memory_pressure",
    "gauge",
    "Memory pressure level of the pipeline (polled): 1 for the current one.",
    (*PIPELINE, "status"),
)
CHECKPOINT_ACTIVITY = MetricSpec(
    "feldera_pipeline_checkpoint_activity",
    "gauge",
    "Checkpoint activity of the pipeline (polled): 1 for the current one (idle, delayed, "
    "in_progress); absent before Feldera v0.288.0.",
    (*PIPELINE, "status"),
)
CHECKPOINT_DELAYED_SINCE = MetricSpec(
    "feldera_pipeline_checkpoint_delayed_since_timestamp_seconds",
    "gauge",
    "When the pipeline's requested checkpoint began to be delayed (polled), Unix time; present "
    "only while it is delayed.",
    PIPELINE,
)
CHECKPOINT_STARTED = MetricSpec(
    "feldera_pipeline_checkpoint_started_timestamp_seconds",
    "gauge",
    "When the checkpoint being written started (polled), Unix time; present only while one is "
    "in progress.",
    PIPELINE,
)
CHECKPOINT_PERMANENT_ERRORS = MetricSpec(
    "feldera_pipeline_checkpoint_permanent_errors",
    "gauge",
    "Reasons the pipeline can never checkpoint until its configuration changes, by reason "
    "(polled); 0 when it can; absent before Feldera v0.288.0.",
    (*PIPELINE, "reason"),
)
IN_FATAL_ERROR = MetricSpec(
    "feldera_input_connector_fatal_error",
    "gauge",
    "1 if the input connector has hit a fatal error (polled).",
    INPUT,
)
IN_HEALTH = MetricSpec(
    "feldera_input_connector_health",
    "gauge",
    "Input connector health (polled): 1 for the current one; absent when not reported.",
    (*INPUT, "status"),
)
OUT_FATAL_ERROR = MetricSpec(
    "feldera_output_connector_fatal_error",
    "gauge",
    "1 if the output connector has hit a fatal error (polled).",
    OUTPUT,
)
OUT_HEALTH = MetricSpec(
    "feldera_output_connector_health",
    "gauge",
    "Output connector health (polled): 1 for the current one; absent when not reported.",
    (*OUTPUT, "status"),
)


def _pipeline(name: str, help_text: str) -> MetricSpec:
    return plain_spec(f"feldera_pipeline_{name}", help_text, PIPELINE)


def _input(name: str, help_text: str) -> MetricSpec:
    return plain_spec(f"feldera_input_connector_{name}", help_text, INPUT)


def _output(name: str, help_text: str) -> MetricSpec:
    return plain_spec(f"feldera_output_connector_{name}", help_text, OUTPUT)


PIPELINE_STORAGE = _pipeline(
    "storage_bytes",
    "Storage the pipeline uses now (polled); Feldera reports no limit: watch its growth.",
)


# ---------------------------------------------------------------------------------------------
# Typed shapes of Feldera's answers (crates/adapters/src/controller/stats.rs, openapi.json)
#
# Each answer is decoded and checked in one pass against its shape (`sources.typed.Decoder`).
# A field every release sends is required; one an older release lacks is `X | None = None`.
# A plain field is one line: its `Plain` annotation names the metric and the conversion.
# A state is `Any`: any value, a string, a number or null, is a state (an unknown one when it
# is not in the set), as the upstream wrote it. Text only shown (a description, a deployment
# error's message) is `Any` too: anything but a string counts as absent.


class DeploymentError(msgspec.Struct, gc=False):
    """`deployment_error`: the upstream's words for why the last deployment failed."""

    message: Any = None


class PipelineSelectedInfo(msgspec.Struct, kw_only=True, gc=False):
    """One `PipelineSelectedInfo` of `GET /v0/pipelines?selector=status`."""

    name: str
    deployment_status: Any = None
    deployment_desired_status: Any = None
    deployment_status_since: Annotated[
        str | None,
        Plain(
            _pipeline(
                "status_change_timestamp_seconds",
                "When the pipeline entered its current deployment status (polled), Unix time.",
            ),
            rfc3339,
        ),
    ] = None
    deployment_error: DeploymentError | None = None
    program_status: Any = None


class GlobalControllerMetrics(msgspec.Struct, kw_only=True, gc=False):
    """`global_metrics` of `/stats` (`GlobalControllerMetrics`)."""

    state: Any = None
    rss_bytes: Annotated[
        Integer,
        Plain(_pipeline("rss_bytes", "Resident set size of the pipeline process (polled).")),
    ]
    memory_pressure: Any = None  # from v0.274.0
    uptime_msecs: Annotated[
        Integer,
        Plain(
            _pipeline("uptime_seconds", "Time since the pipeline process started (polled)."), msecs
        ),
    ]
    start_time: Annotated[
        Integer,
        Plain(
            _pipeline(
                "start_timestamp_seconds",
                "When the pipeline process started (polled), Unix time; counters restart from 0 "
                "then.",
            ),
            unix_seconds,
        ),
    ]
    total_processed_records: Annotated[
        Integer,
        Plain(
            _pipeline(
                "processed_records_total",
                "Input records processed by the pipeline's engine since its process started "
                "(polled).",
            )
        ),
    ]
    storage_bytes: Annotated[Integer, Plain(PIPELINE_STORAGE)]
    output_stall_msecs: Annotated[
        Integer | None,
        Plain(
            _pipeline(
                "output_stall_seconds",
                "How long the pipeline has been stalled by full output buffers (polled; 0 when "
                "not).",
            ),
            msecs,
        ),
    ] = None  # from v0.254.0


# A serde externally tagged variant: a unit variant is its name, a newtype one `{"Name": value}`.
Variant = str | dict[str, Any]


class CheckpointActivity(msgspec.Struct, gc=False):
    """`checkpoint_activity` of `/stats` (`CheckpointActivity`, tagged by `status`): the time
    is required in the status that carries it, which the parser checks."""

    status: str
    delayed_since: str | None = None  # while delayed
    reasons: list[Variant] = []  # while delayed: `TemporarySuspendError` variants
    started_at: str | None = None  # while in progress


class ShortEndpointConfig(msgspec.Struct, gc=False):
    """An endpoint's `config` (`ShortEndpointConfig`): `stream` is its table or view."""

    stream: str


class ConnectorHealth(msgspec.Struct, gc=False):
    """A connector's `health`: its status is a state (see above), its description only shown."""

    status: Any = None
    description: Any = ""  # why, in the connector's own words (Unhealthy)


class InputEndpointMetrics(msgspec.Struct, kw_only=True, gc=False):
    """An input endpoint's `metrics` (`InputEndpointMetrics`)."""

    end_of_input: Annotated[
        bool,
        Plain(
            _input("end_of_input", "1 if the input connector has signalled end of input (polled)."),
            flag,
        ),
    ]
    total_records: Annotated[
        Integer, Plain(_input("records_total", "Records received by the input connector (polled)."))
    ]
    total_bytes: Annotated[
        Integer, Plain(_input("bytes_total", "Bytes received by the input connector (polled)."))
    ]
    num_parse_errors: Annotated[
        Integer,
        Plain(_input("parse_errors_total", "Parse errors of the input connector (polled).")),
    ]
    num_transport_errors: Annotated[
        Integer,
        Plain(
            _input("transport_errors_total", "Transport errors of the input connector (polled).")
        ),
    ]
    buffered_records: Annotated[
        Integer,
        Plain(
            _input(
                "buffered_records",
                "Records buffered by the input connector, not processed (polled).",
            )
        ),
    ]
    buffered_bytes: Annotated[
        Integer | None,
        Plain(
            _input(
                "buffered_bytes",
                "Bytes buffered by the input connector, not yet processed (polled).",
            )
        ),
    ] = None  # from v0.125.0
    processing_latency_p99_micros: Annotated[
        Integer | None,
        Plain(
            _input(
                "processing_latency_p99_seconds",
                "99th percentile of ingest-to-processed latency over recent batches (polled; "
                "absent before the first sample).",
            ),
            micros,
        ),
    ] = None


class CompletedWatermark(msgspec.Struct, gc=False):
    """An input endpoint's `completed_frontier` (`CompletedWatermark`)."""

    completed_at: Annotated[
        str | None,
        Plain(
            _input(
                "completed_timestamp_seconds",
                "When the newest input fully processed by every output was completed (polled), "
                "Unix time.",
            ),
            rfc3339,
        ),
    ] = None


class InputEndpointStatus(msgspec.Struct, kw_only=True, gc=False):
    """One `InputEndpointStatus`: an entry of `/stats`' `inputs`, or a per-connector answer."""

    endpoint_name: str
    config: ShortEndpointConfig
    paused: Annotated[
        bool,
        Plain(_input("paused", "1 if the input connector was paused by a user (polled)."), flag),
    ]
    barrier: Annotated[
        bool,
        Plain(
            _input("barrier", "1 if the input connector currently blocks checkpoints (polled)."),
            flag,
        ),
    ]
    metrics: InputEndpointMetrics
    fatal_error: str | None = None
    health: ConnectorHealth | None = None  # from v0.265.0
    completed_frontier: CompletedWatermark | None = None


class OutputEndpointMetrics(msgspec.Struct, kw_only=True, gc=False):
    """An output endpoint's `metrics` (`OutputEndpointMetrics`)."""

    transmitted_records: Annotated[
        Integer,
        Plain(
            _output("transmitted_records_total", "Records sent by the output connector (polled).")
        ),
    ]
    transmitted_bytes: Annotated[
        Integer,
        Plain(_output("transmitted_bytes_total", "Bytes sent by the output connector (polled).")),
    ]
    num_encode_errors: Annotated[
        Integer,
        Plain(_output("encode_errors_total", "Encoding errors of the output connector (polled).")),
    ]
    num_transport_errors: Annotated[
        Integer,
        Plain(
            _output("transport_errors_total", "Transport errors of the output connector (polled).")
        ),
    ]
    total_processed_input_records: Annotated[
        Integer,
        Plain(
            _output(
                "processed_input_records_total",
                "Input records whose outputs the connector has handled (polled); compare with the "
                "pipeline's processed records for output lag.",
            )
        ),
    ]
    queued_records: Annotated[
        Integer,
        Plain(_output("queued_records", "Records queued for the output connector (polled).")),
    ]
    queued_batches: Annotated[
        Integer,
        Plain(_output("queued_batches", "Batches queued for the output connector (polled).")),
    ]
    buffered_records: Annotated[
        Integer,
        Plain(_output("buffered_records", "Records in the output connector's buffer (polled).")),
    ]
    buffered_batches: Annotated[
        Integer,
        Plain(_output("buffered_batches", "Batches in the output connector's buffer (polled).")),
    ]


class OutputEndpointStatus(msgspec.Struct, kw_only=True, gc=False):
    """One `OutputEndpointStatus`: an entry of `/stats`' `outputs`, or a per-connector answer."""

    endpoint_name: str
    config: ShortEndpointConfig
    metrics: OutputEndpointMetrics
    fatal_error: str | None = None
    health: ConnectorHealth | None = None  # from v0.265.0


class ControllerStatus(msgspec.Struct, kw_only=True, gc=False):
    """`GET /v0/pipelines/{p}/stats` (`ExternalControllerStatus`), less the parts not read."""

    global_metrics: GlobalControllerMetrics
    inputs: list[InputEndpointStatus]
    outputs: list[OutputEndpointStatus]
    checkpoint_activity: CheckpointActivity | None = None  # from v0.288.0
    # From v0.288.0: absent (unset) before; null is an empty list.
    permanent_checkpoint_errors: list[Variant] | UnsetType | None = UNSET


def entity_metrics(
    shape: type[msgspec.Struct],
    before: Mapping[str, tuple[MetricSpec, ...]],
    after: tuple[MetricSpec, ...] = (),
) -> Metrics:
    """The metrics of one kind of entity: the `Plain` fields of its shape in their order, with
    the specs the builders fill placed `before` the plain field at a JSON path, or `after` them
    all. The family order is the one the exports have always had (a series cap drops families
    from the end of it)."""
    plain = plain_fields(shape)
    missing = sorted(set(before) - {row.path for row in plain})
    if missing:
        raise ValueError(f"{shape.__name__} has no plain field at {', '.join(missing)}")
    rows: list[Any] = []
    for row in plain:
        rows.extend((*before.get(row.path, ()), row))
    return Metrics(*rows, *after)


# One table per kind of entity, in family order.
PIPELINE_METRICS = entity_metrics(
    PipelineSelectedInfo,
    {"deployment_status_since": (PIPELINE_STATUS, PIPELINE_DESIRED_STATUS)},
    (PIPELINE_DEPLOYMENT_ERROR, PIPELINE_PROGRAM_STATUS, PIPELINE_STATS_AVAILABLE),
)
GLOBAL_METRICS = entity_metrics(
    GlobalControllerMetrics,
    {
        "rss_bytes": (PIPELINE_STATE,),
        "uptime_msecs": (PIPELINE_MEMORY_PRESSURE,),  # from v0.274.0
        "output_stall_msecs": (
            CHECKPOINT_ACTIVITY,  # from v0.288.0
            CHECKPOINT_DELAYED_SINCE,
            CHECKPOINT_STARTED,
            CHECKPOINT_PERMANENT_ERRORS,
        ),
    },
)
INPUT_METRICS = entity_metrics(
    InputEndpointStatus,
    {"metrics.total_records": (IN_FATAL_ERROR, IN_HEALTH)},  # health from v0.265.0
)
OUTPUT_METRICS = entity_metrics(
    OutputEndpointStatus,
    {"metrics.transmitted_records": (OUT_FATAL_ERROR, OUT_HEALTH)},  # health from v0.265.0
)

SPECS = (
    *PIPELINE_METRICS.specs,
    *GLOBAL_METRICS.specs,
    *INPUT_METRICS.specs,
    *OUTPUT_METRICS.specs,
)


class ConnectorRef(ConfigModel):
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

    api_paths = ("/v0",)

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
        return not_both(data, "api_key", "api_key_file")


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
    values: Values  # PIPELINE_METRICS
    time_error: str = ""  # why `deployment_status_since` was refused; the pipeline's failure

    @property
    def status_since(self) -> float | None:
        """When the pipeline entered its deployment status (None: not reported)."""
        return self.values["feldera_pipeline_status_change_timestamp_seconds"]


class Health(msgspec.Struct, frozen=True, gc=False):
    """A connector's reported health."""

    status: State
    description: str = ""  # why, in the connector's own words (Unhealthy)


class InputConnector(msgspec.Struct, frozen=True, gc=False):
    """One input connector's status and metrics."""

    pipeline: str
    table: str
    connector: str
    fatal_error: str  # the connector's fatal error in its own words; "" while it has none
    health: Health | None  # None: not reported (before v0.265.0)
    values: Values  # INPUT_METRICS

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
    health: Health | None  # None: not reported (before v0.265.0)
    values: Values  # OUTPUT_METRICS

    @property
    def labels(self) -> tuple[str, str, str]:
        """Label values in the spec's order."""
        return (self.pipeline, self.view, self.connector)


class Checkpoint(msgspec.Struct, frozen=True, gc=False):
    """What `/stats` says about the pipeline's checkpoints (v0.288.0 and later)."""

    activity: State | None  # None: `checkpoint_activity` not reported
    since: float | None = None  # `delayed_since` while delayed, `started_at` while in progress
    # Why it is delayed, in Feldera's words (`TemporarySuspendError` variants).
    delay_reasons: tuple[str, ...] = ()
    # `permanent_checkpoint_errors`: None when not reported (before v0.288.0); the variant of
    # each reason (an unknown one as `Unknown`) and its words ("UnsupportedInputEndpoint: e").
    permanent: tuple[tuple[State, str], ...] | None = None


NO_CHECKPOINT = Checkpoint(activity=None)


class GlobalMetrics(msgspec.Struct, frozen=True, gc=False):
    """The pipeline-wide part of `/stats`."""

    pipeline: str
    state: State
    memory_pressure: State | None  # None: not reported (before v0.274.0)
    values: Values  # GLOBAL_METRICS
    checkpoint: Checkpoint = NO_CHECKPOINT


class PipelineStats(msgspec.Struct, frozen=True, gc=False):
    """One pipeline's `/stats` answer."""

    global_metrics: GlobalMetrics
    inputs: tuple[InputConnector, ...]
    outputs: tuple[OutputConnector, ...]


_PIPELINE_LIST = Decoder(list[PipelineSelectedInfo])
_STATS = Decoder(ControllerStatus)
_INPUT = Decoder(InputEndpointStatus)
_OUTPUT = Decoder(OutputEndpointStatus)


def parse_pipeline(info: PipelineSelectedInfo, where: str) -> Pipeline:
    """One decoded `PipelineSelectedInfo` (selector=status) at `where` -> pipeline."""
    error = info.deployment_error
    try:
        values, time_error = PIPELINE_METRICS.read(info, where), ""
    except TimeRangeError as exc:
        # The table's one time: without it the pipeline keeps its other series (see
        # `sources.base.entity_time`), and the poll reports it as this pipeline's failure.
        timeless = msgspec.structs.replace(info, deployment_status_since=None)
        values, time_error = PIPELINE_METRICS.read(timeless, where), str(exc)
    return Pipeline(
        name=info.name,
        status=DEPLOYMENT_STATUSES.normalise(info.deployment_status),
        desired=DESIRED_STATUSES.normalise(info.deployment_desired_status),
        program=PROGRAM_STATUSES.normalise(info.program_status),
        deployment_error=None if error is None else _words(error.message),
        values=values,
        time_error=time_error,
    )


def parse_pipeline_list(answer: Answer) -> list[Pipeline]:
    """`GET /v0/pipelines?selector=status` -> every pipeline."""
    return [
        parse_pipeline(info, f"{answer.what}: [{i}]")
        for i, info in enumerate(_PIPELINE_LIST.answer(answer))
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


def _health(health: ConnectorHealth | None) -> Health | None:
    if health is None:
        return None
    return Health(HEALTH_STATUSES.normalise(health.status), _words(health.description))


def _words(value: Any) -> str:
    """An optional free-text field; anything but a string counts as absent (it is only shown)."""
    return value if isinstance(value, str) else ""


def unquote_identifier(name: str) -> str:
    """A SQL identifier as the user wrote it, without the quotes Feldera keeps in
    `config.stream` for case-sensitive names (`"Trades"` -> `Trades`)."""
    if len(name) >= 2 and name.startswith('"') and name.endswith('"'):
        return name[1:-1].replace('""', '"')
    return name


def _split(status: InputEndpointStatus | OutputEndpointStatus) -> tuple[str, str]:
    # `stream` is the relation's sql_name(): quoted when case-sensitive, while the endpoint
    # name uses the bare name (`Trades.kafka_in`).
    return split_endpoint(status.endpoint_name, unquote_identifier(status.config.stream))


def input_connector(pipeline: str, status: InputEndpointStatus, where: str) -> InputConnector:
    """One decoded `InputEndpointStatus` at `where` -> input connector."""
    table, connector = _split(status)
    return InputConnector(
        pipeline=pipeline,
        table=table,
        connector=connector,
        fatal_error=status.fatal_error or "",
        health=_health(status.health),
        values=INPUT_METRICS.read(status, where),
    )


def output_connector(pipeline: str, status: OutputEndpointStatus, where: str) -> OutputConnector:
    """One decoded `OutputEndpointStatus` at `where` -> output connector."""
    view, connector = _split(status)
    return OutputConnector(
        pipeline=pipeline,
        view=view,
        connector=connector,
        fatal_error=status.fatal_error or "",
        health=_health(status.health),
        values=OUTPUT_METRICS.read(status, where),
    )


def parse_input(pipeline: str, answer: Answer) -> InputConnector:
    """A per-connector `InputEndpointStatus` answer -> input connector."""
    return input_connector(pipeline, _INPUT.answer(answer), answer.what)


def parse_output(pipeline: str, answer: Answer) -> OutputConnector:
    """A per-connector `OutputEndpointStatus` answer -> output connector."""
    return output_connector(pipeline, _OUTPUT.answer(answer), answer.what)


def _variant(raw: Variant, where: str) -> tuple[str, str]:
    """A serde externally tagged variant -> (its name, its words): a unit variant is its name
    as a string, a newtype variant `{"Name": value}`."""
    if isinstance(raw, str):
        return raw, raw
    if len(raw) != 1:
        raise SchemaError(f"{where}: expected one variant, got {len(raw)} keys")
    ((name, value),) = raw.items()
    return name, f"{name}: {value}" if isinstance(value, str) else name


def parse_checkpoint(status: ControllerStatus, what: str) -> Checkpoint:
    """`checkpoint_activity` and `permanent_checkpoint_errors` of `/stats` (v0.288.0 and
    later; before, neither key is there and nothing is made up)."""
    raw = status.checkpoint_activity
    activity: State | None = None
    since = None
    reasons: tuple[str, ...] = ()
    if raw is not None:
        where = f"{what}: checkpoint_activity"
        activity = CHECKPOINT_ACTIVITIES.normalise(raw.status)
        if activity == "delayed":
            since = rfc3339(raw.delayed_since, f"{where}.delayed_since")
            reasons = tuple(
                _variant(r, f"{where}.reasons[{i}]")[1] for i, r in enumerate(raw.reasons)
            )
        elif activity == "in_progress":
            since = rfc3339(raw.started_at, f"{where}.started_at")
    permanent = None
    if status.permanent_checkpoint_errors is not UNSET:
        where = f"{what}: permanent_checkpoint_errors"
        named = [
            _variant(r, f"{where}[{i}]")
            for i, r in enumerate(status.permanent_checkpoint_errors or ())
        ]
        permanent = tuple(
            (PERMANENT_CHECKPOINT_ERRORS.normalise(name), words) for name, words in named
        )
    return Checkpoint(activity, since, reasons, permanent)


def parse_stats(pipeline: str, answer: Answer) -> PipelineStats:
    """`GET /v0/pipelines/{p}/stats` -> global metrics and every connector."""
    what = answer.what
    status = _STATS.answer(answer)
    data = status.global_metrics
    # Absent before v0.274.0: no series, not an unknown value.
    pressure = data.memory_pressure
    return PipelineStats(
        global_metrics=GlobalMetrics(
            pipeline=pipeline,
            state=PIPELINE_STATES.normalise(data.state),
            memory_pressure=None if pressure is None else MEMORY_PRESSURES.normalise(pressure),
            values=GLOBAL_METRICS.read(data, f"{what}: global_metrics"),
            checkpoint=parse_checkpoint(status, what),
        ),
        inputs=tuple(
            input_connector(pipeline, s, f"{what}: inputs[{i}]")
            for i, s in enumerate(status.inputs)
        ),
        outputs=tuple(
            output_connector(pipeline, s, f"{what}: outputs[{i}]")
            for i, s in enumerate(status.outputs)
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
    # Per pipeline whose process has a controller (STATS_STATUSES): did its stats (or connector)
    # calls answer?
    stats_available: dict[str, bool] = field(default_factory=dict)
    global_metrics: list[GlobalMetrics] = field(default_factory=list)
    inputs: list[InputConnector] = field(default_factory=list)
    outputs: list[OutputConnector] = field(default_factory=list)
    # Explicitly listed connectors the upstream does not know.
    missing_connectors: int = 0


def _flag(family: Family, labels: tuple[str, ...], on: bool) -> None:
    family.add(labels, 1 if on else 0)


def _pipeline_families(seen: Observation) -> list[Family]:
    families = PIPELINE_METRICS.families()
    for p in seen.pipelines:
        labels = (p.name,)
        DEPLOYMENT_STATUSES.one_hot(families[PIPELINE_STATUS], labels, p.status)
        DESIRED_STATUSES.one_hot(families[PIPELINE_DESIRED_STATUS], labels, p.desired)
        PROGRAM_STATUSES.one_hot(families[PIPELINE_PROGRAM_STATUS], labels, p.program)
        _flag(families[PIPELINE_DEPLOYMENT_ERROR], labels, p.deployment_error is not None)
        families.add(labels, p.values)
        if p.name in seen.stats_available:
            _flag(families[PIPELINE_STATS_AVAILABLE], labels, seen.stats_available[p.name])
    return families.all()


def _global_families(seen: Observation) -> list[Family]:
    families = GLOBAL_METRICS.families()
    for g in seen.global_metrics:
        labels = (g.pipeline,)
        PIPELINE_STATES.one_hot(families[PIPELINE_STATE], labels, g.state)
        if g.memory_pressure is not None:
            MEMORY_PRESSURES.one_hot(families[PIPELINE_MEMORY_PRESSURE], labels, g.memory_pressure)
        _checkpoint_families(families, labels, g.checkpoint)
        families.add(labels, g.values)
    return families.all()


def _checkpoint_families(
    families: Families, labels: tuple[str, ...], checkpoint: Checkpoint
) -> None:
    if checkpoint.activity is not None:
        CHECKPOINT_ACTIVITIES.one_hot(families[CHECKPOINT_ACTIVITY], labels, checkpoint.activity)
        if checkpoint.since is not None:
            spec = CHECKPOINT_DELAYED_SINCE
            if checkpoint.activity == "in_progress":
                spec = CHECKPOINT_STARTED
            families[spec].add(labels, checkpoint.since)
    if checkpoint.permanent is not None:
        # One series per known reason, 0 when absent: an alert can ask for some reasons only.
        # An unknown reason is counted as an unknown value, not exported as a label.
        for reason in PERMANENT_CHECKPOINT_ERRORS.values:
            count = sum(1 for name, _ in checkpoint.permanent if name == reason)
            families[CHECKPOINT_PERMANENT_ERRORS].add((*labels, reason), count)


def _connector_families(
    table: Metrics,
    fatal: MetricSpec,
    health: MetricSpec,
    connectors: Iterable[InputConnector | OutputConnector],
) -> list[Family]:
    families = table.families()
    for c in connectors:
        labels = c.labels
        _flag(families[fatal], labels, bool(c.fatal_error))
        if c.health is not None:
            HEALTH_STATUSES.one_hot(families[health], labels, c.health.status)
        families.add(labels, c.values)
    return families.all()


def build_families(seen: Observation) -> list[Family]:
    """Translate one poll's records into Feldera families."""
    return [
        *_pipeline_families(seen),
        *_global_families(seen),
        *_connector_families(INPUT_METRICS, IN_FATAL_ERROR, IN_HEALTH, seen.inputs),
        *_connector_families(OUTPUT_METRICS, OUT_FATAL_ERROR, OUT_HEALTH, seen.outputs),
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
        check("checkpoint_activity", g.checkpoint.activity)
        for reason, _ in g.checkpoint.permanent or ():
            check("permanent_checkpoint_error", reason)
    connectors: list[InputConnector | OutputConnector] = [*seen.inputs, *seen.outputs]
    for c in connectors:
        count(f"connectors {c.health.status}" if c.health else "connectors health unreported")
        if c.health is not None:
            check("connector_health", c.health.status)
    if seen.missing_connectors:
        result.entities["connectors not found"] = seen.missing_connectors
    return result


class StorageHistory:
    """Each pipeline's storage readings, one kept per sixth of FelderaPipelineStorageGrowing's
    window (at most seven a pipeline), so the status page can judge growth over most of that
    window as the alert's `deriv` does over Prometheus' history."""

    def __init__(self) -> None:
        self._readings: dict[str, list[tuple[float, float]]] = {}

    def growth(self, pipeline: str, now: float, used: float, window: float) -> float | None:
        """Bytes an hour from the oldest reading kept to `used` now; None until the readings
        span half the window (a restart's first minutes say little about a trend)."""
        readings = self._readings.setdefault(pipeline, [])
        if not readings or now - readings[-1][0] >= window / 6:
            readings.append((now, used))
        while now - readings[0][0] > window:
            readings.pop(0)
        since, then = readings[0]
        if now - since < window / 2:
            return None
        return (used - then) / (now - since) * 3600.0

    def keep_only(self, pipelines: set[str]) -> None:
        """Forget the pipelines no longer polled, so the history stays as large as the fleet."""
        for gone in self._readings.keys() - pipelines:
            del self._readings[gone]


def storage_growth(
    seen: Observation, history: StorageHistory, now: float, alerts: AlertSettings
) -> dict[str, float]:
    """Each pipeline's storage growth in bytes an hour, where its history allows a judgement."""
    window = alerts.duration("FelderaPipelineStorageGrowing", "window")
    found: dict[str, float] = {}
    for g in seen.global_metrics:
        used = g.values[PIPELINE_STORAGE.name]
        if used is not None:
            rate = history.growth(g.pipeline, now, used, window)
            if rate is not None:
                found[g.pipeline] = rate
    history.keep_only({g.pipeline for g in seen.global_metrics})
    return found


# Deployment states that need a person (with or without a deployment error), besides those
# FelderaPipelinePaused selects; failed programs are those FelderaProgramFailed selects.
BROKEN_PIPELINE_STATES = frozenset({"Unavailable", "Failed"})


def _checkpoint_broken(
    g: GlobalMetrics, now: float | None, alerts: AlertSettings
) -> BrokenEntity | None:
    """A pipeline whose checkpoints are delayed past FelderaCheckpointDelayed's threshold or can
    never be taken for a reason FelderaCheckpointPermanentlyFailing selects (the open-source
    edition reports `EnterpriseFeature` for every pipeline, which is no fault), in Feldera's own
    words; None when its checkpoints are fine or not reported."""
    checkpoint = g.checkpoint
    names = (("pipeline", g.pipeline),)
    permanent = [
        words
        for reason, words in checkpoint.permanent or ()
        if isinstance(reason, Unknown)
        or alerts.selects("FelderaCheckpointPermanentlyFailing", reason, "reasons")
    ]
    if permanent:
        return BrokenEntity("pipeline checkpoint", names, "cannot checkpoint", "\n".join(permanent))
    since = checkpoint.since
    if checkpoint.activity != "delayed" or since is None or now is None:
        pass
    elif now - since > alerts.number("FelderaCheckpointDelayed", "threshold_seconds"):
        words = "\n".join(checkpoint.delay_reasons)
        return BrokenEntity("pipeline checkpoint", names, "checkpoint delayed", words, since)
    if isinstance(checkpoint.activity, Unknown):
        return BrokenEntity("pipeline checkpoint", names, str(checkpoint.activity))
    return None


def broken_entities(
    seen: Observation,
    now: float | None = None,
    alerts: AlertSettings | None = None,
    growth: Mapping[str, float] | None = None,
) -> list[BrokenEntity]:
    """Pipelines with a deployment error, a failed program or a paused or unavailable
    deployment, checkpoints that cannot be taken or are delayed for longer than the alert's
    threshold (judged only given `now`), storage growing faster than the alert's threshold
    (`growth`: bytes an hour per pipeline, from `storage_growth`), and connectors with a fatal
    error or unhealthy, in Feldera's own words (`alerts`: the shipped settings if not given)."""
    alerts = alerts or thresholds.defaults()
    broken = []
    for p in seen.pipelines:
        if alerts.selects("FelderaProgramFailed", p.program):
            state = p.program
        elif (
            p.deployment_error is not None
            or p.status in BROKEN_PIPELINE_STATES
            or isinstance(p.status, Unknown)
            or alerts.selects("FelderaPipelinePaused", p.status)
        ):
            state = p.status
        else:
            continue
        names: tuple[tuple[str, str], ...] = (("pipeline", p.name),)
        error = p.deployment_error or ""
        broken.append(BrokenEntity("pipeline", names, str(state), error, p.status_since))
    for g in seen.global_metrics:
        checkpoint = _checkpoint_broken(g, now, alerts)
        if checkpoint is not None:
            broken.append(checkpoint)
    limit = alerts.number("FelderaPipelineStorageGrowing", "growth_bytes_per_hour")
    for pipeline, rate in sorted((growth or {}).items()):
        if rate > limit:
            state = f"storage growing {rate / 2**30:.2f} GiB an hour"
            broken.append(BrokenEntity("pipeline storage", (("pipeline", pipeline),), state))
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
    # `pipelines` is the inventory: a pipeline whose own fields it breaks (a time out of range)
    # fails alone under that name.
    detail_endpoints = ("stats", "connector_stats", "pipelines")
    unknown_value_fields = (
        "checkpoint_activity",
        "connector_health",
        "deployment_desired_status",
        "deployment_status",
        "memory_pressure",
        "permanent_checkpoint_error",
        "pipeline_state",
        "program_status",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._storage = StorageHistory()

    def auth(self) -> Auth | None:
        """Bearer auth with the API key as given (it already starts with `apikey:`)."""
        cfg = self.config
        if cfg.api_key is None and cfg.api_key_file is None:
            return None
        return BearerAuth(SecretReader(cfg.api_key, cfg.api_key_file))

    async def poll(self, client: UpstreamClient) -> PollResult:
        """Pipeline list, then `/stats` (or the listed connectors) of the live ones."""
        details = self.details()
        listed = parse_pipeline_list(await client.get(_path("pipelines"), {"selector": "status"}))
        pipelines = [
            p for p in listed if self.config.pipelines.matches(p.name) and self.shard.owns(p.name)
        ]
        self.admit(len(pipelines), "GET /v0/pipelines: pipelines")
        details.failures.extend(
            DetailFailure(f"pipeline {p.name}", "pipelines", Reason.SCHEMA, p.time_error)
            for p in pipelines
            if p.time_error
        )
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
        self._learn_checkpoints(seen)
        result = summarise(seen)
        result.families = build_families(seen)
        now = self.clock()
        growth = storage_growth(seen, self._storage, now, self.alerts)
        result.broken = broken_entities(seen, now, self.alerts, growth)
        return details.into(result)

    def _learn_checkpoints(self, seen: Observation) -> None:
        """Whether the release reports checkpoint state (v0.288.0), from this poll's answers:
        pipelines may run older runtimes than the manager, so one that reports it is enough."""
        if not seen.global_metrics:
            return
        if any(g.checkpoint.activity is not None for g in seen.global_metrics):
            self.capabilities.has(CHECKPOINT_CAPABILITY)
        else:
            self.capabilities.lacks(CHECKPOINT_CAPABILITY)

    async def _stats(
        self,
        client: UpstreamClient,
        details: Details,
        pipeline: str,
        seen: Observation,
        gone: set[str],
    ) -> None:
        async def call() -> PipelineStats:
            return parse_stats(pipeline, await client.get(_path("pipelines", pipeline, "stats")))

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

        async def call() -> InputConnector | OutputConnector | _Missing:
            try:
                answer = await client.get(path)
            except UpstreamError as exc:
                if exc.status == 404 and not _pipeline_deleted(exc):
                    return MISSING
                raise
            if output:
                return parse_output(ref.pipeline, answer)
            return parse_input(ref.pipeline, answer)

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
