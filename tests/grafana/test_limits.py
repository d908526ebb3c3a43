"""The thresholds the dashboards draw come from the alerts of the one config, each from its own."""

from __future__ import annotations

from pathlib import Path

import yaml

from grafana.limits import Limits

ALERTS = {
    "PeerDBMirrorNoRecentBatch": {"threshold_seconds": 1},
    "PeerDBSlotLagHigh": {"threshold_bytes": 2},
    "PeerDBSlotSafeWalSizeLow": {"threshold_bytes": 3},
    "PeerDBMirrorErroring": {"window_seconds": 4},
    "ConfluentMirrorLagHigh": {"threshold_messages": 5},
    "EtlworksFlowRunningTooLong": {"threshold_seconds": 6, "exclude_flows": "nightly-.*"},
    "FelderaCheckpointDelayed": {"threshold_seconds": 7},
    "FelderaPipelineStorageGrowing": {"growth_bytes_per_hour": 8, "window": "9h"},
    "EtlworksFlowNoRecentSuccess": {"threshold_seconds": 10},
}


def test_each_limit_is_read_from_its_alert(tmp_path: Path) -> None:
    config = tmp_path / "config.yml"
    config.write_text(yaml.safe_dump({"alerts": ALERTS}), encoding="utf-8")
    assert Limits.read(config) == Limits(
        batch_seconds=1,
        slot_lag_bytes=2,
        safe_wal_bytes=3,
        error_window_seconds=4,
        mirror_lag_messages=5,
        run_seconds=6,
        run_exclude="nightly-.*",
        checkpoint_delay_seconds=7,
        storage_growth_bytes_per_hour=8,
        storage_growth_window="9h",
        success_seconds=10,
    )


def test_the_repository_config_has_every_limit() -> None:
    config = Path(__file__).resolve().parents[2] / "alerts" / "config.yml"
    limits = Limits.read(config)
    numbers = {name: value for name, value in vars(limits).items() if isinstance(value, int)}
    assert len(numbers) == 9
    assert all(value > 0 for value in numbers.values()), numbers
    assert limits.storage_growth_window
