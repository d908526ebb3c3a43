"""Confluent cluster linking: link state, mirror-topic state and per-partition mirror lag.

API facts: Confluent Cloud's Kafka REST v3 (also served by Confluent Server) under
`/kafka/v3/clusters/{cluster_id}`, HTTP Basic with a cluster API key and secret, or a Bearer
token. Each poll makes two inventory calls, concurrently: `GET links` (link state and error) and
`GET links/-/mirrors` (every mirror topic of the cluster, with its per-partition lag, in one
answer); then one detail call per selected link, `GET links/{link}?include_tasks=true`, for the
state and errors of its tasks (consumer offset sync, ACL sync, ...): the links list takes no
`include_tasks`, so this is the only way to them. Links are few; a failed answer fails that
link's tasks alone (a 404: the link was deleted since the list, and goes), and a release whose
answer has no `tasks` key (Confluent Platform before 7.6) gives no task series and is asked
again only after the capability recheck. When the config lists links explicitly, the seed
endpoint `GET links/{link}/mirrors` is called per listed link instead of `links/-/mirrors`.
Answers are `ResourceCollection` envelopes; a non-null `metadata.next` is followed (same origin
only, at most `max_pages` pages), although Confluent does not populate it in practice.
`mirror_lags` arrive in no particular order, and a `last_source_fetch_offset` of -1 means
nothing has been fetched yet (no sample is exported).
Rate limiting is a 429 with an HTML body: the core classifies it and backs off.

Each answer has one typed shape (`_LinksPage`, `_LinkDetail`, `_MirrorTopicsPage`), written as
Confluent's spec shapes it; its `Decoder` decodes and checks the answer in one pass and names a
refused field as Confluent spells it (`GET .../mirrors: data[3].num_partitions: expected int,
got float`). A plain field is one line on its shape, `Annotated[type, Plain(SPEC, conversion)]`:
the topic table (`TOPIC_METRICS`) and the partition table (`PARTITION_METRICS`) list the shapes
where their families go. State sets, the summed and maximum lag, and the per-partition loop
that writes `PartitionLag`'s rows out (see `_PARTITION_ROWS`) are the only hand-written samples.

Sharding: a mirror topic belongs to the replica owning `link/topic`; a link's own series belong
to the replica owning the link's name, and so do its tasks (only that replica asks for them);
every replica reads the same two inventory calls.

Sample exposition::

    confluent_link_status{target="dr",cluster_id="lkc-3w6270",link="dr-link",status="ACTIVE"} 1.0
    confluent_link_status{target="dr",cluster_id="lkc-3w6270",link="dr-link",status="FAILED"} 0.0
    confluent_link_error{target="dr",cluster_id="lkc-3w6270",link="dr-link",error="NO_ERROR"} 1.0
    confluent_link_task_status{target="dr",cluster_id="lkc-3w6270",link="dr-link",
        task="ConsumerOffsetSync",status="IN_ERROR"} 1.0
    confluent_mirror_topic_status{target="dr",cluster_id="lkc-3w6270",link="dr-link",
        topic="orders",status="ACTIVE"} 1.0
    confluent_mirror_topic_error{target="dr",cluster_id="lkc-3w6270",link="dr-link",
        topic="audit-log",error="SOURCE_TOPIC_MAY_BE_DELETED"} 1.0
    confluent_mirror_topic_state_change_timestamp_seconds{...,topic="orders"} 1.703285083428e+09
    confluent_mirror_topic_partitions{...,topic="orders"} 3.0
    confluent_mirror_topic_lag{...,topic="orders"} 40017.0
    confluent_mirror_topic_max_partition_lag{...,topic="orders"} 40000.0
    confluent_mirror_partition_lag{...,topic="orders",partition="2"} 40000.0
    confluent_mirror_partition_last_source_fetch_offset{...,topic="orders",partition="2"} 12030.0
"""

from __future__ import annotations

import functools
import itertools
import operator
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, TypeVar

import msgspec
from pydantic import Field, FilePath, SecretStr, field_validator, model_validator

