"""The thresholds that make an entity "broken now" are the alert rules' own defaults."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from exporter import thresholds

RULES = Path(__file__).resolve().parent.parent / "alerts" / "dataflow-exporter.rules.yml"


def _rules() -> dict[str, dict[str, str]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return {rule["alert"]: rule for group in groups for rule in group["rules"] if "alert" in rule}


def _seconds(duration: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    return float(sum(int(n) * units[u] for n, u in re.findall(r"(\d+)([smhd])", duration)))


def test_each_threshold_is_the_literal_in_its_alert_rule() -> None:
    rules = _rules()
    literals = {
        "PeerDBMirrorNoRecentBatch": thresholds.PEERDB_BATCH_AGE_SECONDS,
        "PeerDBSlotLagHigh": thresholds.PEERDB_SLOT_LAG_BYTES,
        "ConfluentMirrorLagHigh": thresholds.CONFLUENT_MIRROR_LAG_MESSAGES,
        "EtlworksFlowRunningTooLong": thresholds.ETLWORKS_RUNNING_SECONDS,
    }
    for alert, value in literals.items():
        numbers = {float(n) for n in re.findall(r"> (\d+)\b", rules[alert]["expr"])}
        assert value in numbers, (alert, value, numbers)


def test_a_pending_topic_counts_as_stuck_after_its_alerts_for_duration() -> None:
    rule = _rules()["ConfluentMirrorTopicStuckPending"]
    assert _seconds(rule["for"]) == thresholds.CONFLUENT_PENDING_SECONDS
