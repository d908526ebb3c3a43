"""The Confluent dashboard: cluster links and mirror topics, their lag and state over time."""

from __future__ import annotations

from typing import Any

from dataflow_exporter.sources import confluent as confluent_source
from grafana.colours import BLUE, GREEN, ORANGE, RED, YELLOW, status_colors
from grafana.layout import CHART, COMPACT, TALL, TILE, Line, Row, dashboard
from grafana.limits import Limits
from grafana.panels import stat, state_timeline, status_overrides, table, target, timeseries
from grafana.variables import LINKS, TOPICS, query_var, target_var


def build(limits: Limits) -> dict[str, Any]:
    """The dashboard, with the alert thresholds it draws."""
    return dashboard(
        "dataflow-confluent",
        "Dataflow: Confluent cluster linking",
        "Confluent cluster links and mirror topics: state, lag per topic and per partition, lag trend and fetch rate.",
        [
            _links_and_topics(limits),
            _lag(limits),
            _state_over_time(),
        ],
        [
            target_var("confluent"),
            query_var(
                "link",
                "Link",
                'label_values(confluent_mirror_topic_status{target=~"$target"}, link)',
            ),
            query_var(
                "topic",
                "Mirror topic",
                'label_values(confluent_mirror_topic_status{target=~"$target", link=~"$link"}, topic)',
            ),
        ],
    )


def _links_and_topics(limits: Limits) -> Row:
    return Row(
        "Cluster links and mirror topics",
        [
            _topic_tiles(limits),
            _link_and_topic_tables(),
        ],
    )


def _topic_tiles(limits: Limits) -> Line:
    return Line(
        TILE,
        [
            stat(
                "Mirror topics",
                "Mirror topics selected by the variables.",
                f"count(count by (target, link, topic) (confluent_mirror_topic_status{{{TOPICS}}}))",
                steps=((None, BLUE),),
            ),
            stat(
                "Active",
                "Mirror topics in ACTIVE.",
                f'sum(max by (target, cluster_id, link, topic) (confluent_mirror_topic_status{{{TOPICS}, status="ACTIVE"}}))',
            ),
            stat(
                "Paused",
                "Mirror topics PAUSED or LINK_PAUSED.",
                f'sum(max by (target, cluster_id, link, topic) (confluent_mirror_topic_status{{{TOPICS}, status=~"PAUSED|LINK_PAUSED"}}))',
                steps=((None, GREEN), (1, ORANGE)),
            ),
            stat(
                "Failed",
                "Mirror topics FAILED, LINK_FAILED or SOURCE_UNAVAILABLE.",
                f'sum(max by (target, cluster_id, link, topic) (confluent_mirror_topic_status{{{TOPICS}, status=~"FAILED|LINK_FAILED|SOURCE_UNAVAILABLE"}}))',
                steps=((None, GREEN), (1, RED)),
            ),
            stat(
                "Pending",
                "Mirror topics in a PENDING_* transition.",
                f'sum(max by (target, cluster_id, link, topic) (confluent_mirror_topic_status{{{TOPICS}, status=~"PENDING_.*"}}))',
                steps=((None, GREEN), (1, YELLOW)),
            ),
            stat(
                "Total lag",
                "Messages all selected mirror topics are behind their sources.",
                f"sum(max by (target, cluster_id, link, topic) (confluent_mirror_topic_lag{{{TOPICS}}}))",
                unit="short",
                steps=((None, GREEN), (limits.mirror_lag_messages, ORANGE)),
            ),
        ],
    )


def _link_and_topic_tables() -> Line:
    return Line(
        CHART,
        [
            table(
                "Cluster links",
                "Each cluster link's state and error.",
                [
                    ("A", f"confluent_link_status{{{LINKS}}} == 1"),
                    ("B", f"confluent_link_error{{{LINKS}}} == 1"),
                ],
                {
                    "target": "Target",
                    "cluster_id": "Cluster",
                    "link": "Link",
                    "status": "State",
                    "error": "Error",
                },
                status_columns=("status",),
                system="confluent",
            ),
            table(
                "Mirror topics",
                "One row per mirror topic: state, error, partitions, lag (sum and worst partition) and time in the current state.",
                [
                    ("A", f"confluent_mirror_topic_status{{{TOPICS}}} == 1"),
                    ("B", f"confluent_mirror_topic_error{{{TOPICS}}} == 1"),
                    ("C", f"confluent_mirror_topic_partitions{{{TOPICS}}}"),
                    ("D", f"confluent_mirror_topic_lag{{{TOPICS}}}"),
                    ("E", f"confluent_mirror_topic_max_partition_lag{{{TOPICS}}}"),
                    (
                        "F",
                        f"time() - confluent_mirror_topic_state_change_timestamp_seconds{{{TOPICS}}}",
                    ),
                ],
                {
                    "target": "Target",
                    "cluster_id": "Cluster",
                    "link": "Link",
                    "topic": "Mirror topic",
                    "status": "State",
                    "error": "Error",
                    "Value #C": "Partitions",
                    "Value #D": "Lag",
                    "Value #E": "Worst partition lag",
                    "Value #F": "In state for",
                },
                units={"Value #D": "short", "Value #E": "short", "Value #F": "s"},
                status_columns=("status",),
                system="confluent",
                sort=("Value #D", True),
            ),
        ],
        weights=(1, 2),
    )


