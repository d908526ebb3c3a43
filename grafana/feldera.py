"""The Feldera dashboard: pipelines, connectors, storage and checkpoints."""

from __future__ import annotations

from typing import Any

from dataflow_exporter.sources import feldera as feldera_source
from grafana.colours import BLUE, GREEN, GREY, ORANGE, RED, YES_NO_BAD, mapping_values
from grafana.layout import CHART, COMPACT, TILE, Line, Row, dashboard
from grafana.limits import Limits
from grafana.panels import Panel, stat, state_timeline, table, target, timeseries
from grafana.variables import PIPELINES, query_var, target_var


def build(limits: Limits) -> dict[str, Any]:
    """The dashboard, with the alert thresholds it draws."""
    return dashboard(
        "dataflow-feldera",
        "Dataflow: Feldera",
        "Feldera pipelines and their connectors: lifecycle state, deployment errors, connector health and fatal errors, throughput, errors and backlogs.",
        [
            _pipelines(),
            _connectors(),
            _storage_and_checkpoints(limits),
            _state_over_time(),
        ],
        [
            target_var("feldera"),
            query_var(
                "pipeline",
                "Pipeline",
                'label_values(feldera_pipeline_status{target=~"$target"}, pipeline)',
            ),
        ],
    )


def _pipelines() -> Row:
    return Row(
        "Pipelines",
        [_pipeline_tiles(), _pipeline_table(), _pipeline_resources()],
    )


def _pipeline_tiles() -> Line:
    return Line(
        TILE,
        [
            stat(
                "Pipelines",
                "Pipelines selected by the variables.",
                f"count(count by (target, pipeline) (feldera_pipeline_status{{{PIPELINES}}}))",
                steps=((None, BLUE),),
            ),
            stat(
                "Running",
                "Pipelines whose deployment status is Running.",
                f'sum(max by (target, pipeline) (feldera_pipeline_status{{{PIPELINES}, status="Running"}}))',
            ),
            stat(
                "Paused",
                "Pipelines whose deployment status is Paused.",
                f'sum(max by (target, pipeline) (feldera_pipeline_status{{{PIPELINES}, status="Paused"}}))',
                steps=((None, GREEN), (1, ORANGE)),
            ),
            stat(
                "Deployment errors",
                "Pipelines whose last deployment ended with an error.",
                f"sum(max by (target, pipeline) (feldera_pipeline_deployment_error{{{PIPELINES}}}))",
                steps=((None, GREEN), (1, RED)),
            ),
            stat(
                "Connectors with a fatal error",
                "Input and output connectors stopped by a fatal error.",
                f"sum(max by (target, pipeline, table, view, connector) (feldera_input_connector_fatal_error{{{PIPELINES}}} or feldera_output_connector_fatal_error{{{PIPELINES}}}))",
                steps=((None, GREEN), (1, RED)),
            ),
            stat(
                "Unhealthy connectors",
                "Input and output connectors reporting Unhealthy.",
                f'sum(max by (target, pipeline, table, view, connector) (feldera_input_connector_health{{{PIPELINES}, status="Unhealthy"}} or feldera_output_connector_health{{{PIPELINES}, status="Unhealthy"}}))',
                steps=((None, GREEN), (1, ORANGE)),
            ),
        ],
    )


def _pipeline_table() -> Line:
    return Line(
        CHART,
        [
            table(
                "Pipelines",
                "One row per pipeline: deployment status and the status it was asked to reach, program status, deployment error, uptime, memory.",
                [
                    (
                        "A",
                        f"max by (target, pipeline, status) (feldera_pipeline_status{{{PIPELINES}}} == 1)",
                    ),
                    (
                        "B",
                        f'max by (target, pipeline, desired) (label_replace(feldera_pipeline_desired_status{{{PIPELINES}}} == 1, "desired", "$1", "status", "(.*)"))',
                    ),
                    (
                        "C",
                        f'max by (target, pipeline, program) (label_replace(feldera_pipeline_program_status{{{PIPELINES}}} == 1, "program", "$1", "status", "(.*)"))',
                    ),
                    (
                        "D",
                        f"max by (target, pipeline) (feldera_pipeline_deployment_error{{{PIPELINES}}})",
                    ),
                    (
                        "E",
                        f"max by (target, pipeline) (time() - feldera_pipeline_status_change_timestamp_seconds{{{PIPELINES}}})",
                    ),
                    (
                        "F",
                        f"max by (target, pipeline) (feldera_pipeline_uptime_seconds{{{PIPELINES}}})",
                    ),
                    ("G", f"max by (target, pipeline) (feldera_pipeline_rss_bytes{{{PIPELINES}}})"),
                    (
                        "H",
                        f'max by (target, pipeline, memory_pressure) (label_replace(feldera_pipeline_memory_pressure{{{PIPELINES}}} == 1, "memory_pressure", "$1", "status", "(.*)"))',
                    ),
                ],
                {
                    "target": "Target",
                    "pipeline": "Pipeline",
                    "status": "Status",
                    "desired": "Desired",
                    "program": "Program",
                    "Value #D": "Deployment error",
                    "Value #E": "In status for",
                    "Value #F": "Uptime",
                    "Value #G": "Memory (RSS)",
                    "memory_pressure": "Memory pressure",
                },
                units={"Value #E": "s", "Value #F": "s", "Value #G": "bytes"},
                status_columns=("status", "desired"),
                system="feldera",
                mapped={"Value #D": YES_NO_BAD},
            )
        ],
    )


