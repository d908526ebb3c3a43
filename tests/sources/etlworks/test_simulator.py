"""The simulated Etlworks speaks like the documented API: token issue and expiry, Spring error
bodies, flow paging, FlowAuditRecord executions that move with time."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from dataflow_exporter import config as config_mod
from dataflow_exporter.cli import simulator_options
from dataflow_exporter.simulator import Simulation
from dataflow_exporter.simulator.etlworks import NAMED, EtlworksSimulator

FIXTURES = Path(__file__).parent / "fixtures"
LOGIN, PASSWORD = "exporter", "etl-secret-pass-5d1c"
SPRING_KEYS = {"status", "error", "message", "path"}


class FakeClock:
    """Time that moves only when told to."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def sim(clock: FakeClock) -> AsyncIterator[Simulation]:
    options = {"etlworks": {"login": LOGIN, "password": PASSWORD, "flows": 450, "token_ttl": 60}}
    async with Simulation(options, clock=clock) as simulation:
        yield simulation


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def etl(sim: Simulation) -> EtlworksSimulator:
    system = sim.systems["etlworks"]
    assert isinstance(system, EtlworksSimulator)
    return system


async def token(sim: Simulation, http: aiohttp.ClientSession) -> str:
    body = {"login": LOGIN, "password": PASSWORD}
    async with http.post(f"{sim.url}/rest/v1/token-auth/issue", json=body) as resp:
        assert resp.status == 200
        issued: str = (await resp.json())["token"]
        return issued


async def get(
    sim: Simulation, http: aiohttp.ClientSession, path: str, bearer: str | None
) -> tuple[int, Any, aiohttp.ClientResponse]:
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    async with http.get(f"{sim.url}/rest/v1/{path}", headers=headers) as resp:
        return resp.status, await resp.json(), resp


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text())


async def test_an_issued_token_works_until_its_ttl_then_gets_a_spring_401(
    sim: Simulation, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    bearer = await token(sim, http)
    assert (await get(sim, http, "executions/4921", bearer))[0] == 200
    clock.now += 60
    status, body, _ = await get(sim, http, "executions/4921", bearer)
    assert status == 401
    assert set(body) == SPRING_KEYS == set(fixture("error_401"))
    assert body["path"] == "/rest/v1/executions/4921"
    assert etl(sim).rejected_expired == 1


async def test_requests_without_a_token_or_with_a_made_up_one_are_refused(
    sim: Simulation, http: aiohttp.ClientSession
) -> None:
    assert (await get(sim, http, "flows", None))[0] == 401
    assert (await get(sim, http, "flows", "made-up"))[0] == 401


async def test_wrong_credentials_are_a_401_and_issue_nothing(
    sim: Simulation, http: aiohttp.ClientSession
) -> None:
    body = {"login": LOGIN, "password": "nope"}
    async with http.post(f"{sim.url}/rest/v1/token-auth/issue", json=body) as resp:
        assert resp.status == 401
        assert (await resp.json())["message"] == "Bad credentials"
    assert etl(sim).token_issues == 0


async def test_issuing_with_an_expired_bearer_attached_is_refused(
    sim: Simulation, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    stale = await token(sim, http)
    clock.now += 3600
    body = {"login": LOGIN, "password": PASSWORD}
    headers = {"Authorization": f"Bearer {stale}"}
    url = f"{sim.url}/rest/v1/token-auth/issue"
    async with http.post(url, json=body, headers=headers) as resp:
        assert resp.status == 401
    assert await token(sim, http)


async def test_flows_page_with_limit_and_offset_and_report_the_total(
    sim: Simulation, http: aiohttp.ClientSession
) -> None:
    bearer = await token(sim, http)
    status, first, resp = await get(sim, http, "flows", bearer)
    assert (status, len(first), resp.headers["X-Total-Count"]) == (200, 50, "450")
    assert set(first[0]) == set(fixture("flows_list")[0])
    _, capped, _ = await get(sim, http, "flows?limit=1000", bearer)
    assert len(capped) == 200
    _, last, _ = await get(sim, http, "flows?limit=200&offset=400", bearer)
    assert len(last) == 50
    status, body, _ = await get(sim, http, "flows?limit=x", bearer)
    assert status == 400
    assert set(body) == SPRING_KEYS


async def test_executions_carry_every_key_of_the_documented_record(
    sim: Simulation, http: aiohttp.ClientSession
) -> None:
    bearer = await token(sim, http)
    documented = set(fixture("execution_success")) - {"exception"}
    for flow in NAMED:
        status, body, _ = await get(sim, http, f"executions/{flow.id}", bearer)
        assert status == 200
        assert documented <= set(body)
        assert isinstance(body["auditId"], int)
        assert body["started"] is None or isinstance(body["started"], int)
        assert body["status"] in {"queued", "running", "success", "warning", "error", "canceled"}


async def test_unknown_and_malformed_flow_ids_get_spring_errors(
    sim: Simulation, http: aiohttp.ClientSession
) -> None:
    bearer = await token(sim, http)
    status, body, _ = await get(sim, http, "executions/999999", bearer)
    assert (status, set(body)) == (404, SPRING_KEYS)
    status, body, _ = await get(sim, http, "executions/abc", bearer)
    assert (status, set(body)) == (400, SPRING_KEYS)


async def test_a_cycling_flow_queues_runs_and_finishes_over_time(clock: FakeClock) -> None:
    simulator = EtlworksSimulator(clock, run_period=100)
    flow = next(f for f in simulator.flows if f.profile == "cycle")
    seen: list[tuple[int, str]] = []
    for _ in range(400):
        record = simulator.execution(flow)
        if not seen or seen[-1] != (record["auditId"], record["status"]):
            seen.append((record["auditId"], record["status"]))
        clock.now += 1
    runs: dict[int, list[str]] = {}
    for audit, status in seen:
        runs.setdefault(audit, []).append(status)
    complete = [states for states in runs.values() if states[0] == "queued"]
    assert len(complete) >= 3
    for states in complete[:-1]:
        assert states[:2] == ["queued", "running"]
        assert states[2] in {"success", "warning", "error", "canceled"}


def test_outcomes_over_many_runs_include_success_warning_and_error(clock: FakeClock) -> None:
    simulator = EtlworksSimulator(clock, flows=200, run_period=100)
    clock.now += 99  # late in every cycle: most flows have finished their run
    statuses = {simulator.execution(f)["status"] for f in simulator.flows}
    assert {"success", "warning", "error"} <= statuses


def test_the_demo_target_is_a_valid_login_config(clock: FakeClock) -> None:
    target = EtlworksSimulator(clock).demo_target("http://127.0.0.1:1")
    assert {"login", "password"} <= set(target)
    assert config_mod.parse({"targets": [target]}, env={}).targets[0].system == "etlworks"


def test_knobs_are_settable_from_the_command_line() -> None:
    options = simulator_options(["etlworks.flows=2000", "etlworks.token_ttl=30"])
    simulator = EtlworksSimulator(time.time, **options["etlworks"])
    assert len(simulator.flows) == 2000
    assert simulator.token_ttl == 30