from dataflow_exporter import thresholds
from dataflow_exporter.auth import Auth, BasicAuth, BearerAuth, SecretReader
from dataflow_exporter.config_models import Filter, TargetConfig, not_both
from dataflow_exporter.errors import Reason, TimeRangeError, UpstreamError
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
    GONE,
    BrokenEntity,
    DetailFailure,
    Details,
    PollResult,
    Source,
    api_path,
    collect_pages,
    fan_out,
    not_found,
    run_all,
    selector,
    unix_time,
)
from dataflow_exporter.sources.fields import Metrics, Plain, Values
from dataflow_exporter.sources.typed import Decoder, Finite, Integer
from dataflow_exporter.thresholds import AlertSettings
from dataflow_exporter.upstream import Answer, UpstreamClient

log = get_logger("dataflow_exporter.sources.confluent")

API = "/kafka/v3/clusters"
ALL_LINKS = "-"  # the path segment that stands for every link of the cluster
DEFAULT_MAX_PAGES = 50

# The spec's `link_state` (x-extensible-enum: other values may appear and are counted unknown).
LINK_STATES = StateSet(("ACTIVE", "FAILED", "UNAVAILABLE", "PAUSED", "UNKNOWN"))
LINK_ERRORS = StateSet(
    (
        "UNKNOWN",
        "NO_ERROR",
        "AUTHENTICATION_ERROR",
        "UNRESOLVABLE_BOOTSTRAP_ERROR",
        "INVALID_BOOTSTRAP_INTERNAL_ENDPOINT_ERROR",
        "BOOTSTRAP_TCP_CONNECTION_FAILED_ERROR",
        "TIMEOUT_ERROR",
    )
)
# LinkTaskState (x-extensible-enum), in the spec's order.
LINK_TASK_STATES = StateSet(
    (
        "UNKNOWN",
        "ACTIVE",
        "IN_ERROR",
        "NOT_CONFIGURED",
        "LINK_FAILED",
        "LINK_UNAVAILABLE",
        "LINK_PAUSED",
    )
)
# MirrorTopicStatus: a closed enum in the Cloud spec, in its order; Confluent Platform also
# knows UNKNOWN (kafka-rest-sdk-go kafkarestv3/model_mirror_topic_status.go from v0.3.18).
MIRROR_STATUSES = StateSet(
    (
        "ACTIVE",
        "FAILED",
        "LINK_FAILED",
        "LINK_PAUSED",
        "PAUSED",
        "PENDING_STOPPED",
        "SOURCE_UNAVAILABLE",
        "STOPPED",
        "PENDING_MIRROR",
        "PENDING_SYNCHRONIZE",
        "PENDING_SETUP_FOR_RESTORE",
        "PENDING_RESTORE",
    ),
    sparse=frozenset({"UNKNOWN"}),
)
# `mirror_topic_error` (x-extensible-enum).
MIRROR_ERRORS = StateSet(
    (
        "UNKNOWN",
        "NOT_SET",
        "NO_ERROR",
        "SOURCE_TOPIC_MAY_BE_DELETED",
        "SOURCE_TOPIC_ID_CHANGED",
        "SOURCE_PARTITIONS_DECREASED",
        "NON_MONOTONIC_LOG_APPEND_EPOCH",
        "UNEXPECTED_TRUNCATION",
        "UNSUPPORTED_MESSAGE_FORMAT",
        "NON_MONOTONIC_SOURCE_EPOCH",
        "ILLEGAL_STATE",
        "UNSUPPORTED_MIRROR_STATE",
    )
)

LINK = ("cluster_id", "link")
TOPIC = (*LINK, "topic")
PARTITION = (*TOPIC, "partition")

