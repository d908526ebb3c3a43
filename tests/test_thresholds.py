"""The thresholds that make an entity "broken now" are the alerts' own, from the one config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from dataflow_exporter import thresholds
from dataflow_exporter.config_models import parse_duration

CONFIG = Path(__file__).resolve().parents[1] / "alerts" / "config.yml"


def _alerts() -> dict[str, dict[str, Any]]:
    alerts: dict[str, dict[str, Any]] = yaml.safe_load(CONFIG.read_text())["alerts"]
    return alerts


def test_each_threshold_is_its_alerts_value_in_the_one_config() -> None:
    alerts = _alerts()
    assert (
        alerts["PeerDBMirrorNoRecentBatch"]["threshold_seconds"]
        == thresholds.PEERDB_BATCH_AGE_SECONDS
    )
    assert alerts["PeerDBSlotLagHigh"]["threshold_bytes"] == thresholds.PEERDB_SLOT_LAG_BYTES
    assert (
        alerts["ConfluentMirrorLagHigh"]["threshold_messages"]
        == thresholds.CONFLUENT_MIRROR_LAG_MESSAGES
    )
    assert (
        alerts["EtlworksFlowRunningTooLong"]["threshold_seconds"]
        == thresholds.ETLWORKS_RUNNING_SECONDS
    )


def test_a_pending_topic_counts_as_stuck_after_its_alerts_for_duration() -> None:
    pending = _alerts()["ConfluentMirrorTopicStuckPending"]["for"]
    assert parse_duration(pending) == thresholds.CONFLUENT_PENDING_SECONDS


def test_peerdbs_early_warning_thresholds_are_their_alerts_values() -> None:
    alerts = _alerts()
    assert (
        alerts["PeerDBMirrorErroring"]["window_seconds"] == thresholds.PEERDB_MIRROR_ERROR_SECONDS
    )
    assert (
        alerts["PeerDBSlotSafeWalSizeLow"]["threshold_bytes"]
        == thresholds.PEERDB_SLOT_SAFE_WAL_BYTES
    )
    # The states the status page lists are the ones the alert selects.
    from dataflow_exporter.sources.peerdb import BROKEN_WAL_STATUSES

    assert set(alerts["PeerDBSlotWalLost"]["statuses"].split("|")) == BROKEN_WAL_STATUSES
