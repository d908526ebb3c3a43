"""The poll loop: an exporter bug is its own reason, in one log line per poll; a URL's path
prefix is kept on every request and shown in the failure's log line; one broken target leaves
the others alone; failures back off."""

from __future__ import annotations

import io
import json
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from dataflow_exporter import scheduler as scheduler_mod
from dataflow_exporter.errors import Reason
from dataflow_exporter.log import configure
from dataflow_exporter.records import DetailFailure
from dataflow_exporter.simulator import Simulation
from dataflow_exporter.sources.base import PollResult
from dataflow_exporter.sources.registry import REGISTRY
from dataflow_exporter.upstream import new_session
from tests.support.helpers import poll_once, series_of, value
from tests.support.loopback import serving


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    out = io.StringIO()
    configure("info", "json", out)
    yield out
    configure()


async def test_an_exporter_bug_is_reason_internal_in_one_line_per_poll(
    simulation: Simulation, log_lines: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def buggy_poll(self: Any, client: Any) -> Any:
        nothing: dict[str, Any] = {}
        return nothing["mirrors"]  # a KeyError, as a bug in a source would raise

    monkeypatch.setattr(REGISTRY["peerdb"], "poll", buggy_poll)
    config = {"targets": [{"name": "pg", "system": "peerdb", "url": simulation.url}]}
    polled = await poll_once(config)
    await polled.scheduler.poll_all_once()

    assert value(polled.text, "dataflow_exporter_target_errors_total", reason="internal") == 1
    assert value(polled.text, "dataflow_exporter_target_errors_total", reason="schema") == 0
    lines = [json.loads(line) for line in log_lines.getvalue().splitlines()]
    assert [(e["event"], e["reason"]) for e in lines] == [("poll_finished", "internal")] * 2
    assert "KeyError: 'mirrors'" in lines[0]["error"]
    assert "Traceback" not in log_lines.getvalue()


@pytest.fixture
async def behind_a_proxy_prefix() -> AsyncIterator[str]:
    """The simulated upstreams served below /proxy, as a reverse proxy's path prefix puts them."""
    from aiohttp import web

    from dataflow_exporter.simulator import SIMULATORS
    from dataflow_exporter.simulator.app import build_app

    systems = {"peerdb": SIMULATORS["peerdb"](time.time, seed=1)}
    root = web.Application()
    root.add_subapp("/proxy", build_app(systems))
    async with serving(root) as url:
        yield url


async def test_a_path_prefix_in_url_is_kept_on_every_request(behind_a_proxy_prefix: str) -> None:
    url = f"{behind_a_proxy_prefix}/proxy/"
    polled = await poll_once({"targets": [{"name": "pg", "system": "peerdb", "url": url}]})
    assert polled.ok, polled.store.targets["pg"].last_error
    assert value(polled.text, "dataflow_exporter_target_up", target="pg") == 1


async def test_a_failed_polls_log_line_shows_the_url_with_its_prefix(
    behind_a_proxy_prefix: str, log_lines: io.StringIO
) -> None:
    url = f"{behind_a_proxy_prefix}/wrong-prefix"
    polled = await poll_once({"targets": [{"name": "pg", "system": "peerdb", "url": url}]})
    assert not polled.ok
    (line,) = [json.loads(text) for text in log_lines.getvalue().splitlines()]
    assert (line["reason"], line["url"]) == ("http_4xx", url)


async def test_a_failed_polls_error_names_the_whole_path_the_server_received(
    behind_a_proxy_prefix: str,
) -> None:
    # The prefix written into `url` twice: the error shows the doubled path, not a tidied one.
    url = f"{behind_a_proxy_prefix}/proxy/proxy"
    polled = await poll_once({"targets": [{"name": "pg", "system": "peerdb", "url": url}]})
    assert not polled.ok
    error = polled.store.targets["pg"].last_error or ""
    assert "GET /proxy/proxy/api/v1/mirrors/list" in error


async def test_a_broken_target_leaves_other_targets_untouched() -> None:
    async with Simulation({"peerdb": {}}) as good, Simulation({"peerdb": {}}) as bad:
        cfg = {
            "targets": [
                {"name": "good", "system": "peerdb", "url": good.url},
                {"name": "bad", "system": "peerdb", "url": bad.url},
            ]
        }
        async with new_session() as session:
            before = await poll_once(cfg, session)
            await session.post(f"{bad.url}/_sim/peerdb/faults", json={"kind": "truncated"})
            after = await poll_once(cfg, session, before.scheduler)
    assert after.store.targets["bad"].last_error_reason == "decode"
    assert after.store.targets["good"].up

    def good_series(text: str) -> list[dict[str, str]]:
        return [s for s in series_of(text, "peerdb_mirror_info") if s["target"] == "good"]

    assert good_series(after.text) == good_series(before.text)


def test_an_internal_error_names_the_exporters_last_frame_not_a_librarys() -> None:
    from dataflow_exporter import known_secrets
    from dataflow_exporter.scheduler import internal_error

    try:
        # No frame of the package: the report falls back to the library's last frame.
        json.loads("{")
    except ValueError as exc:
        fallback = internal_error(exc)
    assert fallback.startswith("internal error (please report it): JSONDecodeError: ")
    assert " at decoder.py:" in fallback

    try:
        # The exporter's code calls into urllib, which raises: the bug is named where ours is.
        known_secrets.forms(123)  # type: ignore[arg-type]
    except TypeError as exc:
        ours = internal_error(exc)
    assert " at known_secrets.py:" in ours


async def test_unknown_values_are_logged_up_to_a_cap_and_all_counted(
    simulation: Simulation, log_lines: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scheduler_mod, "MAX_UNKNOWN_LOGGED", 1)
    peerdb = simulation.systems["peerdb"]
    peerdb.overrides["orders_pg_to_ch"] = {"status": "STATUS_NEW_ONE"}
    peerdb.overrides["events_pg_to_sf"] = {"status": "STATUS_NEW_TWO"}
    config = {"targets": [{"name": "pg", "system": "peerdb", "url": simulation.url}]}
    polled = await poll_once(config)

    counted = value(
        polled.text, "dataflow_exporter_unknown_values_total", system="peerdb", field="flow_status"
    )
    assert counted == 2
    events = [json.loads(line)["event"] for line in log_lines.getvalue().splitlines()]
    assert events.count("unknown_value") == 1


FLOWS = 2000


def _flapping_poll(polls: list[int]) -> Any:
    """A source's poll whose detail call fails for all `FLOWS` entities every other poll,
    each with a new unknown state on the first."""

    async def poll(self: Any, client: Any) -> PollResult:
        polls.append(1)
        failing = len(polls) % 2 == 1
        result = PollResult(families=[])
        if failing:
            result.detail_failures = [
                DetailFailure(f"flow {n}", "executions", Reason.HTTP_5XX, f"500 for flow {n}")
                for n in range(FLOWS)
            ]
        if len(polls) == 1:
            result.unknown_values = [("execution_status", f"NEW_{n}") for n in range(FLOWS)]
        return result

    return poll


async def test_details_flapping_on_2000_entities_log_one_line_per_poll_each_way(
    simulation: Simulation, log_lines: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    polls: list[int] = []
    monkeypatch.setattr(REGISTRY["peerdb"], "poll", _flapping_poll(polls))
    config = {"targets": [{"name": "pg", "system": "peerdb", "url": simulation.url}]}
    polled = await poll_once(config)
    for _ in range(3):
        await polled.scheduler.poll_all_once()

    lines = [json.loads(line) for line in log_lines.getvalue().splitlines()]
    per_poll = [e["event"] for e in lines if e["event"] != "poll_finished"]
    assert per_poll == [
        "detail_failed",
        "unknown_value",
        "detail_recovered",
        "detail_failed",
        "detail_recovered",
    ]
    assert len(lines) == 4 + len(per_poll)  # and one poll_finished per poll
    summaries = [e for e in lines if e["event"] != "poll_finished"]
    failed, unknown, recovered = summaries[0], summaries[1], summaries[2]
    assert (failed["count"], failed["failing"], failed["reasons"]) == (
        FLOWS,
        FLOWS,
        {"http_5xx": FLOWS},
    )
    assert [s["entity"] for s in failed["sample"]] == [f"flow {n}" for n in range(5)]
    assert failed["sample"][0]["error"] == "500 for flow 0"
    assert (recovered["count"], recovered["failing"]) == (FLOWS, 0)
    assert [s["entity"] for s in recovered["sample"]] == [f"flow {n}" for n in range(5)]
    assert unknown["count"] == scheduler_mod.MAX_UNKNOWN_LOGGED
    assert [s["value"] for s in unknown["sample"]] == [f"NEW_{n}" for n in range(5)]
