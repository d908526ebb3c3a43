"""The status page calls an entity broken exactly when the alert rules would: with the settings
the shipped rules come from (carried by the package), and with the ones the operator tuned in
`global.alerts`, for every upstream state and on both sides of every threshold."""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml

from dataflow_exporter import config as config_mod
from dataflow_exporter import thresholds
from dataflow_exporter.errors import ConfigError
from dataflow_exporter.simulator import Simulation
from dataflow_exporter.sources import confluent, etlworks, feldera, peerdb
from dataflow_exporter.sources.fields import Values
from dataflow_exporter.thresholds import AlertSettings
from tests.sources.confluent.upstream_enums import LINK_STATE, LINK_TASK_STATE, MIRROR_TOPIC_STATUS
from tests.sources.etlworks.upstream_enums import EXECUTION_STATUS
from tests.sources.feldera.answers import answer, pipeline_list
from tests.sources.feldera.upstream_enums import COMBINED_STATUS, PERMANENT_SUSPEND_ERROR
from tests.sources.peerdb.upstream_enums import FLOW_STATUS, WAL_STATUS
from tests.support.helpers import poll_once

ROOT = Path(__file__).resolve().parents[1]
ALERTS_CONFIG = ROOT / "alerts" / "config.yml"
NOW = 1_700_000_000.0
HOUR = 3600.0
# Selections and thresholds an operator might set: each moves states and limits across the
# line, so a page that kept the shipped values would disagree with the rules.
TUNED: dict[str, dict[str, Any]] = {
    "PeerDBMirrorFailed": {"statuses": "STATUS_FAILED|STATUS_TERMINATED"},
    "PeerDBMirrorPaused": {"statuses": "NONE"},
    "PeerDBMirrorStuck": {"statuses": "STATUS_PAUSING"},
    "PeerDBMirrorNoRecentBatch": {"threshold_seconds": 7200},
    "PeerDBSlotLagHigh": {"threshold_bytes": 1024},
    "PeerDBSlotWalLost": {"statuses": "lost"},
    "PeerDBSlotSafeWalSizeLow": {"threshold_bytes": 2048},
    "PeerDBMirrorErroring": {"window_seconds": 60},
    "ConfluentLinkUnavailable": {"statuses": "FAILED|PAUSED"},
    "ConfluentMirrorTopicFailed": {"statuses": "FAILED|UNKNOWN"},
    "ConfluentMirrorTopicPaused": {"statuses": "LINK_PAUSED"},
    "ConfluentMirrorTopicStuckPending": {"for": "2h", "statuses": "PENDING_MIRROR"},
    "ConfluentMirrorLagHigh": {"threshold_messages": 50},
    "FelderaPipelinePaused": {"statuses": "Paused|Suspended"},
    "FelderaProgramFailed": {"statuses": "SqlError"},
    "FelderaCheckpointDelayed": {"threshold_seconds": 60},
    "FelderaPipelineStorageGrowing": {"growth_bytes_per_hour": 1000, "window": "2h"},
    "FelderaCheckpointPermanentlyFailing": {"reasons": "StorageRequired|EnterpriseFeature"},
    "ConfluentLinkTaskInError": {"statuses": "IN_ERROR|NOT_CONFIGURED"},
    "EtlworksFlowFailed": {"statuses": "error|warning"},
    "EtlworksFlowRunningTooLong": {"threshold_seconds": 300000, "exclude_flows": "CDC .*"},
}


def shipped() -> dict[str, dict[str, Any]]:
    alerts: dict[str, dict[str, Any]] = yaml.safe_load(ALERTS_CONFIG.read_text())["alerts"]
    return alerts