LINK_STATUS = MetricSpec(
    "confluent_link_status",
    "gauge",
    "Cluster link state (polled): 1 for the current link_state, 0 for the others.",
    (*LINK, "status"),
)
LINK_ERROR = MetricSpec(
    "confluent_link_error",
    "gauge",
    "Cluster link error (polled): 1 for the link's current link_error (NO_ERROR when healthy).",
    (*LINK, "error"),
)
LINK_TASK_STATUS = MetricSpec(
    "confluent_link_task_status",
    "gauge",
    "Cluster link task state (polled): 1 for the task's current LinkTaskState, 0 for the "
    "others; absent where the release reports no tasks.",
    (*LINK, "task", "status"),
)
MIRROR_STATUS = MetricSpec(
    "confluent_mirror_topic_status",
    "gauge",
    "Mirror topic state (polled): 1 for the current MirrorTopicStatus, 0 for the others.",
    (*TOPIC, "status"),
)
MIRROR_ERROR = MetricSpec(
    "confluent_mirror_topic_error",
    "gauge",
    "Mirror topic error (polled): 1 for the topic's current mirror_topic_error.",
    (*TOPIC, "error"),
)
STATE_CHANGE = MetricSpec(
    "confluent_mirror_topic_state_change_timestamp_seconds",
    "gauge",
    "When the mirror topic last changed state (polled), Unix time.",
    TOPIC,
)
PARTITIONS = MetricSpec(
    "confluent_mirror_topic_partitions",
    "gauge",
    "Partitions of the mirror topic (polled).",
    TOPIC,
)
TOPIC_LAG = MetricSpec(
    "confluent_mirror_topic_lag",
    "gauge",
    "Messages the mirror topic is behind its source topic, summed over partitions (polled).",
    TOPIC,
)
TOPIC_MAX_LAG = MetricSpec(
    "confluent_mirror_topic_max_partition_lag",
    "gauge",
    "Messages the mirror topic's most lagging partition is behind its source (polled).",
    TOPIC,
)
PARTITION_LAG = MetricSpec(
    "confluent_mirror_partition_lag",
    "gauge",
    "Messages the mirror partition is behind its source partition (polled).",
    PARTITION,
)
PARTITION_FETCH_OFFSET = MetricSpec(
    "confluent_mirror_partition_last_source_fetch_offset",
    "gauge",
    "Last offset fetched from the source partition (polled); absent until one has been fetched.",
    PARTITION,
)


class ConfluentTarget(TargetConfig):
    """`system: confluent`: the cluster's REST endpoint, its `lkc-` id and credentials."""

    api_paths = ("/kafka/v3", "/kafka/v3/clusters")

    system: Literal["confluent"]
    cluster_id: str
    # A cluster-scoped API key and secret (HTTP Basic) ...
    username: str | None = None
    password: SecretStr | None = None
    password_file: FilePath | None = None
    # ... or an OAuth bearer token.
    token: SecretStr | None = None
    token_file: FilePath | None = None
    links: Filter | tuple[str, ...] = Filter()
    topics: Filter = Filter()
    partition_metrics: bool = True
    max_pages: int = Field(default=DEFAULT_MAX_PAGES, ge=1, le=10_000)

    @field_validator("cluster_id")
    @classmethod
    def _valid_cluster_id(cls, value: str) -> str:
        if not value or "/" in value or value.strip() != value:
            raise ValueError("must be a cluster id such as lkc-abc123")
        return value

    @model_validator(mode="before")
    @classmethod
    def _not_both_forms(cls, data: Any) -> Any:
        return not_both(not_both(data, "password", "password_file"), "token", "token_file")

    @model_validator(mode="after")
    def _one_kind_of_credentials(self) -> ConfluentTarget:
        has_secret = self.password is not None or self.password_file is not None
        has_token = self.token is not None or self.token_file is not None
        if has_token and (self.username is not None or has_secret):
            raise ValueError("give username and password (API key) or token, not both")
        if has_secret and self.username is None:
            raise ValueError("password needs username (the API key)")
        if self.username is not None and not has_secret:
            raise ValueError("username needs password or password_file (the API secret)")
        return self


# ---------------------------------------------------------------------------------------------
# Answers, as Confluent's spec shapes them, and the records read from them


class _Metadata(msgspec.Struct, frozen=True, gc=False):
    """A `ResourceCollection`'s metadata: the next page's URL, absent or empty on the last."""

    next: str | None = None


def known(value: float, what: str) -> float | None:
    """A lag or an offset: a negative one is Confluent's "not yet known" (no sample)."""
    return value if value >= 0 else None


def msecs_time(value: float, what: str) -> float:
    """A time in Unix milliseconds, exported in seconds, checked to be a time."""
    return unix_time(value / 1000.0, what)


class _LinkItem(msgspec.Struct, frozen=True, gc=False):
    """One `ListLinksResponseData`. Confluent Platform before 7.6 reports neither `link_state`
    nor `link_error`: no state series then, not a made-up one."""

    link_name: str
    link_state: str | None = None
    link_error: str | None = None
    # Only shown, never a label: anything but a string counts as absent.
    link_error_message: Any = None


class _LinksPage(msgspec.Struct, frozen=True, gc=False):
    """`GET links` (ListLinksResponseDataList)."""

    metadata: _Metadata
    data: list[_LinkItem]


