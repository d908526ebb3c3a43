"""The policies every source shares: detail outcomes, capabilities, the worker pool, pages, and
`AnswerMemo` (an answer byte-identical to the last successful poll's is not parsed again)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
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
    rfc3339_seconds,
    timestamp,
    unix_time,
)
from dataflow_exporter.upstream import Answer


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def says_route_missing(exc: UpstreamError) -> bool:
    return bool(exc.payload == {"route": "missing"})


def details(clock: Clock | None = None) -> Details:
    return Details(Capabilities(clock or Clock()), limit=4, route_missing=says_route_missing)


def failing(reason: Reason, status: int | None = None, payload: object = None) -> UpstreamError:
    return UpstreamError(reason, f"{reason.value} from upstream", status=status, payload=payload)


def route_gone() -> UpstreamError:
    return failing(Reason.HTTP_4XX, 404, {"route": "missing"})


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


async def test_a_route_the_upstream_says_is_missing_is_skipped_until_the_recheck() -> None:
    clock = Clock()
    capabilities = Capabilities(clock)
    calls = 0

    async def missing_route() -> int:
        nonlocal calls
        calls += 1
        raise route_gone()

    async def served() -> int:
        return 7

    first = Details(capabilities, limit=4, route_missing=says_route_missing)
    await first.fetch("m", "rows_synced", missing_route, capability="rows")
    first.into(PollResult(families=[]))
    clock.now += CAPABILITY_RECHECK_SECONDS - 1
    skipped = Details(capabilities, limit=4, route_missing=says_route_missing)
    assert await skipped.fetch("m", "rows_synced", missing_route, capability="rows") is None
    assert calls == 1
    clock.now += 1
    again = Details(capabilities, limit=4, route_missing=says_route_missing)
    assert await again.fetch("m", "rows_synced", served, capability="rows") == 7
    assert again.into(PollResult(families=[])).capabilities == {"rows": True}


async def _poll_rows(d: Details, answers: Mapping[str, UpstreamError | None]) -> PollResult:
    """One poll's `rows` detail call per entity: None answers 1, an error raises it."""
    for entity, error in answers.items():

        async def call(error: UpstreamError | None = error) -> int:
            if error is not None:
                raise error
            return 1

        await d.fetch(entity, "rows_synced", call, capability="rows")
    return d.into(PollResult(families=[]))


def plain_404() -> UpstreamError:
    return failing(Reason.HTTP_4XX, 404)


async def test_one_entitys_404_fails_its_detail_and_hides_nothing_else() -> None:
    result = await _poll_rows(details(), {"a": None, "b": plain_404(), "c": None})
    assert [f.entity for f in result.detail_failures] == ["b"]
    assert result.capabilities == {"rows": True}


async def test_the_only_entitys_404_fails_its_detail_without_the_upstreams_word() -> None:
    result = await _poll_rows(details(), {"a": plain_404()})
    assert [f.entity for f in result.detail_failures] == ["a"]
    assert result.capabilities == {"rows": True}


async def test_404s_from_most_entities_at_once_mark_the_route_missing() -> None:
    result = await _poll_rows(details(), {"a": plain_404(), "b": plain_404(), "c": None})
    assert [f.entity for f in result.detail_failures] == ["a", "b"]  # "c" was served
    assert result.capabilities == {"rows": True}
    failing_all = {"a": plain_404(), "b": plain_404(), "c": failing(Reason.HTTP_5XX, 500)}
    result = await _poll_rows(details(), failing_all)
    assert [f.entity for f in result.detail_failures] == ["c"]
    assert result.capabilities == {"rows": False}


async def test_404s_from_half_the_entities_do_not_mark_the_route_missing() -> None:
    half = {
        "a": plain_404(),
        "b": plain_404(),
        "c": failing(Reason.HTTP_5XX, 500),
        "d": failing(Reason.HTTP_5XX, 500),
    }
    result = await _poll_rows(details(), half)
    assert [f.entity for f in result.detail_failures] == ["a", "b", "c", "d"]
    assert result.capabilities == {"rows": True}


async def test_two_404s_of_two_calls_mark_the_route_missing() -> None:
    result = await _poll_rows(details(), {"a": plain_404(), "b": plain_404()})
    assert result.detail_failures == []
    assert result.capabilities == {"rows": False}