def rules_config(overrides: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """What the rules are generated from: alerts/config.yml with the overrides merged in, as
    alerts/generate.py and the chart's `prometheusRule.config` merge them."""
    merged = shipped()
    for alert, params in overrides.items():
        merged[alert] = merged[alert] | dict(params)
    return merged


def selects(rules: Mapping[str, Mapping[str, Any]], alert: str, state: str) -> bool:
    """Prometheus' `status=~"..."`: the regular expression matches the whole value."""
    return re.fullmatch(str(rules[alert]["statuses"]), state) is not None


def seconds(duration: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    return float(duration[:-1]) * units[duration[-1]]


def page_settings(overrides: Mapping[str, Mapping[str, Any]]) -> AlertSettings:
    """The settings a target gets when its config has these `global.alerts`."""
    target = {"name": "t", "system": "peerdb", "url": "http://p:3000"}
    data = {"global": {"alerts": dict(overrides)}, "targets": [target]}
    (loaded,) = config_mod.parse(data, env={}).targets
    return peerdb.PeerDBSource(loaded).alerts


CONFIGS = pytest.mark.parametrize("overrides", [{}, TUNED], ids=["shipped", "tuned"])


def test_the_package_carries_the_alerts_config_the_rules_come_from() -> None:
    carried = ROOT / "dataflow_exporter" / thresholds.DEFAULTS_FILE
    assert carried.read_bytes() == ALERTS_CONFIG.read_bytes(), "run alerts/generate.py"
    assert thresholds.defaults().alerts == shipped()


@CONFIGS
def test_a_mirror_is_broken_when_an_alert_selects_its_state(
    overrides: dict[str, dict[str, Any]],
) -> None:
    rules, settings = rules_config(overrides), page_settings(overrides)
    for state in FLOW_STATUS.values():
        seen = peerdb.Observation([peerdb.Mirror("m", state)], {}, {}, [], None)
        listed = bool(peerdb.broken_entities(seen, NOW, settings))
        # Failed and paused at once; of the states that are stuck only once they last,
        # STATUS_UNKNOWN (PeerDB not knowing) at once, as PeerDB gives no state time.
        expected = selects(rules, "PeerDBMirrorFailed", state) or (
            selects(rules, "PeerDBMirrorPaused", state)
            or (state == "STATUS_UNKNOWN" and selects(rules, "PeerDBMirrorStuck", state))
        )
        assert listed is expected, state


@CONFIGS
def test_peerdb_thresholds_are_the_rules_on_both_sides(
    overrides: dict[str, dict[str, Any]],
) -> None:
    rules, settings = rules_config(overrides), page_settings(overrides)
    age = float(rules["PeerDBMirrorNoRecentBatch"]["threshold_seconds"])
    for batch_age, listed in ((age, False), (age + 1, True)):
        ended = datetime.fromtimestamp(NOW - batch_age, UTC).isoformat()
        batches = peerdb.CdcBatches([peerdb.CdcBatch(ended, 1)], 1)
        batch = peerdb.batch_of(batches, "cdc/batches")
        mirror = peerdb.Mirror("m", "STATUS_RUNNING")
        seen = peerdb.Observation([mirror], {}, {"m": batch}, [], None)
        assert bool(peerdb.broken_entities(seen, NOW, settings)) is listed, batch_age
    lag = float(rules["PeerDBSlotLagHigh"]["threshold_bytes"])
    for slot_lag, listed in ((lag, False), (lag + 1, True)):
        seen = peerdb.Observation([], {}, {}, [_slot(slot_lag / peerdb.MIB)], None)
        assert bool(peerdb.broken_entities(seen, NOW, settings)) is listed, slot_lag


def _slot(
    lag_in_mb: float = 0.0, wal_status: str | None = None, safe_wal_size: int | None = None
) -> peerdb.Slot:
    shape = peerdb.SlotInfo("s", lag_in_mb, True, wal_status, safe_wal_size)
    return peerdb.slot_of("p", shape, "slotData[0]")


def _topic(status: str, state_time: float) -> confluent.MirrorTopic:
    values = Values(confluent.TOPIC_METRICS, (state_time, 1.0))  # state-change time, partitions
    return confluent.MirrorTopic("l", "t", status, "NO_ERROR", values, ())


@CONFIGS
def test_a_slots_wal_is_broken_when_the_rules_select_its_status_or_its_safe_size_is_low(
    overrides: dict[str, dict[str, Any]],
) -> None:
    rules, settings = rules_config(overrides), page_settings(overrides)
    for status in WAL_STATUS:
        slot = _slot(wal_status=status)
        seen = peerdb.Observation([], {}, {}, [slot], None)
        listed = bool(peerdb.broken_entities(seen, NOW, settings))
        assert listed is selects(rules, "PeerDBSlotWalLost", status), status
    safe = float(rules["PeerDBSlotSafeWalSizeLow"]["threshold_bytes"])
    for size, listed in ((safe, False), (safe - 1, True)):
        slot = _slot(wal_status="reserved", safe_wal_size=int(size))
        seen = peerdb.Observation([], {}, {}, [slot], None)
        assert bool(peerdb.broken_entities(seen, NOW, settings)) is listed, size


@CONFIGS
def test_a_running_mirror_is_erroring_within_the_rules_window(
    overrides: dict[str, dict[str, Any]],
) -> None:
    rules, settings = rules_config(overrides), page_settings(overrides)
    window = float(rules["PeerDBMirrorErroring"]["window_seconds"])
    for age, listed in ((window, True), (window + 1, False)):
        row = peerdb.MirrorError(1, "m", NOW - age, "boom")
        errors = {"m": peerdb.MirrorErrors(row, 1)}
        mirror = peerdb.Mirror("m", "STATUS_RUNNING")
        seen = peerdb.Observation([mirror], {}, {}, [], None, errors)
        assert bool(peerdb.broken_entities(seen, NOW, settings)) is listed, age


@CONFIGS
def test_links_and_topics_are_broken_when_an_alert_selects_their_state(
    overrides: dict[str, dict[str, Any]],
) -> None:
    rules, settings = rules_config(overrides), page_settings(overrides)
    for state in LINK_STATE:
        seen = confluent.Observation(links=[confluent.Link("l", state, "NO_ERROR")])
        listed = bool(confluent.broken_entities(seen, [], NOW, settings))
        assert listed is selects(rules, "ConfluentLinkUnavailable", state), state
    pending_for = seconds(rules["ConfluentMirrorTopicStuckPending"]["for"])
    for state in MIRROR_TOPIC_STATUS:
        at_once = selects(rules, "ConfluentMirrorTopicFailed", state) or selects(
            rules, "ConfluentMirrorTopicPaused", state
        )
        pending = selects(rules, "ConfluentMirrorTopicStuckPending", state)
        for since, waited in ((NOW - pending_for, False), (NOW - pending_for - 1, True)):
            seen = confluent.Observation(topics=[_topic(state, since)])
            listed = bool(confluent.broken_entities(seen, [0.0], NOW, settings))
            assert listed is (at_once or (pending and waited)), (state, waited)


@CONFIGS
def test_an_active_topic_is_broken_past_the_rules_lag_threshold(
    overrides: dict[str, dict[str, Any]],
) -> None:
    rules, settings = rules_config(overrides), page_settings(overrides)
    limit = float(rules["ConfluentMirrorLagHigh"]["threshold_messages"])
    for lag, listed in ((limit, False), (limit + 1, True)):
        seen = confluent.Observation(topics=[_topic("ACTIVE", NOW)])
        assert bool(confluent.broken_entities(seen, [lag], NOW, settings)) is listed, lag


@CONFIGS
def test_a_link_task_is_broken_when_an_alert_selects_its_state(
    overrides: dict[str, dict[str, Any]],
) -> None:
    rules, settings = rules_config(overrides), page_settings(overrides)
    for state in LINK_TASK_STATE:
        task = confluent.LinkTask("ConsumerOffsetSync", state)
        seen = confluent.Observation(links=[confluent.Link("l", None, None, tasks=(task,))])
        listed = bool(confluent.broken_entities(seen, [], NOW, settings))
        assert listed is selects(rules, "ConfluentLinkTaskInError", state), state


def _checkpointed(checkpoint: feldera.Checkpoint) -> feldera.Observation:
    fixtures = ROOT / "tests" / "sources" / "feldera" / "fixtures"
    stats = feldera.parse_stats(
        "p", answer(json.loads((fixtures / "pipeline_stats.json").read_text()))
    )
    metrics = msgspec.structs.replace(stats.global_metrics, checkpoint=checkpoint)
    return feldera.Observation([], global_metrics=[metrics])


@CONFIGS
def test_a_checkpoint_is_broken_past_the_rules_delay_or_for_a_reason_it_selects(
    overrides: dict[str, dict[str, Any]],
) -> None:
    rules, settings = rules_config(overrides), page_settings(overrides)
    limit = float(rules["FelderaCheckpointDelayed"]["threshold_seconds"])
    for delayed, listed in ((limit, False), (limit + 1, True)):
        seen = _checkpointed(feldera.Checkpoint("delayed", NOW - delayed))
        assert bool(feldera.broken_entities(seen, NOW, settings)) is listed, delayed
    reasons = str(rules["FelderaCheckpointPermanentlyFailing"]["reasons"])
    for reason in PERMANENT_SUSPEND_ERROR:
        seen = _checkpointed(feldera.Checkpoint("idle", None, (), ((reason, reason),)))
        listed = bool(feldera.broken_entities(seen, NOW, settings))
        assert listed is (re.fullmatch(reasons, reason) is not None), reason


@CONFIGS
def test_storage_growth_is_judged_over_the_rules_window_and_threshold(
    overrides: dict[str, dict[str, Any]],
) -> None:
    rules, settings = rules_config(overrides), page_settings(overrides)
    limit = float(rules["FelderaPipelineStorageGrowing"]["growth_bytes_per_hour"])
    window = seconds(rules["FelderaPipelineStorageGrowing"]["window"])
    for rate, listed in ((limit, False), (limit + 1, True)):
        seen = feldera.Observation([])
        assert bool(feldera.broken_entities(seen, NOW, settings, {"p": rate})) is listed, rate
    history = feldera.StorageHistory()
    fixtures = ROOT / "tests" / "sources" / "feldera" / "fixtures"
    stats = json.loads((fixtures / "pipeline_stats.json").read_text())
    for at in (NOW, NOW + window / 2 - 1):
        stats["global_metrics"]["storage_bytes"] = at - NOW
        seen = feldera.Observation(
            [], global_metrics=[feldera.parse_stats("p", answer(stats)).global_metrics]
        )
        growth = feldera.storage_growth(seen, history, at, settings)
    assert growth == {}, "under half the rules' window: no judgement yet"


def _pipeline(status: str, program: str) -> feldera.Pipeline:
    fixtures = ROOT / "tests" / "sources" / "feldera" / "fixtures"
    item = json.loads((fixtures / "pipelines_list_selector_status.json").read_text())[0]
    (pipeline,) = feldera.parse_pipeline_list(pipeline_list([item]))
    return msgspec.structs.replace(pipeline, status=status, program=program, deployment_error=None)


@CONFIGS
def test_a_pipeline_is_broken_when_an_alert_selects_its_state_or_program(
    overrides: dict[str, dict[str, Any]],
) -> None:
    rules, settings = rules_config(overrides), page_settings(overrides)
    for state in COMBINED_STATUS:
        seen = feldera.Observation([_pipeline(state, "Success")])
        listed = bool(feldera.broken_entities(seen, alerts=settings))
        # Unavailable has no state alert; its deployment error does, and the page shows it.
        expected = selects(rules, "FelderaPipelinePaused", state) or state == "Unavailable"
        assert listed is expected, state
    for program in ("Pending", "CompilingSql", "Success", "SqlError", "RustError", "SystemError"):
        seen = feldera.Observation([_pipeline("Running", program)])
        listed = bool(feldera.broken_entities(seen, alerts=settings))
        assert listed is selects(rules, "FelderaProgramFailed", program), program


def _reading(
    status: str, started: float, ended: float | None, name: str = "f"
) -> etlworks.FlowReading:
    execution = etlworks.Execution(1, name, status, started, ended, None)
    return etlworks.FlowReading(etlworks.FlowRef(7, name), execution)


@CONFIGS
def test_a_flow_is_broken_when_the_rules_call_its_newest_execution_failed_or_too_long(
    overrides: dict[str, dict[str, Any]],
) -> None:
    rules, settings = rules_config(overrides), page_settings(overrides)
    limit = float(rules["EtlworksFlowRunningTooLong"]["threshold_seconds"])
    for status in EXECUTION_STATUS:
        if status in ("queued", "running"):
            for age, listed in ((limit, False), (limit + 1, True)):
                readings = [_reading(status, NOW - age, None)]
                assert bool(etlworks.broken_entities(readings, NOW, settings)) is listed
        else:
            readings = [_reading(status, NOW - 60, NOW)]
            listed = bool(etlworks.broken_entities(readings, NOW, settings))
            assert listed is selects(rules, "EtlworksFlowFailed", status), status


@CONFIGS
def test_a_long_run_of_a_flow_the_rule_excludes_is_not_broken(
    overrides: dict[str, dict[str, Any]],
) -> None:
    rules, settings = rules_config(overrides), page_settings(overrides)
    limit = float(rules["EtlworksFlowRunningTooLong"]["threshold_seconds"])
    excluded = str(rules["EtlworksFlowRunningTooLong"]["exclude_flows"])
    for name in ("CDC orders", "CDC", "Load CDC orders", "Nightly load"):
        readings = [_reading("running", NOW - limit - 1, None, name)]
        listed = bool(etlworks.broken_entities(readings, NOW, settings))
        # The rule's `flow!~"..."`: a flow whose whole name matches is left out.
        assert listed is (re.fullmatch(excluded, name) is None), name


async def test_a_tuned_threshold_reaches_the_page_through_the_exporters_config() -> None:
    async def broken_states(overrides: dict[str, Any]) -> list[str]:
        async with Simulation({"etlworks": {"flows": 10}}) as sim:
            target = sim.systems["etlworks"].demo_target(sim.url)
            data = {"global": {"alerts": overrides}, "targets": [target]}
            polled = await poll_once(data)
        assert polled.ok
        return [b.state for b in polled.store.targets[target["name"]].broken]

    # The simulator's continuously running CDC flow has been running for 72 hours.
    assert "running for 72.0h" in await broken_states({})
    for tuned in ({"threshold_seconds": 300000}, {"exclude_flows": "CDC .*"}):
        states = await broken_states({"EtlworksFlowRunningTooLong": tuned})
        assert not [s for s in states if s.startswith("running for")], tuned


@pytest.mark.parametrize(
    ("alerts", "message"),
    [
        (
            {"EtlworksFlowRunningTooLng": {}},
            "global.alerts.EtlworksFlowRunningTooLng: no such alert "
            "(did you mean EtlworksFlowRunningTooLong?)",
        ),
        (
            {"PeerDBSlotLagHigh": {"threshold_byte": 1}},
            "global.alerts.PeerDBSlotLagHigh.threshold_byte: PeerDBSlotLagHigh has no such "
            "setting (did you mean threshold_bytes?)",
        ),
        (
            {"PeerDBSlotLagHigh": {"threshold_bytes": "lots"}},
            "global.alerts.PeerDBSlotLagHigh.threshold_bytes: expected a number of at least 0",
        ),
        (
            {"PeerDBSlotLagHigh": {"threshold_bytes": -1}},
            "global.alerts.PeerDBSlotLagHigh.threshold_bytes: expected a number of at least 0",
        ),
        (
            {"PeerDBMirrorPaused": {"for": 60}},
            "global.alerts.PeerDBMirrorPaused.for: expected a duration with a unit, such as "
            "30s, 5m, 1h30m or 250ms (got 60)",
        ),
        (
            {"PeerDBMirrorPaused": {"statuses": "STATUS_(PAUSED"}},
            "global.alerts.PeerDBMirrorPaused.statuses: invalid regular expression: "
            "missing ), unterminated subpattern at position 7",
        ),
        (
            {"PeerDBMirrorPaused": {"statuses": 3}},
            "global.alerts.PeerDBMirrorPaused.statuses: expected a regular expression (quote it)",
        ),
        (
            {"PeerDBMirrorPaused": "1h"},
            "global.alerts.PeerDBMirrorPaused: expected a mapping of settings "
            "(for, statuses, thresholds)",
        ),
        (
            ["PeerDBMirrorPaused"],
            "global.alerts: expected a mapping of alert names to settings, as in alerts/config.yml",
        ),
    ],
)
def test_a_mistake_in_global_alerts_is_named_by_its_yaml_path(alerts: Any, message: str) -> None:
    data = {
        "global": {"alerts": alerts},
        "targets": [{"name": "t", "system": "peerdb", "url": "http://p:3000"}],
    }
    with pytest.raises(ConfigError) as caught:
        config_mod.parse(data, env={})
    assert caught.value.errors == [message]


def test_alert_settings_are_refused_per_target_as_the_rules_are_global() -> None:
    target = {"name": "t", "system": "peerdb", "url": "http://p:3000", "alerts": {}}
    with pytest.raises(ConfigError) as caught:
        config_mod.parse({"targets": [target]}, env={})
    assert caught.value.errors == [
        "targets[0] (name: t).alerts: set alert thresholds under global.alerts: "
        "the alert rules apply to every target"
    ]


def test_an_empty_alerts_section_keeps_the_shipped_settings() -> None:
    assert page_settings({}) == thresholds.defaults()
    data = {
        "global": {"alerts": None},
        "targets": [{"name": "t", "system": "peerdb", "url": "http://p:3000"}],
    }
    (target,) = config_mod.parse(data, env={}).targets
    assert thresholds.settings(target.alerts) == thresholds.defaults()


def test_the_installed_package_carries_its_copy_of_the_alerts_config() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    package_data = pyproject["tool"]["setuptools"]["package-data"]["dataflow_exporter"]
    assert thresholds.DEFAULTS_FILE in package_data
