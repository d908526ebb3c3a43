"""One decoder per answer: the typed shape checks it and words refusals in the answer's names."""

from __future__ import annotations

import msgspec
import pytest

from dataflow_exporter.errors import Reason, SchemaError, UpstreamError
from dataflow_exporter.sources.typed import Decoder
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