class _TaskError(msgspec.Struct, frozen=True, gc=False):
    """One `LinkTaskError`; its words are only shown, so a non-string counts as absent."""

    error_code: Any = None
    error_message: Any = None


class _TaskItem(msgspec.Struct, frozen=True, gc=False):
    """One `LinkTask`; a null `errors` is no errors, a missing one a schema error."""

    task_name: str
    state: str
    errors: list[_TaskError] | None


class _LinkDetail(msgspec.Struct, frozen=True, gc=False):
    """`GET links/{link}?include_tasks=true`: UNSET `tasks` is a release before them."""

    tasks: list[_TaskItem] | msgspec.UnsetType | None = msgspec.UNSET


class PartitionLag(msgspec.Struct, frozen=True, gc=False):
    """One partition of a mirror topic (a MirrorLag), decoded straight from the answer: tens of
    thousands per poll. Negative values are Confluent's "not yet known" (`known`)."""

    partition: Integer
    lag: Annotated[Finite, Plain(PARTITION_LAG, known)]
    last_source_fetch_offset: Annotated[Finite, Plain(PARTITION_FETCH_OFFSET, known)]


class _MirrorTopicItem(msgspec.Struct, frozen=True, gc=False):
    """One `ListMirrorTopicsResponseData`; `mirror_topic_error` is absent before Confluent
    Platform 7.6, and a null `mirror_lags` is no partitions (a missing one a schema error)."""

    link_name: str
    mirror_topic_name: str
    mirror_status: str
    state_time_ms: Annotated[Finite, Plain(STATE_CHANGE, msecs_time)]
    num_partitions: Annotated[Integer, Plain(PARTITIONS)]
    mirror_lags: list[PartitionLag] | None
    mirror_topic_error: str | None = None


class _MirrorTopicsPage(msgspec.Struct, frozen=True, gc=False):
    """`GET links/{link}/mirrors` (ListMirrorTopicsResponseDataList)."""

    metadata: _Metadata
    data: list[_MirrorTopicItem]


# The families, in the order they are exported. Per-partition families come last: under a
# max_series cap the core drops later families first, so topic-level state survives longest.
LINK_SPECS = (LINK_STATUS, LINK_ERROR, LINK_TASK_STATUS)
TOPIC_METRICS = Metrics(MIRROR_STATUS, MIRROR_ERROR, _MirrorTopicItem, TOPIC_LAG, TOPIC_MAX_LAG)
PARTITION_METRICS = Metrics(PartitionLag)
SPECS = (*LINK_SPECS, *TOPIC_METRICS.specs, *PARTITION_METRICS.specs)


class LinkTask(msgspec.Struct, frozen=True, gc=False):
    """One task of a cluster link (a LinkTask) and its errors in Confluent's words."""

    name: str
    state: State
    errors: tuple[str, ...] = ()  # "ERROR_CODE: message" per LinkTaskError


class Link(msgspec.Struct, frozen=True, gc=False):
    """One cluster link's state and error (None: the server's release does not report it)."""

    name: str
    state: State | None
    error: State | None
    error_message: str = ""  # `link_error_message`: the upstream's own words, "" when none
    # None: not read (the detail failed, or the release reports no tasks).
    tasks: tuple[LinkTask, ...] | None = None


class MirrorTopic(msgspec.Struct, frozen=True, gc=False):
    """One mirror topic: state, error, its plain fields and its partitions sorted by number."""

    link: str
    name: str
    status: State
    error: State | None  # None: not reported (Confluent Platform before 7.6)
    values: Values  # TOPIC_METRICS' fields: state-change time and partition count
    lags: tuple[PartitionLag, ...]
    time_error: str = ""  # why `state_time_ms` was refused; the topic's schema failure

    @property
    def key(self) -> str:
        """The topic's identity across links, and its shard key."""
        return f"{self.link}/{self.name}"

    @property
    def state_time(self) -> float | None:
        """When the topic last changed state (None: `state_time_ms` was not a time)."""
        return self.values[STATE_CHANGE.name]


LINKS_PAGE = Decoder(_LinksPage)
LINK_DETAIL = Decoder(_LinkDetail)
MIRRORS_PAGE = Decoder(_MirrorTopicsPage)


def read_links(answer: Answer) -> tuple[list[Link], str | None]:
    """`GET links` -> links and the next page's URL."""
    page = LINKS_PAGE.answer(answer)
    links = [
        Link(
            name=item.link_name,
            state=_optional_enum(LINK_STATES, item.link_state),
            error=_optional_enum(LINK_ERRORS, item.link_error),
            error_message=_text(item.link_error_message),
        )
        for item in page.data
    ]
    return links, page.metadata.next or None


