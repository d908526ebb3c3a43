"""One decoder per answer: the typed shape checks it and words refusals in the answer's names."""

from __future__ import annotations

import json
from typing import Annotated, Literal

import msgspec
import pytest

from dataflow_exporter.errors import Reason, SchemaError, UpstreamError
from dataflow_exporter.sources.typed import Decoder, at
from dataflow_exporter.upstream import Answer


class _Entity(msgspec.Struct, rename="camel"):
    name: str
    rows_synced: int | None = None
    partitions: list[int] | None = None


DECODER = Decoder(_Entity)


def _answer(body: bytes) -> Answer:
    return Answer(body, "GET /api/v1/things")


def test_a_number_in_a_string_is_read_as_the_number() -> None:
    assert DECODER.answer(_answer(b'{"name":"a","rowsSynced":"42"}')).rows_synced == 42


def test_a_field_of_the_wrong_type_is_named_as_the_answer_spells_it() -> None:
    with pytest.raises(SchemaError) as caught:
        DECODER.answer(_answer(b'{"name":"a","partitions":[1,"x"]}'))
    assert str(caught.value) == "GET /api/v1/things: partitions[1]: expected int, got str"
    assert caught.value.reason is Reason.SCHEMA


def test_a_missing_required_field_is_named() -> None:
    with pytest.raises(
        SchemaError, match=r"^GET /api/v1/things: object missing required field name$"
    ):
        DECODER.answer(_answer(b"{}"))


def test_html_instead_of_json_is_a_decode_error() -> None:
    with pytest.raises(UpstreamError) as caught:
        DECODER.answer(_answer(b"<!doctype html><p>login</p>"))
    assert caught.value.reason is Reason.DECODE
    assert "HTML page instead of JSON" in str(caught.value)


def test_a_lone_surrogate_in_a_name_reads_as_a_replacement_character() -> None:
    entity = DECODER.answer(_answer(b'{"name":"a\\ud800b"}'))
    assert entity.name == "a\ufffdb"


def test_one_entity_is_decoded_from_its_raw_slice_under_its_own_name() -> None:
    raws = msgspec.json.decode(b'[{"name":"a"},{"name":1}]', type=list[msgspec.Raw])
    assert DECODER.body(raws[0], "thing a").name == "a"
    with pytest.raises(SchemaError, match=r"^thing 2: name: expected str, got int$"):
        DECODER.body(raws[1], "thing 2")


class _Kinds(msgspec.Struct):
    count: Annotated[int, msgspec.Meta(ge=0)] = 0
    mode: Literal["fast", "safe"] = "fast"
    pair: tuple[int, int] = (0, 0)
    label: Annotated[str, msgspec.Meta(max_length=3)] = ""


KINDS = Decoder(_Kinds)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"count": -1}', "count: expected int >= 0"),
        (b'{"count": "1e400"}', "count: number out of range"),
        (b'{"mode": "slow"}', "mode: invalid enum value 'slow'"),
        (b'{"pair": [1]}', "pair: expected array of length 2"),
        (b'{"label": "long"}', "label: expected str of length <= 3"),
        (b"[1]", "expected object, got array"),
    ],
    ids=["bound", "range", "enum", "array length", "string length", "top level"],
)
def test_each_kind_of_refusal_is_worded_after_the_request_and_field(
    body: bytes, message: str
) -> None:
    with pytest.raises(SchemaError) as caught:
        KINDS.answer(_answer(body))
    assert str(caught.value) == f"GET /api/v1/things: {message}"


def test_a_refused_upstream_value_is_scrubbed_and_cut() -> None:
    with pytest.raises(SchemaError) as caught:
        KINDS.answer(_answer(b'{"mode": "https://admin:hunter2@db.example/' + b"x" * 200 + b'"}'))
    message = str(caught.value)
    assert message.startswith("GET /api/v1/things: mode: invalid enum value ")
    assert "hunter2" not in message
    assert len(message.removeprefix("GET /api/v1/things: mode: invalid enum value ")) <= 40


