"""Any body a PeerDB call may answer gives records or a clean error, never a crash: each answer's
typed shape decides, and what it refuses is an `UpstreamError` naming the call."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dataflow_exporter.errors import UpstreamError
from dataflow_exporter.sources import peerdb
from dataflow_exporter.upstream import Answer
from tests.support.helpers import answer_of

ints = st.integers(-(2**70), 2**70)
floats = st.floats(allow_nan=False, allow_infinity=False)
# Values outside every usual shape: any field may get one of these instead.
odd = st.one_of(
    st.none(),
    st.booleans(),
    ints,
    floats,
    ints.map(str),
    floats.map(str),
    st.sampled_from(["", " 12 ", "x", "nan", "inf", "2026-11-23T11:27:08Z", "2026-11-23T11:27:08"]),
    st.just([]),
    st.just({}),
)
numbers = st.one_of(ints, floats, ints.map(str))
names = st.text(max_size=8)


def page(key: str, item: dict[str, Any], **fields: Any) -> st.SearchStrategy[dict[str, Any]]:
    """Pages of items whose fields are usual, left out or odd, as is each page field."""
    items = st.lists(
        st.fixed_dictionaries({}, optional={k: st.one_of(v, odd) for k, v in item.items()}),
        max_size=4,
    )
    every = {key: st.one_of(items, odd), "ok": st.booleans(), "errorMessage": names, **fields}
    return st.fixed_dictionaries({}, optional={k: st.one_of(v, odd) for k, v in every.items()})


READERS: list[tuple[str, Callable[[Answer], object], st.SearchStrategy[Any]]] = [
    (
        "mirrors/list",
        peerdb.read_mirror_list,
        page(
            "mirrors",
            {
                "name": names,
                "status": st.sampled_from(["STATUS_RUNNING", "7", "NEW"]) | st.integers(-2, 20),
                "createdAt": numbers,
                "sourceName": names,
                "sourceType": st.sampled_from(["POSTGRES", "MYSQL"]) | st.integers(-1, 14),
                "isCdc": st.booleans(),
            },
        ),
    ),
    ("mirrors/status", peerdb.read_mirror_state, page("currentFlowState", {})),
    ("total_rows_synced", peerdb.read_total_rows, page("totalCount", {})),
    (
        "cdc/batches",
        peerdb.read_batches,
        page(
            "cdcBatches",
            {
                "endTime": st.sampled_from(["", "2026-11-23T11:27:08.751629Z", "nonsense"]),
                "numRows": numbers,
            },
            total=numbers,
        ),
    ),
    (
        "peers/slots",
        lambda answer: peerdb.read_slots("pg", answer),
        page(
            "slotData",
            {
                "slotName": names,
                "lagInMb": numbers,
                "active": st.booleans(),
                "walStatus": st.sampled_from(["lost", "", "unknown"]),
                "safeWalSize": numbers,
            },
        ),
    ),
    (
        "mirrors/logs",
        peerdb.read_mirror_logs,
        page(
            "errors",
            {
                "flowName": names,
                "errorTimestamp": numbers,
                "id": ints,
                "errorMessage": names,
                "errorType": names,
            },
        ),
    ),
    ("instance/info", peerdb.read_instance, page("status", {})),
]
IDS = [name for name, _, _ in READERS]


def _outcome(read: Callable[[Answer], object], answer: Answer) -> str:
    try:
        read(answer)
    except UpstreamError as exc:
        assert str(exc).startswith(f"{answer.what}: "), "the error names the call"
        return exc.reason
    return "read"


@pytest.mark.slow
@pytest.mark.parametrize(("name", "read", "payloads"), READERS, ids=IDS)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_json_body_gives_records_or_an_error_naming_the_call(
    name: str, read: Callable[[Answer], object], payloads: Any, data: st.DataObject
) -> None:
    outcome = _outcome(read, answer_of(data.draw(payloads)))
    assert outcome in {"read", "schema", "http_4xx", "http_5xx"}, name


@pytest.mark.parametrize(("name", "read", "_payloads"), READERS, ids=IDS)
@given(body=st.binary(max_size=40) | st.sampled_from([b"", b"<html>", b'{"mirrors": [', b"null"]))
@settings(max_examples=100, deadline=None)
def test_a_body_that_is_no_json_object_is_a_decode_or_schema_error(
    name: str, read: Callable[[Answer], object], _payloads: Any, body: bytes
) -> None:
    outcome = _outcome(read, Answer(body, "GET /drawn"))
    assert outcome in {"read", "decode", "schema"}, name
