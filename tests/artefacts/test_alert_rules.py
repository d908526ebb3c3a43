"""The shipped alert rules: valid for Prometheus, unit-tested alert by alert, and consistent with
the metrics the exporter emits.

`promtool check rules` and `promtool test rules alerts/tests/*.yml` run for real; without promtool
those two tests skip, except under CI, where its absence fails them. Every alert must have a
promtool test that sees it fire (with its exact labels and annotations) and one that sees it
stay silent; every metric an expression or an annotation's query names must be one the exporter
emits. Expressions are parsed with PyPI's promql-parser when it is installed, else read with a
small tokenizer that a test keeps in agreement with the parser.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from dataflow_exporter.self_metrics import SELF_SPECS
from dataflow_exporter.sources.registry import all_specs
from tests.support.helpers import alerts_generator
from tests.support.promql import metric_names, metric_names_by_parser, metric_names_by_tokens
from tests.support.tools import require_module, require_tool

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "alerts" / "dataflow-exporter.rules.yml"
RULE_TESTS = sorted((ROOT / "alerts" / "tests").glob("*.yml"))
OPERATIONS_DOC = ROOT / "docs" / "operations.md"
SEVERITIES = {"critical", "warning", "info"}
# Labels that tell which state, not which thing, is broken.
STATE_LABELS = {"status", "error", "reason", "field"}

# --- the rules and their tests ------------------------------------------------------------------


def _alerts() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


ALERTS = _alerts()
ALERT_NAMES = [rule["alert"] for rule in ALERTS]


def _rule_test_cases() -> Iterator[dict[str, Any]]:
    for path in RULE_TESTS:
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["tests"]:
            yield from group.get("alert_rule_test", [])


def _annotation_queries(rule: dict[str, Any]) -> list[str]:
    """PromQL given to the `query` template function in a rule's annotations."""
    text = " ".join(rule.get("annotations", {}).values())
    return [
        match.replace("%q", '""')
        for match in re.findall(r'printf\s+"((?:[^"\\]|\\.)*)"[^|}]*\|\s*query', text)
    ]


def _identity_labels(expr: str) -> set[str]:
    """Labels that identify the thing an alert is about: those of every family in its expr
    (plus `target` on upstream families), minus state labels; none for absent(), whose result
    has no labels."""
    if expr.strip().startswith("absent("):
        return set()
    specs = all_specs()
    own = {spec.name for spec in SELF_SPECS}
    labels: set[str] = set()
    for name in metric_names(expr) & set(specs):
        spec = specs[name]
        labels.update(spec.labels)
        if name not in own:
            labels.add("target")
    return labels - STATE_LABELS


# --- promtool -----------------------------------------------------------------------------------


