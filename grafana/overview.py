"""The overview dashboard: every system's entities by state, what is broken now, and the
exporter's own health."""

from __future__ import annotations

from typing import Any

from dataflow_exporter.errors import Reason
from grafana.colours import GREEN, ORANGE, RED, STALE_MAPPING, UP_MAPPING, YELLOW, mapping_values
from grafana.layout import CHART, MEDIUM, SHORT, TILE, Line, Row, dashboard
from grafana.limits import Limits
from grafana.panels import bargauge, stat, table, target, timeseries
from grafana.variables import TARGETS, target_var


def build(limits: Limits) -> dict[str, Any]:
    """The dashboard, with the alert thresholds it draws."""
    return dashboard(
        "dataflow-overview",
        "Dataflow: overview",
        "Every PeerDB mirror, Confluent mirror topic, Feldera pipeline and Etlworks flow by state, what is broken now, and the exporter's own health.",
        [
            _exporter_health(),
            _entities_by_state(),
            _broken_now(limits),
        ],
        [target_var()],
    )


def _exporter_health() -> Row:
    return Row(
        "Exporter health",
        [_health_tiles(), _targets_and_failures(), _polls_and_instances()],
    )


def _health_tiles() -> Line:
    return Line(
        TILE,
        [
            stat(
                "Targets up",
                "Targets whose last poll succeeded.",
                f"sum(min by (target, system) (dataflow_exporter_target_up{{{TARGETS}}}))",
            ),
            stat(
                "Targets down",
                "Targets whose last poll failed. Their series keep their last good values until stale_after.",
                f"sum(1 - min by (target, system) (dataflow_exporter_target_up{{{TARGETS}}}))",
                steps=((None, GREEN), (1, RED)),
            ),
            stat(
                "Stale targets",
                "Targets whose series are withheld because no poll has succeeded for stale_after: alerts on their entities cannot fire.",
                f"sum(max by (target, system) (dataflow_exporter_target_stale{{{TARGETS}}}))",
                steps=((None, GREEN), (1, RED)),
            ),
            stat(
                "Config reload",
                "Whether every exporter's last configuration (re)load succeeded; a failed reload keeps the previous configuration.",
                "min(dataflow_exporter_config_last_reload_successful)",
                steps=((None, RED), (1, GREEN)),
                mappings=mapping_values({"1": ("OK", GREEN), "0": ("FAILED", RED)}),
            ),
            stat(
                "Unknown upstream values",
                "Upstream enum values outside the known states seen over the dashboard's time range: an upstream upgrade introduced a state no alert matches.",
                "sum(increase(dataflow_exporter_unknown_values_total[$__range]))",
                steps=((None, GREEN), (1, YELLOW)),
            ),
            stat(
                "Series dropped",
                "Series dropped over the time range because a target exceeded its max_series: some entities are missing.",
                f"sum(increase(dataflow_exporter_series_dropped_total{{{TARGETS}}}[$__range]))",
                steps=((None, GREEN), (1, ORANGE)),
            ),
        ],
    )


def _targets_and_failures() -> Line:
    return Line(
        CHART,
        [
            table(
                "Targets",
                "One row per target: last poll result, age of the last success, poll duration and interval, series exported. The exporter's status page (/) adds the last error text.",
                [
                    ("A", f"dataflow_exporter_target_up{{{TARGETS}}}"),
                    (
                        "B",
                        f"time() - dataflow_exporter_target_last_success_timestamp_seconds{{{TARGETS}}}",
                    ),
                    ("C", f"dataflow_exporter_target_stale{{{TARGETS}}}"),
                    ("D", f"dataflow_exporter_target_poll_duration_seconds{{{TARGETS}}}"),
                    ("E", f"dataflow_exporter_target_poll_interval_seconds{{{TARGETS}}}"),
                    ("F", f"dataflow_exporter_target_series{{{TARGETS}}}"),
                ],
                {
                    "target": "Target",
                    "system": "System",
                    "Value #A": "Last poll",
                    "Value #B": "Last success",
                    "Value #C": "Data",
                    "Value #D": "Poll took",
                    "Value #E": "Interval",
                    "Value #F": "Series exported",
                },
                units={"Value #B": "s", "Value #D": "s", "Value #E": "s"},
                mapped={"Value #A": UP_MAPPING, "Value #C": STALE_MAPPING},
                sort=("Value #A", False),
            ),
            timeseries(
                "Failed polls by reason",
                f"Failed polls per target and reason ({', '.join(reason.value for reason in Reason)}).",
                [
                    target(
                        f"sum by (target, reason) (increase(dataflow_exporter_target_errors_total{{{TARGETS}}}[$__rate_interval])) > 0",
                        "{{target}}: {{reason}}",
                    )
                ],
                bars=True,
            ),
        ],
    )


