"""PeerDB end to end: the exporter polling the simulated PeerDB over loopback HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from dataflow_exporter.simulator import Simulation
from dataflow_exporter.simulator.peerdb import PeerDBSimulator
from dataflow_exporter.sources import peerdb as peerdb_source
from dataflow_exporter.upstream import new_session
from tests.sources.peerdb.upstream_enums import FLOW_STATUS
from tests.support.helpers import poll_once, promtool_check_metrics, samples, series_of, value
from tests.support.loopback import serving

PASSWORD = "pdb-secret-7f3a9c"


@pytest.fixture
async def peerdb() -> AsyncIterator[Simulation]:
    async with Simulation({"peerdb": {"mirrors": 8, "password": PASSWORD}}) as sim:
        yield sim


def sim_of(sim: Simulation) -> PeerDBSimulator:
    system = sim.systems["peerdb"]
    assert isinstance(system, PeerDBSimulator)
    return system


def target(sim: Simulation, **extra: Any) -> dict[str, Any]:
    return {
        "global": {"interval": "30s", "timeout": "5s"},
        "targets": [
            {"name": "pg", "system": "peerdb", "url": sim.url, "password": PASSWORD, **extra}
        ],
    }


async def control(sim: Simulation, path: str, body: dict[str, Any]) -> None:
    async with aiohttp.ClientSession() as session:
        resp = await session.post(f"{sim.url}/_sim/peerdb/{path}", json=body)
        assert resp.status == 200, await resp.text()


async def test_discovery_exports_state_identity_rows_batches_and_slots(peerdb: Simulation) -> None:
    polled = await poll_once(target(peerdb))
    text = polled.text
    assert polled.ok
    assert (
        value(text, "peerdb_mirror_status", mirror="orders_pg_to_ch", status="STATUS_RUNNING") == 1
    )
    assert (
        value(text, "peerdb_mirror_status", mirror="orders_pg_to_ch", status="STATUS_PAUSED") == 0
    )
    assert (
        value(text, "peerdb_mirror_status", mirror="events_pg_to_sf", status="STATUS_PAUSED") == 1
    )
    assert (
        value(text, "peerdb_mirror_status", mirror="users_mysql_to_ch", status="STATUS_FAILED") == 1
    )
    assert len(series_of(text, "peerdb_mirror_status")) == 8 * 12
    info = {s["mirror"]: s for s in series_of(text, "peerdb_mirror_info")}
    assert info["nightly_events_qrep"]["cdc"] == "false"
    assert info["users_mysql_to_ch"]["source_type"] == "MYSQL"
    assert (value(text, "peerdb_mirror_rows_synced_total", mirror="orders_pg_to_ch") or 0) > 0
    assert value(text, "peerdb_mirror_last_batch_end_timestamp_seconds", mirror="orders_pg_to_ch")
    assert (
        value(text, "peerdb_mirror_last_batch_end_timestamp_seconds", mirror="nightly_events_qrep")
        is None
    )
    slots = {(s["peer"], s["slot"]) for s in series_of(text, "peerdb_slot_lag_bytes")}
    assert ("pg_prod", "peerflow_slot_orders_pg_to_ch") in slots
    assert not any(peer == "mysql_app" for peer, _ in slots)
    assert value(text, "peerdb_instance_status", status="INSTANCE_STATUS_READY") == 1
    assert value(text, "dataflow_exporter_target_up", target="pg") == 1
    promtool_check_metrics(text)


async def test_include_and_exclude_select_mirrors(peerdb: Simulation) -> None:
    polled = await poll_once(
        target(peerdb, mirrors={"include": ["^mirror_", "^orders"], "exclude": ["1$"]})
    )
    mirrors = {s["mirror"] for s in series_of(polled.text, "peerdb_mirror_info")}
    assert mirrors == {"orders_pg_to_ch", "mirror_00000", "mirror_00002"}


def _mirror_series(text: str, mirror: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (name, labels): v
        for (name, labels), v in samples(text).items()
        if name.startswith("peerdb_mirror_") and ("mirror", mirror) in labels
    }


async def test_explicit_list_selects_from_the_list_and_matches_discovery(
    peerdb: Simulation,
) -> None:
    names = ["orders_pg_to_ch", "nightly_events_qrep"]
    async with new_session() as session:
        explicit = await poll_once(target(peerdb, mirrors=names), session)
        discovered = await poll_once(target(peerdb), session)
    # The state comes from the list itself: no per-mirror status call, never a Temporal query.
    assert sim_of(peerdb).status_requests == []
    assert {s["mirror"] for s in series_of(explicit.text, "peerdb_mirror_info")} == set(names)
    for name in names:
        assert _mirror_series(explicit.text, name) == _mirror_series(discovered.text, name)
    info = {s["mirror"]: s for s in series_of(explicit.text, "peerdb_mirror_info")}
    assert info["nightly_events_qrep"]["source_peer"] == "pg_prod"  # QRep keeps its peers


async def test_a_listed_mirror_that_was_dropped_just_has_no_series(peerdb: Simulation) -> None:
    polled = await poll_once(target(peerdb, mirrors=["orders_pg_to_ch", "dropped_long_ago"]))
    assert polled.ok
    assert {s["mirror"] for s in series_of(polled.text, "peerdb_mirror_info")} == {
        "orders_pg_to_ch"
    }


async def test_a_mirror_that_vanishes_between_polls_loses_its_series(peerdb: Simulation) -> None:
    async with new_session() as session:
        first = await poll_once(target(peerdb), session)
        running = value(
            first.text, "peerdb_mirror_status", mirror="mirror_00001", status="STATUS_RUNNING"
        )
        assert running == 1
        await control(peerdb, "overrides/mirror_00001", {"_dropped": True})
        second = await poll_once(target(peerdb), session, first.scheduler)
    assert second.ok
    assert not [
        s for s in series_of(second.text, "peerdb_mirror_status") if s["mirror"] == "mirror_00001"
    ]
    assert not [
        s for s in series_of(second.text, "peerdb_slot_lag_bytes") if s["slot"].endswith("00001")
    ]


@pytest.mark.parametrize("raw", ["STATUS_HIBERNATING", 42])
async def test_an_unknown_state_is_exported_and_counted(peerdb: Simulation, raw: object) -> None:
    await control(peerdb, "overrides/orders_pg_to_ch", {"status": raw})
    polled = await poll_once(target(peerdb))
    assert (
        value(polled.text, "peerdb_mirror_status", mirror="orders_pg_to_ch", status=str(raw)) == 1
    )
    assert (
        value(
            polled.text, "peerdb_mirror_status", mirror="orders_pg_to_ch", status="STATUS_RUNNING"
        )
        == 0
    )
    assert (
        value(
            polled.text,
            "dataflow_exporter_unknown_values_total",
            system="peerdb",
            field="flow_status",
        )
        == 1
    )
    promtool_check_metrics(polled.text)


async def test_an_unknown_instance_status_is_exported_and_counted(peerdb: Simulation) -> None:
    await control(peerdb, "overrides/_instance", {"status": "INSTANCE_STATUS_HIBERNATING"})
    polled = await poll_once(target(peerdb))
    status = "INSTANCE_STATUS_HIBERNATING"
    assert value(polled.text, "peerdb_instance_status", status=status) == 1
    assert value(polled.text, "peerdb_instance_status", status="INSTANCE_STATUS_READY") == 0
    counted = value(
        polled.text,
        "dataflow_exporter_unknown_values_total",
        system="peerdb",
        field="instance_status",
    )
    assert counted == 1


@pytest.mark.parametrize("code", sorted(FLOW_STATUS))
async def test_numeric_state_codes_from_the_api_become_names(peerdb: Simulation, code: int) -> None:
    await control(peerdb, "overrides/orders_pg_to_ch", {"status": code})
    polled = await poll_once(target(peerdb, mirrors={"include": ["^orders"]}))
    current = [
        s["status"]
        for s in series_of(polled.text, "peerdb_mirror_status")
        if value(polled.text, "peerdb_mirror_status", **s) == 1
    ]
    assert current == [FLOW_STATUS[code]]


@pytest.mark.parametrize(
    ("password", "status"),
    [("wrong-password", 403), (None, 307)],
    ids=["wrong password: 403", "no credentials: redirect to sign-in"],
)
async def test_bad_or_missing_credentials_are_auth_failures(
    peerdb: Simulation, password: str | None, status: int
) -> None:
    cfg = target(peerdb)
    if password is None:
        del cfg["targets"][0]["password"]
    else:
        cfg["targets"][0]["password"] = password
    polled = await poll_once(cfg)
    state = polled.store.targets["pg"]
    assert not polled.ok
    assert state.last_error_reason == "auth"
    assert str(status) in (state.last_error or "")
    assert (
        value(polled.text, "dataflow_exporter_target_errors_total", target="pg", reason="auth") == 1
    )
    assert value(polled.text, "dataflow_exporter_target_up", target="pg") == 0


async def test_password_file_is_read_and_sent_with_an_empty_username(
    peerdb: Simulation, tmp_path: Any
) -> None:
    secret = tmp_path / "peerdb-password"
    secret.write_text(PASSWORD + "\n")
    cfg = target(peerdb)
    del cfg["targets"][0]["password"]
    cfg["targets"][0]["password_file"] = str(secret)
    assert (await poll_once(cfg)).ok


async def test_rate_limit_retry_after_is_honoured(peerdb: Simulation) -> None:
    await control(peerdb, "faults", {"kind": "rate_limit", "retry_after": 120})
    polled = await poll_once(target(peerdb))
    poller = polled.scheduler.pollers["pg"]
    assert polled.store.targets["pg"].last_error_reason == "rate_limited"
    assert poller.retry_after == 120
    assert poller.next_delay() >= 120 * 0.9


@pytest.mark.slow
async def test_slow_upstream_times_out_within_the_poll_budget(peerdb: Simulation) -> None:
    await control(peerdb, "faults", {"latency": 3})
    cfg = target(peerdb)
    cfg["targets"][0]["timeout"] = "0.5s"
    polled = await poll_once(cfg)
    assert polled.store.targets["pg"].last_error_reason == "timeout"
    assert polled.store.targets["pg"].last_duration < 2


@pytest.mark.slow
async def test_requests_per_target_respect_max_concurrency() -> None:
    async with Simulation({"peerdb": {"mirrors": 30}}) as sim:
        await control(sim, "faults", {"latency": 0.05})
        cfg = {
            "targets": [{"name": "pg", "system": "peerdb", "url": sim.url, "max_concurrency": 3}]
        }
        assert (await poll_once(cfg)).ok
        assert sim_of(sim).faults.max_in_flight == 3


@asynccontextmanager
async def proxy_refusing(sim: Simulation, path: str, answer: web.Response) -> AsyncIterator[str]:
    """A loopback proxy in front of the simulator that answers `path` itself with `answer`
    (as a proxy that does not route one name does) and forwards everything else."""
    async with aiohttp.ClientSession() as session:

        async def forward(request: web.Request) -> web.StreamResponse:
            if request.path == path:
                return answer
            async with session.request(
                request.method,
                sim.url + request.path_qs,
                headers={k: v for k, v in request.headers.items() if k.lower() != "host"},
                data=await request.read(),
            ) as upstream:
                body = await upstream.read()
                kept = {"Content-Type": upstream.headers.get("Content-Type", "text/plain")}
                return web.Response(status=upstream.status, body=body, headers=kept)

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", forward)
        async with serving(app) as url:
            yield url


ROWS_OF_ORDERS = "/api/v1/mirrors/total_rows_synced/orders_pg_to_ch"


@pytest.mark.parametrize(
    "answer",
    [
        lambda: web.Response(status=404, text="404 page not found"),
        # grpc-gateway's NotFound naming the mirror: about the entity, not the route.
        lambda: web.json_response(
            {"code": 5, "message": "mirror orders_pg_to_ch not found"}, status=404
        ),
    ],
)
async def test_one_mirrors_404_on_rows_fails_that_mirror_only(
    peerdb: Simulation, answer: Any
) -> None:
    async with proxy_refusing(peerdb, ROWS_OF_ORDERS, answer()) as url:
        config = target(peerdb)
        config["targets"][0]["url"] = url
        polled = await poll_once(config)
    assert polled.ok
    rows = series_of(polled.text, "peerdb_mirror_rows_synced_total")
    mirrors = {labels["mirror"] for labels in rows}
    assert "orders_pg_to_ch" not in mirrors
    assert len(mirrors) == 7  # every other mirror keeps its rows
    capability = "dataflow_exporter_target_capability"
    assert value(polled.text, capability, target="pg", capability="rows_synced") == 1
    (failure,) = polled.store.targets["pg"].detail_failures
    assert (failure.entity, failure.endpoint) == ("mirror orders_pg_to_ch", "rows_synced")


async def test_the_gateways_routing_404_for_one_mirror_marks_the_route_missing() -> None:
    async with Simulation({"peerdb": {"mirrors": 1, "password": PASSWORD}}) as sim:
        name = "orders_pg_to_ch"
        routing_404 = web.json_response(
            {"code": 5, "message": "Not Found", "details": []}, status=404
        )
        async with proxy_refusing(
            sim, f"/api/v1/mirrors/total_rows_synced/{name}", routing_404
        ) as url:
            config = target(sim)
            config["targets"][0]["url"] = url
            polled = await poll_once(config)
    capability = "dataflow_exporter_target_capability"
    assert value(polled.text, capability, target="pg", capability="rows_synced") == 0
    assert polled.store.targets["pg"].detail_failures == ()


async def test_a_not_found_naming_the_only_mirror_fails_its_detail_not_the_route() -> None:
    async with Simulation({"peerdb": {"mirrors": 1, "password": PASSWORD}}) as sim:
        name = "orders_pg_to_ch"
        about_the_mirror = web.json_response(
            {"code": 5, "message": f"mirror {name} not found", "details": []}, status=404
        )
        path = f"/api/v1/mirrors/total_rows_synced/{name}"
        async with proxy_refusing(sim, path, about_the_mirror) as url:
            config = target(sim)
            config["targets"][0]["url"] = url
            polled = await poll_once(config)
    capability = "dataflow_exporter_target_capability"
    assert value(polled.text, capability, target="pg", capability="rows_synced") == 1
    (failure,) = polled.store.targets["pg"].detail_failures
    assert (failure.entity, failure.endpoint) == (f"mirror {name}", "rows_synced")


# Mirror errors: one fleet-wide mirrors/logs call per poll ----------------------------------

LOGS = "/api/v1/mirrors/logs"


async def test_mirror_errors_cost_one_fleet_wide_call_and_count_each_mirror_exactly() -> None:
    knobs = {"mirrors": 8, "password": PASSWORD, "erroring_mirrors": ["orders_pg_to_ch"]}
    async with Simulation({"peerdb": knobs}) as sim:
        polled = await poll_once(target(sim))
        simulated = sim_of(sim)
    assert polled.ok
    (asked,) = simulated.log_requests
    assert asked == {"level": "error", "numPerPage": peerdb_source.MIRROR_LOG_PAGE_ROWS}
    text = polled.text
    # The simulator's erroring mirror logs error_rows (5) errors a minute apart; the warning and
    # the error of `orders_pg_to_ch_resync` (a name containing it) are not its errors.
    assert value(text, "peerdb_mirror_recent_errors", mirror="orders_pg_to_ch") == 5
    assert value(text, "peerdb_mirror_recent_errors", mirror="events_pg_to_sf") == 0
    failed_at = value(
        text, "peerdb_mirror_last_error_timestamp_seconds", mirror="users_mysql_to_ch"
    )
    assert failed_at == pytest.approx(simulated.started - 600, abs=0.001)
    # Its errors were logged 10, 20 and 30 minutes before: one inside the 15-minute window.
    assert value(text, "peerdb_mirror_recent_errors", mirror="users_mysql_to_ch") == 1
    assert (
        value(text, "peerdb_mirror_last_error_timestamp_seconds", mirror="events_pg_to_sf") is None
    )


@pytest.mark.parametrize(("rows", "pages"), [(90, 1), (150, 2), (1000, 3)])
async def test_mirror_log_pages_follow_full_pages_up_to_the_cap(rows: int, pages: int) -> None:
    knobs = {"mirrors": 5, "password": PASSWORD, "erroring_mirrors": ["orders_pg_to_ch"]}
    async with Simulation({"peerdb": {**knobs, "error_rows": rows}}) as sim:
        polled = await poll_once(target(sim))
        asked = sim_of(sim).log_requests
    assert polled.ok
    # 4 more error rows than `rows`: the failed mirror's 3 and one of `orders_pg_to_ch_resync`.
    assert len(asked) == pages
    assert "beforeId" not in asked[0]
    befores = [int(body["beforeId"]) for body in asked[1:]]
    assert all(b > 0 for b in befores)
    assert befores == sorted(befores, reverse=True)  # each page older than the last


async def test_a_failing_mirror_logs_call_fails_that_detail_and_the_target_stays_up(
    peerdb: Simulation,
) -> None:
    failing = web.json_response({"code": 13, "message": "catalog timeout"}, status=500)
    async with proxy_refusing(peerdb, LOGS, failing) as url:
        config = target(peerdb)
        config["targets"][0]["url"] = url
        polled = await poll_once(config)
    assert polled.ok
    assert series_of(polled.text, "peerdb_mirror_status")
    assert series_of(polled.text, "peerdb_mirror_recent_errors") == []
    (failure,) = polled.store.targets["pg"].detail_failures
    assert (failure.entity, failure.endpoint) == ("mirrors", "mirror_logs")


async def test_a_release_without_mirror_logs_gives_absent_series_not_a_failure(
    peerdb: Simulation,
) -> None:
    routing_404 = web.json_response({"code": 5, "message": "Not Found", "details": []}, status=404)
    async with proxy_refusing(peerdb, LOGS, routing_404) as url:
        config = target(peerdb)
        config["targets"][0]["url"] = url
        polled = await poll_once(config)
    assert polled.ok
    capability = "dataflow_exporter_target_capability"
    assert value(polled.text, capability, target="pg", capability="mirror_logs") == 0
    assert series_of(polled.text, "peerdb_mirror_recent_errors") == []
    assert polled.store.targets["pg"].detail_failures == ()


async def test_mirror_errors_can_be_switched_off(peerdb: Simulation) -> None:
    polled = await poll_once(target(peerdb, mirror_errors=False))
    assert polled.ok
    assert sim_of(peerdb).log_requests == []
    assert series_of(polled.text, "peerdb_mirror_recent_errors") == []


async def test_a_url_answering_the_gateways_routing_404_names_what_to_change(
    peerdb: Simulation,
) -> None:
    # flow-api's gateway answers every /api/v1/... path so: it serves /v1/... only.
    routing_404 = web.json_response({"code": 5, "message": "Not Found", "details": []}, status=404)
    async with proxy_refusing(peerdb, "/api/v1/mirrors/list", routing_404) as url:
        config = target(peerdb)
        config["targets"][0]["url"] = url
        polled = await poll_once(config)
    assert not polled.ok
    error = polled.store.targets["pg"].last_error or ""
    assert "set url to the PeerDB UI" in error
    assert "8113" in error


async def test_a_mirrors_last_error_is_kept_once_its_row_is_no_longer_read(
    peerdb: Simulation,
) -> None:
    # As when newer errors of other mirrors push its row out of the rows read per poll.
    await control(peerdb, "overrides/orders_pg_to_ch", {"_erroring": True})
    async with new_session() as session:
        first = await poll_once(target(peerdb), session)
        seen = value(
            first.text, "peerdb_mirror_last_error_timestamp_seconds", mirror="orders_pg_to_ch"
        )
        async with aiohttp.ClientSession() as plain:
            resp = await plain.delete(f"{peerdb.url}/_sim/peerdb/overrides")
            assert resp.status == 200
        second = await poll_once(target(peerdb), session, first.scheduler)
    assert seen is not None
    kept = value(
        second.text, "peerdb_mirror_last_error_timestamp_seconds", mirror="orders_pg_to_ch"
    )
    assert kept == seen
    assert value(second.text, "peerdb_mirror_recent_errors", mirror="orders_pg_to_ch") == 0
