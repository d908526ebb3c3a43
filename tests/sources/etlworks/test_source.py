"""Etlworks end to end: the exporter polling the simulated Etlworks over loopback HTTP, with the
simulator and the exporter on one fake clock."""

from __future__ import annotations

import re
import time

import aiohttp
import pytest
from aioresponses import aioresponses
from structlog.testing import capture_logs

from dataflow_exporter.simulator.etlworks import HANG_SECONDS
from dataflow_exporter.sources import etlworks as etlworks_source
from dataflow_exporter.sources.etlworks import EtlworksSource, EtlworksTarget
from dataflow_exporter.upstream import UpstreamClient
from tests.sources.etlworks.rig import rig
from tests.sources.etlworks.upstream_enums import EXECUTION_STATUS
from tests.support.helpers import poll_once, promtool_check_metrics, samples, series_of, value

STATUS = "etlworks_flow_last_execution_status"
DURATION = "etlworks_flow_last_execution_duration_seconds"
EXECUTIONS = "etlworks_flow_executions_total"
START = "etlworks_flow_last_execution_start_timestamp_seconds"
END = "etlworks_flow_last_execution_end_timestamp_seconds"
LAST_SUCCESS = "etlworks_flow_last_success_timestamp_seconds"
RECORDS = "etlworks_flow_last_execution_records"
FOUND = "etlworks_flow_found"
RETRIES = "etlworks_flow_last_execution_retries"
PINNED = {
    "5003": "running",
    "5010": "error",
    "5021": "warning",
    "5034": "queued",
    "5047": "canceled",
    "5052": "success",
}


def current_status(text: str, flow_id: str) -> list[str]:
    return [
        s["status"]
        for s in series_of(text, STATUS)
        if s["flow_id"] == flow_id and value(text, STATUS, **s) == 1
    ]


def executions(text: str, flow_id: str) -> dict[str, float]:
    return {
        dict(ls)["status"]: v
        for (name, ls), v in samples(text).items()
        if name == EXECUTIONS and dict(ls)["flow_id"] == flow_id
    }


def ms(epoch: float) -> int:
    return round(epoch * 1000)


async def test_each_status_is_exported_one_hot_with_its_duration() -> None:
    async with rig() as r:
        polled = await r.poll()
        text = polled.text
        assert polled.ok
        for flow_id, status in PINNED.items():
            assert current_status(text, flow_id) == [status]
            assert len([s for s in series_of(text, STATUS) if s["flow_id"] == flow_id]) == 6
        for flow_id in ("5010", "5021", "5047", "5052"):
            start = value(text, START, flow_id=flow_id)
            end = value(text, END, flow_id=flow_id)
            assert start and end
            assert value(text, DURATION, flow_id=flow_id) == pytest.approx(end - start)
        assert value(text, DURATION, flow_id="5003") == pytest.approx(HANG_SECONDS, abs=1e-3)
        assert value(text, DURATION, flow_id="5034") == pytest.approx(240.0, abs=1e-3)
        assert value(text, END, flow_id="5003") is None
        assert value(text, RETRIES, flow_id="5010") == 2
        assert value(text, LAST_SUCCESS, flow_id="5052")
        assert value(text, LAST_SUCCESS, flow_id="5010") is None
        assert value(text, RECORDS, flow_id="5052", field="recordsProcessed")
        promtool_check_metrics(text)


async def test_a_running_execution_lasts_longer_as_time_passes() -> None:
    async with rig() as r:
        first = value((await r.poll()).text, DURATION, flow_id="5003")
        r.clock.advance(90)
        second = value((await r.poll()).text, DURATION, flow_id="5003")
        assert first is not None and second is not None
        assert second - first == pytest.approx(90, abs=1e-6)


async def test_a_new_execution_replaces_the_previous_one_and_is_counted_once() -> None:
    async with rig() as r:
        now = r.clock.now
        await r.override(
            5052, auditId=9001, status="success", started=ms(now - 100), ended=ms(now - 40)
        )
        first = await r.poll()
        assert executions(first.text, "5052") == {
            "success": 0,
            "warning": 0,
            "error": 0,
            "canceled": 0,
        }
        r.clock.advance(60)
        await r.override(5052, auditId=9002, status="running", started=ms(now + 30), ended=None)
        running = await r.poll()
        assert current_status(running.text, "5052") == ["running"]
        assert value(running.text, START, flow_id="5052") == pytest.approx(now + 30, abs=1e-3)
        assert value(running.text, END, flow_id="5052") is None
        r.clock.advance(60)
        await r.override(5052, status="error", ended=ms(now + 100))
        for _ in range(3):  # the same auditId seen again and again
            failed = await r.poll()
            assert executions(failed.text, "5052")["error"] == 1
            r.clock.advance(30)
        await r.override(
            5052, auditId=9003, status="error", started=ms(now + 200), ended=ms(now + 210)
        )
        again = await r.poll()
        assert executions(again.text, "5052") == {
            "success": 0,
            "warning": 0,
            "error": 2,
            "canceled": 0,
        }
        assert value(again.text, LAST_SUCCESS, flow_id="5052") == ms(now - 40) / 1000