def _lag(limits: Limits) -> Row:
    return Row(
        "Lag",
        [
            _topic_lag(limits),
            _partitions_and_fetch(),
            _partition_lag(),
        ],
    )


def _topic_lag(limits: Limits) -> Line:
    return Line(
        CHART,
        [
            timeseries(
                "Lag per mirror topic",
                f"Messages each mirror topic is behind its source topic, summed over its partitions. The red line is ConfluentMirrorLagHigh's threshold ({limits.mirror_lag_messages}).",
                [
                    target(
                        f"confluent_mirror_topic_lag{{{TOPICS}}}",
                        "{{target}} / {{link}} / {{topic}}",
                    )
                ],
                threshold_line=limits.mirror_lag_messages,
            ),
            timeseries(
                "Lag trend",
                "Change of each mirror topic's lag per second over the last 15 minutes: above 0 it falls behind, below 0 it catches up (ConfluentMirrorLagGrowing watches this).",
                [
                    target(
                        f"deriv(confluent_mirror_topic_lag{{{TOPICS}}}[15m])",
                        "{{target}} / {{link}} / {{topic}}",
                    )
                ],
                min_zero=False,
            ),
        ],
    )


def _partitions_and_fetch() -> Line:
    return Line(
        CHART,
        [
            timeseries(
                "Most lagging partitions",
                "The 20 mirror partitions furthest behind their source partitions.",
                [
                    target(
                        f"topk(20, confluent_mirror_partition_lag{{{TOPICS}}})",
                        "{{target}} / {{topic}} [{{partition}}]",
                    )
                ],
            ),
            timeseries(
                "Fetched from the source per second",
                "Messages per second each mirror topic fetches from its source (from the partitions' last fetched offsets).",
                [
                    target(
                        f"sum by (target, link, topic) (max by (target, cluster_id, link, topic, partition) (rate(confluent_mirror_partition_last_source_fetch_offset{{{TOPICS}}}[$__rate_interval])))",
                        "{{target}} / {{link}} / {{topic}}",
                    )
                ],
            ),
        ],
    )


def _partition_lag() -> Line:
    return Line(
        TALL,
        [
            table(
                "Lag per partition",
                "Every mirror partition's lag and last offset fetched from its source partition.",
                [
                    ("A", f"confluent_mirror_partition_lag{{{TOPICS}}}"),
                    ("B", f"confluent_mirror_partition_last_source_fetch_offset{{{TOPICS}}}"),
                ],
                {
                    "target": "Target",
                    "cluster_id": "Cluster",
                    "link": "Link",
                    "topic": "Mirror topic",
                    "partition": "Partition",
                    "Value #A": "Lag",
                    "Value #B": "Last fetched offset",
                },
                sort=("Value #A", True),
            ),
            timeseries(
                "Mirror topics by state",
                "How many mirror topics were in each state over time.",
                [
                    target(
                        f"sum by (status) (max by (target, cluster_id, link, topic, status) (confluent_mirror_topic_status{{{TOPICS}}} == 1))",
                        "{{status}}",
                    )
                ],
                stack=True,
                overrides=status_overrides(
                    [
                        k
                        for k in status_colors()
                        if k.isupper() and not k.startswith("STATUS_") and k != "UNAVAILABLE"
                    ]
                ),
            ),
        ],
    )


def _state_over_time() -> Row:
    return Row(
        "State over time",
        [
            Line(
                COMPACT,
                [
                    state_timeline(
                        "Link states",
                        "Each cluster link's state over time, one row per target and link. A gap is no data, not a healthy state.",
                        ("confluent_link_status",),
                        LINKS,
                        "target, link",
                        confluent_source.LINK_STATES,
                        "{{target}} / {{link}}",
                    )
                ],
            ),
            Line(
                CHART,
                [
                    state_timeline(
                        "Mirror topic states",
                        "Each mirror topic's status over time, one row per target, link and topic. A gap is no data, not a healthy state.",
                        ("confluent_mirror_topic_status",),
                        TOPICS,
                        "target, link, topic",
                        confluent_source.MIRROR_STATUSES,
                        "{{target}} / {{link}} / {{topic}}",
                    )
                ],
            ),
            Line(
                COMPACT,
                [
                    state_timeline(
                        "Link task states",
                        "Each cluster link task's state over time (consumer offset sync, ACL sync, ...), one row per target, link and task. IN_ERROR while the link is ACTIVE means what the task syncs is stale on the destination. A gap is no data (Confluent Platform before 7.6 reports no tasks), not a healthy state.",
                        ("confluent_link_task_status",),
                        LINKS,
                        "target, link, task",
                        confluent_source.LINK_TASK_STATES,
                        "{{target}} / {{link}} / {{task}}",
                    )
                ],
            ),
        ],
    )
