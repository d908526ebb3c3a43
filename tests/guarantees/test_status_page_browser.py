"""The status page as a person sees it: the demo scenario with one target failing, loaded in a real
headless Chromium (Debian's, driven by Playwright); and its "Broken now" section over the demo's
broken entities, read as rendered.

The simulator and the exporter run in-process; PeerDB starts answering 500 after the exporter's
first good poll, so its row shows DOWN with the reason and its last known entity counts. Secrets
planted in the config (the PeerDB and Etlworks passwords) must appear nowhere in the page. A
screenshot is left in the test's tmp directory. Without Playwright or Chromium the test skips,
except under CI.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import aiohttp
import pytest
import yaml

from dataflow_exporter.cli import demo_config
from dataflow_exporter.exporter import Exporter
from dataflow_exporter.simulator import SIMULATORS, Simulation
from tests.support.tools import missing, require_tool

# A real Chromium renders the page.
pytestmark = pytest.mark.slow

PEERDB_SECRET = "pg-ui-Pa55-status-page-5c1d"
ETLWORKS_SECRET = "etl-Pa55-status-page-9e2b"
FAILING = "peerdb-demo"
HEALTHY = ("confluent-demo", "etlworks-demo", "feldera-demo")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


async def _launch(pw: Any, chromium: str, tmp_path: Path) -> Any:
    """Debian's Chromium, headless, with a profile of its own in the test's directory."""
    return await pw.chromium.launch_persistent_context(
        str(tmp_path / "profile"),
        executable_path=chromium,
        headless=True,
        args=CHROMIUM_FLAGS,
        viewport={"width": 1280, "height": 900},
    )


@pytest.fixture
def playwright_api() -> ModuleType:
    try:
        from playwright import async_api
    except ImportError:
        missing("playwright (PyPI)")
    return async_api


@pytest.fixture
def chromium() -> str:
    return require_tool("chromium")


async def _until(condition: Any, what: str) -> None:
    for _ in range(300):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@asynccontextmanager
async def _demo_up(
    options: dict[str, dict[str, Any]], tmp_path: Path
) -> AsyncIterator[tuple[Exporter, Simulation]]:
    """The simulator and the exporter polling it, once every target is up."""
    async with Simulation(options) as sim:
        config = tmp_path / "demo.yaml"
        config.write_text(yaml.safe_dump(demo_config(sim.url, sim.systems, "1s")))
        exporter = Exporter(config, "127.0.0.1:0")
        await exporter.start()
        try:
            targets = exporter.store.targets
            await _until(lambda: all(t.up for t in targets.values()), "every target to be up")
            yield exporter, sim
        finally:
            await exporter.stop()


@pytest.fixture
async def demo_with_a_failing_target(tmp_path: Path) -> AsyncIterator[tuple[str, str]]:
    """(exporter URL, simulator URL): the demo, once PeerDB has gone down after a good poll."""
    options: dict[str, dict[str, Any]] = {
        "peerdb": {"password": PEERDB_SECRET},
        "confluent": {},
        "feldera": {},
        "etlworks": {"password": ETLWORKS_SECRET},
    }
    async with _demo_up(options, tmp_path) as (exporter, sim):
        async with aiohttp.ClientSession() as session:
            fault = {"kind": "status", "status": 500}
            async with session.post(f"{sim.url}/_sim/peerdb/faults", json=fault) as resp:
                assert resp.status == 200
        await _until(lambda: not exporter.store.targets[FAILING].up, "PeerDB to be down")
        yield f"http://127.0.0.1:{exporter.port}", sim.url


async def test_status_page_shows_a_person_what_is_up_what_is_down_and_why(
    playwright_api: ModuleType,
    chromium: str,
    demo_with_a_failing_target: tuple[str, str],
    tmp_path: Path,
) -> None:
    base, sim_url = demo_with_a_failing_target
    async with playwright_api.async_playwright() as pw:
        browser = await _launch(pw, chromium, tmp_path)
        try:
            page = await browser.new_page()
            console: list[str] = []
            page.on("console", lambda message: console.append(message.text))
            response = await page.goto(base + "/")
            assert response is not None and response.ok
            assert "Content-Security-Policy" in response.headers or (
                "content-security-policy" in response.headers
            )
            await page.screenshot(path=str(tmp_path / "status-page.png"), full_page=True)
            seen = await _what_a_person_sees(page)
            dom = await page.content()
            followed = {href: await _follow(page, base, href) for href in seen["links"]}
        finally:
            await browser.close()

    assert seen["title"] == "dataflow-exporter"
    assert seen["summary"].startswith("4 targets, 1 down.")
    assert seen["down_count_colour"] != seen["text_colour"], "the down count stands out"
    # The page's policy allows its own style and needs nothing it refuses.
    assert [m for m in console if "Content Security Policy" in m] == []

    rows = seen["rows"]
    assert rows[0]["target"] == FAILING, "a down target is listed first"
    assert sorted(row["target"] for row in rows) == sorted([FAILING, *HEALTHY])
    by_name = {row["target"]: row for row in rows}

    failing = by_name[FAILING]
    assert failing["status"] == "DOWN"
    assert failing["error"].startswith("http_5xx: HTTP 500")
    assert "mirrors STATUS_FAILED: 1" in failing["entities"]
    assert "(as of the last success)" in failing["entities"]
    for name in HEALTHY:
        row = by_name[name]
        assert row["status"].startswith("UP"), name
        assert row["error"] == "", name
        assert row["last_success"].endswith("s ago"), name
        assert "as of the last success" not in row["entities"], name
    assert "mirror topics FAILED: 1" in by_name["confluent-demo"]["entities"]
    assert "connectors Unhealthy: 1" in by_name["feldera-demo"]["entities"]
    assert "flows error: 1" in by_name["etlworks-demo"]["entities"]
    assert failing["status_background"] not in {row["status_background"] for row in rows[1:]}

    assert followed["/metrics"].startswith("# HELP dataflow_exporter_target_up")
    assert followed["/-/healthy"] == "Healthy."
    assert followed["/-/ready"] == "Ready."

    for secret in (PEERDB_SECRET, ETLWORKS_SECRET):
        assert secret not in dom
    assert sim_url.removeprefix("http://") not in dom, "upstream URLs are config, not shown"
    assert (tmp_path / "status-page.png").read_bytes().startswith(b"\x89PNG")


async def _what_a_person_sees(page: Any) -> dict[str, Any]:
    """The page's visible text, cell by cell, and the colours that carry meaning."""
    result: dict[str, Any] = await page.evaluate(
        """() => {
            const text = el => el.innerText.trim();
            const rows = [...document.querySelectorAll('#targets tbody tr')].map(tr => {
                const cells = [...tr.cells].map(text);
                return {
                    target: cells[0], system: cells[1], status: cells[2],
                    last_success: cells[3], error: cells[5], entities: cells[6],
                    status_background: getComputedStyle(tr.cells[2]).backgroundColor,
                };
            });
            const summary = document.querySelector('p');
            return {
                title: document.title,
                summary: text(summary),
                down_count_colour: getComputedStyle(document.getElementById('down-count')).color,
                text_colour: getComputedStyle(summary).color,
                links: [...summary.querySelectorAll('a')].map(a => a.getAttribute('href')),
                rows,
            };
        }"""
    )
    return result


