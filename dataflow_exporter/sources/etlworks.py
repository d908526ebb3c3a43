"""Etlworks flows: each flow's last execution (status, times, duration, retries, record counts),
its last success, and its finished executions counted once each.

API facts (closed source, prose docs only): every call carries `Authorization: Bearer <token>`,
either a non-expiring API key or an access token from `POST /rest/v1/token-auth/issue`
(`{login, password}` -> `{token}`). The docs give tokens about ten minutes in one place and 24 hours
in another, so a token is used for at most `token_max_age` (9 minutes), and re-issued once after a
401; concurrent requests share one re-issue. Discovery pages through `GET /rest/v1/flows` with
`limit`/`offset`; each flow's newest execution comes from `GET /rest/v1/executions/{flowId}`, a
FlowAuditRecord with a string `status`, epoch-millisecond `started`/`ended`, a `duration` string
and `metrics` entries whose shape is undocumented (read tolerantly: numeric `records*` fields are
summed per field name; anything else is ignored). Errors are Spring-style
`{status, error, message, path}`; a 404 for one flow is reported on that flow, not the target.

Each answer has one typed shape (`IssuedToken`, `ListedFlow`, `AuditRecord`) that decodes and
checks it in one pass (`sources.typed`). A plain field is one line on the shape:
`retries: Annotated[float | None, Plain(LAST_RETRIES, as_is, absent=0.0)] = None`; the status
set, the duration (derived from three fields), the records and the remembered counters are
filled by hand.

The executions counter is the exporter's own count of executions it saw finish (one poll sees
only the newest execution of a flow): deduplicated by `auditId`, and an execution that had already
finished before this target's poller started is the baseline, not counted, so restarts do not
re-count the last run.

Sample exposition::

    etlworks_flow_found{target="etl",flow_id="4921"} 1.0
    etlworks_flow_last_execution_status{target="etl",flow_id="4921",
        flow="Load orders to Snowflake",status="success"} 1.0
    etlworks_flow_last_execution_status{target="etl",flow_id="4921",
        flow="Load orders to Snowflake",status="error"} 0.0
    etlworks_flow_last_execution_start_timestamp_seconds{target="etl",flow_id="4921",
        flow="Load orders to Snowflake"} 1.742471700012e+09
    etlworks_flow_last_execution_duration_seconds{target="etl",flow_id="4921",
        flow="Load orders to Snowflake"} 63.532
    etlworks_flow_last_execution_records{target="etl",flow_id="4921",
        flow="Load orders to Snowflake",field="recordsProcessed"} 15230.0
    etlworks_flow_last_success_timestamp_seconds{target="etl",flow_id="4921",
        flow="Load orders to Snowflake"} 1.742471763544e+09
    etlworks_flow_executions_total{target="etl",flow_id="4921",
        flow="Load orders to Snowflake",status="error"} 2.0
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import math
import re
import time
from collections.abc import Collection, Mapping, Sequence
from contextvars import ContextVar
from typing import Annotated, Any, Literal

import msgspec
from pydantic import Field, FilePath, SecretStr, field_validator, model_validator

from dataflow_exporter import known_secrets, thresholds
from dataflow_exporter.auth import Auth, BearerAuth, SecretReader
from dataflow_exporter.config_models import Duration, Filter, Shard, TargetConfig, not_both
from dataflow_exporter.errors import Reason, SchemaError, UpstreamError
from dataflow_exporter.families import (
    Family,
    LabelMemo,
    LabelValues,
    MetricSpec,
    State,
    StateSet,
    Unknown,
    remembered_label_sets,
)
from dataflow_exporter.log import get_logger
from dataflow_exporter.sources.base import (
    AnswerMemo,
    BrokenEntity,
    Clock,
    Details,
    PollResult,
    Source,
    collect_pages,
    fan_out,
    number,
    timestamp,
    unix_time,
)
from dataflow_exporter.sources.fields import Metrics, Plain, Values, as_is
from dataflow_exporter.sources.typed import Decoder
from dataflow_exporter.thresholds import AlertSettings
from dataflow_exporter.upstream import Answer, UpstreamClient

log = get_logger("dataflow_exporter.sources.etlworks")

API = "/rest/v1"
TOKEN_ISSUE_PATH = API + "/token-auth/issue"
# The newer docs' route for the same login (24 h tokens); tried when the first answers 404.
TOKEN_AUTH_PATH = API + "/token-auth"
# The documented maximum page size of list endpoints.
FLOWS_PAGE_SIZE = 200
# A server that ignored `offset` could page forever; 100 pages is 20,000 flows.
MAX_FLOW_PAGES = 100
# Shorter than the shortest documented token lifetime (about ten minutes).
MAX_TOKEN_AGE_SECONDS = 540.0
# Finished executions remembered per flow to count each once (a poll sees only the newest).
REMEMBERED_EXECUTIONS = 8
# Distinct `records*` fields exported per execution: the metrics shape is undocumented.
MAX_RECORD_FIELDS = 16

STATUSES = StateSet(("queued", "running", "success", "warning", "error", "canceled"))
FINISHED = ("success", "warning", "error", "canceled")
# Statuses whose duration is still growing: measured up to now.
UNFINISHED = ("queued", "running")

FLOW = ("flow_id", "flow")

FLOW_FOUND = MetricSpec(
    "etlworks_flow_found",
    "gauge",
    "1 if Etlworks answered the flow's executions call, 0 if it answered 404 (polled): "
    "an unknown or deleted flow id.",
    ("flow_id",),
)
LAST_STATUS = MetricSpec(
    "etlworks_flow_last_execution_status",
    "gauge",
    "Status of the flow's newest execution (polled): 1 for the current one, 0 for the others.",
    (*FLOW, "status"),
)
LAST_START = MetricSpec(
    "etlworks_flow_last_execution_start_timestamp_seconds",
    "gauge",
    "When the flow's newest execution started (polled), Unix time.",
    FLOW,
)
LAST_END = MetricSpec(
    "etlworks_flow_last_execution_end_timestamp_seconds",
    "gauge",
    "When the flow's newest execution ended (polled), Unix time; absent while it runs.",
    FLOW,
)
LAST_DURATION = MetricSpec(
    "etlworks_flow_last_execution_duration_seconds",
    "gauge",
    "Duration of the flow's newest execution (polled): ended - started, or now - started "
    "while queued or running.",
    FLOW,
)
LAST_RETRIES = MetricSpec(
    "etlworks_flow_last_execution_retries",
    "gauge",
    "Automatic retries of the flow's newest execution (polled).",
    FLOW,
)
LAST_RECORDS = MetricSpec(
    "etlworks_flow_last_execution_records",
    "gauge",
    "Records of the flow's newest execution (polled): each numeric records* field of its "
    "metrics, summed over the entries.",
    (*FLOW, "field"),
)
LAST_SUCCESS = MetricSpec(
    "etlworks_flow_last_success_timestamp_seconds",
    "gauge",
    "When the flow's newest successful execution seen by this exporter ended (polled), Unix time.",
    FLOW,
)
EXECUTIONS = MetricSpec(
    "etlworks_flow_executions_total",
    "counter",
    "Executions of the flow seen finishing by this exporter (polled), by final status.",
    (*FLOW, "status"),
)
FlowId = Annotated[int, Field(ge=0)]


class EtlworksTarget(TargetConfig):
    """`system: etlworks`: the instance URL and an API key, or a login and password."""

    api_paths = ("/rest/v1",)

    system: Literal["etlworks"]
    api_key: SecretStr | None = None
    api_key_file: FilePath | None = None
    login: Annotated[str, Field(min_length=1)] | None = None
    password: SecretStr | None = None
    password_file: FilePath | None = None
    token_max_age: Annotated[Duration, Field(le=MAX_TOKEN_AGE_SECONDS)] = MAX_TOKEN_AGE_SECONDS
    flows: Filter | tuple[FlowId, ...] = Filter()

    @model_validator(mode="before")
    @classmethod
    def _not_both_forms(cls, data: Any) -> Any:
        return not_both(not_both(data, "api_key", "api_key_file"), "password", "password_file")

    @field_validator("url")
    @classmethod
    def _without_rest_suffix(cls, url: str) -> str:
        # The vendor's examples give the base as https://host/rest; the paths here include it.
        return url.removesuffix("/rest")

    @field_validator("flows")
    @classmethod
    def _some_flows(cls, flows: Filter | tuple[int, ...]) -> Filter | tuple[int, ...]:
        if isinstance(flows, tuple):
            if not flows:
                raise ValueError("give at least one flow id, or include/exclude patterns")
            return tuple(dict.fromkeys(flows))
        return flows

    @model_validator(mode="after")
    def _one_credential(self) -> EtlworksTarget:
        has_key = self.api_key is not None or self.api_key_file is not None
        has_password = self.password is not None or self.password_file is not None
        if has_key and (self.login is not None or has_password):
            raise ValueError("give api_key/api_key_file or login with password, not both")
        if not has_key and (self.login is None or not has_password):
            raise ValueError(
                "Etlworks needs credentials: api_key or api_key_file, "
                "or login with password or password_file"
            )
        return self


# ---------------------------------------------------------------------------------------------
# Answers, records and pure parsers


def epoch_seconds(value: Any, what: str) -> float | None:
    """An Etlworks time: epoch milliseconds (documented), epoch seconds or RFC 3339 text."""
    if value is None or value == "":
        return None
    if isinstance(value, str) and not value.strip().lstrip("-").replace(".", "", 1).isdigit():
        return timestamp(value, what)
    found = number(value, what)
    # Milliseconds since 1970 pass 1e11 in 1973; seconds will not reach it for millennia.
    return unix_time(found / 1000.0 if abs(found) >= 1e11 else found, what)


class IssuedToken(msgspec.Struct, frozen=True, gc=False):
    """`POST token-auth/issue` (and `token-auth`): the access token."""

    token: str


class ListedFlow(msgspec.Struct, frozen=True, gc=False):
    """One flow of `GET flows`. A name that is not a string is read as no name: it only labels
    the flow, and one odd name must not hide every flow of the page."""

    id: Annotated[int, msgspec.Meta(ge=0)]
    name: object = None


class AuditRecord(msgspec.Struct, rename="camel", frozen=True, gc=False):
    """`GET executions/{flowId}`: the flow's newest execution (FlowAuditRecord), null if the
    flow never ran. The fields typed `object` are read tolerantly below: their shape is
    undocumented (`metrics`, `duration`), or they only label a series or explain an error, so an
    odd value is ignored (a status becomes unknown), never fatal."""

    audit_id: int | None = None
    flow_id: object = None
    flow_name: object = None
    status: object = None
    started: Annotated[float | str | None, Plain(LAST_START, epoch_seconds)] = None
    ended: Annotated[float | str | None, Plain(LAST_END, epoch_seconds)] = None
    duration: object = None
    # Etlworks sends `"retries": null` for an execution that was not retried.
    retries: Annotated[float | None, Plain(LAST_RETRIES, as_is, absent=0.0)] = None
    metrics: object = None
    records: object = None  # the Reporting API's record count
    exception: object = None


# The families, in their order; the start and end times and the retries are `AuditRecord`'s
# plain fields, the duration between them is derived.
METRICS = Metrics(
    FLOW_FOUND,
    LAST_STATUS,
    AuditRecord,
    LAST_DURATION,
    LAST_RETRIES,
    LAST_RECORDS,
    LAST_SUCCESS,
    EXECUTIONS,
)
SPECS = METRICS.specs
# What an execution built from its status and times alone, not read from an answer, exports
# of the plain fields: nothing.
NO_SAMPLES = Values(METRICS, (None,) * len(METRICS.fields))

_TOKEN = Decoder(IssuedToken)
_FLOWS = Decoder(list[ListedFlow])
_EXECUTION: Decoder[AuditRecord | None] = Decoder(AuditRecord | None)


class FlowRef(msgspec.Struct, frozen=True, gc=False):
    """A flow to poll: its id and, when discovered, its name."""

    id: int
    name: str = ""


class Execution(msgspec.Struct, frozen=True, gc=False):
    """A flow's newest execution (FlowAuditRecord): what the code below reasons about, and
    `values`, its plain fields' samples."""

    audit_id: int | None
    flow_name: str
    status: State
    started: float | None
    ended: float | None
    duration: float | None  # from the `duration` string, when it could be read
    records: tuple[tuple[str, float], ...] = ()
    exception: str = ""  # the execution's own error text (errors only)
    values: Values = NO_SAMPLES

    @property
    def identity(self) -> str | None:
        """What tells two executions of a flow apart: the audit id, else the start time."""
        if self.audit_id is not None:
            return f"audit:{self.audit_id}"
        return None if self.started is None else f"started:{self.started!r}"


