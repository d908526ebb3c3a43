"""Feldera's storage and checkpoint state in `/stats` -> series, and which of it is broken.

Shapes as the controller writes them at v0.336.0 (crates/feldera-types/src/adapter_stats.rs
`ExternalControllerStatus`; checkpoint.rs, suspend.rs): `checkpoint_activity` is tagged by
`status`, `permanent_checkpoint_errors` is null or a list of externally tagged variants.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from dataflow_exporter import thresholds
from dataflow_exporter.errors import SchemaError
from dataflow_exporter.families import Family, families_by_name
from dataflow_exporter.sources.base import BrokenEntity
from dataflow_exporter.sources.feldera import (
    CHECKPOINT_ACTIVITIES,
    PERMANENT_CHECKPOINT_ERRORS,
    Observation,
    broken_entities,
    build_families,
    parse_stats,
    summarise,
)
from tests.sources.feldera.answers import STATS, answer
from tests.sources.feldera.upstream_enums import CHECKPOINT_ACTIVITY, PERMANENT_SUSPEND_ERROR

FIXTURES = Path(__file__).parent / "fixtures"
NOW = 1_776_250_000.0  # 2026-04-15T10:46:40Z
P = "fraud-detection"


_DROP = object()


def stats_with(**top: Any) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads((FIXTURES / "pipeline_stats.json").read_text())
    payload = copy.deepcopy(payload)
    for key, value in top.items():
        if value is _DROP:
            payload.pop(key, None)
        else:
            payload[key] = value
    return payload


def observed(payload: dict[str, Any]) -> Observation:
    stats = parse_stats(P, answer(payload))
    return Observation([], global_metrics=[stats.global_metrics])


def families(payload: dict[str, Any]) -> dict[str, Family]:
    return families_by_name(build_families(observed(payload)))


def samples(family: Family) -> dict[tuple[str, ...], float]:
    return dict(family.samples)


def checkpoints_broken(payload: dict[str, Any], now: float = NOW) -> list[BrokenEntity]:
    found = broken_entities(observed(payload), now)
    return [b for b in found if b.kind == "pipeline checkpoint"]


def delayed(ago: float, reasons: list[Any] | None = None) -> dict[str, Any]:
    since = NOW - ago
    return {
        "status": "delayed",
        "reasons": ["Replaying"] if reasons is None else reasons,
        "delayed_since": f"{_iso(since)}",
    }


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


# -- storage ------------------------------------------------------------------------------------


def test_storage_used_is_exported_in_bytes() -> None:
    fams = families(stats_with())
    assert samples(fams["feldera_pipeline_storage_bytes"]) == {(P,): 5368709120.0}


# -- checkpoint activity --------------------------------------------------------------------------


def test_the_activity_states_are_felderas_own_in_order() -> None:
    assert CHECKPOINT_ACTIVITIES.values == CHECKPOINT_ACTIVITY
    assert set(PERMANENT_CHECKPOINT_ERRORS.values) == set(PERMANENT_SUSPEND_ERROR)


def test_an_idle_pipeline_is_one_hot_idle_without_times() -> None:
    fams = families(stats_with())
    assert samples(fams["feldera_pipeline_checkpoint_activity"]) == {
        (P, "idle"): 1.0,
        (P, "delayed"): 0.0,
        (P, "in_progress"): 0.0,
    }
    assert fams["feldera_pipeline_checkpoint_delayed_since_timestamp_seconds"].samples == []
    assert fams["feldera_pipeline_checkpoint_started_timestamp_seconds"].samples == []


def test_a_delayed_checkpoint_exports_since_when_it_waits() -> None:
    fams = families(stats_with(checkpoint_activity=delayed(600)))
    assert samples(fams["feldera_pipeline_checkpoint_activity"])[(P, "delayed")] == 1
    assert samples(fams["feldera_pipeline_checkpoint_delayed_since_timestamp_seconds"]) == {
        (P,): NOW - 600
    }
    assert fams["feldera_pipeline_checkpoint_started_timestamp_seconds"].samples == []


def test_a_checkpoint_in_progress_exports_when_it_started() -> None:
    activity = {"status": "in_progress", "started_at": "2026-04-15T10:46:30.123456789Z"}
    fams = families(stats_with(checkpoint_activity=activity))
    assert samples(fams["feldera_pipeline_checkpoint_activity"])[(P, "in_progress")] == 1
    started = samples(fams["feldera_pipeline_checkpoint_started_timestamp_seconds"])
    assert started == {(P,): pytest.approx(NOW - 10 + 0.123456)}
    assert fams["feldera_pipeline_checkpoint_delayed_since_timestamp_seconds"].samples == []


def test_releases_before_0_288_give_no_checkpoint_series_at_all() -> None:
    payload = stats_with(checkpoint_activity=_DROP, permanent_checkpoint_errors=_DROP)
    fams = families(payload)
    for name in (
        "feldera_pipeline_checkpoint_activity",
        "feldera_pipeline_checkpoint_delayed_since_timestamp_seconds",
        "feldera_pipeline_checkpoint_started_timestamp_seconds",
        "feldera_pipeline_checkpoint_permanent_errors",
    ):
        assert fams[name].samples == [], name
    assert summarise(observed(payload)).unknown_values == []
    assert checkpoints_broken(payload) == []


def test_an_unknown_activity_is_counted_and_listed() -> None:
    payload = stats_with(checkpoint_activity={"status": "hibernating"})
    assert summarise(observed(payload)).unknown_values == [("checkpoint_activity", "hibernating")]
    (entity,) = checkpoints_broken(payload)
    assert entity.state == "hibernating"


def test_a_delay_without_its_time_is_a_schema_error_naming_the_field() -> None:
    with pytest.raises(
        SchemaError,
        match=rf"^{STATS}: checkpoint_activity\.delayed_since: expected a timestamp, got NoneType$",
    ):
        parse_stats(P, answer(stats_with(checkpoint_activity={"status": "delayed", "reasons": []})))


# -- permanent checkpoint errors ------------------------------------------------------------------


def test_no_permanent_error_is_a_zero_per_reason() -> None:
    fams = families(stats_with(permanent_checkpoint_errors=None))
    assert samples(fams["feldera_pipeline_checkpoint_permanent_errors"]) == {
        (P, "EnterpriseFeature"): 0.0,
        (P, "StorageRequired"): 0.0,
        (P, "UnsupportedInputEndpoint"): 0.0,
    }


def test_permanent_errors_are_counted_per_reason_unit_and_newtype_variants_alike() -> None:
    errors = [
        "StorageRequired",
        {"UnsupportedInputEndpoint": "transactions.kafka_in"},
        {"UnsupportedInputEndpoint": "cards.unnamed-0"},
    ]
    fams = families(stats_with(permanent_checkpoint_errors=errors))
    assert samples(fams["feldera_pipeline_checkpoint_permanent_errors"]) == {
        (P, "EnterpriseFeature"): 0.0,
        (P, "StorageRequired"): 1.0,
        (P, "UnsupportedInputEndpoint"): 2.0,
    }


def test_an_unknown_permanent_error_is_counted_not_exported() -> None:
    payload = stats_with(permanent_checkpoint_errors=[{"QuantumFlux": "x"}])
    fams = families(payload)
    assert all(
        v == 0 for v in samples(fams["feldera_pipeline_checkpoint_permanent_errors"]).values()
    )
    assert summarise(observed(payload)).unknown_values == [
        ("permanent_checkpoint_error", "QuantumFlux")
    ]


def test_a_variant_object_with_two_keys_is_a_schema_error() -> None:
    with pytest.raises(SchemaError, match=r"permanent_checkpoint_errors\[0\]"):
        parse_stats(P, answer(stats_with(permanent_checkpoint_errors=[{"A": "x", "B": "y"}])))


# -- broken now: every state that is, and those that are not, each its own case -------------------


@pytest.mark.parametrize(
    ("errors", "words"),
    [
        (["StorageRequired"], "StorageRequired"),
        ([{"UnsupportedInputEndpoint": "t.kafka_in"}], "UnsupportedInputEndpoint: t.kafka_in"),
        ([{"QuantumFlux": "x"}], "QuantumFlux: x"),
    ],
)
def test_a_pipeline_that_can_never_checkpoint_is_broken_in_felderas_words(
    errors: list[Any], words: str
) -> None:
    (entity,) = checkpoints_broken(stats_with(permanent_checkpoint_errors=errors))
    assert (entity.names, entity.state, entity.error) == (
        (("pipeline", P),),
        "cannot checkpoint",
        words,
    )


def test_the_open_source_editions_enterprise_feature_error_is_not_broken() -> None:
    assert checkpoints_broken(stats_with(permanent_checkpoint_errors=["EnterpriseFeature"])) == []


def test_a_checkpoint_delayed_past_the_alerts_threshold_is_broken_and_not_at_it() -> None:
    limit = thresholds.defaults().number("FelderaCheckpointDelayed", "threshold_seconds")
    assert checkpoints_broken(stats_with(checkpoint_activity=delayed(limit))) == []
    reasons = [{"InputEndpointBarrier": "t.kafka_in"}, "TransactionInProgress"]
    (entity,) = checkpoints_broken(stats_with(checkpoint_activity=delayed(limit + 1, reasons)))
    assert (entity.state, entity.error, entity.since) == (
        "checkpoint delayed",
        "InputEndpointBarrier: t.kafka_in\nTransactionInProgress",
        NOW - limit - 1,
    )


@pytest.mark.parametrize(
    "activity",
    [{"status": "idle"}, {"status": "in_progress", "started_at": "2026-01-01T00:00:00Z"}],
)
def test_idle_or_in_progress_checkpoints_are_not_broken_however_old(
    activity: dict[str, Any],
) -> None:
    assert checkpoints_broken(stats_with(checkpoint_activity=activity)) == []
