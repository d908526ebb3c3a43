"""The alert thresholds the dashboards draw as red lines and mirror in their queries, read from
the one config the alert rules are generated from (alerts/config.yml)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


@dataclass(frozen=True)
class Limits:
    """One field per threshold, named by what it limits; the comment names its alert."""

    batch_seconds: int  # PeerDBMirrorNoRecentBatch
    slot_lag_bytes: int  # PeerDBSlotLagHigh
    safe_wal_bytes: int  # PeerDBSlotSafeWalSizeLow
    error_window_seconds: int  # PeerDBMirrorErroring
    mirror_lag_messages: int  # ConfluentMirrorLagHigh
    run_seconds: int  # EtlworksFlowRunningTooLong
    run_exclude: str  # EtlworksFlowRunningTooLong: a regular expression on `flow`
    checkpoint_delay_seconds: int  # FelderaCheckpointDelayed
    storage_growth_bytes_per_hour: int  # FelderaPipelineStorageGrowing
    storage_growth_window: str  # FelderaPipelineStorageGrowing
    success_seconds: int  # EtlworksFlowNoRecentSuccess

    @classmethod
    def read(cls, config: Path) -> Limits:
        alerts: dict[str, dict[str, Any]] = yaml.safe_load(config.read_text(encoding="utf-8"))[
            "alerts"
        ]
        return cls(
            batch_seconds=int(alerts["PeerDBMirrorNoRecentBatch"]["threshold_seconds"]),
            slot_lag_bytes=int(alerts["PeerDBSlotLagHigh"]["threshold_bytes"]),
            safe_wal_bytes=int(alerts["PeerDBSlotSafeWalSizeLow"]["threshold_bytes"]),
            error_window_seconds=int(alerts["PeerDBMirrorErroring"]["window_seconds"]),
            mirror_lag_messages=int(alerts["ConfluentMirrorLagHigh"]["threshold_messages"]),
            run_seconds=int(alerts["EtlworksFlowRunningTooLong"]["threshold_seconds"]),
            run_exclude=str(alerts["EtlworksFlowRunningTooLong"]["exclude_flows"]),
            checkpoint_delay_seconds=int(alerts["FelderaCheckpointDelayed"]["threshold_seconds"]),
            storage_growth_bytes_per_hour=int(
                alerts["FelderaPipelineStorageGrowing"]["growth_bytes_per_hour"]
            ),
            storage_growth_window=str(alerts["FelderaPipelineStorageGrowing"]["window"]),
            success_seconds=int(alerts["EtlworksFlowNoRecentSuccess"]["threshold_seconds"]),
        )