async def test_a_value_kept_from_an_earlier_answer_counts_as_the_route_serving() -> None:
    # Entities whose earlier answer stands in for this poll's call are no calls made: without
    # counting them, two 404s among many kept values would look like "most calls".
    d = details()
    assert d.reused("rows")
    result = await _poll_rows(d, {"a": plain_404(), "b": plain_404()})
    assert [f.entity for f in result.detail_failures] == ["a", "b"]
    assert result.capabilities == {"rows": True}


async def test_no_value_is_reused_for_a_route_the_release_lacks() -> None:
    d = details()
    await _poll_rows(d, {"a": route_gone()})
    assert not details_after(d).reused("rows")


def details_after(d: Details) -> Details:
    """The next poll's details, sharing the capabilities `d` learned."""
    d.into(PollResult(families=[]))
    return Details(d.capabilities, limit=4, route_missing=says_route_missing)


async def test_the_upstreams_word_does_not_hide_a_route_another_entity_was_served() -> None:
    result = await _poll_rows(details(), {"a": route_gone(), "b": None})
    assert [f.entity for f in result.detail_failures] == ["a"]
    assert result.capabilities == {"rows": True}


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


# 9999-12-31T23:59:59Z by hand: the 8030 years from 1970 to 9999 hold 1947 leap years (2007
# multiples of 4 less 60 centuries not divisible by 400), so 10000-01-01 is 2932897 days on.
END_OF_9999 = 2_932_897 * 86_400 - 1


@pytest.mark.parametrize("seconds", [0.0, 1_700_000_000.0, float(END_OF_9999)])
def test_a_time_from_1970_to_the_end_of_9999_is_kept(seconds: float) -> None:
    assert unix_time(seconds, "x.started") == seconds


@pytest.mark.parametrize(
    "seconds",
    [-0.001, END_OF_9999 + 0.001, 1e300, -1e300, float("inf"), float("-inf"), float("nan")],
)
def test_a_time_outside_1970_to_9999_is_a_schema_error_naming_the_field(seconds: float) -> None:
    with pytest.raises(SchemaError, match=r"^x\.started: time out of range"):
        unix_time(seconds, "x.started")


@pytest.mark.parametrize(
    "text", ["0001-01-01T00:00:00+01:00", "1969-12-31T23:59:59Z", "0001-01-01T00:00:00Z"]
)
def test_an_rfc3339_time_before_1970_is_a_schema_error(text: str) -> None:
    with pytest.raises(SchemaError, match="time out of range"):
        timestamp(text, "x.endTime")


def test_an_rfc3339_time_at_the_end_of_9999_is_kept() -> None:
    assert timestamp("9999-12-31T23:59:59Z", "x.endTime") == END_OF_9999


def test_an_upstream_value_quoted_in_an_error_is_scrubbed_before_it_is_cut() -> None:
    # The URL's password straddles the 40-character cut: cut first, its `@` would be gone and
    # no scrubber could tell the rest from a word.
    with pytest.raises(SchemaError) as caught:
        number("x" * 10 + " postgres://u:Straddle-Pw-0123@db", "mirrors[0].rows")
    assert "Straddle" not in str(caught.value)


def test_a_timestamp_without_a_time_zone_is_refused_not_read_in_local_time() -> None:
    with pytest.raises(SchemaError, match="has no time zone"):
        timestamp("2025-03-20T12:00:00", "cdcBatches[0].endTime")
    assert timestamp("2025-03-20T12:00:00+01:00", "t") == 1742468400.0


@pytest.mark.parametrize(
    "text",
    [
        "2026-01-01T00:00:10Z",
        "2026-01-01T00:00:10.250+02:00",
        "1970-01-01T00:00:00Z",  # the earliest time taken
        "1969-12-31T23:59:59Z",  # a second before it
        "9999-12-31T23:59:59Z",  # the latest
        "9999-12-31T23:59:59-00:01",  # a minute past it
        "0001-01-01T00:00:00+01:00",  # before year 1 in UTC: no timestamp at all
        "2026-01-01T00:00:10",  # no time zone
        "2026-13-01T00:00:00Z",
        "yesterday",
    ],
)
def test_rfc3339_seconds_is_timestamps_answer_or_none_where_timestamp_refuses(text: str) -> None:
    try:
        expected: float | None = timestamp(text, "GET /x: t")
    except SchemaError:
        expected = None
    assert rfc3339_seconds(text) == expected