async def test_flows_that_run_over_time_count_each_run_once() -> None:
    period = 100.0
    async with rig(flows=10, run_period=period) as r:
        flow = next(f for f in r.etl.flows if f.id == 4921)
        since = r.clock.now
        seen_states: set[str] = set()
        counted: dict[int, str] = {}
        text = ""
        for _ in range(60):  # six runs, polled ten times each
            truth = r.etl.execution(flow)
            seen_states.add(truth["status"])
            ended = truth["ended"]
            if truth["status"] in ("success", "warning", "error", "canceled") and ended >= ms(
                since
            ):
                counted[truth["auditId"]] = truth["status"]
            text = (await r.poll()).text
            r.clock.advance(period / 10)
        assert {"queued", "running"} <= seen_states
        expected = {
            s: float(list(counted.values()).count(s))
            for s in ("success", "warning", "error", "canceled")
        }
        assert executions(text, "4921") == expected
        assert sum(expected.values()) >= 5


async def test_unknown_metrics_shapes_do_not_fail_the_poll() -> None:
    async with rig() as r:
        await r.override(5052, metrics={"weird": True})
        await r.override(5021, metrics=[1, "two", {"name": "x", "recordsProcessed": "12"}])
        await r.override(5010, metrics="not a list")
        polled = await r.poll()
        assert polled.ok
        assert not [s for s in series_of(polled.text, RECORDS) if s["flow_id"] == "5052"]
        assert value(polled.text, RECORDS, flow_id="5021", field="recordsProcessed") == 12


async def test_an_unknown_flow_id_is_reported_on_that_flow_and_the_target_stays_up() -> None:
    async with rig() as r:
        with capture_logs() as logs:
            await r.poll(flows=[4921, 999999])
            polled = await r.poll(flows=[4921, 999999])
        reported = [e["flow_ids"] for e in logs if e["event"] == "flows_not_found"]
        assert reported == [[999999]]  # logged when it changes, not at every poll
        assert polled.ok
        assert value(polled.text, FOUND, flow_id="999999") == 0
        assert value(polled.text, FOUND, flow_id="4921") == 1
        assert not [s for s in series_of(polled.text, STATUS) if s["flow_id"] == "999999"]
        assert value(polled.text, "dataflow_exporter_target_up", target="etl") == 1
        assert r.etl.faults.requests["/rest/v1/flows"] == 0
        # A configured flow Etlworks does not know is broken now, the known one is not.
        listed = [(dict(b.names)["flow_id"], b.state) for b in polled.store.targets["etl"].broken]
        assert ("999999", "not found") in listed
        assert all(flow_id != "4921" for flow_id, _ in listed)


async def test_a_deleted_flow_leaves_discovery_and_loses_its_series() -> None:
    async with rig() as r:
        assert current_status((await r.poll()).text, "5047") == ["canceled"]
        await r.override(5047, _deleted=True)
        polled = await r.poll()
        assert not [s for s in series_of(polled.text, STATUS) if s["flow_id"] == "5047"]
        assert value(polled.text, FOUND, flow_id="5047") is None


async def test_discovery_pages_through_every_flow_and_filters_names() -> None:
    async with rig(flows=450) as r:
        polled = await r.poll(
            flows={"include": ["^Generated flow 001", "^Load "], "exclude": ["5$"]}
        )
        assert r.etl.faults.requests["/rest/v1/flows"] == 3
        found = {s["flow_id"] for s in series_of(polled.text, FOUND)}
        generated = {str(10_000 + i) for i in range(100, 200) if not str(i).endswith("5")}
        assert found == generated | {"4921", "5052"}


async def test_an_unknown_status_is_exported_and_counted() -> None:
    async with rig() as r:
        await r.override(5052, status="paused")
        polled = await r.poll()
        assert current_status(polled.text, "5052") == ["paused"]
        assert len([s for s in series_of(polled.text, STATUS) if s["flow_id"] == "5052"]) == 7
        assert (
            value(
                polled.text,
                "dataflow_exporter_unknown_values_total",
                system="etlworks",
                field="execution_status",
            )
            == 1
        )
        promtool_check_metrics(polled.text)


