"""The Etlworks dashboard: flows, their runs and state over time."""

from __future__ import annotations

from typing import Any

from dataflow_exporter.sources import etlworks as etlworks_source
from grafana.colours import BLUE, GREEN, ORANGE, RED, mapping_values
from grafana.layout import CHART, MEDIUM, TALL, TILE, Line, Row, dashboard
from grafana.limits import Limits
from grafana.panels import stat, state_timeline, status_overrides, table, target, timeseries
from grafana.variables import FLOWS, TARGETS, query_var, target_var


def build(limits: Limits) -> dict[str, Any]:
    """The dashboard, with the alert thresholds it draws."""
    return dashboard(
        "dataflow-etlworks",
        "Dataflow: Etlworks",
        "Etlworks flows: the newest execution of each (status, duration, retries, records), runs finished by status and time since the last success.",
        [
            _flows(limits),
            _runs(limits),
            _state_over_time(),
        ],
        [
            target_var("etlworks"),
            query_var(
                "flow",
                "Flow",
                'label_values(etlworks_flow_last_execution_status{target=~"$target"}, flow)',
            ),
        ],
    )


def _flows(limits: Limits) -> Row:
    return Row("Flows", [_flow_tiles(limits), _flow_tables()])


def _flow_tiles(limits: Limits) -> Line:
    return Line(
        TILE,
        [
            stat(
                "Flows",
                "Flows selected by the variables that have run at least once.",
                f"count(count by (target, flow_id) (etlworks_flow_last_execution_status{{{FLOWS}}}))",
                steps=((None, BLUE),),
            ),
            stat(
                "Last run succeeded",
                "Flows whose newest execution succeeded.",
                f'sum(max by (target, flow_id) (etlworks_flow_last_execution_status{{{FLOWS}, status="success"}}))',
            ),
            stat(
                "Last run failed",
                "Flows whose newest execution ended in error.",
                f'sum(max by (target, flow_id) (etlworks_flow_last_execution_status{{{FLOWS}, status="error"}}))',
                steps=((None, GREEN), (1, RED)),
            ),
            stat(
                "Running or queued",
                "Flows executing or waiting to execute now.",
                f'sum(max by (target, flow_id) (etlworks_flow_last_execution_status{{{FLOWS}, status=~"running|queued"}}))',
                steps=((None, BLUE),),
            ),
            stat(
                "Running too long",
                f"Executions queued or running for over {limits.run_seconds} s (EtlworksFlowRunningTooLong's threshold).",
                f'sum(max by (target, flow_id) (etlworks_flow_last_execution_duration_seconds{{{FLOWS}, flow!~"{limits.run_exclude}"}} > bool {limits.run_seconds}) * on (target, flow_id) max by (target, flow_id) (etlworks_flow_last_execution_status{{{TARGETS}, status=~"queued|running"}}))',
                steps=((None, GREEN), (1, ORANGE)),
            ),
            stat(
                "No recent success",
                f"Flows whose last success seen by the exporter is over {limits.success_seconds} s old (EtlworksFlowNoRecentSuccess's threshold).",
                f"sum(max by (target, flow_id) (time() - etlworks_flow_last_success_timestamp_seconds{{{FLOWS}}} > bool {limits.success_seconds}))",
                steps=((None, GREEN), (1, ORANGE)),
            ),
        ],
    )


def _flow_tables() -> Line:
    return Line(
        TALL,
        [
            table(
                "Flows",
                "One row per flow: status, start, duration and retries of its newest execution, time since its last success.",
                [
                    (
                        "A",
                        f"max by (target, flow_id, flow, status) (etlworks_flow_last_execution_status{{{FLOWS}}} == 1)",
                    ),
                    (
                        "B",
                        f"max by (target, flow_id, flow) (etlworks_flow_last_execution_start_timestamp_seconds{{{FLOWS}}}) * 1000",
                    ),
                    (
                        "C",
                        f"max by (target, flow_id, flow) (etlworks_flow_last_execution_duration_seconds{{{FLOWS}}})",
                    ),
                    (
                        "D",
                        f"max by (target, flow_id, flow) (etlworks_flow_last_execution_retries{{{FLOWS}}})",
                    ),
                    (
                        "E",
                        f"max by (target, flow_id, flow) (time() - etlworks_flow_last_success_timestamp_seconds{{{FLOWS}}})",
                    ),
                ],
                {
                    "target": "Target",
                    "flow_id": "Flow id",
                    "flow": "Flow",
                    "status": "Last run",
                    "Value #B": "Started",
                    "Value #C": "Duration",
                    "Value #D": "Retries",
                    "Value #E": "Last success",
                },
                units={"Value #B": "dateTimeFromNow", "Value #C": "s", "Value #E": "s"},
                status_columns=("status",),
                system="etlworks",
            ),
            table(
                "Flows found by Etlworks",
                "Whether Etlworks knows each polled flow id: NOT FOUND means it answers 404 for a flow listed in the configuration.",
                [("A", f"etlworks_flow_found{{{TARGETS}}}")],
                {"target": "Target", "flow_id": "Flow id", "Value #A": "Found"},
                mapped={
                    "Value #A": mapping_values({"1": ("found", GREEN), "0": ("NOT FOUND", RED)})
                },
                sort=("Value #A", False),
            ),
        ],
        weights=(2, 1),
    )


