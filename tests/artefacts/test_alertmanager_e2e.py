"""Alerts end to end: the simulator's broken entities page through the real Prometheus and the real
Alertmanager, grouped and routed as alerts/alertmanager.example.yml says.

The exporter polls the simulator (its demo scenario has a failed PeerDB mirror, a failed Confluent
mirror topic, a Feldera connector with a fatal error and a failed Etlworks flow), plus a target
that nothing answers. Prometheus loads the project's rules generated from alerts/config.yml with
every `for:` set to 0s (so nothing waits minutes) and sends to Alertmanager, which runs the
example routing with short group timings and both receivers pointed at a webhook server in this
test. Without prometheus or prometheus-alertmanager the test skips, except under CI.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web

from tests.support.helpers import alerts_generator
from tests.support.ports import free_port
from tests.support.stack import exporter_config, stop_process
from tests.support.tools import require_tool

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "dataflow_exporter.cli"]
DEADLINE = 120.0
# alert name -> labels that must name the broken thing, for each broken simulator entity.
EXPECTED: dict[str, dict[str, str]] = {
    "PeerDBMirrorFailed": {"target": "peerdb-demo", "mirror": "users_mysql_to_ch"},
    "ConfluentMirrorTopicFailed": {"target": "confluent-demo", "topic": "audit-log"},
    "FelderaConnectorFatalError": {"target": "feldera-demo", "pipeline": "payments-enrichment"},
    "EtlworksFlowFailed": {"target": "etlworks-demo", "flow_id": "5010"},
    "DataflowExporterTargetDown": {"target": "unreachable-demo"},
}


def _fast_rules() -> str:
    """The shipped rules with every `for:` at 0s, through the one config."""
    gen = alerts_generator()
    config = gen.load_config()
    fast = {"alerts": {alert: {"for": "0s"} for alert in config["alerts"]}}
    text: str = gen.rules_file(gen.merged(config, fast))
    return text


def _alertmanager_config(webhook: str) -> dict[str, Any]:
    """The example routing, with short timings and every receiver sent to `webhook`."""
    config: dict[str, Any] = yaml.safe_load(
        (ROOT / "alerts" / "alertmanager.example.yml").read_text(encoding="utf-8")
    )
    config["route"].update(group_wait="1s", group_interval="1s", repeat_interval="1h")
    for receiver in config["receivers"]:
        for hook in receiver["webhook_configs"]:
            hook["url"] = f"{webhook}/{receiver['name']}"
    return config


class Stack:
    """Simulator, exporter, Prometheus and Alertmanager as subprocesses logging to files."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.procs: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, *args: str) -> None:
        """Start one process, its output in `<name>.log`."""
        with (self.tmp / f"{name}.log").open("wb") as out:
            popen = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
        self.procs.append((name, popen))

    def check_alive(self) -> None:
        """Fail with the log of any process that has exited."""
        for name, popen in self.procs:
            if popen.poll() is not None:
                log = (self.tmp / f"{name}.log").read_text(errors="replace")[-3000:]
                pytest.fail(f"{name} exited with {popen.returncode}:\n{log}")

    def stop(self) -> None:
        """Stop every process, newest first."""
        for _, popen in reversed(self.procs):
            stop_process(popen)


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    running = Stack(tmp_path)
    try:
        yield running
    finally:
        running.stop()


async def test_broken_entities_arrive_grouped_with_labels_severity_summary_and_runbook(
    stack: Stack, tmp_path: Path
) -> None:
    prometheus = require_tool("prometheus")
    alertmanager = require_tool("prometheus-alertmanager")
    received: list[dict[str, Any]] = []

    async def hook(request: web.Request) -> web.Response:
        body = await request.json()
        received.append({**body, "path": request.match_info["receiver"]})
        return web.Response()

    app = web.Application()
    app.router.add_post("/{receiver}", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        sim_port, exporter_port = free_port(), free_port()
        prometheus_port, am_port = free_port(), free_port()
        sim_url = f"http://127.0.0.1:{sim_port}"

        (tmp_path / "alertmanager.yml").write_text(
            yaml.safe_dump(_alertmanager_config(f"http://127.0.0.1:{port}")), encoding="utf-8"
        )
        stack.start(
            "alertmanager", alertmanager, f"--config.file={tmp_path / 'alertmanager.yml'}",
            f"--storage.path={tmp_path / 'am'}", f"--web.listen-address=127.0.0.1:{am_port}",
            "--cluster.listen-address=", "--log.level=warn",
        )  # fmt: skip
        stack.start(
            "simulator", *CLI, "simulate", "--listen", f"127.0.0.1:{sim_port}",
            "--log.level", "warning",
        )  # fmt: skip
        (tmp_path / "exporter.yaml").write_text(
            yaml.safe_dump(exporter_config(sim_url)), encoding="utf-8"
        )
        stack.start(
            "exporter", *CLI, "run", "--config", str(tmp_path / "exporter.yaml"),
            "--web.listen-address", f"127.0.0.1:{exporter_port}", "--log.level", "error",
        )  # fmt: skip
        (tmp_path / "rules.yml").write_text(_fast_rules(), encoding="utf-8")
        (tmp_path / "prometheus.yml").write_text(
            yaml.safe_dump(
                {
                    "global": {
                        "scrape_interval": "1s",
                        "scrape_timeout": "1s",
                        "evaluation_interval": "1s",
                    },
                    "rule_files": [str(tmp_path / "rules.yml")],
                    "alerting": {
                        "alertmanagers": [
                            {"static_configs": [{"targets": [f"127.0.0.1:{am_port}"]}]}
                        ]
                    },
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
        stack.start(
            "prometheus", prometheus, f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{prometheus_port}", "--log.level=warn",
        )  # fmt: skip

        def arrived() -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
            found = {}
            for note in received:
                for alert in note["alerts"]:
                    name = alert["labels"]["alertname"]
                    wanted = EXPECTED.get(name)
                    if wanted and wanted.items() <= alert["labels"].items():
                        found[name] = (note, alert)
            return found

        deadline = time.monotonic() + DEADLINE
        while len(arrived()) < len(EXPECTED) and time.monotonic() < deadline:
            stack.check_alive()
            await asyncio.sleep(0.5)
        found = arrived()
        assert sorted(found) == sorted(EXPECTED), f"missing: {set(EXPECTED) - set(found)}"

        # The shipped link template, filled with the address Prometheus scraped the exporter at.
        template = alerts_generator().load_config()["runbook_url"]
        base = template.replace("{{ $labels.instance }}", f"127.0.0.1:{exporter_port}")
        for name, (note, alert) in found.items():
            severity = alert["labels"]["severity"]
            # Routed by severity, grouped per alert and target as the example says.
            assert note["path"] == (
                "dataflow-pager" if severity == "critical" else "dataflow-tickets"
            )
            assert note["receiver"] == note["path"]
            assert note["groupLabels"] == {"alertname": name, "target": EXPECTED[name]["target"]}
            assert note["status"] == "firing"
            assert alert["annotations"]["summary"].strip()
            assert alert["annotations"]["runbook_url"] == f"{base}#{name.lower()}"
        assert {n: a["labels"]["severity"] for n, (_, a) in found.items()} == {
            "PeerDBMirrorFailed": "critical",
            "ConfluentMirrorTopicFailed": "critical",
            "FelderaConnectorFatalError": "critical",
            "EtlworksFlowFailed": "warning",
            "DataflowExporterTargetDown": "warning",
        }
    finally:
        await runner.cleanup()
