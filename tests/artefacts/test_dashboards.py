"""The Grafana dashboards: importable as they are, laid out sanely, and every query true.

Grafana cannot run here, so the dashboards are checked the way Grafana would use them: their JSON
structure (no `__inputs`, a `${datasource}` variable, target and entity variables, unique ids,
panels that do not overlap), then every panel query and every variable query against a real
Prometheus (the Debian package) scraping the exporter, which polls the simulator. Each query, with
its template variables set to "All", must parse and return at least one series, and name only
metrics the exporter emits. The scenario is the demo's, plus what makes every panel show
something: a target that cannot be reached, a Feldera pipeline that does not reach its desired
status, and a PeerDB state the exporter does not know.

Prometheus, the exporter and the simulator run as subprocesses started once for the module; the
test waits for about ten scrapes (Prometheus waits ~5 s before its first one). Without the
prometheus binary those tests skip, except under CI.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from dataflow_exporter.self_metrics import SELF_SPECS
from dataflow_exporter.sources.registry import all_specs
from tests.support.ports import free_port
from tests.support.promql import metric_names
from tests.support.stack import exporter_config, stop_process
from tests.support.tools import require_tool

ROOT = Path(__file__).resolve().parents[2]
GRAFANA = ROOT / "grafana"
CHART_DASHBOARDS = ROOT / "helm" / "dataflow-exporter" / "files" / "dashboards"
CLI = [sys.executable, "-m", "dataflow_exporter.cli"]
SYSTEMS = ("peerdb", "confluent", "feldera", "etlworks")
# The entity variable each system's dashboard must offer.
ENTITY_VARIABLES = {
    "peerdb": "mirror",
    "confluent": "topic",
    "feldera": "pipeline",
    "etlworks": "flow",
}
# Grafana's built-in interval variables, given values that suit ~15 s of 1 s scrapes.
BUILTINS = {"__rate_interval": "1m", "__interval": "1m", "__range": "1m"}
SCRAPES_WANTED = 10
STARTUP_DEADLINE = 45.0
DS_UID = "${datasource}"


def _load(folder: Path) -> dict[str, dict[str, Any]]:
    return {
        p.name: json.loads(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.json"))
    }


DASHBOARDS = _load(GRAFANA)


def all_panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, including those inside collapsed rows."""
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


@dataclass(frozen=True)
class Query:
    """One panel target's expression, and where it is."""

    dashboard: str
    panel_id: int
    panel: str
    ref: str
    expr: str

    def __str__(self) -> str:
        return f"{self.dashboard}#{self.panel_id}: {self.panel} [{self.ref}]"


def _queries() -> list[Query]:
    return [
        Query(name, panel["id"], panel["title"], t["refId"], t["expr"])
        for name, dashboard in DASHBOARDS.items()
        for panel in all_panels(dashboard)
        for t in panel.get("targets", [])
    ]


def _variables(kind: str | None = None) -> list[tuple[str, dict[str, Any]]]:
    return [
        (name, variable)
        for name, dashboard in DASHBOARDS.items()
        for variable in dashboard["templating"]["list"]
        if kind is None or variable["type"] == kind
    ]


QUERIES = _queries()
VARIABLE_QUERIES = _variables("query")
_LABEL_VALUES = re.compile(r"^label_values\((?P<selector>.+),\s*(?P<label>[a-zA-Z_]\w*)\s*\)$")


def substitute(expr: str) -> str:
    """The expression as Grafana sends it with every variable set to All (`.*`)."""
    for name, value in BUILTINS.items():
        expr = expr.replace(f"${{{name}}}", value).replace(f"${name}", value)
    expr = re.sub(r"\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]", ".*", expr)
    return re.sub(r"\$(\w+)", ".*", expr)


def system_of(dashboard_file: str) -> str | None:
    """The system a per-system dashboard is for; None for the overview."""
    return next((s for s in SYSTEMS if s in dashboard_file), None)


# --- the files ----------------------------------------------------------------------------------


def test_there_is_an_overview_and_one_dashboard_per_system() -> None:
    assert "dataflow-overview.json" in DASHBOARDS
    assert sorted(filter(None, map(system_of, DASHBOARDS))) == sorted(SYSTEMS)


def test_the_chart_carries_the_same_dashboards() -> None:
    assert sorted(p.name for p in CHART_DASHBOARDS.glob("*.json")) == sorted(DASHBOARDS)
    for name in DASHBOARDS:
        assert (CHART_DASHBOARDS / name).read_bytes() == (GRAFANA / name).read_bytes(), name


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_dashboard_imports_without_inputs(name: str) -> None:
    dashboard = DASHBOARDS[name]
    assert "__inputs" not in dashboard and "__requires" not in dashboard
    assert dashboard["schemaVersion"] >= 39
    assert dashboard["id"] is None
    assert re.fullmatch(r"[a-z0-9-]{1,40}", dashboard["uid"])
    assert dashboard["title"] and dashboard["description"]
    assert "dataflow-exporter" in dashboard["tags"]


