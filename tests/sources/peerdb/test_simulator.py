"""The simulated PeerDB answers `mirrors/logs` and `peers/slots` as PeerDB's code does
(flow/cmd/mirror_status.go `ListMirrorLogs`, flow/connectors/postgres/client.go `getSlotInfo`)."""

from __future__ import annotations

from typing import Any

import aiohttp

from dataflow_exporter.simulator import Simulation

FIXED_NOW = 1_700_000_000.0


def fixed_clock() -> float:
    return FIXED_NOW


async def logs(sim: Simulation, body: dict[str, Any]) -> dict[str, Any]:
    async with aiohttp.ClientSession() as session:
        resp = await session.post(f"{sim.url}/api/v1/mirrors/logs", json=body)
        assert resp.status == 200
        answer: dict[str, Any] = await resp.json()
        return answer


async def test_logs_without_num_per_page_return_no_rows_but_the_total() -> None:
    async with Simulation({"peerdb": {}}, clock=fixed_clock) as sim:
        answer = await logs(sim, {"level": "error"})
    # `limit 0` in PeerDB's query: nothing, while `total` still counts the 3 + 1 error rows.
    assert answer["errors"] == []
    assert answer["total"] == 4


async def test_logs_filter_by_level_exactly_and_by_mirror_name_as_a_substring() -> None:
    async with Simulation({"peerdb": {}}, clock=fixed_clock) as sim:
        orders = await logs(sim, {"flowJobName": "orders_pg_to_ch", "numPerPage": 10})
        errors = await logs(
            sim, {"flowJobName": "orders_pg_to_ch", "level": "error", "numPerPage": 10}
        )
    assert {(r["flowName"], r["errorType"]) for r in orders["errors"]} == {
        ("orders_pg_to_ch", "warn"),
        ("orders_pg_to_ch_resync", "error"),
    }
    assert [r["flowName"] for r in errors["errors"]] == ["orders_pg_to_ch_resync"]


async def test_logs_are_newest_first_with_millisecond_times_and_page_by_before_id() -> None:
    async with Simulation({"peerdb": {}}, clock=fixed_clock) as sim:
        first = await logs(sim, {"level": "error", "numPerPage": 2})
        rest = await logs(
            sim, {"level": "error", "numPerPage": 2, "beforeId": first["errors"][-1]["id"]}
        )
    rows = first["errors"] + rest["errors"]
    assert [r["id"] for r in rows] == sorted((r["id"] for r in rows), reverse=True)
    assert len(rows) == 4
    # The failed mirror's newest error was 10 minutes before the start, in epoch milliseconds.
    failed = [r for r in rows if r["flowName"] == "users_mysql_to_ch"]
    assert failed[0]["errorTimestamp"] == (FIXED_NOW - 600) * 1000


async def slots(sim: Simulation) -> list[dict[str, Any]]:
    async with aiohttp.ClientSession() as session:
        resp = await session.get(f"{sim.url}/api/v1/peers/slots/pg_prod")
        answer: dict[str, Any] = await resp.json()
        data: list[dict[str, Any]] = answer["slotData"]
        return data


async def test_safe_wal_size_is_an_int64_string_from_0_35_3_only() -> None:
    async with Simulation({"peerdb": {"version": "0.35.2"}}, clock=fixed_clock) as sim:
        before = await slots(sim)
    async with Simulation({"peerdb": {"version": "0.35.3"}}, clock=fixed_clock) as sim:
        after = await slots(sim)
    assert all("safeWalSize" not in s and s["walStatus"] for s in before)
    assert all(isinstance(s["safeWalSize"], str) for s in after)
