"""`/runbooks`: the shipped runbooks served as one page, with the anchors the alerts link to."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import yaml

from dataflow_exporter import runbooks
from dataflow_exporter.exposition_cache import ExpositionCache
from dataflow_exporter.server import make_app
from dataflow_exporter.store import Store
from tests.support.helpers import alerts_generator
from tests.support.loopback import serving

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "alerts" / "dataflow-exporter.rules.yml"
INSTANCE = "{{ $labels.instance }}"


async def no_reload() -> list[str]:
    return []


@pytest.fixture
async def exporter() -> AsyncIterator[str]:
    """host:port of a running exporter app, as Prometheus' `instance` label names it."""
    store = Store()
    async with serving(make_app(store, ExpositionCache(store), no_reload)) as url:
        yield url.removeprefix("http://")


def ids(page: str) -> set[str]:
    return set(re.findall(r' id="([^"]+)"', page))


def shipped_links() -> dict[str, str]:
    """Every alert's runbook_url in the shipped rules file."""
    groups = yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"]
    return {
        rule["alert"]: rule["annotations"]["runbook_url"]
        for group in groups
        for rule in group["rules"]
    }


def test_a_heading_anchor_is_its_text_in_lower_case_without_punctuation() -> None:
    assert runbooks.anchor("PeerDBMirrorFailed") == "peerdbmirrorfailed"
    assert runbooks.anchor(" Before you start: variables ") == "before-you-start-variables"
    assert runbooks.anchor("snake_case-and-hyphen") == "snake_case-and-hyphen"


def test_every_heading_level_gets_its_anchor() -> None:
    page = runbooks.render("# One\n## Two\n###### Six\ntext\n")
    assert '<h1 id="one">One</h1>' in page
    assert '<h2 id="two">Two</h2>' in page
    assert '<h6 id="six">Six</h6>' in page


def test_a_repeated_heading_gets_a_numbered_anchor() -> None:
    assert ids(runbooks.render("## Fix\n## Fix\n## Fix\n")) == {"fix", "fix-1", "fix-2"}


def test_a_hash_line_inside_a_code_block_is_not_a_heading() -> None:
    page = runbooks.render("## Real\n```sh\n# a shell comment\n```\n")
    assert ids(page) == {"real"}
    assert "# a shell comment" in page


def test_markup_in_the_text_is_shown_not_run() -> None:
    page = runbooks.render("## A <b>\n<script>alert(1)</script> & more\n")
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in page
    assert '<h2 id="a-b">A &lt;b&gt;</h2>' in page


async def test_the_page_is_html_that_can_load_nothing(exporter: str) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://{exporter}/runbooks") as resp,
    ):
        assert resp.status == 200
        assert resp.content_type == "text/html"
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert resp.headers["Content-Security-Policy"].startswith("default-src 'none'")


def test_the_package_serves_docs_runbooks_unchanged() -> None:
    """alerts/generate.py copies the file; a stale copy would serve old runbooks."""
    served = ROOT / "dataflow_exporter" / runbooks.RESOURCE
    assert served.read_bytes() == (ROOT / "docs" / "runbooks.md").read_bytes()


async def test_every_alert_link_opens_its_section_on_the_exporter_that_raised_it(
    exporter: str,
) -> None:
    links = shipped_links()
    async with aiohttp.ClientSession() as session:
        for alert, link in links.items():
            if alert == "DataflowExporterAbsent":
                continue
            # Prometheus fills {{ $labels.instance }} with the scrape address of the exporter.
            url = link.replace(INSTANCE, exporter)
            assert url == f"http://{exporter}/runbooks#{alert.lower()}", alert
            page_url, _, fragment = url.partition("#")
            async with session.get(page_url) as resp:
                assert resp.status == 200, alert
                assert fragment in ids(await resp.text()), alert


def test_the_absent_alert_links_prometheus_targets_page() -> None:
    """No exporter answers when it fires, so none could serve its runbook."""
    assert shipped_links()["DataflowExporterAbsent"] == "{{ $externalURL }}/targets"


def test_the_generator_copies_the_runbooks_into_the_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.argv", ["generate.py", str(tmp_path)])
    alerts_generator().main()
    copy = tmp_path / "dataflow_exporter" / runbooks.RESOURCE
    assert copy.read_bytes() == (ROOT / "docs" / "runbooks.md").read_bytes()