def read_link_tasks(answer: Answer) -> tuple[LinkTask, ...] | None:
    """`GET links/{link}?include_tasks=true` -> its tasks; None when the answer has no `tasks`
    key (a release before them), () when it is null or empty."""
    tasks = LINK_DETAIL.answer(answer).tasks
    if tasks is msgspec.UNSET:
        return None
    return tuple(
        LinkTask(
            name=task.task_name,
            state=LINK_TASK_STATES.normalise(task.state),
            errors=tuple(
                ": ".join(w for w in (_text(e.error_code), _text(e.error_message)) if w)
                for e in task.errors or ()
            ),
        )
        for task in tasks or ()
    )


def read_mirror_topics(answer: Answer) -> tuple[list[MirrorTopic], str | None]:
    """`GET links/{link}/mirrors` -> topics and the next page's URL."""
    page = MIRRORS_PAGE.answer(answer)
    topics = []
    for i, item in enumerate(page.data):
        where = f"{answer.what}: data[{i}]"
        try:
            values, time_error = TOPIC_METRICS.read(item, where), ""
        except TimeRangeError as exc:
            # The table's one time: without it the topic keeps its other series (see
            # `sources.base.entity_time`), and the poll reports it as this topic's failure.
            values = TOPIC_METRICS.read(msgspec.structs.replace(item, state_time_ms=None), where)
            time_error = str(exc)
        raw_error = item.mirror_topic_error
        topics.append(
            MirrorTopic(
                link=item.link_name,
                name=item.mirror_topic_name,
                status=MIRROR_STATUSES.normalise(item.mirror_status),
                error=None if raw_error is None else MIRROR_ERRORS.normalise(raw_error),
                values=values,
                lags=by_partition(item.mirror_lags or []),
                time_error=time_error,
            )
        )
    return topics, page.metadata.next or None


def _optional_enum(states: StateSet, raw: str | None) -> State | None:
    return None if raw is None else states.normalise(raw)


def _text(value: Any) -> str:
    """An optional free-text field; anything but a string counts as absent (it is only shown)."""
    return value if isinstance(value, str) else ""


def by_partition(lags: list[PartitionLag]) -> tuple[PartitionLag, ...]:
    """One entry per partition (the first given), sorted by partition."""
    ordered = sorted(lags, key=_PARTITION)
    if len({lag.partition for lag in ordered}) == len(ordered):
        return tuple(ordered)  # the usual case: each partition once
    first = dict(zip(map(_PARTITION, reversed(lags)), reversed(lags), strict=True))
    return tuple(first[p] for p in sorted(first))


_PARTITION = operator.attrgetter("partition")


# ---------------------------------------------------------------------------------------------
# Records -> families (pure)


@dataclass(slots=True)
class Observation:
    """What one poll read (already narrowed to this replica's share)."""

    links: list[Link] = field(default_factory=list)
    topics: list[MirrorTopic] = field(default_factory=list)