async def _follow(page: Any, base: str, href: str) -> str:
    """Click the page's link to `href` and return the text it leads to, then come back."""
    async with page.expect_navigation():
        await page.click(f'a[href="{href}"]')
    assert page.url == base + href
    body: str = (await page.inner_text("body")).strip()
    await page.go_back()
    return body


# The demo's broken entities (docs/simulator.md), as the page names them (`data-entity`), with
# the state and the upstream's own error text each must show ("" where the upstream gives none).
BROKEN = {
    ("peerdb-demo", "users_mysql_to_ch"): ("STATUS_FAILED", ""),
    ("peerdb-demo", "events_pg_to_sf"): ("STATUS_PAUSED", ""),
    ("feldera-demo", "inventory-rollup"): (
        "Stopped",
        "FATAL error on input endpoint 'stock_levels.kafka_in': Broker: Unknown topic or partition",
    ),
    ("feldera-demo", "ledger-audit"): ("Paused", ""),
    ("feldera-demo", "payments-enrichment / payments / kafka_in"): (
        "fatal error, Unhealthy",
        "Kafka error: Broker: Unknown topic or partition",
    ),
    ("confluent-demo", "partner-link"): (
        "UNAVAILABLE",
        "AUTHENTICATION_ERROR: Please check your api key and secret",
    ),
    ("confluent-demo", "dr-link / audit-log"): ("FAILED", "SOURCE_TOPIC_MAY_BE_DELETED"),
    ("confluent-demo", "dr-link / payments"): ("PAUSED", ""),
    ("confluent-demo", "partner-link / partner-events"): ("SOURCE_UNAVAILABLE", ""),
    ("etlworks-demo", "5010 / Sync customers to Salesforce"): (
        "error",
        "java.sql.SQLTransientConnectionException: Connection is not available, "
        "request timed out after 30000ms.",
    ),
}
# A pipeline's checkpoint and a link's task are listed beside their pipeline or link, under
# their own kind: (target, kind, entity) -> (state, the upstream's words).
BROKEN_PARTS = {
    ("feldera-demo", "pipeline checkpoint", "market-data"): (
        "checkpoint delayed",
        "InputEndpointBarrier: Trades.kafka_in",
    ),
    ("feldera-demo", "pipeline checkpoint", "ledger-audit"): (
        "cannot checkpoint",
        "StorageRequired",
    ),
    ("confluent-demo", "link task", "dr-link / ConsumerOffsetSync"): (
        "IN_ERROR",
        "AUTHORIZATION_ERROR: Not authorized to describe consumer group 'billing'",
    ),
}
PART_KINDS = {kind for _, kind, _ in BROKEN_PARTS}
# Named demo entities that are healthy; none may be listed as broken.
HEALTHY_ENTITIES = {
    ("peerdb-demo", "orders_pg_to_ch"),
    ("feldera-demo", "clickstream"),
    ("feldera-demo", "market-data"),
    ("feldera-demo", "payments-enrichment"),
    ("confluent-demo", "dr-link"),
    ("confluent-demo", "dr-link / orders"),
    ("etlworks-demo", "5052 / Load web events to BigQuery"),
}


