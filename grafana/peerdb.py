"""The PeerDB dashboard: mirrors, their freshness and throughput, replication slots and errors."""

from __future__ import annotations

from typing import Any

from dataflow_exporter.sources import peerdb as peerdb_source
from grafana.colours import BLUE, GREEN, ORANGE, RED, YELLOW, mapping_values, status_colors
from grafana.layout import CHART, TALL, TILE, Line, Row, dashboard
from grafana.limits import Limits
from grafana.panels import stat, state_timeline, status_overrides, table, target, timeseries
from grafana.variables import MIRRORS, TARGETS, query_var, target_var


def build(limits: Limits) -> dict[str, Any]:
    """The dashboard, with the alert thresholds it draws."""
    return dashboard(
        "dataflow-peerdb",
        "Dataflow: PeerDB",
        "PeerDB mirrors: state, freshness (time since the newest CDC batch), throughput and replication-slot lag.",
        [
            _mirrors(),
            _freshness_and_throughput(limits),
            _replication_slots(limits),
            _mirror_errors(limits),
            _state_over_time(),
        ],
        [
            target_var("peerdb"),
            query_var(
                "mirror", "Mirror", 'label_values(peerdb_mirror_status{target=~"$target"}, mirror)'
            ),
        ],
    )


def _mirrors() -> Row:
    return Row("Mirrors", [_mirror_tiles(), _mirror_table()])


def _mirror_tiles() -> Line:
    return Line(
        TILE,
        [
            stat(
                "Mirrors",
                "Mirrors selected by the variables.",
                f"count(count by (target, mirror) (peerdb_mirror_status{{{MIRRORS}}}))",
                steps=((None, BLUE),),
            ),
            stat(
                "Running",
                "Mirrors in STATUS_RUNNING.",
                f'sum(max by (target, mirror) (peerdb_mirror_status{{{MIRRORS}, status="STATUS_RUNNING"}}))',
            ),
            stat(
                "Paused",
                "Mirrors in STATUS_PAUSED.",
                f'sum(max by (target, mirror) (peerdb_mirror_status{{{MIRRORS}, status="STATUS_PAUSED"}}))',
                steps=((None, GREEN), (1, ORANGE)),
            ),
            stat(
                "Failed",
                "Mirrors in STATUS_FAILED.",
                f'sum(max by (target, mirror) (peerdb_mirror_status{{{MIRRORS}, status="STATUS_FAILED"}}))',
                steps=((None, GREEN), (1, RED)),
            ),
            stat(
                "In transition",
                "Mirrors setting up, snapshotting, pausing, resyncing, modifying or terminating.",
                f'sum(max by (target, mirror) (peerdb_mirror_status{{{MIRRORS}, status=~"STATUS_SETUP|STATUS_SNAPSHOT|STATUS_PAUSING|STATUS_RESYNC|STATUS_MODIFYING|STATUS_TERMINATING"}}))',
                steps=((None, GREEN), (1, YELLOW)),
            ),
            stat(
                "PeerDB instance",
                "The instance's own state: MAINTENANCE during upgrades.",
                f"max by (target, status) (peerdb_instance_status{{{TARGETS}}} == 1)",
                legend="{{target}}: {{status}}",
                text_mode="name",
                steps=((None, BLUE),),
            ),
        ],
    )


def _mirror_table() -> Line:
    return Line(
        TALL,
        [
            table(
                "Mirrors",
                "One row per mirror: state, source and destination, time since its newest CDC batch, rows synced, creation time.",
                [
                    ("A", f"peerdb_mirror_status{{{MIRRORS}}} == 1"),
                    ("B", f"peerdb_mirror_info{{{MIRRORS}}}"),
                    ("C", f"time() - peerdb_mirror_last_batch_end_timestamp_seconds{{{MIRRORS}}}"),
                    ("D", f"peerdb_mirror_last_batch_rows{{{MIRRORS}}}"),
                    ("E", f"peerdb_mirror_rows_synced_total{{{MIRRORS}}}"),
                    ("F", f"peerdb_mirror_created_timestamp_seconds{{{MIRRORS}}} * 1000"),
                ],
                {
                    "target": "Target",
                    "mirror": "Mirror",
                    "status": "Status",
                    "source_peer": "Source",
                    "source_type": "Source type",
                    "destination_peer": "Destination",
                    "destination_type": "Destination type",
                    "cdc": "CDC",
                    "Value #C": "Newest batch ended",
                    "Value #D": "Rows in it",
                    "Value #E": "Rows synced",
                    "Value #F": "Created",
                },
                units={"Value #C": "s", "Value #F": "dateTimeFromNow"},
                status_columns=("status",),
                system="peerdb",
            )
        ],
    )


def _freshness_and_throughput(limits: Limits) -> Row:
    return Row(
        "Freshness and throughput",
        [
            _freshness(limits),
            _batches(),
        ],
    )


def _freshness(limits: Limits) -> Line:
    return Line(
        CHART,
        [
            timeseries(
                "Time since the newest CDC batch",
                f"How long ago each mirror's newest completed CDC batch ended: its freshness. The red line is PeerDBMirrorNoRecentBatch's threshold ({limits.batch_seconds} s).",
                [
                    target(
                        f"time() - peerdb_mirror_last_batch_end_timestamp_seconds{{{MIRRORS}}}",
                        "{{target}} / {{mirror}}",
                    )
                ],
                unit="s",
                threshold_line=limits.batch_seconds,
            ),
            timeseries(
                "Rows synced per second",
                "Rows synced per second by each mirror (initial load and CDC).",
                [
                    target(
                        f"rate(peerdb_mirror_rows_synced_total{{{MIRRORS}}}[$__rate_interval])",
                        "{{target}} / {{mirror}}",
                    )
                ],
                unit="short",
            ),
        ],
    )