def _polls_and_instances() -> Line:
    return Line(
        MEDIUM,
        [
            timeseries(
                "Poll duration",
                "How long each target's last poll took; compare with its timeout.",
                [
                    target(
                        f"dataflow_exporter_target_poll_duration_seconds{{{TARGETS}}}", "{{target}}"
                    )
                ],
                unit="s",
            ),
            timeseries(
                "Series per target",
                "Series each target exports now (0 while stale).",
                [target(f"dataflow_exporter_target_series{{{TARGETS}}}", "{{target}}")],
            ),
            table(
                "Exporter instances",
                "Each scraped exporter: version, shard and when its configuration was last loaded.",
                [
                    ("A", "dataflow_exporter_build_info"),
                    ("B", "dataflow_exporter_shard_info"),
                    (
                        "C",
                        "time() - dataflow_exporter_config_last_reload_success_timestamp_seconds",
                    ),
                ],
                {
                    "instance": "Instance",
                    "version": "Version",
                    "python_version": "Python",
                    "index": "Shard",
                    "count": "of",
                    "Value #C": "Config loaded",
                },
                units={"Value #C": "s"},
                keep=("instance",),
            ),
        ],
    )


def _entities_by_state() -> Row:
    return Row(
        "Entities by state",
        [
            Line(
                CHART,
                [
                    bargauge(
                        "PeerDB mirrors",
                        "PeerDB mirrors per state.",
                        f"sum by (status) (max by (target, mirror, status) (peerdb_mirror_status{{{TARGETS}}} == 1))",
                        "peerdb",
                    ),
                    bargauge(
                        "Confluent mirror topics",
                        "Confluent mirror topics per state.",
                        f"sum by (status) (max by (target, cluster_id, link, topic, status) (confluent_mirror_topic_status{{{TARGETS}}} == 1))",
                        "confluent",
                    ),
                    bargauge(
                        "Feldera pipelines",
                        "Feldera pipelines per deployment status.",
                        f"sum by (status) (max by (target, pipeline, status) (feldera_pipeline_status{{{TARGETS}}} == 1))",
                        "feldera",
                    ),
                    bargauge(
                        "Etlworks flows",
                        "Etlworks flows per status of their newest execution.",
                        f"sum by (status) (max by (target, flow_id, status) (etlworks_flow_last_execution_status{{{TARGETS}}} == 1))",
                        "etlworks",
                    ),
                ],
            ),
            Line(
                SHORT,
                [
                    bargauge(
                        "Confluent cluster links",
                        "Confluent cluster links per state.",
                        f"sum by (status) (max by (target, cluster_id, link, status) (confluent_link_status{{{TARGETS}}} == 1))",
                        "confluent",
                    ),
                    bargauge(
                        "Feldera connectors",
                        "Feldera input and output connectors per reported health (connectors that report none are not counted).",
                        f"sum by (status) (max by (target, pipeline, table, view, connector, status) (feldera_input_connector_health{{{TARGETS}}} == 1 or feldera_output_connector_health{{{TARGETS}}} == 1))",
                        "feldera",
                    ),
                ],
                slots=4,
            ),
        ],
    )


