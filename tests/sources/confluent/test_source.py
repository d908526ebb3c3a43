"""The Confluent source end to end: the exporter polling the simulated Confluent REST API."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest

from dataflow_exporter.simulator import Simulation
from dataflow_exporter.simulator.confluent import ConfluentSimulator
from dataflow_exporter.upstream import new_session
from tests.sources.confluent.upstream_enums import MIRROR_TOPIC_STATUS
from tests.support.helpers import (
    Labels,
    Polled,
    poll_once,
    promtool_check_metrics,
    samples,
    series_of,
    value,
)

CLUSTER = "lkc-sim001"
ALL_MIRRORS = f"/kafka/v3/clusters/{CLUSTER}/links/-/mirrors"
LINKS = f"/kafka/v3/clusters/{CLUSTER}/links"
NOW = 1_800_000_000.0


def frozen(at: float = NOW) -> Callable[[], float]:
    return lambda: at


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def config(sim: Simulation, interval: str = "30s", **target: Any) -> dict[str, Any]:
    base = {"name": "dr", "system": "confluent", "url": sim.url, "cluster_id": CLUSTER}
    return {"global": {"interval": interval, "timeout": "5s"}, "targets": [base | target]}


def confluent(sim: Simulation) -> ConfluentSimulator:
    system = sim.systems["confluent"]
    assert isinstance(system, ConfluentSimulator)
    return system


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with new_session() as shared:
        yield shared


async def sim_get(sim: Simulation, path: str) -> Any:
    async with aiohttp.ClientSession() as http, http.get(sim.url + path) as resp:
        return await resp.json()


async def sim_post(sim: Simulation, path: str, body: dict[str, Any]) -> None:
    async with aiohttp.ClientSession() as http, http.post(sim.url + path, json=body) as resp:
        assert resp.status == 200


def upstream(text: str, prefix: str = "confluent_") -> dict[tuple[str, Labels], float]:
    return {k: v for k, v in samples(text).items() if k[0].startswith(prefix)}


def current_statuses(text: str, topic: str) -> list[str]:
    """The states a topic's one-hot status series mark with 1 (one, unless it is gone)."""
    return [
        dict(labels)["status"]
        for (name, labels), v in samples(text).items()
        if name == "confluent_mirror_topic_status" and ("topic", topic) in labels and v == 1
    ]


def errors(polled: Polled, reason: str) -> float | None:
    return value(polled.text, "dataflow_exporter_target_errors_total", target="dr", reason=reason)


# -- the "done when" ---------------------------------------------------------------------


@pytest.mark.slow
async def test_200_topics_of_12_partitions_come_from_one_inventory_request_and_a_call_per_link(
    session: aiohttp.ClientSession,
) -> None:
    options = {"confluent": {"topics": 200, "partitions": 12}}
    async with Simulation(options, clock=frozen()) as sim:
        first = await poll_once(config(sim), session)
        second = await poll_once(config(sim), session, first.scheduler)
        requests = dict(confluent(sim).faults.requests)
        payload = await sim_get(sim, ALL_MIRRORS)
    assert first.ok and second.ok
    # Per poll: the two inventory calls and one per link for its tasks, none per topic.
    assert requests == {
        "total": 8,
        ALL_MIRRORS: 2,
        LINKS: 2,
        f"{LINKS}/dr-link": 2,
        f"{LINKS}/partner-link": 2,
    }
    found = samples(second.text)
    assert len(payload["data"]) == 200
    for item in payload["data"]:
        topic = (("cluster_id", CLUSTER), ("link", item["link_name"]), ("target", "dr"))
        topic_labels = frozenset({*topic, ("topic", item["mirror_topic_name"])})
        lags = [entry["lag"] for entry in item["mirror_lags"]]
        assert found[("confluent_mirror_topic_lag", topic_labels)] == sum(lags)
        assert found[("confluent_mirror_topic_max_partition_lag", topic_labels)] == max(lags)
        for entry in item["mirror_lags"]:
            labels = topic_labels | {("partition", str(entry["partition"]))}
            assert found[("confluent_mirror_partition_lag", labels)] == entry["lag"]
            offset = found.get(("confluent_mirror_partition_last_source_fetch_offset", labels))
            expected = entry["last_source_fetch_offset"]
            assert offset == (expected if expected >= 0 else None)
    promtool_check_metrics(second.text)