def _batches() -> Line:
    return Line(
        CHART,
        [
            timeseries(
                "CDC batches per minute",
                "CDC batches started per minute by each mirror.",
                [
                    target(
                        f"rate(peerdb_mirror_cdc_batches_total{{{MIRRORS}}}[$__rate_interval]) * 60",
                        "{{target}} / {{mirror}}",
                    )
                ],
            ),
            timeseries(
                "Rows in the newest batch",
                "Size of each mirror's newest completed CDC batch.",
                [target(f"peerdb_mirror_last_batch_rows{{{MIRRORS}}}", "{{target}} / {{mirror}}")],
            ),
            timeseries(
                "Mirrors by state",
                "How many mirrors were in each state over time.",
                [
                    target(
                        f"sum by (status) (max by (target, mirror, status) (peerdb_mirror_status{{{MIRRORS}}} == 1))",
                        "{{status}}",
                    )
                ],
                stack=True,
                overrides=status_overrides([k for k in status_colors() if k.startswith("STATUS_")]),
            ),
        ],
    )


def _replication_slots(limits: Limits) -> Row:
    return Row(
        "Replication slots",
        [_slot_lag(limits), _slot_wal(limits)],
    )


def _slot_lag(limits: Limits) -> Line:
    return Line(
        CHART,
        [
            timeseries(
                "Replication slot lag",
                f"WAL each replication slot holds on its Postgres source peer. The red line is PeerDBSlotLagHigh's threshold ({limits.slot_lag_bytes} bytes).",
                [target(f"peerdb_slot_lag_bytes{{{TARGETS}}}", "{{target}} / {{peer}} / {{slot}}")],
                unit="bytes",
                threshold_line=limits.slot_lag_bytes,
            ),
            table(
                "Replication slots",
                "Each slot's lag and whether a consumer is attached.",
                [
                    ("A", f"peerdb_slot_lag_bytes{{{TARGETS}}}"),
                    ("B", f"peerdb_slot_active{{{TARGETS}}}"),
                ],
                {
                    "target": "Target",
                    "peer": "Peer",
                    "slot": "Slot",
                    "Value #A": "Lag",
                    "Value #B": "Active",
                },
                units={"Value #A": "bytes"},
                mapped={
                    "Value #B": mapping_values({"1": ("active", GREEN), "0": ("inactive", ORANGE)})
                },
                sort=("Value #A", True),
            ),
        ],
        weights=(2, 1),
    )


def _slot_wal(limits: Limits) -> Line:
    return Line(
        CHART,
        [
            timeseries(
                "Safe WAL size",
                f"WAL that can still be written before each slot is lost (Postgres' safe_wal_size; PeerDB v0.35.3+, only where max_slot_wal_keep_size is set). The red line is PeerDBSlotSafeWalSizeLow's threshold ({limits.safe_wal_bytes} bytes).",
                [
                    target(
                        f"peerdb_slot_safe_wal_size_bytes{{{TARGETS}}}",
                        "{{target}} / {{peer}} / {{slot}}",
                    )
                ],
                unit="bytes",
                threshold_line=limits.safe_wal_bytes,
            ),
            table(
                "Slots losing WAL",
                "Slots whose wal_status is unreserved (past max_slot_wal_keep_size) or lost (its mirror needs a resync).",
                [("A", f'peerdb_slot_wal_status{{{TARGETS}, status=~"unreserved|lost"}} == 1')],
                {"target": "Target", "peer": "Peer", "slot": "Slot", "status": "WAL status"},
            ),
        ],
        weights=(2, 1),
    )


def _mirror_errors(limits: Limits) -> Row:
    return Row(
        "Mirror errors",
        [
            Line(
                CHART,
                [
                    timeseries(
                        "Errors logged per mirror",
                        "Error rows PeerDB logged for each mirror in the last 15 minutes (mirrors/logs, among the newest rows the exporter reads per poll).",
                        [
                            target(
                                f"peerdb_mirror_recent_errors{{{MIRRORS}}} > 0",
                                "{{target}} / {{mirror}}",
                            )
                        ],
                    ),
                    table(
                        "Running mirrors erroring",
                        f"Running mirrors whose newest logged error is at most {limits.error_window_seconds} s old (PeerDBMirrorErroring's window); the status page shows PeerDB's error text.",
                        [
                            (
                                "A",
                                f"(time() - peerdb_mirror_last_error_timestamp_seconds{{{MIRRORS}}}) <= {limits.error_window_seconds}"
                                f' and on (target, mirror) peerdb_mirror_status{{{MIRRORS}, status="STATUS_RUNNING"}} == 1',
                            )
                        ],
                        {"target": "Target", "mirror": "Mirror", "Value #A": "Last error (s ago)"},
                        units={"Value #A": "s"},
                    ),
                ],
                weights=(2, 1),
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
                        "Replication slot WAL states",
                        "Each slot's wal_status over time, one row per target, peer and slot. A gap is no data (no slot, or a Postgres or PeerDB that does not tell), not a healthy state.",
                        ("peerdb_slot_wal_status",),
                        TARGETS,
                        "target, peer, slot",
                        peerdb_source.WAL_STATUSES,
                        "{{target}} / {{peer}} / {{slot}}",
                    )
                ],
            ),
            Line(
                CHART,
                [
                    state_timeline(
                        "Mirror states",
                        "Each mirror's status over time, one row per target and mirror. A gap is no data (the exporter did not report the mirror), not a healthy state.",
                        ("peerdb_mirror_status",),
                        MIRRORS,
                        "target, mirror",
                        peerdb_source.FLOW_STATUSES,
                        "{{target}} / {{mirror}}",
                    )
                ],
            ),
        ],
    )