def _broken_now(limits: Limits) -> Row:
    return Row(
        "Broken now",
        [
            _broken_mirrors_and_topics(),
            _broken_pipelines_and_flows(limits),
        ],
    )


def _broken_mirrors_and_topics() -> Line:
    return Line(
        MEDIUM,
        [
            table(
                "PeerDB mirrors not running",
                "Mirrors in any state but STATUS_RUNNING or STATUS_COMPLETED: failed, paused, or in a transition.",
                [
                    (
                        "A",
                        f'peerdb_mirror_status{{{TARGETS}, status!~"STATUS_RUNNING|STATUS_COMPLETED"}} == 1',
                    )
                ],
                {"target": "Target", "mirror": "Mirror", "status": "Status"},
                status_columns=("status",),
                system="peerdb",
            ),
            table(
                "Confluent links and mirror topics not active",
                "Cluster links and mirror topics in any state but ACTIVE (a topic row has a topic; a link row has none).",
                [
                    ("A", f'confluent_link_status{{{TARGETS}, status!="ACTIVE"}} == 1'),
                    ("B", f'confluent_mirror_topic_status{{{TARGETS}, status!="ACTIVE"}} == 1'),
                ],
                {
                    "target": "Target",
                    "cluster_id": "Cluster",
                    "link": "Link",
                    "topic": "Mirror topic",
                    "status": "Status",
                },
                status_columns=("status",),
                system="confluent",
            ),
        ],
    )


def _broken_pipelines_and_flows(limits: Limits) -> Line:
    return Line(
        MEDIUM,
        [
            table(
                "Feldera pipelines and connectors in trouble",
                "Pipelines with a deployment error or not in their desired status, and connectors with a fatal error or reporting Unhealthy.",
                [
                    (
                        "A",
                        f'label_replace(feldera_pipeline_deployment_error{{{TARGETS}}} == 1, "problem", "deployment error", "__name__", ".*")',
                    ),
                    (
                        "B",
                        f'label_replace(feldera_pipeline_desired_status{{{TARGETS}}} == 1 unless on (target, pipeline, status) feldera_pipeline_status == 1, "problem", "not in desired status $1", "status", "(.*)")',
                    ),
                    (
                        "C",
                        f'label_replace(feldera_input_connector_fatal_error{{{TARGETS}}} == 1 or feldera_output_connector_fatal_error{{{TARGETS}}} == 1, "problem", "fatal error", "__name__", ".*")',
                    ),
                    (
                        "D",
                        f'label_replace(feldera_input_connector_health{{{TARGETS}, status="Unhealthy"}} == 1 or feldera_output_connector_health{{{TARGETS}, status="Unhealthy"}} == 1, "problem", "Unhealthy", "__name__", ".*")',
                    ),
                ],
                {
                    "target": "Target",
                    "pipeline": "Pipeline",
                    "table": "Table",
                    "view": "View",
                    "connector": "Connector",
                    "problem": "Problem",
                },
                hide=("status",),
            ),
            table(
                "Etlworks flows failed or hanging",
                f"Flows whose newest execution ended in error, and executions queued or running for over {limits.run_seconds} s.",
                [
                    (
                        "A",
                        f'label_replace(etlworks_flow_last_execution_status{{{TARGETS}, status="error"}} == 1, "problem", "last run failed", "__name__", ".*")',
                    ),
                    (
                        "B",
                        f'label_replace(etlworks_flow_last_execution_duration_seconds{{{TARGETS}, flow!~"{limits.run_exclude}"}} > {limits.run_seconds} and on (target, flow_id) etlworks_flow_last_execution_status{{status=~"queued|running"}} == 1, "problem", "running for over {limits.run_seconds} s", "__name__", ".*")',
                    ),
                ],
                {"target": "Target", "flow_id": "Flow id", "flow": "Flow", "problem": "Problem"},
                hide=("status",),
            ),
        ],
    )
