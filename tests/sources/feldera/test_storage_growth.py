"""Storage growth on the status page: judged from the exporter's own readings over most of
FelderaPipelineStorageGrowing's window, as the alert's `deriv` judges Prometheus' history."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec

from dataflow_exporter import thresholds
from dataflow_exporter.sources.feldera import (
    GlobalMetrics,
    Observation,
    StorageHistory,
    broken_entities,
    parse_stats,
    storage_growth,
)
from tests.sources.feldera.answers import answer

FIXTURES = Path(__file__).parent / "fixtures"
HOUR = 3600.0
GIB = float(2**30)
WINDOW = 6 * HOUR  # the shipped alert's window, worked out from its `6h` by hand
SHIPPED = thresholds.defaults()


def reading(pipeline: str, used: float) -> GlobalMetrics:
    stats = json.loads((FIXTURES / "pipeline_stats.json").read_text())
    stats["global_metrics"]["storage_bytes"] = used
    return msgspec.structs.replace(
        parse_stats(pipeline, answer(stats)).global_metrics, pipeline=pipeline
    )


def test_no_judgement_until_the_readings_span_half_the_window() -> None:
    history = StorageHistory()
    assert history.growth("p", 0.0, 0.0, WINDOW) is None
    assert history.growth("p", WINDOW / 2 - 1, GIB, WINDOW) is None
    assert history.growth("p", WINDOW / 2, 3 * GIB, WINDOW) == 3 * GIB / 3


def test_growth_is_measured_from_the_oldest_reading_within_the_window() -> None:
    history = StorageHistory()
    for step in range(13):  # a reading every half hour for six hours
        history.growth("p", step * HOUR / 2, step * GIB, WINDOW)
    # Readings older than the window are dropped: 7 hours on, the oldest kept is 1 hour old.
    assert history.growth("p", 7 * HOUR, 20 * GIB, WINDOW) == (20 - 2) * GIB / 6


def test_a_pipeline_no_longer_polled_is_forgotten() -> None:
    history = StorageHistory()
    history.growth("gone", 0.0, 0.0, WINDOW)
    history.keep_only({"kept"})
    assert history.growth("gone", WINDOW / 2, GIB, WINDOW) is None


def test_a_pipeline_growing_faster_than_the_alert_threshold_is_listed_and_not_at_it() -> None:
    limit = SHIPPED.number("FelderaPipelineStorageGrowing", "growth_bytes_per_hour")
    seen = Observation([])
    assert broken_entities(seen, 0.0, SHIPPED, {"p": limit}) == []
    (entity,) = broken_entities(seen, 0.0, SHIPPED, {"p": limit + 1})
    assert (entity.kind, entity.names) == ("pipeline storage", (("pipeline", "p"),))
    assert entity.state.startswith("storage growing 1.00 GiB an hour")


def test_the_source_reads_growth_from_each_polls_storage_bytes() -> None:
    history = StorageHistory()
    first = Observation([], global_metrics=[reading("p", 0.0)])
    assert storage_growth(first, history, 0.0, SHIPPED) == {}
    later = Observation([], global_metrics=[reading("p", 9 * GIB)])
    assert storage_growth(later, history, 3 * HOUR, SHIPPED) == {"p": 3 * GIB}