def _runs(limits: Limits) -> Row:
    return Row(
        "Runs",
        [
            _durations(limits),
            _successes_and_records(limits),
            _retries_and_statuses(),
        ],
    )


def _durations(limits: Limits) -> Line:
    return Line(
        CHART,
        [
            timeseries(
                "Duration of the newest run",
                f"Each flow's newest execution: its duration, or its time so far while queued or running. The red line is EtlworksFlowRunningTooLong's threshold ({limits.run_seconds} s).",
                [
                    target(
                        f"etlworks_flow_last_execution_duration_seconds{{{FLOWS}}}",
                        "{{target}} / {{flow}}",
                    )
                ],
                unit="s",
                threshold_line=limits.run_seconds,
            ),
            timeseries(
                "Finished runs by status",
                "Executions the exporter saw finish per interval, by final status.",
                [
                    target(
                        f"sum by (status) (max by (target, flow_id, status) (increase(etlworks_flow_executions_total{{{FLOWS}}}[$__rate_interval])))",
                        "{{status}}",
                    )
                ],
                bars=True,
                stack=True,
                overrides=status_overrides(["success", "warning", "error", "canceled"]),
            ),
        ],
    )


def _successes_and_records(limits: Limits) -> Line:
    return Line(
        CHART,
        [
            timeseries(
                "Time since the last success",
                f"How long ago each flow last succeeded (as seen by the exporter since it started). The red line is EtlworksFlowNoRecentSuccess's threshold ({limits.success_seconds} s).",
                [
                    target(
                        f"time() - etlworks_flow_last_success_timestamp_seconds{{{FLOWS}}}",
                        "{{target}} / {{flow}}",
                    )
                ],
                unit="s",
                threshold_line=limits.success_seconds,
            ),
            timeseries(
                "Records in the newest run",
                "Each records* metric of every flow's newest execution (recordsProcessed, recordsAdded, ...).",
                [
                    target(
                        f"max by (target, flow, field) (etlworks_flow_last_execution_records{{{FLOWS}}})",
                        "{{target}} / {{flow}}: {{field}}",
                    )
                ],
            ),
        ],
    )


def _retries_and_statuses() -> Line:
    return Line(
        MEDIUM,
        [
            timeseries(
                "Retries of the newest run",
                "Automatic retries of each flow's newest execution.",
                [
                    target(
                        f"etlworks_flow_last_execution_retries{{{FLOWS}}}", "{{target}} / {{flow}}"
                    )
                ],
            ),
            timeseries(
                "Flows by status of the newest run",
                "How many flows had their newest execution in each status over time.",
                [
                    target(
                        f"sum by (status) (max by (target, flow_id, status) (etlworks_flow_last_execution_status{{{FLOWS}}} == 1))",
                        "{{status}}",
                    )
                ],
                stack=True,
                overrides=status_overrides(
                    ["success", "warning", "error", "running", "queued", "canceled"]
                ),
            ),
        ],
    )


def _state_over_time() -> Row:
    return Row(
        "State over time",
        [
            Line(
                CHART,
                [
                    state_timeline(
                        "Flow execution states",
                        "The status of each flow's newest execution over time, one row per target and flow. A gap is no data, not a healthy state.",
                        ("etlworks_flow_last_execution_status",),
                        FLOWS,
                        "target, flow",
                        etlworks_source.STATUSES,
                        "{{target}} / {{flow}}",
                    )
                ],
            )
        ],
    )