# -- discovery, selection and sharding -----------------------------------------------------------


async def test_every_link_and_topic_of_the_scenario_is_exported() -> None:
    async with Simulation({"confluent": {}}, clock=frozen()) as sim:
        polled = await poll_once(config(sim))
    assert polled.ok
    assert (
        value(polled.text, "confluent_link_status", link="partner-link", status="UNAVAILABLE") == 1
    )
    assert value(polled.text, "confluent_link_error", link="partner-link") == 1
    assert series_of(polled.text, "confluent_link_error")[1]["error"] == "AUTHENTICATION_ERROR"
    assert (
        value(polled.text, "confluent_mirror_topic_status", topic="payments", status="PAUSED") == 1
    )
    assert (
        value(polled.text, "confluent_mirror_topic_status", topic="audit-log", status="FAILED") == 1
    )
    assert (
        value(
            polled.text,
            "confluent_mirror_topic_error",
            topic="audit-log",
            error="SOURCE_TOPIC_MAY_BE_DELETED",
        )
        == 1
    )
    assert len(series_of(polled.text, "confluent_mirror_topic_partitions")) == 12
    promtool_check_metrics(polled.text)


async def test_explicit_links_use_the_per_link_endpoint_only() -> None:
    async with Simulation({"confluent": {}}, clock=frozen()) as sim:
        polled = await poll_once(config(sim, links=["partner-link"]))
        requests = dict(confluent(sim).faults.requests)
    assert polled.ok
    assert requests == {
        "total": 3,
        LINKS: 1,
        f"{LINKS}/partner-link/mirrors": 1,
        f"{LINKS}/partner-link": 1,
    }
    assert {s["link"] for s in series_of(polled.text, "confluent_mirror_topic_status")} == {
        "partner-link"
    }
    assert {s["link"] for s in series_of(polled.text, "confluent_link_status")} == {"partner-link"}


async def test_an_explicit_link_that_does_not_exist_is_skipped_not_an_error() -> None:
    async with Simulation({"confluent": {}}, clock=frozen()) as sim:
        polled = await poll_once(config(sim, links=["dr-link", "no-such-link"]))
        requests = dict(confluent(sim).faults.requests)
    assert polled.ok
    assert requests[f"{LINKS}/no-such-link/mirrors"] == 1
    assert {s["link"] for s in series_of(polled.text, "confluent_mirror_topic_status")} == {
        "dr-link"
    }


async def test_link_and_topic_filters_narrow_what_is_exported() -> None:
    async with Simulation({"confluent": {"links": 3, "topics": 20}}, clock=frozen()) as sim:
        polled = await poll_once(
            config(
                sim,
                links={"exclude": ["^partner"]},
                topics={"include": ["^topic-"], "exclude": ["7$"]},
            )
        )
    topics = series_of(polled.text, "confluent_mirror_topic_partitions")
    assert {s["link"] for s in series_of(polled.text, "confluent_link_status")} == {
        "dr-link",
        "link-02",
    }
    assert topics and all(s["topic"].startswith("topic-") for s in topics)
    assert not any(s["topic"].endswith("7") for s in topics)


async def test_three_shards_together_export_exactly_what_one_replica_exports(
    session: aiohttp.ClientSession,
) -> None:
    async with Simulation(
        {"confluent": {"links": 4, "topics": 60, "partitions": 3}}, clock=frozen()
    ) as sim:
        whole = upstream((await poll_once(config(sim), session)).text)
        parts = [
            upstream(
                (await poll_once(config(sim) | {"shard": {"index": i, "count": 3}}, session)).text
            )
            for i in range(3)
        ]
    assert all(parts)
    assert sum(len(p) for p in parts) == len(whole)
    assert {k: v for p in parts for k, v in p.items()} == whole


