"""Typed decoding (`Shape`): the usual shape of the large answers is decoded by msgspec, anything
else by the checked parser, and for every JSON body both paths give the same records or the same
error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dataflow_exporter.errors import UpstreamError
from dataflow_exporter.sources.base import Shape
from dataflow_exporter.sources.peerdb import BATCHES, MIRROR_LIST, SLOTS, TOTAL_ROWS
from dataflow_exporter.upstream import Answer
from tests.support.helpers import answer_of

SOURCES = Path(__file__).parent

ints = st.integers(-(2**70), 2**70)
floats = st.floats(allow_nan=False, allow_infinity=False)
# Values outside every usual shape: each field may get one of these instead.
odd = st.one_of(
    st.none(),
    st.booleans(),
    ints,
    floats,
    ints.map(str),
    floats.map(str),
    st.sampled_from(["", " 12 ", "x", "2026-11-23T11:27:08Z", "2026-11-23T11:27:08"]),
    st.just([]),
    st.just({}),
)


def record(usual: dict[str, Any], variant: str) -> st.SearchStrategy[dict[str, Any]]:
    """An object with the usual fields: all of them ("usual"), any of them ("sparse"), or any
    of them with odd values among the usual ones ("odd")."""
    if variant == "usual":
        return st.fixed_dictionaries(usual)
    fields = {k: st.one_of(v, odd) if variant == "odd" else v for k, v in usual.items()}
    return st.fixed_dictionaries({}, optional=fields)


def pages(
    page: dict[str, Any], key: str, item: dict[str, Any]
) -> st.SearchStrategy[dict[str, Any]]:
    """Pages of items in each variant: usual ones take the typed path, the rest may not."""

    def build(variant: str) -> st.SearchStrategy[dict[str, Any]]:
        items = st.lists(record(item, variant), max_size=4)
        if variant == "usual":
            return st.fixed_dictionaries({key: items, **page})
        return st.fixed_dictionaries(
            {key: items if variant != "odd" else st.one_of(items, odd)},
            optional={k: st.one_of(v, odd) if variant == "odd" else v for k, v in page.items()},
        )

    return st.one_of(build("usual"), build("sparse"), build("odd"))


statuses = st.sampled_from(["STATUS_RUNNING", "STATUS_PAUSED", "ACTIVE", "NEW_STATE", "7", "2"])
names = st.text(max_size=8)
numbers = st.one_of(ints, floats, ints.map(str))

listed_mirror = {
    "name": names,
    "status": statuses | st.integers(-2, 20),
    "createdAt": numbers,
    "sourceName": names,
    "sourceType": st.sampled_from(["POSTGRES", "MYSQL"]) | st.integers(0, 12),
    "destinationName": names,
    "destinationType": st.sampled_from(["CLICKHOUSE", "SNOWFLAKE"]) | st.integers(0, 12),
    "isCdc": st.booleans(),
}
batch = {
    "endTime": st.none() | st.sampled_from(["", "2026-11-23T11:27:08.751629Z", "nonsense"]),
    "numRows": numbers,
}
slot = {"slotName": names, "lagInMb": numbers, "active": st.booleans()}
ok = {"ok": st.booleans()}

CASES: list[tuple[str, Shape[Any, Any], st.SearchStrategy[dict[str, Any]]]] = [
    ("peerdb mirrors/list", MIRROR_LIST, pages({**ok}, "mirrors", listed_mirror)),
    ("peerdb cdc/batches", BATCHES, pages({**ok, "total": numbers}, "cdcBatches", batch)),
    ("peerdb peers/slots", SLOTS, pages({**ok}, "slotData", slot)),
    (
        "peerdb total_rows_synced",
        TOTAL_ROWS,
        st.one_of(
            st.fixed_dictionaries({"totalCount": numbers, "totalCountCDC": numbers}),
            record({"totalCount": numbers, **ok}, "odd"),
        ),
    ),
]


def _outcome(parse: Any, answer: Answer) -> tuple[Any, ...]:
    try:
        return ("records", parse(answer))
    except UpstreamError as exc:
        return ("error", exc.reason, str(exc))


@pytest.mark.slow
@pytest.mark.parametrize(("name", "shape", "payloads"), CASES, ids=[c[0] for c in CASES])
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_typed_and_checked_decoding_agree_on_any_json_body(
    name: str, shape: Shape[Any, Any], payloads: st.SearchStrategy[Any], data: st.DataObject
) -> None:
    answer = answer_of(data.draw(payloads))
    assert _outcome(shape, answer) == _outcome(shape.checked, answer)


@pytest.mark.parametrize(("name", "shape", "_payloads"), CASES, ids=[c[0] for c in CASES])
@given(body=st.binary(max_size=40) | st.sampled_from([b"", b"<html>", b'{"data": [', b"null"]))
@settings(max_examples=100, deadline=None)
def test_bytes_that_are_not_the_usual_json_take_the_checked_path(
    name: str, shape: Shape[Any, Any], _payloads: Any, body: bytes
) -> None:
    answer = Answer(body, "GET /drawn")
    assert _outcome(shape, answer) == _outcome(shape.checked, answer)


@pytest.mark.parametrize(
    ("shape", "fixture"),
    [
        (MIRROR_LIST, "peerdb/mirrors_list.json"),
        (BATCHES, "peerdb/cdc_batches_limit1.json"),
        (BATCHES, "peerdb/cdc_batches_running_batch.json"),
        (SLOTS, "peerdb/peer_slots.json"),
        (TOTAL_ROWS, "peerdb/total_rows_synced.json"),
    ],
)
def test_a_real_answer_takes_the_typed_path_and_reads_the_same(
    shape: Shape[Any, Any], fixture: str
) -> None:
    answer = Answer((SOURCES / fixture.replace("/", "/fixtures/", 1)).read_bytes(), "GET /fixture")
    typed = shape.typed(answer)  # raises if the real answer is not the usual shape
    assert typed == shape.checked(answer)
    assert typed  # the fixture holds records, so the comparison compared something


def test_an_error_answer_with_the_usual_fields_still_fails_as_an_error() -> None:
    answer = Answer(b'{"ok": false, "errorMessage": "mirror not found", "cdcBatches": []}', "x")
    with pytest.raises(UpstreamError, match="mirror not found"):
        BATCHES(answer)