def build_families(
    seen: Observation,
    cluster_id: str,
    partition_metrics: bool = True,
    memo: LabelMemo | None = None,
) -> list[Family]:
    """Translate one poll's records into Confluent families; linear in topics + partitions
    (`memo`: the source's label sets of its last poll, `LabelMemo`)."""
    link_status, link_error = Family(LINK_STATUS), Family(LINK_ERROR)
    task_status = Family(LINK_TASK_STATUS)
    for link in seen.links:
        if link.state is not None:
            LINK_STATES.one_hot(link_status, (cluster_id, link.name), link.state)
        if link.error is not None:
            link_error.add((cluster_id, link.name, link.error), 1)
        for task in link.tasks or ():
            LINK_TASK_STATES.one_hot(task_status, (cluster_id, link.name, task.name), task.state)
    # Family by family over every topic and partition, each in a few C-level passes: a call
    # per topic or partition and family cost most of the translation.
    topics = seen.topics
    labels: list[LabelValues] = [(cluster_id, t.link, t.name) for t in topics]
    topic = TOPIC_METRICS.families()
    MIRROR_STATUSES.one_hot_many(topic[MIRROR_STATUS], labels, [t.status for t in topics], memo)
    error = topic[MIRROR_ERROR]
    erring = [
        (label, t.error) for label, t in zip(labels, topics, strict=True) if t.error is not None
    ]
    error.keys = [(*label, state) for label, state in erring]
    error.values = [1.0] * len(error.keys)
    topic.add_many(labels, [t.values for t in topics])
    known = [[p.lag for p in t.lags if p.lag >= 0] for t in topics]
    lag_sum, lag_max = topic[TOPIC_LAG], topic[TOPIC_MAX_LAG]
    lag_sum.keys, lag_sum.values = labels.copy(), [float(sum(lags)) for lags in known]
    lag_max.keys, lag_max.values = labels.copy(), [float(max(lags, default=0.0)) for lags in known]
    families = [link_status, link_error, task_status, *topic.all()]
    if not partition_metrics:
        return families
    # A topic's partition label sets are made of its labels and partition numbers.
    keys = [
        (label, tuple(map(_PARTITION, t.lags))) for label, t in zip(labels, topics, strict=True)
    ]
    partition_labels = remembered_label_sets(memo, PARTITION_LAG.name, keys, _partition_labels)
    partitions = [p for t in topics for p in t.lags]
    partition = PARTITION_METRICS.families()
    # `known` in C: a negative value is Confluent's "not yet known", no sample.
    for spec, read in ((PARTITION_LAG, _LAG), (PARTITION_FETCH_OFFSET, _FETCH_OFFSET)):
        family, values = partition[spec], list(map(read, partitions))
        if min(values, default=0.0) >= 0:
            family.keys, family.values = partition_labels.copy(), values
        else:
            present = [value >= 0 for value in values]
            family.keys = list(itertools.compress(partition_labels, present))
            family.values = list(itertools.compress(values, present))
    return [*families, *partition.all()]


def _partition_labels(key: tuple[LabelValues, tuple[int, ...]]) -> tuple[LabelValues, ...]:
    labels, partitions = key
    return tuple([(*labels, str(partition)) for partition in partitions])


_LAG = operator.attrgetter("lag")
_FETCH_OFFSET = operator.attrgetter("last_source_fetch_offset")


# The columns above are what PARTITION_METRICS' rows say, written out: reading the rows
# generically (a `Values` per partition) made building the families slower. A row added to
# PartitionLag without the columns learning it would be silently unexported, so the rows are
# checked here.
_PARTITION_ROWS = (
    (PARTITION_LAG, "lag", known),
    (PARTITION_FETCH_OFFSET, "last_source_fetch_offset", known),
)
if tuple((f.spec, f.attr, f.convert) for f in PARTITION_METRICS.fields) != _PARTITION_ROWS:
    raise TypeError("build_families writes PartitionLag's rows out: update it with them")


def unknown_values(seen: Observation) -> list[tuple[str, str]]:
    """(field, value) for every enum value outside the spec's sets, for the core to count."""
    out = []
    for link in seen.links:
        if isinstance(link.state, Unknown):
            out.append(("link_state", str(link.state)))
        if isinstance(link.error, Unknown):
            out.append(("link_error", str(link.error)))
        for task in link.tasks or ():
            if isinstance(task.state, Unknown):
                out.append(("link_task_state", str(task.state)))
    for topic in seen.topics:
        if isinstance(topic.status, Unknown):
            out.append(("mirror_status", str(topic.status)))
        if isinstance(topic.error, Unknown):
            out.append(("mirror_topic_error", str(topic.error)))
    return out


# What needs a person comes from the alerts' `statuses`: a link whose state
# ConfluentLinkUnavailable selects (a paused link shows through its LINK_PAUSED topics), a link
# task whose state ConfluentLinkTaskInError selects (LINK_FAILED, LINK_UNAVAILABLE and
# LINK_PAUSED repeat the link's own state; NOT_CONFIGURED is a feature the link does not use), a
# mirror topic that ConfluentMirrorTopicFailed or ConfluentMirrorTopicPaused selects at once, one
# that ConfluentMirrorTopicStuckPending selects once Confluent's state time is older than its
# `for:`, and an ACTIVE one past ConfluentMirrorLagHigh's threshold. A link whose state is
# unreported (older releases) is not listed; a value the exporter does not know always is.
IMMEDIATE_TOPIC_ALERTS = ("ConfluentMirrorTopicFailed", "ConfluentMirrorTopicPaused")
NO_ERRORS = frozenset({"NO_ERROR", "NOT_SET"})


