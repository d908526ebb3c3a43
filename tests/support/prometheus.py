"""A real Prometheus server (Debian package) for tests: scrape a target, query its API."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from tests.support.ports import free_port
from tests.support.stack import stop_process
from tests.support.tools import require_tool


class Prometheus:
    """`prometheus` scraping one target every second, on loopback, in a temp directory."""

    def __init__(self, scrape_target: str) -> None:
        binary = require_tool("prometheus")
        self.dir = Path(tempfile.mkdtemp(prefix="prometheus-test-"))
        self.port = free_port()
        config = self.dir / "prometheus.yml"
        config.write_text(
            "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
            "scrape_configs:\n"
            "  - job_name: dataflow-exporter\n"
            f"    static_configs: [{{targets: ['{scrape_target}']}}]\n"
        )
        self.log = open(self.dir / "prometheus.log", "w")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={self.dir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def api(self, path: str, **params: str) -> Any:
        """GET an API path and return its `data`."""
        query = urllib.parse.urlencode(params)
        url = f"http://127.0.0.1:{self.port}/api/v1/{path}?{query}"
        with urllib.request.urlopen(url, timeout=10) as resp:
            body = json.loads(resp.read())
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """Instant query results."""
        result: list[dict[str, Any]] = self.api("query", query=expr)["result"]
        return result

    def wait_for_scrape(self, deadline: float = 60) -> None:
        """Wait until the target has been scraped successfully at least once."""
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            try:
                targets = self.api("targets")["activeTargets"]
                if targets and targets[0]["health"] == "up":
                    return
            except OSError:
                pass
            time.sleep(0.5)
        raise AssertionError(
            f"no successful scrape; log: {(self.dir / 'prometheus.log').read_text()[-2000:]}"
        )

    def last_scrape_error(self) -> str:
        """The last scrape error Prometheus reported ('' if none)."""
        targets = self.api("targets")["activeTargets"]
        return str(targets[0].get("lastError", "")) if targets else "no target"

    def stop(self) -> None:
        """Stop the server and remove its files."""
        stop_process(self.process, timeout=20)  # it flushes its TSDB head on the way out
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)
