"""The policies every source shares: detail outcomes, capabilities, the worker pool, pages, and
`AnswerMemo` (an answer byte-identical to the last successful poll's is not parsed again)."""

from __future__ import annotations

import asyncio
from functools import partial

import pytest

from dataflow_exporter.errors import Reason, SchemaError, UpstreamError
from dataflow_exporter.sources.base import (
    CAPABILITY_RECHECK_SECONDS,
    GONE,
    AnswerMemo,
    Capabilities,
    Details,
    PollResult,
    api_path,
    collect_pages,
    fan_out,
    not_found,
    number,
)
from dataflow_exporter.upstream import Answer


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def details(clock: Clock | None = None) -> Details:
    return Details(Capabilities(clock or Clock()), limit=4)


def failing(reason: Reason, status: int | None = None) -> UpstreamError:
    return UpstreamError(reason, f"{reason.value} from upstream", status=status)


async def test_fan_out_keeps_at_most_limit_jobs_running_and_answers_in_order() -> None:
    running = peak = 0

    async def job(n: int) -> int:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0)
        running -= 1
        return n * n

    tasks_before = len(asyncio.all_tasks())
    results = await fan_out([partial(job, n) for n in range(100)], limit=5)
    assert results == [n * n for n in range(100)]
    assert peak == 5
    assert len(asyncio.all_tasks()) == tasks_before


async def test_fan_out_starts_no_job_after_the_first_error() -> None:
    started: list[int] = []

    async def job(n: int) -> int:
        started.append(n)
        if n == 2:
            raise failing(Reason.AUTH, 401)
        await asyncio.sleep(0.01)
        return n

    with pytest.raises(UpstreamError) as caught:
        await fan_out([partial(job, n) for n in range(50)], limit=3)
    assert caught.value.reason is Reason.AUTH
    assert len(started) <= 6


@pytest.mark.parametrize("reason", [Reason.HTTP_4XX, Reason.HTTP_5XX, Reason.DECODE, Reason.SCHEMA])
async def test_a_failed_answer_fails_only_its_detail(reason: Reason) -> None:
    d = details()

    async def call() -> int:
        raise failing(reason, 500)

    assert await d.fetch("mirror a", "rows_synced", call) is None
    (failure,) = d.failures
    assert (failure.entity, failure.endpoint, failure.reason) == ("mirror a", "rows_synced", reason)
    assert failure.message == f"{reason.value} from upstream"


@pytest.mark.parametrize(
    "reason", [Reason.TIMEOUT, Reason.CONNECT, Reason.TLS, Reason.AUTH, Reason.RATE_LIMITED]
)
async def test_not_reaching_the_target_still_fails_the_poll(reason: Reason) -> None:
    d = details()

    async def call() -> int:
        raise failing(reason)

    with pytest.raises(UpstreamError):
        await d.fetch("mirror a", "rows_synced", call)
    assert d.failures == []


async def test_a_404_means_gone_only_where_the_source_says_so() -> None:
    d = details()

    async def call() -> int:
        raise failing(Reason.HTTP_4XX, 404)

    assert await d.fetch("mirror a", "mirror_status", call, gone_if=not_found) is GONE
    assert d.failures == []
    assert await d.fetch("mirror a", "cdc_batches", call) is None
    assert [f.endpoint for f in d.failures] == ["cdc_batches"]


async def test_a_missing_route_is_learned_once_and_asked_again_after_the_recheck() -> None:
    clock = Clock()
    d = details(clock)
    calls = 0

    async def missing_route() -> int:
        nonlocal calls
        calls += 1
        raise failing(Reason.HTTP_4XX, 404)

    for _ in range(3):
        assert await d.fetch("m", "rows_synced", missing_route, capability="rows") is None
    assert calls == 1
    assert d.failures == []
    assert d.capabilities.state() == {"rows": False}

    clock.now += CAPABILITY_RECHECK_SECONDS

    async def served() -> int:
        return 7

    assert await d.fetch("m", "rows_synced", served, capability="rows") == 7
    assert d.capabilities.state() == {"rows": True}


async def test_details_report_their_failures_and_capabilities_in_the_result() -> None:
    d = details()

    async def broken() -> int:
        raise failing(Reason.HTTP_5XX, 503)

    await d.fetch("pipeline p", "stats", broken)
    await d.fetch("pipeline q", "stats", broken, capability="stats")
    result = d.into(PollResult(families=[]))
    assert [f.entity for f in result.detail_failures] == ["pipeline p", "pipeline q"]
    assert result.capabilities == {"stats": True}


