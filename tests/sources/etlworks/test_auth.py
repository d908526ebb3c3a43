"""Etlworks credentials: access tokens issued, reused, re-issued before they can expire and once
after a 401 (shared by concurrent requests), and API keys; against the simulator over loopback."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import aiohttp

from dataflow_exporter.simulator.etlworks import EtlworksSimulator
from tests.sources.etlworks.rig import PASSWORD, FakeClock, rig
from tests.support.helpers import Polled, poll_once, samples, value

ISSUE_PATH = "/rest/v1/token-auth/issue"
FOUND = "etlworks_flow_found"


def auth_errors(polled: Polled) -> float | None:
    return value(polled.text, "dataflow_exporter_target_errors_total", target="etl", reason="auth")


async def test_a_login_gets_one_token_that_later_polls_reuse() -> None:
    async with rig() as r:
        for _ in range(3):
            assert (await r.poll()).ok
            r.clock.advance(60)
        assert r.etl.token_issues == 1


async def test_the_token_is_reissued_at_nine_minutes_not_before() -> None:
    async with rig(token_ttl=3600) as r:
        assert (await r.poll()).ok
        r.clock.advance(539)
        assert (await r.poll()).ok
        assert r.etl.token_issues == 1
        r.clock.advance(1)
        assert (await r.poll()).ok
        assert r.etl.token_issues == 2
        assert r.etl.rejected_expired == 0


async def test_a_shorter_token_max_age_is_honoured() -> None:
    async with rig(token_ttl=3600) as r:
        assert (await r.poll(token_max_age="2m")).ok
        r.clock.advance(120)
        assert (await r.poll(token_max_age="2m")).ok
        assert r.etl.token_issues == 2


async def test_an_expired_token_is_reissued_once_for_many_concurrent_requests() -> None:
    flows = 60
    async with rig(flows=flows, token_ttl=120) as r:
        ids = [f.id for f in r.etl.flows]
        assert (await r.poll(flows=ids)).ok
        r.clock.advance(180)  # past the upstream's expiry, well before our own re-issue
        polled = await r.poll(flows=ids)
        assert polled.ok
        assert r.etl.rejected_expired > 1  # several requests carried the expired token at once
        assert r.etl.token_issues == 2
        assert r.etl.faults.requests[ISSUE_PATH] == 2
        assert auth_errors(polled) == 0
        found = {
            dict(ls)["flow_id"]: v for (n, ls), v in samples(polled.text).items() if n == FOUND
        }
        assert found == {str(f): 1 for f in ids}


async def test_a_token_expiring_in_the_middle_of_a_poll_is_reissued_once() -> None:
    sims: list[EtlworksSimulator] = []

    def expiring_after_first_page(clock: FakeClock) -> Callable[[], float]:
        # The upstream's time jumps past the token's expiry once the first page was served.
        def now() -> float:
            pages = sims[0].faults.requests["/rest/v1/flows"] if sims else 0
            return clock.now + (600.0 if pages >= 2 else 0.0)

        return now

    async with rig(expiring_after_first_page, flows=250, token_ttl=300) as r:
        sims.append(r.etl)
        polled = await r.poll()
        assert polled.ok
        assert r.etl.token_issues == 2
        assert r.etl.rejected_expired == 1
        assert r.etl.faults.requests["/rest/v1/flows"] == 3  # two pages, the second twice
        assert len(polled.scheduler.store.targets) == 1
        assert value(polled.text, "dataflow_exporter_target_up", target="etl") == 1


async def test_a_wrong_password_is_an_auth_failure_issued_once_and_never_shown() -> None:
    async with rig(flows=30) as r:
        ids = [f.id for f in r.etl.flows]
        polled = await r.poll(password="not-the-password", flows=ids)
        state = polled.store.targets["etl"]
        assert not polled.ok
        assert state.last_error_reason == "auth"
        assert "401" in (state.last_error or "")
        assert "Bad credentials" in (state.last_error or "")
        assert r.etl.faults.requests[ISSUE_PATH] == 1
        assert auth_errors(polled) == 1
        assert "not-the-password" not in polled.text + (state.last_error or "")


async def test_an_issue_answering_5xx_fails_the_poll_and_is_retried_at_the_next() -> None:
    async with rig() as r, aiohttp.ClientSession() as control:
        faults = f"{r.sim.url}/_sim/etlworks/faults"
        assert (await control.post(faults, json={"kind": "status", "status": 500})).status == 200
        polled = await r.poll()
        assert polled.store.targets["etl"].last_error_reason == "http_5xx"
        assert (await control.delete(faults)).status == 200
        r.clock.advance(30)
        assert (await r.poll()).ok
        assert r.etl.token_issues == 1


async def test_an_api_key_is_sent_as_bearer_and_never_exchanged() -> None:
    async with rig(api_key="etl-api-key-0b9e", login=None, password=None) as r:
        for _ in range(2):
            assert (await r.poll(api_key="etl-api-key-0b9e")).ok
            r.clock.advance(3600)
        assert r.etl.faults.requests[ISSUE_PATH] == 0


async def test_a_wrong_api_key_is_an_auth_failure() -> None:
    async with rig(api_key="etl-api-key-0b9e") as r:
        polled = await r.poll(api_key="another-api-key")
        assert polled.store.targets["etl"].last_error_reason == "auth"
        assert "another-api-key" not in polled.text


async def test_secrets_are_read_from_files(tmp_path: Path) -> None:
    password_file = tmp_path / "etl-password"
    password_file.write_text(PASSWORD + "\n")
    async with rig() as r:
        cfg = r.config(password_file=str(password_file))
        del cfg["targets"][0]["password"]
        assert (await poll_once(cfg, r.session, r.scheduler)).ok
        assert r.etl.token_issues == 1


async def test_a_replaced_token_is_masked_no_longer_and_the_new_one_is() -> None:
    from dataflow_exporter import known_secrets

    async with rig(token_ttl=3600) as r:
        assert (await r.poll()).ok
        (first,) = r.etl.tokens
        r.clock.advance(540)
        assert (await r.poll()).ok
        second = next(t for t in r.etl.tokens if t != first)
    assert known_secrets.redact(f"{first} {second}") == f"{first} {known_secrets.MASK}"