async def test_a_topic_removed_between_polls_loses_its_series(
    session: aiohttp.ClientSession,
) -> None:
    async with Simulation({"confluent": {}}, clock=frozen()) as sim:
        before = await poll_once(config(sim), session)
        await sim_post(sim, "/_sim/confluent/overrides/orders", {"_dropped": True})
        after = await poll_once(config(sim), session, before.scheduler)
    assert value(before.text, "confluent_mirror_topic_lag", topic="orders") is not None
    assert after.ok
    assert not [k for k in samples(after.text) if ("topic", "orders") in k[1]]
    assert value(after.text, "confluent_mirror_topic_lag", topic="payments") is not None


async def test_an_unknown_mirror_topic_error_is_exported_and_counted(
    session: aiohttp.ClientSession,
) -> None:
    async with Simulation({"confluent": {}}, clock=frozen()) as sim:
        await sim_post(
            sim, "/_sim/confluent/overrides/orders", {"mirror_topic_error": "BRAND NEW ERROR"}
        )
        polled = await poll_once(config(sim), session)
    assert polled.ok
    assert (
        value(polled.text, "confluent_mirror_topic_error", topic="orders", error="BRAND_NEW_ERROR")
        == 1
    )
    counted = value(
        polled.text,
        "dataflow_exporter_unknown_values_total",
        system="confluent",
        field="mirror_topic_error",
    )
    assert counted == 1
    promtool_check_metrics(polled.text)


@pytest.mark.parametrize("status", MIRROR_TOPIC_STATUS)
async def test_every_mirror_status_served_is_exported(status: str) -> None:
    async with Simulation({"confluent": {"topics": 1}}, clock=frozen()) as sim:
        await sim_post(sim, "/_sim/confluent/overrides/orders", {"mirror_status": status})
        polled = await poll_once(config(sim))
    statuses = {
        dict(labels)["status"]: v
        for (name, labels), v in samples(polled.text).items()
        if name == "confluent_mirror_topic_status"
    }
    assert statuses == {s: (1.0 if s == status else 0.0) for s in MIRROR_TOPIC_STATUS}


async def test_partition_metrics_off_exports_topic_lag_only() -> None:
    async with Simulation({"confluent": {}}, clock=frozen()) as sim:
        polled = await poll_once(config(sim, partition_metrics=False))
    assert polled.ok
    assert series_of(polled.text, "confluent_mirror_partition_lag") == []
    assert series_of(polled.text, "confluent_mirror_partition_last_source_fetch_offset") == []
    assert len(series_of(polled.text, "confluent_mirror_topic_lag")) == 12


async def test_partitions_never_fetched_have_lag_but_no_fetch_offset() -> None:
    async with Simulation({"confluent": {}}, clock=frozen()) as sim:
        polled = await poll_once(config(sim))
    partition = {"topic": "payments", "partition": "0"}
    assert value(polled.text, "confluent_mirror_partition_lag", **partition) == 0
    assert (
        value(polled.text, "confluent_mirror_partition_last_source_fetch_offset", **partition)
        is None
    )
    # A topic still being set up has fetched nothing from any partition.
    pending = {"topic": "inventory-changes"}
    assert (
        value(polled.text, "confluent_mirror_topic_status", status="PENDING_MIRROR", **pending) == 1
    )
    assert series_of(polled.text, "confluent_mirror_partition_lag") != []
    assert not [
        s
        for s in series_of(polled.text, "confluent_mirror_partition_last_source_fetch_offset")
        if s["topic"] == "inventory-changes"
    ]


# -- pagination ----------------------------------------------------------------------------------