def test_uids_and_titles_are_unique() -> None:
    boards = DASHBOARDS.values()
    assert len({d["uid"] for d in boards}) == len({d["title"] for d in boards}) == len(DASHBOARDS)


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_datasource_is_a_variable_every_panel_uses(name: str) -> None:
    dashboard = DASHBOARDS[name]
    first = dashboard["templating"]["list"][0]
    assert (first["name"], first["type"], first["query"]) == (
        "datasource",
        "datasource",
        "prometheus",
    )
    for panel in all_panels(dashboard):
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": DS_UID}, panel["title"]
        for t in panel["targets"]:
            assert t["datasource"] == {"type": "prometheus", "uid": DS_UID}, panel["title"]
    for board, variable in _variables("query"):
        if board == name:
            assert variable["datasource"]["uid"] == DS_UID


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_target_and_entity_variables_are_multi_value_label_values_queries(name: str) -> None:
    variables = {v["name"]: v for v in DASHBOARDS[name]["templating"]["list"]}
    system = system_of(name)
    wanted = {"target"} | ({ENTITY_VARIABLES[system]} if system else set())
    assert wanted <= set(variables)
    for variable_name in wanted:
        variable = variables[variable_name]
        assert variable["type"] == "query"
        assert variable["multi"] and variable["includeAll"] and variable["allValue"] == ".*"
        assert _LABEL_VALUES.match(variable["definition"]), variable["definition"]
        assert variable["query"]["query"] == variable["definition"]
    if system:
        assert f'system="{system}"' in variables["target"]["definition"]


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_panels_have_unique_ids_titles_descriptions_and_do_not_overlap(name: str) -> None:
    panels = list(all_panels(DASHBOARDS[name]))
    assert len({p["id"] for p in panels}) == len(panels)
    taken: set[tuple[int, int]] = set()
    for panel in panels:
        assert panel["title"]
        if panel["type"] != "row":
            assert panel.get("description"), panel["title"]
            assert panel["targets"], panel["title"]
        pos = panel["gridPos"]
        assert pos["x"] >= 0 and pos["x"] + pos["w"] <= 24, panel["title"]
        cells = {
            (x, y)
            for x in range(pos["x"], pos["x"] + pos["w"])
            for y in range(pos["y"], pos["y"] + pos["h"])
        }
        assert not cells & taken, f"{panel['title']} overlaps another panel"
        taken |= cells


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_upstream_queries_follow_the_target_variable(name: str) -> None:
    own = {spec.name for spec in SELF_SPECS}
    for query in (q for q in QUERIES if q.dashboard == name):
        if metric_names(substitute(query.expr)) - own:
            assert "$target" in query.expr, str(query)


# --- the queries, offline -----------------------------------------------------------------------


@pytest.mark.parametrize("query", QUERIES, ids=str)
def test_query_names_only_metrics_the_exporter_emits(query: Query) -> None:
    names = metric_names(substitute(query.expr))
    assert names
    assert sorted(names - set(all_specs())) == []


@pytest.mark.parametrize("variable", VARIABLE_QUERIES, ids=lambda v: f"{v[0]}: ${v[1]['name']}")
def test_variable_query_names_a_metric_the_exporter_emits(
    variable: tuple[str, dict[str, Any]],
) -> None:
    match = _LABEL_VALUES.match(variable[1]["definition"])
    assert match
    names = metric_names(substitute(match["selector"]))
    assert sorted(names - set(all_specs())) == []
    spec = all_specs()[names.pop()]
    assert match["label"] in (*spec.labels, "target")


# --- the queries, against Prometheus scraping the exporter --------------------------------------


def _get_json(url: str, timeout: float = 5.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return json.load(resp)


def _post_json(url: str, body: dict[str, Any]) -> None:
    request = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=5.0) as resp:
        resp.read()


@dataclass
class Process:
    """A subprocess whose output goes to a log file, shown if it dies early."""

    popen: subprocess.Popen[bytes]
    log: Path


