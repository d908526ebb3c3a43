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
from dataflow_exporter.sources.confluent import MIRROR_TOPICS
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

lag = {
    "partition": st.integers(-3, 5) | ints,
    "lag": ints | floats,
    "last_source_fetch_offset": ints | floats,
}
mirror_topic = {
    "link_name": names,
    "mirror_topic_name": names,
    "mirror_status": statuses,
    "state_time_ms": ints | floats,
    "num_partitions": ints,
    "mirror_lags": st.lists(st.fixed_dictionaries(lag), max_size=4),
    "mirror_topic_error": st.none() | st.sampled_from(["NO_ERROR", "SOURCE_TOPIC_MAY_BE_DELETED"]),
}
confluent_pages = pages(
    {"metadata": st.fixed_dictionaries({}, optional={"next": st.none() | st.just("")})},
    "data",
    mirror_topic,
)

CASES: list[tuple[str, Shape[Any, Any], st.SearchStrategy[dict[str, Any]]]] = [
    ("confluent mirrors", MIRROR_TOPICS, confluent_pages),
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
        (MIRROR_TOPICS, "confluent/link_mirrors_list.json"),
    ],
)
def test_a_real_answer_takes_the_typed_path_and_reads_the_same(
    shape: Shape[Any, Any], fixture: str
) -> None:
    answer = Answer((SOURCES / fixture.replace("/", "/fixtures/", 1)).read_bytes(), "GET /fixture")
    typed = shape.typed(answer)  # raises if the real answer is not the usual shape
    assert typed == shape.checked(answer)
    assert typed  # the fixture holds records, so the comparison compared something