def broken_entities(
    seen: Observation, topic_lags: list[float], now: float, alerts: AlertSettings | None = None
) -> list[BrokenEntity]:
    """Links and mirror topics that need a person, with Confluent's own error words and state
    time. `topic_lags` is each topic's summed lag, in `seen.topics` order (as exported);
    `alerts` the settings (the shipped ones if not given)."""
    alerts = alerts or thresholds.defaults()
    pending_for = alerts.wait("ConfluentMirrorTopicStuckPending")
    lag_limit = alerts.number("ConfluentMirrorLagHigh", "threshold_messages")
    broken = []
    for link in seen.links:
        if isinstance(link.state, Unknown) or (
            link.state is not None and alerts.selects("ConfluentLinkUnavailable", link.state)
        ):
            error = link.error if link.error not in NO_ERRORS else None
            words = ": ".join(w for w in (error, link.error_message) if w)
            broken.append(
                BrokenEntity("link", (("link", link.name),), str(link.state or ""), words)
            )
        for task in link.tasks or ():
            if isinstance(task.state, Unknown) or alerts.selects(
                "ConfluentLinkTaskInError", task.state
            ):
                names = (("link", link.name), ("task", task.name))
                words = "\n".join(task.errors)
                broken.append(BrokenEntity("link task", names, str(task.state), words))
    for topic, lag in zip(seen.topics, topic_lags, strict=True):
        state = topic.status
        if not isinstance(state, Unknown) and not any(
            alerts.selects(alert, state) for alert in IMMEDIATE_TOPIC_ALERTS
        ):
            if alerts.selects("ConfluentMirrorTopicStuckPending", state):
                since = topic.state_time
                # Without a state time, how long it has been pending is not known: not broken.
                if since is None or now - since <= pending_for:
                    continue
            elif state == "ACTIVE" and lag > lag_limit:
                state = f"ACTIVE, lag {lag:.0f} messages"
            else:
                continue
        error = topic.error if topic.error is not None and topic.error not in NO_ERRORS else ""
        names = (("link", topic.link), ("topic", topic.name))
        broken.append(BrokenEntity("mirror topic", names, str(state), str(error), topic.state_time))
    return broken


def entity_counts(seen: Observation) -> dict[str, int]:
    """Links and mirror topics per state, for the status page."""
    counts: dict[str, int] = {}
    for key in [f"links {link.state or 'state unreported'}" for link in seen.links] + [
        f"mirror topics {topic.status}" for topic in seen.topics
    ]:
        counts[key] = counts.get(key, 0) + 1
    return counts


# ---------------------------------------------------------------------------------------------
# I/O

R = TypeVar("R")
TASKS_CAPABILITY = "link_tasks"


class _NoTasks:
    """A link answer without a `tasks` key: the release does not report tasks."""


_NO_TASKS = _NoTasks()