def _pipeline_resources() -> Line:
    return Line(
        CHART,
        [
            timeseries(
                "Records processed per second",
                "Input records each pipeline's engine processes per second.",
                [
                    target(
                        f"max by (target, pipeline) (rate(feldera_pipeline_processed_records_total{{{PIPELINES}}}[$__rate_interval]))",
                        "{{target}} / {{pipeline}}",
                    )
                ],
            ),
            timeseries(
                "Memory (RSS)",
                "Resident memory of each pipeline process.",
                [target(f"feldera_pipeline_rss_bytes{{{PIPELINES}}}", "{{target}} / {{pipeline}}")],
                unit="bytes",
            ),
            timeseries(
                "Output stall",
                "How long each pipeline has been stalled by full output buffers (0 when not).",
                [
                    target(
                        f"feldera_pipeline_output_stall_seconds{{{PIPELINES}}}",
                        "{{target}} / {{pipeline}}",
                    )
                ],
                unit="s",
            ),
        ],
    )


def _connectors() -> Row:
    return Row(
        "Connectors",
        [
            _connector_tables(),
            _record_rates(),
            _byte_rates(),
            _errors_and_output_backlog(),
            _input_backlog(),
        ],
    )


def _connectors_in_trouble() -> Panel:
    return table(
        "Connectors in trouble",
        "Connectors with a fatal error, reporting Unhealthy, or paused by a user.",
        [
            (
                "A",
                f'label_replace(feldera_input_connector_fatal_error{{{PIPELINES}}} == 1 or feldera_output_connector_fatal_error{{{PIPELINES}}} == 1, "problem", "fatal error", "__name__", ".*")',
            ),
            (
                "B",
                f'label_replace(feldera_input_connector_health{{{PIPELINES}, status="Unhealthy"}} == 1 or feldera_output_connector_health{{{PIPELINES}, status="Unhealthy"}} == 1, "problem", "Unhealthy", "__name__", ".*")',
            ),
            (
                "C",
                f'label_replace(feldera_input_connector_paused{{{PIPELINES}}} == 1, "problem", "paused by a user", "__name__", ".*")',
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
    )


def _input_connector_table() -> Panel:
    return table(
        "Input connectors",
        "One row per input connector: health, records, errors, buffered records, p99 latency and time since its newest fully processed input.",
        [
            (
                "A",
                f"max by (target, pipeline, table, connector, status) (feldera_input_connector_health{{{PIPELINES}}} == 1)",
            ),
            (
                "B",
                f"max by (target, pipeline, table, connector) (feldera_input_connector_records_total{{{PIPELINES}}})",
            ),
            (
                "C",
                f"max by (target, pipeline, table, connector) (feldera_input_connector_parse_errors_total{{{PIPELINES}}})",
            ),
            (
                "D",
                f"max by (target, pipeline, table, connector) (feldera_input_connector_transport_errors_total{{{PIPELINES}}})",
            ),
            (
                "E",
                f"max by (target, pipeline, table, connector) (feldera_input_connector_buffered_records{{{PIPELINES}}})",
            ),
            (
                "F",
                f"max by (target, pipeline, table, connector) (feldera_input_connector_processing_latency_p99_seconds{{{PIPELINES}}})",
            ),
            (
                "G",
                f"max by (target, pipeline, table, connector) (time() - feldera_input_connector_completed_timestamp_seconds{{{PIPELINES}}})",
            ),
            (
                "H",
                f"max by (target, pipeline, table, connector) (feldera_input_connector_end_of_input{{{PIPELINES}}})",
            ),
        ],
        {
            "target": "Target",
            "pipeline": "Pipeline",
            "table": "Table",
            "connector": "Connector",
            "status": "Health",
            "Value #B": "Records",
            "Value #C": "Parse errors",
            "Value #D": "Transport errors",
            "Value #E": "Buffered",
            "Value #F": "Latency p99",
            "Value #G": "Completed",
            "Value #H": "End of input",
        },
        units={"Value #F": "s", "Value #G": "s"},
        status_columns=("status",),
        system="feldera",
        mapped={"Value #H": mapping_values({"1": ("yes", BLUE), "0": ("no", GREY)})},
    )


def _connector_tables() -> Line:
    return Line(CHART, [_connectors_in_trouble(), _input_connector_table()], weights=(5, 7))


def _record_rates() -> Line:
    return Line(
        CHART,
        [
            timeseries(
                "Input records per second",
                "Records each input connector receives per second.",
                [
                    target(
                        f"max by (target, pipeline, table, connector) (rate(feldera_input_connector_records_total{{{PIPELINES}}}[$__rate_interval]))",
                        "{{target}} / {{pipeline}} / {{table}}.{{connector}}",
                    )
                ],
            ),
            timeseries(
                "Output records per second",
                "Records each output connector sends per second.",
                [
                    target(
                        f"max by (target, pipeline, view, connector) (rate(feldera_output_connector_transmitted_records_total{{{PIPELINES}}}[$__rate_interval]))",
                        "{{target}} / {{pipeline}} / {{view}}.{{connector}}",
                    )
                ],
            ),
        ],
    )


def _byte_rates() -> Line:
    return Line(
        CHART,
        [
            timeseries(
                "Input bytes per second",
                "Bytes each input connector receives per second.",
                [
                    target(
                        f"max by (target, pipeline, table, connector) (rate(feldera_input_connector_bytes_total{{{PIPELINES}}}[$__rate_interval]))",
                        "{{target}} / {{pipeline}} / {{table}}.{{connector}}",
                    )
                ],
                unit="Bps",
            ),
            timeseries(
                "Output bytes per second",
                "Bytes each output connector sends per second.",
                [
                    target(
                        f"max by (target, pipeline, view, connector) (rate(feldera_output_connector_transmitted_bytes_total{{{PIPELINES}}}[$__rate_interval]))",
                        "{{target}} / {{pipeline}} / {{view}}.{{connector}}",
                    )
                ],
                unit="Bps",
            ),
        ],
    )


def _errors_and_output_backlog() -> Line:
    return Line(
        CHART,
        [
            timeseries(
                "Connector errors",
                "Parse and transport errors of input connectors, encode and transport errors of output connectors, per interval (FelderaConnectorParseErrors and FelderaConnectorTransportErrors watch these).",
                [
                    target(
                        f"max by (target, pipeline, table, connector) (increase(feldera_input_connector_parse_errors_total{{{PIPELINES}}}[$__rate_interval]))",
                        "parse: {{target}} / {{pipeline}} / {{table}}.{{connector}}",
                        "A",
                    ),
                    target(
                        f"max by (target, pipeline, table, connector) (increase(feldera_input_connector_transport_errors_total{{{PIPELINES}}}[$__rate_interval]))",
                        "transport: {{target}} / {{pipeline}} / {{table}}.{{connector}}",
                        "B",
                    ),
                    target(
                        f"max by (target, pipeline, view, connector) (increase(feldera_output_connector_encode_errors_total{{{PIPELINES}}}[$__rate_interval]))",
                        "encode: {{target}} / {{pipeline}} / {{view}}.{{connector}}",
                        "C",
                    ),
                    target(
                        f"max by (target, pipeline, view, connector) (increase(feldera_output_connector_transport_errors_total{{{PIPELINES}}}[$__rate_interval]))",
                        "transport: {{target}} / {{pipeline}} / {{view}}.{{connector}}",
                        "D",
                    ),
                ],
                bars=True,
            ),
            timeseries(
                "Output backlog",
                "Input records processed by the pipeline but not yet handled by each output connector, and records queued for it.",
                [
                    target(
                        f"max by (target, pipeline) (feldera_pipeline_processed_records_total{{{PIPELINES}}}) - on (target, pipeline) group_right max by (target, pipeline, view, connector) (feldera_output_connector_processed_input_records_total{{{PIPELINES}}})",
                        "not handled: {{target}} / {{pipeline}} / {{view}}.{{connector}}",
                        "A",
                    ),
                    target(
                        f"feldera_output_connector_queued_records{{{PIPELINES}}}",
                        "queued: {{target}} / {{pipeline}} / {{view}}.{{connector}}",
                        "B",
                    ),
                    target(
                        f"feldera_output_connector_buffered_records{{{PIPELINES}}}",
                        "buffered: {{target}} / {{pipeline}} / {{view}}.{{connector}}",
                        "C",
                    ),
                ],
            ),
        ],
    )


def _input_backlog() -> Line:
    return Line(
        CHART,
        [
            timeseries(
                "Input buffered records",
                "Records each input connector has received but the pipeline has not processed yet.",
                [
                    target(
                        f"feldera_input_connector_buffered_records{{{PIPELINES}}}",
                        "{{target}} / {{pipeline}} / {{table}}.{{connector}}",
                    )
                ],
            ),
            timeseries(
                "Input latency p99",
                "99th percentile of the time from ingestion to processed, per input connector.",
                [
                    target(
                        f"feldera_input_connector_processing_latency_p99_seconds{{{PIPELINES}}}",
                        "{{target}} / {{pipeline}} / {{table}}.{{connector}}",
                    )
                ],
                unit="s",
            ),
            timeseries(
                "Time since input completed",
                "How long ago the newest input of each connector was fully processed by every output: end-to-end freshness.",
                [
                    target(
                        f"time() - feldera_input_connector_completed_timestamp_seconds{{{PIPELINES}}}",
                        "{{target}} / {{pipeline}} / {{table}}.{{connector}}",
                    )
                ],
                unit="s",
            ),
        ],
    )


def _storage_and_checkpoints(limits: Limits) -> Row:
    return Row(
        "Storage and checkpoints",
        [
            Line(
                CHART,
                [
                    timeseries(
                        "Storage used",
                        "Storage each pipeline uses now. Feldera reports no limit: compare with the volume it writes to.",
                        [
                            target(
                                f"feldera_pipeline_storage_bytes{{{PIPELINES}}}",
                                "{{target}} / {{pipeline}}",
                            )
                        ],
                        unit="bytes",
                    ),
                    timeseries(
                        "Storage growth per hour",
                        f"The slope of each pipeline's storage over {limits.storage_growth_window}, per hour, as FelderaPipelineStorageGrowing watches it (threshold drawn).",
                        [
                            target(
                                f"deriv(feldera_pipeline_storage_bytes{{{PIPELINES}}}[{limits.storage_growth_window}]) * 3600",
                                "{{target}} / {{pipeline}}",
                            )
                        ],
                        unit="bytes",
                        threshold_line=limits.storage_growth_bytes_per_hour,
                        min_zero=False,
                    ),
                    timeseries(
                        "Checkpoint delayed for",
                        "How long each pipeline's requested checkpoint has waited, from Feldera's own delayed_since (v0.288.0 and later); FelderaCheckpointDelayed's threshold drawn. No line: not delayed.",
                        [
                            target(
                                f"time() - feldera_pipeline_checkpoint_delayed_since_timestamp_seconds{{{PIPELINES}}}",
                                "{{target}} / {{pipeline}}",
                            )
                        ],
                        unit="s",
                        threshold_line=limits.checkpoint_delay_seconds,
                    ),
                ],
            )
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
                        "Pipeline states",
                        "Each pipeline's deployment status over time, one row per target and pipeline. A gap is no data, not a healthy state.",
                        ("feldera_pipeline_status",),
                        PIPELINES,
                        "target, pipeline",
                        feldera_source.DEPLOYMENT_STATUSES,
                        "{{target}} / {{pipeline}}",
                    )
                ],
            ),
            Line(
                CHART,
                [
                    state_timeline(
                        "Connector health",
                        "Each input and output connector's health over time, one row per target, pipeline and connector. A gap is no data (no stats from the pipeline), not a healthy state.",
                        ("feldera_input_connector_health", "feldera_output_connector_health"),
                        PIPELINES,
                        "target, pipeline, connector",
                        feldera_source.HEALTH_STATUSES,
                        "{{target}} / {{pipeline}} / {{connector}}",
                    )
                ],
            ),
            Line(
                COMPACT,
                [
                    state_timeline(
                        "Checkpoint activity",
                        "Each pipeline's checkpoint activity over time (idle, delayed, in_progress), one row per target and pipeline. A gap is no data (Feldera before v0.288.0 does not report it), not a healthy state.",
                        ("feldera_pipeline_checkpoint_activity",),
                        PIPELINES,
                        "target, pipeline",
                        feldera_source.CHECKPOINT_ACTIVITIES,
                        "{{target}} / {{pipeline}}",
                    )
                ],
            ),
        ],
    )