async def test_a_failed_poll_leaves_the_counters_as_they_were() -> None:
    async with rig() as r:
        now = r.clock.now
        assert (await r.poll()).ok
        await r.override(
            5052, auditId=7001, status="success", started=ms(now + 1), ended=ms(now + 5)
        )
        await r.control("faults", {"kind": "status", "status": 503})  # the whole poll fails
        r.clock.advance(30)
        failed = await r.poll()
        assert failed.store.targets["etl"].last_error_reason == "http_5xx"
        await r.control("faults", {"kind": "none"})
        r.clock.advance(30)
        polled = await r.poll()
        assert polled.ok
        assert executions(polled.text, "5052")["success"] == 1


async def test_one_flows_bad_answer_fails_that_flow_alone_and_counts_nothing_twice() -> None:
    async with rig() as r:
        now = r.clock.now
        assert (await r.poll()).ok
        await r.override(
            5052, auditId=7001, status="success", started=ms(now + 1), ended=ms(now + 5)
        )
        await r.override(5021, started={"broken": True})
        r.clock.advance(30)
        partial = await r.poll()
        assert partial.ok
        (failure,) = partial.store.targets["etl"].detail_failures
        assert failure.entity == "flow 5021 (Export invoices to SFTP)"
        assert (failure.endpoint, failure.reason) == ("executions", "schema")
        assert value(partial.text, "etlworks_flow_found", flow_id="5021") is None
        assert executions(partial.text, "5052")["success"] == 1
        await r.override(5021, started=ms(now - 3600))
        r.clock.advance(30)
        polled = await r.poll()
        assert polled.store.targets["etl"].detail_failures == ()
        assert executions(polled.text, "5052")["success"] == 1
        assert value(polled.text, "etlworks_flow_found", flow_id="5021") == 1


async def test_spring_error_bodies_give_the_reason_and_message() -> None:
    async with rig() as r:
        await r.control("faults", {"kind": "status", "status": 503})
        polled = await r.poll(api_key="k", login=None, password=None)
        state = polled.store.targets["etl"]
        assert state.last_error_reason == "http_5xx"
        assert "Service Unavailable" in (state.last_error or "")


async def test_replicas_split_flows_between_them() -> None:
    async with rig(flows=40) as r:
        shares = []
        for index in range(2):
            cfg = r.config() | {"shard": {"index": index, "count": 2}}
            polled = await poll_once(cfg, r.session, r.scheduler)
            shares.append({s["flow_id"] for s in series_of(polled.text, FOUND)})
        assert shares[0] and shares[1]
        assert not shares[0] & shares[1]
        assert shares[0] | shares[1] == {str(f.id) for f in r.etl.flows}


async def test_many_flows_pass_promtool() -> None:
    async with rig(flows=300, run_period=60) as r:
        polled = await r.poll()
        assert polled.ok
        assert len(series_of(polled.text, FOUND)) == 300
        assert {s["status"] for s in series_of(polled.text, STATUS)} == set(EXECUTION_STATUS)
        promtool_check_metrics(polled.text)


async def test_a_server_that_ignores_offset_is_listed_once_not_forever() -> None:
    cfg = EtlworksTarget(name="etl", system="etlworks", url="http://etl.test", api_key="k")
    source = EtlworksSource(cfg, time.time)
    every_flow = [{"id": i, "name": f"flow {i}"} for i in range(250)]
    never_ran = {"flowId": 1, "status": None, "auditId": None}
    with aioresponses() as mocked:
        mocked.get(re.compile(r".*/rest/v1/flows\b.*"), payload=every_flow, repeat=True)
        mocked.get(re.compile(r".*/rest/v1/executions/\d+$"), payload=never_ran, repeat=True)
        async with aiohttp.ClientSession() as session:
            result = await source.poll(UpstreamClient(session, cfg, source.auth()))
        listings = [url for (_, url) in mocked.requests if url.path == "/rest/v1/flows"]
    assert len(listings) == 2
    assert result.entities == {"flows no_execution": 250}


async def test_only_execution_answers_that_changed_are_parsed_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    parsed: list[str] = []
    original = etlworks_source.parse_execution

    def counting(body: bytes, what: str) -> etlworks_source.Execution | None:
        parsed.append(what)
        return original(body, what)

    monkeypatch.setattr(etlworks_source, "parse_execution", counting)
    async with rig() as r:
        first = await r.poll()
        flows = len(parsed)
        parsed.clear()
        now = r.clock.now
        await r.override(5052, auditId=9002, status="error", started=ms(now - 9), ended=ms(now))
        second = await r.poll()
    assert flows > 10
    assert parsed == ["GET /rest/v1/executions/5052"]
    assert current_status(first.text, "5052") == ["success"]
    assert current_status(second.text, "5052") == ["error"]
    # Unchanged flows keep exporting what their (unparsed) answers said.
    assert current_status(second.text, "5010") == ["error"]
    assert value(second.text, RETRIES, flow_id="5010") == 2
