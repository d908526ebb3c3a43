"""The dashboards count every target and entity once, however many exporters export it.

One real Prometheus scrapes three deployments of the same exporter config, each as its own
scrape job: a single exporter, an HA pair (two replicas polling the same targets) and two
shards (`--shard.count 2`). Every panel query that counts targets or entities must give the
single exporter's answer for the pair and for the shards too. Queries over per-replica rates and
increases are left out: replicas poll at different moments, so those differ by design.

Prometheus, the simulator and five exporters run as subprocesses started once for the module;
without the prometheus binary the tests skip, except under CI.
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
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.ports import free_port
from tests.support.stack import exporter_config, stop_process
from tests.support.tools import require_tool

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "dataflow_exporter.cli"]
JOBS: dict[str, list[list[str]]] = {
    "single": [[]],
    "ha": [[], []],
    "sharded": [
        ["--shard.index", "0", "--shard.count", "2"],
        ["--shard.index", "1", "--shard.count", "2"],
    ],
}
SCRAPES_WANTED = 10
STARTUP_DEADLINE = 60.0
# A query counts when its panel shows one number or one bar per state; rates and increases
# of per-replica counters are not counts.
COUNTING_PANELS = {"stat", "bargauge"}
PER_REPLICA = re.compile(r"\b(rate|irate|increase|deriv)\(")
TARGET_MATCHER = 'target=~"$target"'


@dataclass(frozen=True)
class Query:
    """One panel query, named for the failure message."""

    where: str
    expr: str

    def __str__(self) -> str:
        return self.where


def _panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def counting_queries() -> list[Query]:
    found = []
    for path in sorted((ROOT / "grafana").glob("*.json")):
        dashboard = json.loads(path.read_text(encoding="utf-8"))
        for panel in _panels(dashboard):
            if panel["type"] not in COUNTING_PANELS:
                continue
            for target in panel.get("targets", []):
                expr = target["expr"]
                if TARGET_MATCHER in expr and not PER_REPLICA.search(expr):
                    found.append(Query(f"{path.stem}: {panel['title']}", expr))
    return found


QUERIES = counting_queries()


def for_job(expr: str, job: str) -> str:
    """The expression with every variable set to All, over one scrape job's series only."""
    expr = expr.replace(TARGET_MATCHER, f'target=~".*", job="{job}"')
    expr = re.sub(r"\$\{(\w+)(?::\w+)?\}", ".*", expr)
    return re.sub(r"\$(\w+)", ".*", expr)


def _get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5.0) as resp:
        return json.load(resp)


def _wait_for(probe: Callable[[], Any], what: str, procs: list[subprocess.Popen[bytes]]) -> None:
    deadline = time.monotonic() + STARTUP_DEADLINE
    while time.monotonic() < deadline:
        dead = [p.args for p in procs if p.poll() is not None]
        if dead:
            pytest.fail(f"{dead[0]!r} exited before {what}")
        try:
            if probe():
                return
        except (urllib.error.URLError, OSError, ValueError):
            pass
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Prometheus that has scraped every job's exporters a few times."""
    binary = require_tool("prometheus")
    tmp = tmp_path_factory.mktemp("replicas")
    sim_port, prometheus_port = free_port(), free_port()
    sim_url = f"http://127.0.0.1:{sim_port}"
    procs: list[subprocess.Popen[bytes]] = []

    def start(name: str, *args: str) -> None:
        with (tmp / f"{name}.log").open("wb") as out:
            procs.append(subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT))

    try:
        start("simulator", *CLI, "simulate", "--listen", f"127.0.0.1:{sim_port}",
              "--log.level", "warning")  # fmt: skip
        _wait_for(lambda: _get_json(f"{sim_url}/_sim/peerdb/faults"), "the simulator", procs)
        config = tmp / "exporter.yaml"
        config.write_text(yaml.safe_dump(exporter_config(sim_url)), encoding="utf-8")
        scrape_configs = []
        for job, replicas in JOBS.items():
            addresses = []
            for i, flags in enumerate(replicas):
                port = free_port()
                addresses.append(f"127.0.0.1:{port}")
                start(f"{job}-{i}", *CLI, "run", "--config", str(config),
                      "--web.listen-address", f"127.0.0.1:{port}", "--log.level", "error",
                      *flags)  # fmt: skip
            scrape_configs.append({"job_name": job, "static_configs": [{"targets": addresses}]})
        (tmp / "prometheus.yml").write_text(
            yaml.safe_dump(
                {
                    "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
                    "scrape_configs": scrape_configs,
                }
            ),
            encoding="utf-8",
        )
        start("prometheus", binary, f"--config.file={tmp / 'prometheus.yml'}",
              f"--storage.tsdb.path={tmp / 'data'}",
              f"--web.listen-address=127.0.0.1:{prometheus_port}", "--log.level=warn")  # fmt: skip
        url = f"http://127.0.0.1:{prometheus_port}"
        exporters = sum(len(r) for r in JOBS.values())
        scraped = (
            f"count(count_over_time(dataflow_exporter_build_info[5m]) >= {SCRAPES_WANTED})"
            f" == {exporters}"
        )
        _wait_for(lambda: _instant(url, scraped, None), "every exporter scraped", procs)
        yield url
    finally:
        for proc in reversed(procs):
            stop_process(proc)


def _instant(base: str, expr: str, at: float | None) -> dict[tuple[tuple[str, str], ...], float]:
    params = {"query": expr} | ({"time": f"{at:.3f}"} if at is not None else {})
    answer = _get_json(f"{base}/api/v1/query?{urllib.parse.urlencode(params)}")
    assert answer["status"] == "success", answer
    return {
        tuple(sorted(r["metric"].items())): float(r["value"][1]) for r in answer["data"]["result"]
    }


def test_some_queries_count_targets_and_entities() -> None:
    exprs = " ".join(q.expr for q in QUERIES)
    for family in ("dataflow_exporter_target_up", "peerdb_mirror_status", "etlworks_flow"):
        assert family in exprs


@pytest.mark.parametrize("query", QUERIES, ids=str)
def test_a_count_is_the_same_for_one_exporter_an_ha_pair_and_two_shards(
    prometheus: str, query: Query
) -> None:
    # The three jobs poll at slightly different moments: an entity changing state in between
    # makes one instant disagree, so a few instants a second apart are tried, and a gauge that
    # moves with every poll (lag) is compared within a quarter, far from counted twice.
    answers: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for step in range(8):
        at = time.time() - 3 - step
        answers = {job: _instant(prometheus, for_job(query.expr, job), at) for job in JOBS}
        single = answers["single"]
        if single and all(
            a.keys() == single.keys() and all(a[k] == pytest.approx(single[k], rel=0.25) for k in a)
            for a in answers.values()
        ):
            return
    pytest.fail(f"{query.expr}: the jobs disagree at every instant tried, last {answers}")
