"""The status page and the alert rules agree, checked with the rules' own engine: for tuned
settings, the rules are generated from them and run by `promtool test rules` over one series
per upstream state, and each alert must fire for exactly the entities the page lists when that
alert's selection alone decides (the other selections of the same entities set to match nothing).
PromQL matches regular expressions whole with RE2; the page must read them the same way.

Annotations are dropped from the generated rules: what fires is decided by `expr` and `for`.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml

from dataflow_exporter import thresholds
from dataflow_exporter.sources import confluent, etlworks, feldera, peerdb
from dataflow_exporter.sources.fields import Values
from dataflow_exporter.thresholds import AlertSettings
from tests.sources.confluent.upstream_enums import LINK_STATE, MIRROR_TOPIC_STATUS
from tests.sources.etlworks.upstream_enums import EXECUTION_STATUS
from tests.sources.feldera.answers import pipeline_list
from tests.sources.feldera.upstream_enums import COMBINED_STATUS
from tests.sources.peerdb.upstream_enums import FLOW_STATUS
from tests.support.helpers import alerts_generator
from tests.support.tools import require_tool

NOW = 1_700_000_000.0
NOTHING = "MATCHES_NO_STATE"
# Selections an operator might write: partial words, alternations, a wildcard.
TUNED: dict[str, dict[str, Any]] = {
    "PeerDBMirrorFailed": {"statuses": "STATUS_FAILED|STATUS_TERMINATED"},
    "PeerDBMirrorPaused": {"statuses": "STATUS_PAUS.*"},
    "ConfluentLinkUnavailable": {"statuses": "FAILED|PAUSED"},
    "ConfluentMirrorTopicFailed": {"statuses": "FAILED|.*_FAILED"},
    "ConfluentMirrorTopicPaused": {"statuses": "PAUSED"},
    "FelderaPipelinePaused": {"statuses": "Paused|Suspended"},
    "FelderaProgramFailed": {"statuses": "SqlError|Rust.*"},
    "EtlworksFlowFailed": {"statuses": "error|warn"},
    "EtlworksFlowRunningTooLong": {"threshold_seconds": 3600, "exclude_flows": "CDC .*"},
}
# The alerts the page applies at once to one kind of entity, which must not decide for each
# other while one of them is checked.
TOGETHER = (
    ("PeerDBMirrorFailed", "PeerDBMirrorPaused", "PeerDBMirrorStuck"),
    (
        "ConfluentMirrorTopicFailed",
        "ConfluentMirrorTopicPaused",
        "ConfluentMirrorTopicStuckPending",
    ),
)


def alone(alert: str) -> dict[str, dict[str, Any]]:
    """TUNED, with the other selections of `alert`'s entities matching nothing."""
    overrides = {name: dict(params) for name, params in TUNED.items()}
    for group in TOGETHER:
        if alert in group:
            for other in group:
                if other != alert:
                    overrides[other] = overrides.get(other, {}) | {"statuses": NOTHING}
    return overrides


def settings(overrides: dict[str, dict[str, Any]]) -> AlertSettings:
    assert thresholds.problems(overrides) == []
    return thresholds.settings(overrides)


def _labels(series: dict[str, str]) -> str:
    return ",".join(f'{k}="{v}"' for k, v in series.items())


Case = tuple[str, list[tuple[str, dict[str, str], str]], set[str]]


def peerdb_case(alert: str) -> Case:
    page = settings(alone(alert))
    series, listed = [], set()
    for state in FLOW_STATUS.values():
        labels = {"target": "t", "mirror": state.lower(), "status": state}
        series.append(("peerdb_mirror_status", labels, "1"))
        seen = peerdb.Observation([peerdb.Mirror(state.lower(), state)], {}, {}, [], None)
        if peerdb.broken_entities(seen, NOW, page):
            listed.add(state.lower())
    return alert, series, listed


def confluent_link_case() -> Case:
    alert = "ConfluentLinkUnavailable"
    page = settings(alone(alert))
    series, listed = [], set()
    for state in LINK_STATE:
        labels = {"target": "t", "cluster_id": "lkc", "link": state.lower(), "status": state}
        series.append(("confluent_link_status", labels, "1"))
        seen = confluent.Observation(links=[confluent.Link(state.lower(), state, "NO_ERROR")])
        if confluent.broken_entities(seen, [], NOW, page):
            listed.add(state.lower())
    return alert, series, listed


def confluent_topic_case(alert: str) -> Case:
    page = settings(alone(alert))
    series, listed = [], set()
    for state in MIRROR_TOPIC_STATUS:
        name = state.lower()
        labels = {"target": "t", "cluster_id": "lkc", "link": "l", "topic": name, "status": state}
        series.append(("confluent_mirror_topic_status", labels, "1"))
        values = Values(confluent.TOPIC_METRICS, (NOW, 1.0))  # state-change time, partitions
        topic = confluent.MirrorTopic("l", name, state, "NO_ERROR", values, ())
        if confluent.broken_entities(confluent.Observation(topics=[topic]), [0.0], NOW, page):
            listed.add(name)
    return alert, series, listed


def _pipeline(name: str, status: str, program: str) -> feldera.Pipeline:
    fixtures = Path(__file__).resolve().parents[1] / "sources" / "feldera" / "fixtures"
    item = json.loads((fixtures / "pipelines_list_selector_status.json").read_text())[0]
    (pipeline,) = feldera.parse_pipeline_list(pipeline_list([item]))
    return msgspec.structs.replace(
        pipeline, name=name, status=status, program=program, deployment_error=None
    )