async def test_pages_are_followed_until_next_is_null() -> None:
    async with Simulation({"confluent": {"topics": 20, "page_size": 7}}, clock=frozen()) as sim:
        polled = await poll_once(config(sim))
        requests = dict(confluent(sim).faults.requests)
    assert polled.ok
    assert requests[ALL_MIRRORS] == 3
    assert len(series_of(polled.text, "confluent_mirror_topic_partitions")) == 20


async def test_more_pages_than_max_pages_fail_the_poll_instead_of_dropping_topics() -> None:
    async with Simulation({"confluent": {"topics": 20, "page_size": 7}}, clock=frozen()) as sim:
        polled = await poll_once(config(sim, max_pages=2))
        requests = dict(confluent(sim).faults.requests)
    assert not polled.ok
    assert errors(polled, "schema") == 1
    assert requests[ALL_MIRRORS] == 2
    assert "max_pages" in (polled.store.targets["dr"].last_error or "")


async def test_a_next_link_to_another_origin_is_refused() -> None:
    options = {"confluent": {"page_size": 5, "link_origin": "https://pkc-elsewhere.example"}}
    async with Simulation(options, clock=frozen()) as sim:
        polled = await poll_once(config(sim, username="KEY", password="SECRET-VALUE"))
        requests = dict(confluent(sim).faults.requests)
    assert not polled.ok
    assert errors(polled, "schema") == 1
    assert "another origin" in (polled.store.targets["dr"].last_error or "")
    assert requests[ALL_MIRRORS] == 1


# -- auth -----------------------------------------------------------------------------------------


async def test_the_right_api_key_and_secret_are_accepted() -> None:
    options = {"confluent": {"api_key": "KEY123", "api_secret": "s3cret-value"}}
    async with Simulation(options, clock=frozen()) as sim:
        polled = await poll_once(config(sim, username="KEY123", password="s3cret-value"))
    assert polled.ok


async def test_a_wrong_secret_is_an_auth_error_that_never_shows_the_secret(tmp_path: Any) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text("wrong-secret-value\n")
    options = {"confluent": {"api_key": "KEY123", "api_secret": "s3cret-value"}}
    async with Simulation(options, clock=frozen()) as sim:
        polled = await poll_once(config(sim, username="KEY123", password_file=str(secret_file)))
    state = polled.store.targets["dr"]
    assert not polled.ok
    assert errors(polled, "auth") == 1
    assert "HTTP 401" in (state.last_error or "")
    assert "Authentication failed" in (state.last_error or "")
    assert "wrong-secret-value" not in polled.text + (state.last_error or "")


async def test_a_bearer_token_is_sent_when_configured() -> None:
    async with Simulation({"confluent": {"token": "tok-abcdef"}}, clock=frozen()) as sim:
        good = await poll_once(config(sim, token="tok-abcdef"))
        bad = await poll_once(config(sim, token="tok-other"))
    assert good.ok
    assert not bad.ok
    assert errors(bad, "auth") == 1


# -- rate limits, cardinality ----------------------------------------------------------------------


async def test_an_html_429_is_rate_limited_and_retry_after_sets_the_next_delay() -> None:
    async with Simulation({"confluent": {}}, clock=frozen()) as sim:
        await sim_post(sim, "/_sim/confluent/faults", {"kind": "rate_limit", "retry_after": 120})
        polled = await poll_once(config(sim, interval="30s"))
    poller = polled.scheduler.pollers["dr"]
    poller.rng = random.Random(0)
    assert not polled.ok
    assert errors(polled, "rate_limited") == 1
    assert poller.retry_after == 120
    assert 120 * 0.9 <= poller.next_delay() <= 120 * 1.1