async def test_pages_are_followed_to_the_end() -> None:
    async def page(n: int) -> tuple[list[int], int | None]:
        return [n * 10, n * 10 + 1], (n + 1 if n < 2 else None)

    assert await collect_pages(0, page, 5, "things") == [0, 1, 10, 11, 20, 21]


async def test_more_pages_than_the_cap_fail_rather_than_give_a_partial_inventory() -> None:
    async def endless(n: int) -> tuple[list[int], int | None]:
        return [n], n + 1

    with pytest.raises(SchemaError, match="more than 3 pages"):
        await collect_pages(0, endless, 3, "things")


async def test_a_next_page_pointing_back_fails() -> None:
    async def loop(url: str) -> tuple[list[str], str | None]:
        return [url], "/b" if url == "/a" else "/a"

    with pytest.raises(SchemaError, match="already read"):
        await collect_pages("/a", loop, 10, "things")


# AnswerMemo


class CountingParser:
    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    def __call__(self, answer: Answer) -> tuple[bytes, int]:
        self.bodies.append(answer.body)
        return (answer.body, len(self.bodies))


def _poll(
    memo: AnswerMemo[tuple[bytes, int]], parse: CountingParser, **bodies: bytes
) -> dict[str, tuple[bytes, int]]:
    memo.begin()
    records = {key: memo.parse(key, Answer(body, key), parse) for key, body in bodies.items()}
    memo.finish()
    return records


def test_an_unchanged_answer_gives_the_last_record_without_parsing() -> None:
    memo: AnswerMemo[tuple[bytes, int]] = AnswerMemo()
    parse = CountingParser()
    first = _poll(memo, parse, a=b'{"x":1}', b=b'{"x":2}')
    second = _poll(memo, parse, a=b'{"x":1}', b=b'{"x":3}')
    assert parse.bodies == [b'{"x":1}', b'{"x":2}', b'{"x":3}']
    assert second["a"] is first["a"]
    assert second["b"] == (b'{"x":3}', 3)


def test_the_same_body_under_another_key_is_parsed_for_that_key() -> None:
    memo: AnswerMemo[tuple[bytes, int]] = AnswerMemo()
    parse = CountingParser()
    _poll(memo, parse, a=b"1")
    _poll(memo, parse, b=b"1")
    assert parse.bodies == [b"1", b"1"]


def test_a_failed_poll_is_not_what_the_next_poll_compares_with() -> None:
    memo: AnswerMemo[tuple[bytes, int]] = AnswerMemo()
    parse = CountingParser()
    _poll(memo, parse, a=b"old")
    memo.begin()
    memo.parse("a", Answer(b"half", "a"), parse)  # this poll fails: finish() is never called
    record = _poll(memo, parse, a=b"old")["a"]
    assert record == (b"old", 1)
    assert parse.bodies == [b"old", b"half"]


def test_entities_gone_upstream_are_forgotten_after_one_poll() -> None:
    memo: AnswerMemo[tuple[bytes, int]] = AnswerMemo()
    parse = CountingParser()
    _poll(memo, parse, a=b"1", b=b"2")
    _poll(memo, parse, a=b"1")
    _poll(memo, parse, a=b"1", b=b"2")
    assert parse.bodies == [b"1", b"2", b"2"]


@pytest.mark.parametrize(
    ("segment", "encoded"),
    [
        ("orders-v2_cdc.1~x", "orders-v2_cdc.1~x"),
        ("a/b", "a%2Fb"),
        ("sp ace", "sp%20ace"),
        ("?#%", "%3F%23%25"),
        ("ünï", "%C3%BCn%C3%AF"),
    ],
)
def test_path_segments_are_percent_encoded_one_by_one(segment: str, encoded: str) -> None:
    assert api_path("/api/v1", "mirrors", segment) == f"/api/v1/mirrors/{encoded}"


@pytest.mark.parametrize("text", ["9" * 400, "NaN", "twelve"])
def test_numbers_out_of_range_or_not_numbers_are_schema_errors(text: str) -> None:
    with pytest.raises(SchemaError, match="rows"):
        number(text, "rows")