def _wait_for(probe: Any, what: str, deadline: float, procs: list[Process]) -> Any:
    while time.monotonic() < deadline:
        for proc in procs:
            if proc.popen.poll() is not None:
                out = proc.log.read_text(errors="replace")[-4000:]
                pytest.fail(
                    f"{proc.log.stem} exited with {proc.popen.returncode} before {what}:\n{out}"
                )
        try:
            found = probe()
        except (urllib.error.URLError, OSError, ValueError):
            found = None
        if found:
            return found
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a Prometheus that has scraped the exporter about ten times."""
    binary = require_tool("prometheus")
    tmp = tmp_path_factory.mktemp("prometheus")
    sim_port, exporter_port, prometheus_port = free_port(), free_port(), free_port()
    sim_url = f"http://127.0.0.1:{sim_port}"
    procs: list[Process] = []

    def start(name: str, *args: str) -> None:
        log = tmp / f"{name}.log"
        with log.open("wb") as out:
            popen = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
        procs.append(Process(popen, log))

    try:
        start(
            "simulator",
            *CLI,
            "simulate",
            "--listen",
            f"127.0.0.1:{sim_port}",
            "--log.level",
            "warning",
        )
        deadline = time.monotonic() + STARTUP_DEADLINE
        _wait_for(
            lambda: _get_json(f"{sim_url}/_sim/peerdb/faults"), "the simulator", deadline, procs
        )
        # A pipeline that was asked to run but stays Stopped, and an instance state PeerDB added.
        _post_json(
            f"{sim_url}/_sim/feldera/overrides/inventory-rollup",
            {"deployment_desired_status": "Running"},
        )
        _post_json(
            f"{sim_url}/_sim/peerdb/overrides/_instance", {"status": "INSTANCE_STATUS_UPGRADING"}
        )
        # A running mirror that keeps erroring and a slot whose WAL Postgres removed.
        _post_json(f"{sim_url}/_sim/peerdb/overrides/orders_pg_to_ch", {"_erroring": True})
        _post_json(f"{sim_url}/_sim/peerdb/overrides/events_pg_to_sf", {"_wal_status": "lost"})
        config = tmp / "exporter.yaml"
        config.write_text(yaml.safe_dump(exporter_config(sim_url)), encoding="utf-8")
        start(
            "exporter", *CLI, "run", "--config", str(config),
            "--web.listen-address", f"127.0.0.1:{exporter_port}", "--log.level", "error",
        )  # fmt: skip
        (tmp / "prometheus.yml").write_text(
            yaml.safe_dump(
                {
                    "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
                    "scrape_configs": [
                        {
                            "job_name": "dataflow-exporter",
                            "static_configs": [{"targets": [f"127.0.0.1:{exporter_port}"]}],
                        }
                    ],
                }
            ),
            encoding="utf-8",
        )
        start(
            "prometheus", binary, f"--config.file={tmp / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp / 'data'}",
            f"--web.listen-address=127.0.0.1:{prometheus_port}", "--log.level=warn",
        )  # fmt: skip
        url = f"http://127.0.0.1:{prometheus_port}"
        scrapes = f"count_over_time(dataflow_exporter_build_info[5m]) >= {SCRAPES_WANTED}"
        _wait_for(
            # Not _instant(): Prometheus answers 503 until it is ready, which is no failure.
            lambda: _get_json(_query_url(url, scrapes))["data"]["result"],
            f"{SCRAPES_WANTED} scrapes",
            time.monotonic() + STARTUP_DEADLINE,
            procs,
        )
        yield url
    finally:
        for proc in reversed(procs):
            stop_process(proc.popen)


def _query_url(base: str, expr: str) -> str:
    return f"{base}/api/v1/query?{urllib.parse.urlencode({'query': expr})}"


def _instant(base: str, expr: str) -> list[dict[str, Any]]:
    """The result of an instant query; fails the test if Prometheus rejects it."""
    try:
        answer = _get_json(_query_url(base, expr))
    except urllib.error.HTTPError as exc:
        pytest.fail(f"Prometheus rejected {expr!r}: {exc.read().decode(errors='replace')}")
    assert answer["status"] == "success", answer
    result: list[dict[str, Any]] = answer["data"]["result"]
    return result


@pytest.mark.parametrize("query", QUERIES, ids=str)
def test_query_returns_data_from_prometheus(prometheus: str, query: Query) -> None:
    assert _instant(prometheus, substitute(query.expr)), f"no data for {query.expr!r}"


@pytest.mark.parametrize("variable", VARIABLE_QUERIES, ids=lambda v: f"{v[0]}: ${v[1]['name']}")
def test_variable_query_offers_values(
    prometheus: str, variable: tuple[str, dict[str, Any]]
) -> None:
    match = _LABEL_VALUES.match(variable[1]["definition"])
    assert match
    params = urllib.parse.urlencode({"match[]": substitute(match["selector"])})
    answer = _get_json(f"{prometheus}/api/v1/label/{match['label']}/values?{params}")
    assert answer["status"] == "success"
    assert answer["data"], f"no values for {variable[1]['definition']}"


def test_committed_dashboards_are_what_the_generator_writes(tmp_path: Path) -> None:
    import shutil

    root = Path(__file__).resolve().parents[2]
    (tmp_path / "grafana").mkdir()
    (tmp_path / "helm" / "dataflow-exporter" / "files" / "dashboards").mkdir(parents=True)
    for module in (root / "grafana").glob("*.py"):
        shutil.copy(module, tmp_path / "grafana" / module.name)
    (tmp_path / "alerts").mkdir()
    shutil.copy(root / "alerts" / "config.yml", tmp_path / "alerts" / "config.yml")
    subprocess.run(
        [sys.executable, "-m", "grafana.generate", str(tmp_path)], cwd=tmp_path, check=True
    )
    for generated in sorted((tmp_path / "grafana").glob("*.json")):
        assert generated.read_text() == (root / "grafana" / generated.name).read_text(), (
            generated.name
        )


# --- one config, state colours, state timelines -------------------------------------------------

ALERTS_CONFIG = yaml.safe_load((ROOT / "alerts" / "config.yml").read_text(encoding="utf-8"))


def test_threshold_lines_are_the_alert_thresholds_of_the_one_config() -> None:
    lines = {
        step["value"]
        for dashboard in DASHBOARDS.values()
        for panel in all_panels(dashboard)
        if panel["type"] == "timeseries"
        for step in panel["fieldConfig"]["defaults"].get("thresholds", {}).get("steps", [])
        if step["color"] == "red"
    }
    alerts = ALERTS_CONFIG["alerts"]
    assert lines == {
        alerts["PeerDBMirrorNoRecentBatch"]["threshold_seconds"],
        alerts["PeerDBSlotLagHigh"]["threshold_bytes"],
        alerts["PeerDBSlotSafeWalSizeLow"]["threshold_bytes"],
        alerts["ConfluentMirrorLagHigh"]["threshold_messages"],
        alerts["EtlworksFlowRunningTooLong"]["threshold_seconds"],
        alerts["EtlworksFlowNoRecentSuccess"]["threshold_seconds"],
        alerts["FelderaCheckpointDelayed"]["threshold_seconds"],
        alerts["FelderaPipelineStorageGrowing"]["growth_bytes_per_hour"],
    }


# Entity kind -> (dashboard, the labels one row of its state timeline stands for).
STATE_TIMELINES = {
    "mirrors": ("dataflow-peerdb.json", ("target", "mirror")),
    "links": ("dataflow-confluent.json", ("target", "link")),
    "mirror topics": ("dataflow-confluent.json", ("target", "link", "topic")),
    "pipelines": ("dataflow-feldera.json", ("target", "pipeline")),
    "connectors": ("dataflow-feldera.json", ("target", "pipeline", "connector")),
    "flows": ("dataflow-etlworks.json", ("target", "flow")),
}


@pytest.mark.parametrize("kind", sorted(STATE_TIMELINES))
def test_entity_states_have_a_state_timeline_whose_rows_name_the_target(kind: str) -> None:
    name, labels = STATE_TIMELINES[kind]
    timelines = [p for p in all_panels(DASHBOARDS[name]) if p["type"] == "state-timeline"]
    legends = [t["legendFormat"] for p in timelines for t in p["targets"]]
    assert " / ".join(f"{{{{{label}}}}}" for label in labels) in legends


def test_state_timelines_show_no_data_as_a_gap_and_every_state_by_name() -> None:
    for dashboard in DASHBOARDS.values():
        for panel in all_panels(dashboard):
            if panel["type"] != "state-timeline":
                continue
            defaults = panel["fieldConfig"]["defaults"]
            assert defaults["custom"]["spanNulls"] is False
            assert "noValue" not in defaults
            [mapping] = defaults["mappings"]
            assert all(option["text"] for option in mapping["options"].values())


def test_stats_never_show_missing_data_as_zero() -> None:
    for dashboard in DASHBOARDS.values():
        for panel in all_panels(dashboard):
            assert panel.get("fieldConfig", {}).get("defaults", {}).get("noValue") != "0"


LEGEND_PANELS = {"timeseries", "state-timeline", "stat", "bargauge"}
PER_SERIES_QUERIES = [
    q
    for q in QUERIES
    if next(p for p in all_panels(DASHBOARDS[q.dashboard]) if p["id"] == q.panel_id)["type"]
    in LEGEND_PANELS
]


@pytest.mark.parametrize("query", PER_SERIES_QUERIES, ids=str)
def test_every_legend_of_series_from_several_targets_names_the_target(
    prometheus: str, query: Query
) -> None:
    panel = next(p for p in all_panels(DASHBOARDS[query.dashboard]) if p["id"] == query.panel_id)
    [legend] = [t["legendFormat"] for t in panel["targets"] if t["refId"] == query.ref]
    series = _instant(prometheus, substitute(query.expr))
    if any("target" in s["metric"] for s in series):
        assert "{{target}}" in legend, legend