@pytest.mark.parametrize("body", [b"[", b'{"name": 1, ', b'{"name": "a", "partitions": [1, "x"'])
def test_a_truncated_body_is_a_decode_error_even_where_a_field_is_refused_first(
    body: bytes,
) -> None:
    with pytest.raises(UpstreamError) as caught:
        DECODER.answer(_answer(body))
    assert caught.value.reason is Reason.DECODE


def test_an_empty_body_is_a_decode_error() -> None:
    with pytest.raises(UpstreamError) as caught:
        DECODER.answer(_answer(b""))
    assert caught.value.reason is Reason.DECODE


def test_a_lone_surrogate_in_one_entity_of_a_page_reads_as_a_replacement_character() -> None:
    raws = Decoder(list[msgspec.Raw]).answer(_answer(b'[{"name":"a\\udc00"},{"name":"b"}]'))
    assert [DECODER.body(raw, "thing").name for raw in raws] == ["a\ufffd", "b"]


def test_a_number_too_large_for_a_double_is_a_decode_error_as_answer_json_gives() -> None:
    with pytest.raises(UpstreamError) as caught:
        KINDS.answer(_answer(b'{"count": 1e400}'))
    assert caught.value.reason is Reason.DECODE


def test_a_lone_surrogate_beside_a_refused_field_leaves_the_refusal() -> None:
    with pytest.raises(SchemaError, match=r"^GET /api/v1/things: partitions\[0\]: expected int"):
        DECODER.answer(_answer(b'{"name":"a\\ud800","partitions":["x"]}'))


def test_a_union_shape_decodes_null() -> None:
    maybe: Decoder[_Entity | None] = Decoder(_Entity | None)
    assert maybe.answer(_answer(b"null")) is None
    assert maybe.answer(_answer(b'{"name":"a"}')) == _Entity("a")


@pytest.mark.parametrize(
    ("where", "path", "spelled"),
    [
        ("GET /x", "lag", "GET /x: lag"),
        ("GET /x", "[0].id", "GET /x: [0].id"),
        ("GET /x: data[3]", "lag", "GET /x: data[3].lag"),
        ("GET /x: data[3]", "[0]", "GET /x: data[3][0]"),
    ],
)
def test_a_field_inside_an_entity_is_spelled_as_one_path(
    where: str, path: str, spelled: str
) -> None:
    assert at(where, path) == spelled


class _Kafka(msgspec.Struct, tag="kafka"):
    topic: str = ""


class _Http(msgspec.Struct, tag="http"):
    url: str = ""


class _Connector(msgspec.Struct):
    config: _Kafka | _Http


def test_an_unknown_tag_quoted_in_a_refusal_is_scrubbed_and_cut() -> None:
    tag = b"https://admin:hunter2@db.example/" + b"x" * 200
    with pytest.raises(SchemaError) as caught:
        Decoder(_Connector).answer(_answer(b'{"config": {"type": "' + tag + b'"}}'))
    message = str(caught.value)
    assert message.startswith("GET /api/v1/things: config.type: invalid value ")
    assert "hunter2" not in message
    assert len(message.removeprefix("GET /api/v1/things: config.type: invalid value ")) <= 40


def test_an_answer_too_deep_to_re_encode_is_a_decode_error(monkeypatch: pytest.MonkeyPatch) -> None:
    # The stack a decoder starts from decides where the limit is met; this pins the last place.
    def too_deep(*args: object, **kwargs: object) -> str:
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(json, "dumps", too_deep)
    with pytest.raises(UpstreamError) as caught:
        DECODER.answer(_answer(b'{"name": "a\\ud800b"}'))
    assert caught.value.reason is Reason.DECODE
    assert str(caught.value) == "GET /api/v1/things: JSON nested too deeply"