# Why a flow has no execution to show: it has never run, or Etlworks does not know its id (404).
NoExecution = Literal["no_execution", "not_found"]


class FlowReading(msgspec.Struct, frozen=True, gc=False):
    """What one poll learnt about one flow: its newest execution, or why there is none."""

    flow: FlowRef
    latest: Execution | NoExecution

    @property
    def execution(self) -> Execution | None:
        """The newest execution, if the flow has one."""
        return self.latest if isinstance(self.latest, Execution) else None

    @property
    def found(self) -> bool:
        """False if Etlworks answered 404: an unknown or deleted flow id."""
        return self.latest != "not_found"


def parse_token(answer: Answer) -> str:
    """`POST token-auth/issue` -> the access token."""
    token = _TOKEN.answer(answer).token
    if not token:
        raise SchemaError(f"{answer.what}: token: empty")
    return token


def parse_flows(answer: Answer) -> list[FlowRef]:
    """`GET flows` (one page) -> flows."""
    return [FlowRef(f.id, f.name if isinstance(f.name, str) else "") for f in _FLOWS.answer(answer)]


_DURATION_PART = re.compile(
    r"(\d+(?:\.\d+)?)\s*(milliseconds?|millis|ms|seconds?|secs?|s|minutes?|mins?|m"
    r"|hours?|hrs?|h|days?|d)(?![a-z])",
    re.IGNORECASE,
)
_CLOCK = re.compile(r"^(?:(\d+)\s*(?:d|days?)?[ .])?(\d+):(\d{2}):(\d{2}(?:\.\d+)?)$")
_UNIT_SECONDS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def _unit_seconds(unit: str) -> float:
    unit = unit.lower()
    return 0.001 if unit == "ms" or unit.startswith("milli") else _UNIT_SECONDS[unit[0]]