@pytest.fixture
async def demo(tmp_path: Path) -> AsyncIterator[str]:
    """The exporter's URL once every demo target is up."""
    options: dict[str, dict[str, Any]] = {name: {} for name in SIMULATORS}
    async with _demo_up(options, tmp_path) as (exporter, _):
        yield f"http://127.0.0.1:{exporter.port}"


async def test_broken_now_names_each_broken_entity_with_the_upstreams_words(
    playwright_api: ModuleType, chromium: str, demo: str, tmp_path: Path
) -> None:
    async with playwright_api.async_playwright() as pw:
        browser = await _launch(pw, chromium, tmp_path)
        try:
            page = await browser.new_page()
            response = await page.goto(demo + "/")
            assert response is not None and response.ok
            # Every long error text opens on a click; what a person then reads is checked.
            for summary in await page.query_selector_all("#broken details summary"):
                await summary.click()
            await page.screenshot(path=str(tmp_path / "broken-now.png"), full_page=True)
            seen = await _broken_now(page)
        finally:
            await browser.close()

    assert seen["first_heading"] == "Broken now", "the page opens with what is broken"
    rows = {
        (row["target"], row["entity"]): row for row in seen["rows"] if row["kind"] not in PART_KINDS
    }
    parts = {
        (row["target"], row["kind"], row["entity"]): row
        for row in seen["rows"]
        if row["kind"] in PART_KINDS
    }
    assert {key: (row["state"], row["error"]) for key, row in parts.items()} == BROKEN_PARTS
    for key, (state, error) in BROKEN.items():
        assert key in rows, f"{key} is not listed; listed: {sorted(rows)}"
        assert rows[key]["state"] == state, key
        assert error in rows[key]["error"], key
        assert rows[key]["since"].endswith("ago") or "ago (first seen)" in rows[key]["since"], key
    assert not HEALTHY_ENTITIES & rows.keys(), "healthy entities are not listed"
    amber = {row["target"]: row["background"] for row in seen["targets"]}
    assert len(set(amber.values())) == 1, "every demo target is up with broken entities: amber"
    assert seen["up_background"] not in amber.values()


async def _broken_now(page: Any) -> dict[str, Any]:
    """The broken-now rows as rendered text, and the target rows' status colours."""
    result: dict[str, Any] = await page.evaluate(
        """() => {
            const text = el => el.innerText.trim();
            const listed = document.querySelectorAll('#broken tbody tr[data-entity]');
            const rows = [...listed].map(tr => ({
                target: tr.dataset.target, kind: tr.dataset.kind, entity: tr.dataset.entity,
                state: text(tr.cells[3]), since: text(tr.cells[4]), error: text(tr.cells[5]),
            }));
            const targets = [...document.querySelectorAll('#targets tbody tr')].map(tr => ({
                target: tr.dataset.target,
                background: getComputedStyle(tr.cells[2]).backgroundColor,
            }));
            const probe = document.createElement('tr');
            probe.className = 'up';
            probe.innerHTML = '<td class="status">x</td>';
            document.querySelector('#targets tbody').appendChild(probe);
            const up_background = getComputedStyle(probe.cells[0]).backgroundColor;
            probe.remove();
            const first_heading = text(document.querySelector('h2'));
            return {first_heading, rows, targets, up_background};
        }"""
    )
    return result