def feldera_case(alert: str) -> Case:
    page = settings(alone(alert))
    series, listed = [], set()
    if alert == "FelderaPipelinePaused":
        # Unavailable is listed with no state alert (its deployment error has one): left out.
        for state in (s for s in COMBINED_STATUS if s != "Unavailable"):
            labels = {"target": "t", "pipeline": state.lower(), "status": state}
            series.append(("feldera_pipeline_status", labels, "1"))
            seen = feldera.Observation([_pipeline(state.lower(), state, "Success")])
            if feldera.broken_entities(seen, alerts=page):
                listed.add(state.lower())
    else:
        for program in (
            "Pending",
            "CompilingSql",
            "Success",
            "SqlError",
            "RustError",
            "SystemError",
        ):
            labels = {"target": "t", "pipeline": program.lower(), "status": program}
            series.append(("feldera_pipeline_program_status", labels, "1"))
            seen = feldera.Observation([_pipeline(program.lower(), "Running", program)])
            if feldera.broken_entities(seen, alerts=page):
                listed.add(program.lower())
    return alert, series, listed


def etlworks_failed_case() -> Case:
    alert = "EtlworksFlowFailed"
    page = settings(alone(alert))
    series, listed = [], set()
    for i, status in enumerate(s for s in EXECUTION_STATUS if s not in ("queued", "running")):
        labels = {"target": "t", "flow_id": str(i), "flow": status, "status": status}
        series.append(("etlworks_flow_last_execution_status", labels, "1"))
        execution = etlworks.Execution(1, status, status, NOW - 60, NOW, 60.0)
        reading = etlworks.FlowReading(etlworks.FlowRef(i, status), execution)
        if etlworks.broken_entities([reading], NOW, page):
            listed.add(status)
    return alert, series, listed


def etlworks_running_case() -> Case:
    alert = "EtlworksFlowRunningTooLong"
    page = settings(alone(alert))
    limit = float(TUNED[alert]["threshold_seconds"])
    series, listed = [], set()
    flows = [("CDC orders", limit + 600), ("Nightly load", limit + 600), ("Hourly", limit - 600)]
    for i, (name, ran) in enumerate(flows):
        keys = {"target": "t", "flow_id": str(i), "flow": name}
        series.append(("etlworks_flow_last_execution_duration_seconds", keys, f"{ran:.0f}"))
        series.append(("etlworks_flow_last_execution_status", keys | {"status": "running"}, "1"))
        execution = etlworks.Execution(1, name, "running", NOW - ran, None, None)
        reading = etlworks.FlowReading(etlworks.FlowRef(i, name), execution)
        if etlworks.broken_entities([reading], NOW, page):
            listed.add(name)
    return alert, series, listed


# Which label names an entity in each alert's results.
ENTITY_LABEL = {
    "PeerDBMirrorFailed": "mirror",
    "PeerDBMirrorPaused": "mirror",
    "ConfluentLinkUnavailable": "link",
    "ConfluentMirrorTopicFailed": "topic",
    "ConfluentMirrorTopicPaused": "topic",
    "FelderaPipelinePaused": "pipeline",
    "FelderaProgramFailed": "pipeline",
    "EtlworksFlowFailed": "flow",
    "EtlworksFlowRunningTooLong": "flow",
}
CASES: list[Callable[[], Case]] = [
    lambda: peerdb_case("PeerDBMirrorFailed"),
    lambda: peerdb_case("PeerDBMirrorPaused"),
    confluent_link_case,
    lambda: confluent_topic_case("ConfluentMirrorTopicFailed"),
    lambda: confluent_topic_case("ConfluentMirrorTopicPaused"),
    lambda: feldera_case("FelderaPipelinePaused"),
    lambda: feldera_case("FelderaProgramFailed"),
    etlworks_failed_case,
    etlworks_running_case,
]


def _rules(overrides: dict[str, dict[str, Any]]) -> dict[str, Any]:
    gen = alerts_generator()
    config = gen.merged(gen.load_config(), {"alerts": overrides})
    rules: dict[str, Any] = yaml.safe_load(gen.rules_file(config))
    for group in rules["groups"]:
        for rule in group["rules"]:
            rule.pop("annotations", None)
    return rules


def _minutes(duration: str) -> int:
    units = {"m": 1, "h": 60}
    return int(duration[:-1]) * units[duration[-1]]


@pytest.mark.parametrize("case", CASES, ids=[a for a in ENTITY_LABEL])
def test_an_alert_fires_for_exactly_the_entities_the_page_lists(
    case: Callable[[], Case], tmp_path: Path
) -> None:
    alert, series, listed = case()
    rules = _rules(alone(alert))
    rule = next(r for g in rules["groups"] for r in g["rules"] if r.get("alert") == alert)
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(rules), encoding="utf-8")
    entity = ENTITY_LABEL[alert]
    # The alert carries the labels of its expression's left-hand side.
    lhs = rule["expr"].strip().split("{")[0].split(" ")[0]
    firing = [labels for name, labels, _ in series if name == lhs]
    assert firing, f"no series of {lhs}"
    expected = [
        {"exp_labels": labels | rule["labels"]} for labels in firing if labels[entity] in listed
    ]
    wait = _minutes(rule["for"]) + 5
    test = {
        "rule_files": ["rules.yml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    {"series": f"{name}{{{_labels(labels)}}}", "values": f"{value}x{wait + 10}"}
                    for name, labels, value in series
                ],
                "alert_rule_test": [
                    {"eval_time": f"{wait}m", "alertname": alert, "exp_alerts": expected}
                ],
            }
        ],
    }
    (tmp_path / "test.yml").write_text(yaml.safe_dump(test), encoding="utf-8")
    result = subprocess.run(
        [require_tool("promtool"), "test", "rules", "test.yml"],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 0, f"page lists {sorted(listed)}:\n{result.stdout}{result.stderr}"
    assert listed, "the case lists something, so it can disagree"