class ConfluentSource(Source[ConfluentTarget]):
    """Polls the cluster links and mirror topics of one destination cluster."""

    system = "confluent"
    config_model = ConfluentTarget
    specs = SPECS
    unknown_value_fields = (
        "link_error",
        "link_state",
        "link_task_state",
        "mirror_status",
        "mirror_topic_error",
    )
    # `mirrors` is not a detail call: a mirror topic whose own fields the list answer breaks (a
    # time out of range) fails alone under the list call's name. `link_tasks` is one per link.
    detail_endpoints = ("link_tasks", "mirrors")

    def auth(self) -> Auth | None:
        """Bearer with a token, else Basic with the cluster API key and secret, else none."""
        cfg = self.config
        if cfg.token is not None or cfg.token_file is not None:
            return BearerAuth(SecretReader(cfg.token, cfg.token_file))
        if cfg.username is None:
            return None
        return BasicAuth(cfg.username, SecretReader(cfg.password, cfg.password_file))

    def _path(self, *parts: str) -> str:
        segments = (self.config.cluster_id, *parts)
        return api_path(API, *segments)

    async def poll(self, client: UpstreamClient) -> PollResult:
        """Links and mirror topics (one inventory call each, concurrently), then families."""
        links: list[Link] = []
        topics: dict[str, MirrorTopic] = {}
        selection = self.config.links
        details = self.details()
        calls: list[Coroutine[Any, Any, None]] = [self._links(client, links)]
        if isinstance(selection, Filter):
            calls.append(self._mirrors(client, ALL_LINKS, topics))
        else:
            calls.extend(self._mirrors(client, name, topics) for name in dict.fromkeys(selection))
        await run_all(calls)
        seen = Observation(
            links=links,
            topics=[
                topic
                for topic in topics.values()
                if self._selected(topic.link)
                and self.config.topics.matches(topic.name)
                and self.shard.owns(topic.key)
            ],
        )
        self.admit(len(seen.links) + len(seen.topics), "links and mirror topics")
        # Only once the inventory is admitted: one call per link for its tasks.
        seen.links = await self._with_tasks(client, seen.links, details)
        families = build_families(
            seen, self.config.cluster_id, self.config.partition_metrics, self.labels
        )
        # The summed lags were just exported (TOPIC_LAG, one per topic in order): reuse them.
        topic_lags = next(f for f in families if f.spec is TOPIC_LAG).values
        details.failures.extend(
            DetailFailure(f"mirror topic {t.key}", "mirrors", Reason.SCHEMA, t.time_error)
            for t in seen.topics
            if t.time_error
        )
        result = PollResult(
            families=families,
            entities=entity_counts(seen),
            unknown_values=unknown_values(seen),
            broken=broken_entities(seen, topic_lags, self.clock(), self.alerts),
        )
        return details.into(result)

    @functools.cached_property
    def _selected(self) -> Callable[[str], bool]:
        """Whether the config selects a link, by name."""
        return selector(self.config.links)

    async def _links(self, client: UpstreamClient, out: list[Link]) -> None:
        """The links list, narrowed to this replica's selected links."""
        listed = await self._collect(client, self._path("links"), read_links)
        out.extend(
            link for link in listed if self._selected(link.name) and self.shard.owns(link.name)
        )

    async def _with_tasks(
        self, client: UpstreamClient, links: list[Link], details: Details
    ) -> list[Link]:
        """The links with their tasks, less those deleted since the list."""
        if not links or not self.capabilities.available(TASKS_CAPABILITY):
            return links
        jobs = [functools.partial(self._tasks, client, details, link) for link in links]
        answers = await fan_out(jobs, details.limit)
        self._learn_tasks(answers)
        kept = []
        for link, tasks in zip(links, answers, strict=True):
            if tasks is GONE:
                continue  # deleted since the list: its series go with it
            kept.append(
                msgspec.structs.replace(link, tasks=tasks) if isinstance(tasks, tuple) else link
            )
        return kept

    def _learn_tasks(self, answers: list[Any]) -> None:
        """A release reports tasks if any answer has the key; when the answers that came lack
        it (Confluent Platform before 7.6), the calls are skipped until the recheck."""
        if any(isinstance(a, tuple) for a in answers):
            self.capabilities.has(TASKS_CAPABILITY)
        elif any(a is _NO_TASKS for a in answers):
            self.capabilities.lacks(TASKS_CAPABILITY)

    async def _tasks(self, client: UpstreamClient, details: Details, link: Link) -> object:
        """One link's tasks; GONE if the link was deleted since the list, None if it failed."""

        async def call() -> tuple[LinkTask, ...] | _NoTasks:
            answer = await client.get(self._path("links", link.name), {"include_tasks": "true"})
            tasks = read_link_tasks(answer)
            return _NO_TASKS if tasks is None else tasks

        return await details.fetch(f"link {link.name}", "link_tasks", call, gone_if=not_found)

    async def _mirrors(
        self, client: UpstreamClient, link: str, out: dict[str, MirrorTopic]
    ) -> None:
        try:
            path = self._path("links", link, "mirrors")
            found = await self._collect(client, path, read_mirror_topics)
        except UpstreamError as exc:
            if link == ALL_LINKS or exc.status != 404:
                raise
            # A listed link that does not exist (yet, or any more) has no topics to export.
            log.warning("link_not_found", target=self.config.name, link=link)
            return
        for topic in found:
            out.setdefault(topic.key, topic)

    async def _collect(
        self,
        client: UpstreamClient,
        path: str,
        parse: Callable[[Answer], tuple[list[R], str | None]],
    ) -> list[R]:
        """Every page of a collection: follow `metadata.next` up to `max_pages` pages."""

        async def page(url: str) -> tuple[list[R], str | None]:
            return parse(await client.get(url))

        return await collect_pages(path, page, self.config.max_pages, f"{path} (max_pages)")