async def test_without_retry_after_repeated_429s_back_off_exponentially(
    session: aiohttp.ClientSession,
) -> None:
    async with Simulation({"confluent": {}}, clock=frozen()) as sim:
        await sim_post(sim, "/_sim/confluent/faults", {"kind": "rate_limit"})
        polled = await poll_once(config(sim, interval="30s"), session)
        for _ in range(2):
            polled = await poll_once(config(sim, interval="30s"), session, polled.scheduler)
    poller = polled.scheduler.pollers["dr"]
    assert errors(polled, "rate_limited") == 3
    assert poller.retry_after is None
    assert polled.store.targets["dr"].consecutive_failures == 3
    poller.rng = random.Random(0)
    # 30 s doubled per failure after the first: 30, 60, 120.
    assert 120 * 0.9 <= poller.next_delay() <= 120 * 1.1


async def test_the_simulators_own_rate_limit_answers_html_429() -> None:
    async with Simulation({"confluent": {"rate_limit": 1}}, clock=frozen()) as sim:
        polled = await poll_once(config(sim))
        requests = dict(confluent(sim).faults.requests)
    assert not polled.ok
    assert requests["total"] == 2
    assert errors(polled, "rate_limited") == 1


async def test_max_series_drops_deterministically_counts_and_stays_valid() -> None:
    async with Simulation({"confluent": {"topics": 50, "partitions": 6}}, clock=frozen()) as sim:
        polled = await poll_once(config(sim, max_series=1000))
    assert polled.ok
    kept = upstream(polled.text)
    dropped = value(polled.text, "dataflow_exporter_series_dropped_total", target="dr")
    assert len(kept) == 1000
    assert dropped is not None and dropped > 0
    # Topic state is kept whole; per-partition series are the first to go.
    assert len(series_of(polled.text, "confluent_mirror_topic_status")) == 50 * 12
    assert series_of(polled.text, "confluent_mirror_partition_last_source_fetch_offset") == []
    promtool_check_metrics(polled.text)


# -- the simulated upstream over time -------------------------------------------------------------


async def test_lag_of_a_paused_topic_grows_while_an_active_one_keeps_fetching(
    session: aiohttp.ClientSession,
) -> None:
    clock = Clock()
    async with Simulation({"confluent": {}}, clock=clock) as sim:
        before = await poll_once(config(sim), session)
        clock.now += 50
        after = await poll_once(config(sim), session, before.scheduler)

    def lag(text: str, topic: str) -> float:
        found = value(text, "confluent_mirror_topic_lag", topic=topic)
        assert found is not None
        return found

    def fetched(text: str, topic: str) -> float:
        found = value(
            text, "confluent_mirror_partition_last_source_fetch_offset", topic=topic, partition="1"
        )
        assert found is not None
        return found

    assert lag(after.text, "payments") > lag(before.text, "payments")
    assert fetched(after.text, "payments") == fetched(before.text, "payments")
    assert fetched(after.text, "orders") > fetched(before.text, "orders")


async def test_the_cycling_topic_changes_state_and_its_state_time_follows(
    session: aiohttp.ClientSession,
) -> None:
    clock = Clock()
    async with Simulation({"confluent": {"state_period": 60}}, clock=clock) as sim:
        seen = []
        polled: Polled | None = None
        for _ in range(5):
            polled = await poll_once(config(sim), session, polled.scheduler if polled else None)
            status = current_statuses(polled.text, "inventory-changes")
            changed = value(
                polled.text,
                "confluent_mirror_topic_state_change_timestamp_seconds",
                topic="inventory-changes",
            )
            seen.append((status, changed))
            clock.now += 60
    assert seen == [
        (["PENDING_MIRROR"], NOW),
        (["ACTIVE"], NOW + 60),
        (["PENDING_STOPPED"], NOW + 120),
        (["STOPPED"], NOW + 180),
        ([], None),
    ]


async def test_the_demo_target_polls_the_simulator() -> None:
    async with Simulation(
        {"confluent": {"api_key": "DEMOKEY", "api_secret": "demo-secret"}}
    ) as sim:
        target = confluent(sim).demo_target(sim.url)
        polled = await poll_once(
            {"global": {"interval": "30s", "timeout": "5s"}, "targets": [target]}
        )
    assert polled.ok
    assert value(polled.text, "dataflow_exporter_target_up", target="confluent-demo") == 1