def parse_duration_text(value: Any) -> float | None:
    """The `duration` string ("63.532 sec", "1 min 3 sec", "01:02:03") in seconds, or None when
    its format is not recognised (its format is undocumented)."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    clock = _CLOCK.match(text)
    if clock:
        days, hours, minutes, seconds = clock.groups()
        whole = int(days or 0) * 86400.0 + int(hours) * 3600.0 + int(minutes) * 60.0
        return whole + float(seconds)
    total, pos, matched = 0.0, 0, False
    for part in _DURATION_PART.finditer(text):
        if text[pos : part.start()].strip(" ,"):
            return None
        total += float(part.group(1)) * _unit_seconds(part.group(2))
        pos, matched = part.end(), True
    if not matched or text[pos:].strip(" ,"):
        return None
    return total


_RECORD_FIELD = re.compile(r"^records[A-Za-z]{0,40}$")


def _count(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        found = float(value)
    elif isinstance(value, str):
        try:
            found = float(value)
        except ValueError:
            return None
    else:
        return None
    return found if math.isfinite(found) else None


def record_counts(metrics: Any, top_level: Any = None) -> tuple[tuple[str, float], ...]:
    """Numeric `records*` fields summed per field name over the `metrics` entries (plus a
    top-level `records`, as the Reporting API has); any other shape is ignored, never fatal."""
    if isinstance(metrics, dict):
        nested = [v for v in metrics.values() if isinstance(v, dict)]
        entries: list[Any] = nested or [metrics]
    elif isinstance(metrics, list):
        entries = metrics
    else:
        entries = []
    totals: dict[str, float] = {}
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        for key, raw in entry.items():
            count = _count(raw) if isinstance(key, str) and _RECORD_FIELD.match(key) else None
            if count is not None:
                totals[key] = totals.get(key, 0.0) + count
    top = _count(top_level)
    if top is not None:
        totals["records"] = totals.get("records", 0.0) + top
    return tuple(sorted(totals.items()))[:MAX_RECORD_FIELDS]


def execution_status(value: Any) -> State:
    """A FlowAuditRecord status -> its name, or `Unknown`; case and blanks are not significant."""
    if isinstance(value, str):
        folded = value.strip().lower()
        if folded in STATUSES.values:
            return folded
    return STATUSES.normalise(value)


def parse_execution(body: bytes, what: str) -> Execution | None:
    """`GET executions/{flowId}` (the answer's body, `what` naming it) -> the newest execution,
    or None if the flow never ran (null, or a record of the flow without status and audit
    id)."""
    record = _EXECUTION.body(body, what)
    if record is None:
        return None
    if record.status is None and record.audit_id is None:
        if record.flow_id is None:
            # Not a record of this flow at all: a lost shape must not pass for "never ran".
            raise SchemaError(f"{what}: no status, auditId or flowId")
        return None
    values = METRICS.read(record, what)
    name, exception = record.flow_name, record.exception
    return Execution(
        audit_id=record.audit_id,
        flow_name=name if isinstance(name, str) else "",
        status=execution_status(record.status),
        started=values[LAST_START.name],
        ended=values[LAST_END.name],
        duration=parse_duration_text(record.duration),
        records=record_counts(record.metrics, record.records),
        exception=exception if isinstance(exception, str) else "",
        values=values,
    )


def execution_duration(execution: Execution, now: float) -> float | None:
    """ended - started; now - started while queued or running; else the `duration` string."""
    started, ended = execution.started, execution.ended
    if started is not None:
        if ended is not None:
            return max(0.0, round(ended - started, 3))
        if execution.status in UNFINISHED:
            return max(0.0, now - started)
    return execution.duration


# ---------------------------------------------------------------------------------------------
# What a source remembers across polls (pure)


class FlowMemory(msgspec.Struct, frozen=True, gc=False):
    """Per flow, across polls: the last success and the finished executions counted."""

    last_success: float | None = None
    counted: tuple[str, ...] = ()
    totals: tuple[float, ...] = (0.0,) * len(FINISHED)


def fold_execution(old: FlowMemory | None, execution: Execution, since: float) -> FlowMemory:
    """Remember one observed execution: a success's end time, and a newly finished execution
    counted once (on a flow's first sighting, only if it finished after `since`)."""
    memory = old or FlowMemory()
    last_success = memory.last_success
    finished_at = execution.ended if execution.ended is not None else execution.started
    if execution.status == "success" and finished_at is not None:
        last_success = finished_at if last_success is None else max(last_success, finished_at)
    counted, totals = memory.counted, memory.totals
    identity = execution.identity
    if execution.status in FINISHED and identity is not None and identity not in counted:
        if old is not None or (finished_at is not None and finished_at >= since):
            index = FINISHED.index(execution.status)
            totals = tuple(t + 1 if i == index else t for i, t in enumerate(totals))
        counted = (*counted, identity)[-REMEMBERED_EXECUTIONS:]
    return FlowMemory(last_success, counted, totals)


def remember(
    previous: Mapping[int, FlowMemory],
    readings: Sequence[FlowReading],
    since: float,
    selected: Collection[int],
) -> dict[int, FlowMemory]:
    """The memory after one successful poll; flows no longer selected are forgotten."""
    memory = {flow_id: m for flow_id, m in previous.items() if flow_id in selected}
    for reading in readings:
        if reading.execution is not None:
            flow_id = reading.flow.id
            memory[flow_id] = fold_execution(memory.get(flow_id), reading.execution, since)
    return memory


# ---------------------------------------------------------------------------------------------
# Records -> families (pure)


def build_families(
    readings: Sequence[FlowReading],
    memory: Mapping[int, FlowMemory],
    now: float,
    memo: LabelMemo | None = None,
) -> list[Family]:
    """Translate one poll's readings (and what is remembered) into Etlworks families
    (`memo`: the source's label sets of its last poll, `LabelMemo`)."""
    # Family by family over every flow, each in a few C-level passes rather than a call per
    # flow and family.
    families = METRICS.families()
    flow_ids = [str(reading.flow.id) for reading in readings]
    found = families[FLOW_FOUND]
    found.keys = [(flow_id,) for flow_id in flow_ids]
    found.values = [1.0 if reading.found else 0.0 for reading in readings]
    ran = [
        (flow_id, reading.flow, e)
        for flow_id, reading in zip(flow_ids, readings, strict=True)
        if (e := reading.execution) is not None
    ]
    labels: list[LabelValues] = [(flow_id, flow.name or e.flow_name) for flow_id, flow, e in ran]
    executions = [e for _, _, e in ran]
    STATUSES.one_hot_many(families[LAST_STATUS], labels, [e.status for e in executions], memo)
    families.add_many(labels, [e.values for e in executions])
    seconds = [execution_duration(e, now) for e in executions]
    timed = [s is not None for s in seconds]
    duration = families[LAST_DURATION]
    duration.keys = list(itertools.compress(labels, timed))
    duration.values = [s for s in seconds if s is not None]
    records = families[LAST_RECORDS]
    records.keys = [
        (*label, field)
        for label, e in zip(labels, executions, strict=True)
        for field, _ in e.records
    ]
    records.values = [float(count) for e in executions for _, count in e.records]
    remembered = [memory.get(flow.id) for _, flow, _ in ran]
    succeeded = [m is not None and m.last_success is not None for m in remembered]
    success = families[LAST_SUCCESS]
    success.keys = list(itertools.compress(labels, succeeded))
    success.values = [
        m.last_success for m in remembered if m is not None and m.last_success is not None
    ]
    kept = [m is not None for m in remembered]
    totals = [m.totals for m in remembered if m is not None]
    counted = families[EXECUTIONS]
    kept_labels = list(itertools.compress(labels, kept))
    counted.keys = remembered_label_sets(memo, EXECUTIONS.name, kept_labels, _finished_labels)
    # One total per status of FINISHED (`fold_execution`); were it not, the renderer would
    # refuse the family's label sets and values for differing in number.
    counted.values = [float(total) for flow_totals in totals for total in flow_totals]
    return families.all()


def _finished_labels(labels: LabelValues) -> tuple[LabelValues, ...]:
    return tuple([(*labels, final) for final in FINISHED])


# Final statuses that need a person are those EtlworksFlowFailed selects (`error` by default:
# a warning or a cancel was someone's decision or is minor).


def broken_entities(
    readings: Sequence[FlowReading], now: float, alerts: AlertSettings | None = None
) -> list[BrokenEntity]:
    """Flows whose newest execution failed, runs or waits past the alert threshold, or that the
    upstream does not know (404), with the execution's own `exception` text (`alerts`: the
    settings, the shipped ones if not given)."""
    alerts = alerts or thresholds.defaults()
    running_limit = alerts.number("EtlworksFlowRunningTooLong", "threshold_seconds")
    broken = []
    for reading in readings:
        flow_id = str(reading.flow.id)
        e = reading.execution
        if e is None:
            if not reading.found:
                names = (("flow_id", flow_id), ("flow", reading.flow.name))
                broken.append(BrokenEntity("flow", names, "not found"))
            continue
        state = e.status
        since = e.ended if e.ended is not None else e.started
        if e.status in UNFINISHED:
            if e.started is None or now - e.started <= running_limit:
                continue
            name = reading.flow.name or e.flow_name
            if alerts.selects("EtlworksFlowRunningTooLong", name, "exclude_flows"):
                continue  # runs continuously by design
            state = f"{e.status} for {(now - e.started) / 3600:.1f}h"
            since = e.started
        elif not isinstance(e.status, Unknown) and not alerts.selects(
            "EtlworksFlowFailed", e.status
        ):
            continue
        names = (("flow_id", flow_id), ("flow", reading.flow.name or e.flow_name))
        broken.append(BrokenEntity("flow", names, str(state), e.exception, since))
    return broken


# ---------------------------------------------------------------------------------------------
# I/O

# The token issue attempt whose token the current task's last request carried.
_attempt_used: ContextVar[int] = ContextVar("etlworks_token_attempt")


class TokenAuth:
    """Access tokens issued for a login and password: cached, re-issued once `max_age` has
    passed by `clock` and once after a 401; callers that wait together share one issue."""

    def __init__(
        self,
        login: str,
        password: SecretReader,
        clock: Clock,
        max_age: float = MAX_TOKEN_AGE_SECONDS,
    ) -> None:
        self.login = login
        self._password = password
        self._clock = clock
        self._max_age = max_age
        self._lock = asyncio.Lock()
        self._token: str | None = None
        self._issued_at = 0.0
        # Bumped by every issue attempt; `_token`, when set, comes from the latest one.
        self._attempt = 0
        self._error: UpstreamError | None = None
        # The token route this server answered on (learned once).
        self.route = TOKEN_ISSUE_PATH

    def _too_old(self) -> bool:
        age = self._clock() - self._issued_at
        return age >= self._max_age or age < 0  # < 0: the clock went back; trust nothing

    async def headers(self, client: UpstreamClient) -> Mapping[str, str]:
        """The Authorization header, issuing a token through `client` first when there is none
        or it is old."""
        token = self._token
        if token is None or self._too_old():
            token = await self._refresh(client, self._attempt)
        _attempt_used.set(self._attempt)
        return {"Authorization": f"Bearer {token}"}

    async def renew(self, client: UpstreamClient) -> bool:
        """After a 401: a new token, unless a caller already got one since this request's."""
        await self._refresh(client, _attempt_used.get(self._attempt))
        return True

    async def _refresh(self, client: UpstreamClient, seen: int) -> str:
        async with self._lock:
            if self._attempt == seen:
                await self._issue(client)
            if self._token is None:
                error = self._error
                raise UpstreamError(
                    error.reason if error else Reason.AUTH,
                    str(error) if error else "no Etlworks access token",
                    status=error.status if error else None,
                )
            return self._token

    async def _issue(self, client: UpstreamClient) -> None:
        # `_attempt` and `_token` change only once the answer is in, so callers arriving
        # meanwhile wait for this attempt instead of starting another.
        body = {"login": self.login, "password": await self._password.get() or ""}
        try:
            # Unauthenticated: the old token may be expired, and a JWT filter rejects it.
            try:
                answer = await client.request("POST", self.route, body=body, authenticate=False)
            except UpstreamError as exc:
                # Both documented routes issue the same token; a server has at least one.
                if exc.status not in (404, 405):
                    raise
                self.route = TOKEN_AUTH_PATH if self.route == TOKEN_ISSUE_PATH else TOKEN_ISSUE_PATH
                answer = await client.request("POST", self.route, body=body, authenticate=False)
            token = parse_token(answer)
        except UpstreamError as exc:
            self._attempt += 1
            self._token, self._error = None, exc
            raise
        known_secrets.register(token)
        if self._token != token:
            known_secrets.unregister(self._token)
        self._attempt += 1
        self._token, self._error = token, None
        self._issued_at = self._clock()


def _state(reading: FlowReading) -> str:
    """A flow's state for the status page's entity counts."""
    latest = reading.latest
    return latest if isinstance(latest, str) else latest.status


class EtlworksSource(Source[EtlworksTarget]):
    """Polls one Etlworks instance."""

    system = "etlworks"
    config_model = EtlworksTarget
    specs = SPECS
    detail_endpoints = ("executions",)
    unknown_value_fields = ("execution_status",)

    def __init__(
        self, config: EtlworksTarget, clock: Clock = time.time, shard: Shard | None = None
    ) -> None:
        super().__init__(config, clock, shard)
        # Executions that finished before this instant are the baseline of the counters.
        self.since = clock()
        self.memory: dict[int, FlowMemory] = {}
        self.missing: list[int] = []
        self.tokens: TokenAuth | None = None
        # Most flows have not run again since the last poll: their answers are byte-identical.
        self.answers: AnswerMemo[Execution | None] = AnswerMemo()
        if config.login is not None:
            password = SecretReader(config.password, config.password_file)
            self.tokens = TokenAuth(config.login, password, clock, config.token_max_age)

    def auth(self) -> Auth | None:
        """An access token from the login and password, or the API key as a Bearer token."""
        if self.tokens is not None:
            return self.tokens
        cfg = self.config
        return BearerAuth(SecretReader(cfg.api_key, cfg.api_key_file))

    async def poll(self, client: UpstreamClient) -> PollResult:
        """The selected flows (listed or configured), then each one's newest execution."""
        details = self.details()
        self.answers.begin()
        flows = [f for f in await self._flows(client) if self.shard.owns(str(f.id))]
        self.admit(len(flows), "flows")
        found = await fan_out(
            [functools.partial(self._reading, client, details, f) for f in flows], details.limit
        )
        readings = [r for r in found if r is not None]
        memory = remember(self.memory, readings, self.since, {f.id for f in flows})
        now = self.clock()
        result = PollResult(
            families=build_families(readings, memory, now, self.labels),
            broken=broken_entities(readings, now, self.alerts),
        )
        missing = [r.flow.id for r in readings if not r.found]
        if missing and missing != self.missing:  # once per change, not once per poll
            log.warning("flows_not_found", target=self.config.name, flow_ids=missing[:20])
        for r in readings:
            key = f"flows {_state(r)}"
            result.entities[key] = result.entities.get(key, 0) + 1
            if r.execution is not None and isinstance(r.execution.status, Unknown):
                result.unknown_values.append(("execution_status", str(r.execution.status)))
        failed = len(flows) - len(readings)
        if failed:
            result.entities["flows executions unavailable"] = failed
        # Only a poll that got this far changes what is remembered.
        self.memory, self.missing = memory, missing
        self.answers.finish()
        return details.into(result)

    async def _flows(self, client: UpstreamClient) -> list[FlowRef]:
        """The configured flow ids, or the listed flows whose names pass the filter."""
        selection = self.config.flows
        if not isinstance(selection, Filter):
            return [FlowRef(flow_id) for flow_id in selection]
        return [f for f in await self._list_flows(client) if selection.matches(f.name)]

    async def _list_flows(self, client: UpstreamClient) -> list[FlowRef]:
        """Every flow, page by page until a short page (or one with nothing new)."""
        flows: dict[int, FlowRef] = {}

        async def page(offset: int) -> tuple[list[FlowRef], int | None]:
            params = {"limit": str(FLOWS_PAGE_SIZE), "offset": str(offset)}
            listed = parse_flows(await client.get(API + "/flows", params))
            fresh = [f for f in listed if f.id not in flows]
            flows.update((f.id, f) for f in fresh)
            # Nothing new: the server ignores `offset` and answered everything at once.
            if len(listed) < FLOWS_PAGE_SIZE or not fresh:
                return fresh, None
            return fresh, offset + FLOWS_PAGE_SIZE

        return await collect_pages(0, page, MAX_FLOW_PAGES, "GET /rest/v1/flows")

    async def _reading(
        self, client: UpstreamClient, details: Details, flow: FlowRef
    ) -> FlowReading | None:
        what = f"executions/{flow.id}"

        async def call() -> FlowReading:
            try:
                answer = await client.get(f"{API}/{what}")
            except UpstreamError as exc:
                if exc.status != 404:
                    raise
                return FlowReading(flow, "not_found")
            execution = self.answers.parse(what, answer, lambda a: parse_execution(a.body, a.what))
            return FlowReading(flow, "no_execution" if execution is None else execution)

        entity = f"flow {flow.id}" + (f" ({flow.name})" if flow.name else "")
        reading = await details.fetch(entity, "executions", call)
        return reading if isinstance(reading, FlowReading) else None