def test_rules_file_passes_promtool_check() -> None:
    result = subprocess.run(
        [require_tool("promtool"), "check", "rules", str(RULES)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(ALERTS)} rules found" in result.stdout


def test_promtool_unit_tests_pass() -> None:
    result = subprocess.run(
        [require_tool("promtool"), "test", "rules", *map(str, RULE_TESTS)],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# --- coverage of the unit tests -----------------------------------------------------------------


def test_there_are_unit_tests_for_each_system_and_the_exporter() -> None:
    assert {path.stem for path in RULE_TESTS} >= {
        "exporter",
        "peerdb",
        "confluent",
        "feldera",
        "etlworks",
    }


def test_every_alert_has_a_test_that_sees_it_fire_with_exact_annotations() -> None:
    fired = {
        case["alertname"]
        for case in _rule_test_cases()
        if case.get("exp_alerts")
        and all(
            {"summary", "description"} <= set(a.get("exp_annotations", {}))
            for a in case["exp_alerts"]
        )
    }
    assert sorted(set(ALERT_NAMES) - fired) == []


def test_every_alert_has_a_test_that_sees_it_stay_silent() -> None:
    silent = {case["alertname"] for case in _rule_test_cases() if not case.get("exp_alerts")}
    assert sorted(set(ALERT_NAMES) - silent) == []


def test_unit_tests_name_only_alerts_that_exist() -> None:
    tested = {case["alertname"] for case in _rule_test_cases()}
    assert sorted(tested - set(ALERT_NAMES)) == []


# --- the rules themselves -----------------------------------------------------------------------


def test_alert_names_are_unique() -> None:
    assert len(ALERT_NAMES) == len(set(ALERT_NAMES))


@pytest.mark.parametrize("rule", ALERTS, ids=ALERT_NAMES)
def test_every_alert_has_a_severity_summary_description_and_for(rule: dict[str, Any]) -> None:
    assert rule.get("labels", {}).get("severity") in SEVERITIES
    annotations = rule.get("annotations", {})
    assert annotations.get("summary", "").strip()
    assert annotations.get("description", "").strip()
    assert re.fullmatch(r"\d+[smh]", str(rule.get("for", ""))), "every alert needs a for:"


@pytest.mark.parametrize("rule", ALERTS, ids=ALERT_NAMES)
def test_every_description_names_the_labels_of_the_broken_thing(rule: dict[str, Any]) -> None:
    description = rule["annotations"]["description"]
    missing = {
        label
        for label in _identity_labels(rule["expr"])
        if f"$labels.{label} " not in description.replace("}}", " }}")
    }
    assert sorted(missing) == []


@pytest.mark.parametrize("rule", ALERTS, ids=ALERT_NAMES)
def test_every_metric_named_by_a_rule_is_emitted_by_the_exporter(rule: dict[str, Any]) -> None:
    names = metric_names(rule["expr"])
    for query in _annotation_queries(rule):
        names |= metric_names(query)
    assert names, "an alert expression names at least one metric"
    assert sorted(names - set(all_specs())) == []


def test_every_annotation_query_is_read() -> None:
    for rule in ALERTS:
        text = " ".join(rule["annotations"].values())
        assert len(_annotation_queries(rule)) == len(re.findall(r"\|\s*query\b", text))


def test_the_tokenizer_agrees_with_the_parser_on_every_expression() -> None:
    require_module("promql_parser")
    exprs = [rule["expr"] for rule in ALERTS]
    exprs += [query for rule in ALERTS for query in _annotation_queries(rule)]
    for expr in exprs:
        assert metric_names_by_tokens(expr) == metric_names_by_parser(expr), expr


def test_the_tokenizer_skips_functions_keywords_labels_and_strings() -> None:
    expr = (
        'sum by (target, mirror) (rate(foo_total{mirror=~"a|b", x="y z"}[5m] offset 1m))'
        ' / on (target) group_left (env) bar and {__name__="baz"} or time() > bool 3e2'
    )
    assert metric_names_by_tokens(expr) == {"foo_total", "bar", "baz"}


# --- documentation ------------------------------------------------------------------------------


def test_every_alert_is_in_the_thresholds_table_at_the_top_of_the_file() -> None:
    header = RULES.read_text(encoding="utf-8").split("\ngroups:", 1)[0]
    assert sorted(name for name in ALERT_NAMES if f"#   {name} " not in header) == []


def test_every_alert_is_explained_in_the_operations_guide() -> None:
    guide = OPERATIONS_DOC.read_text(encoding="utf-8")
    assert sorted(name for name in ALERT_NAMES if f"`{name}`" not in guide) == []


# --- one config, runbooks -----------------------------------------------------------------------

RUNBOOKS = ROOT / "docs" / "runbooks.md"
RUNBOOK_PARTS = ("**What it means.**", "**Confirm.**", "**Fix.**", "**Escalate**")


def _runbook_sections() -> dict[str, str]:
    text = RUNBOOKS.read_text(encoding="utf-8")
    parts = re.split(r"(?m)^## (\S+)\n", text)[1:]
    return dict(zip(parts[::2], parts[1::2], strict=True))


def test_committed_rules_and_chart_copies_are_what_the_generator_writes(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(ROOT / "alerts" / "generate.py"), str(tmp_path)], check=True
    )
    written = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    # The rules, the chart's template and config, and the package's copies of docs/runbooks.md
    # (served at /runbooks) and of the config (the status page's).
    assert len(written) == 5
    for path in written:
        assert (tmp_path / path).read_bytes() == (ROOT / path).read_bytes(), path


def test_every_placeholder_has_a_config_value_and_every_value_is_used() -> None:
    gen = alerts_generator()
    template = (ROOT / "alerts" / "rules.template.yml").read_text(encoding="utf-8")
    body = template.split("\ngroups:\n", 1)[1]
    used = {m[1] + (f".{m[2]}" if m[2] else "") for m in gen.PLACEHOLDER.finditer(body)}
    config = gen.load_config()
    defined = {"runbook_url"} | {
        f"{alert}.{key}" for alert, params in config["alerts"].items() for key in params
    }
    assert sorted(defined - used) == []
    assert sorted(used - defined) == []
    assert list(config["alerts"]) == ALERT_NAMES


def test_a_threshold_changed_in_the_config_reaches_expr_for_and_prose() -> None:
    gen = alerts_generator()
    config = gen.merged(
        gen.load_config(), {"alerts": {"EtlworksFlowRunningTooLong": {"threshold_seconds": 600}}}
    )
    config = gen.merged(config, {"alerts": {"EtlworksFlowRunningTooLong": {"for": "7m"}}})
    groups = yaml.safe_load(gen.rules_file(config))["groups"]
    rule = next(
        r for g in groups for r in g["rules"] if r.get("alert") == "EtlworksFlowRunningTooLong"
    )
    assert 'etlworks_flow_last_execution_duration_seconds{flow!~""} > 600' in rule["expr"]
    assert rule["for"] == "7m"
    assert "(threshold: 600s)" in rule["annotations"]["description"]


@pytest.mark.parametrize("rule", ALERTS, ids=ALERT_NAMES)
def test_every_alert_links_its_runbook_section(rule: dict[str, Any]) -> None:
    if rule["alert"] == "DataflowExporterAbsent":
        # No exporter is left to serve /runbooks: Prometheus' own targets page instead.
        assert rule["annotations"]["runbook_url"] == "{{ $externalURL }}/targets"
        return
    base = alerts_generator().load_config()["runbook_url"]
    assert rule["annotations"]["runbook_url"] == f"{base}#{rule['alert'].lower()}"


def test_runbook_links_default_to_the_exporter_that_raised_the_alert() -> None:
    assert alerts_generator().load_config()["runbook_url"] == (
        "http://{{ $labels.instance }}/runbooks"
    )


def test_every_alert_has_a_runbook_section_and_every_section_an_alert() -> None:
    assert sorted(_runbook_sections()) == sorted(ALERT_NAMES)


@pytest.mark.parametrize("name", sorted(_runbook_sections()))
def test_every_runbook_section_says_meaning_confirmation_fix_and_escalation(name: str) -> None:
    section = _runbook_sections()[name]
    assert [part for part in RUNBOOK_PARTS if part not in section] == []
