"""Metric tables: a plain field of a typed shape read, converted and exported from its one line."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
import pytest

from dataflow_exporter.errors import SchemaError
from dataflow_exporter.families import MetricSpec, StateSet
from dataflow_exporter.sources.fields import (
    Conversion,
    Metrics,
    Plain,
    as_is,
    flag,
    micros,
    msecs,
    plain_fields,
    plain_spec,
    rfc3339,
    unix_seconds,
)
from dataflow_exporter.sources.typed import Decoder

LABELS = ("thing",)
STATE = MetricSpec("t_state", "gauge", "A state set, filled by hand.", (*LABELS, "status"))


def spec(name: str) -> MetricSpec:
    return plain_spec(f"t_{name}", f"The {name}.", LABELS)


def shape_of(hint: Any, convert: Conversion = as_is) -> type[msgspec.Struct]:
    """A shape whose one field `x`, of type `hint`, is exported with `convert`."""
    return msgspec.defstruct("One", [("x", Annotated[hint, Plain(spec("x"), convert)], None)])


def typed_one(hint: Any, body: bytes, convert: Conversion = as_is) -> float | None:
    """The sample of field `x` (of type `hint`, exported with `convert`) in `body`."""
    shape = shape_of(hint, convert)
    return Metrics(shape).read(Decoder(shape).body(body, "GET /x"), "GET /x")["t_x"]


# -- conversions ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hint", "raw", "convert", "expected"),
    [
        (int | None, b"1048576", as_is, 1048576.0),
        (float | None, b"0.25", as_is, 0.25),
        (int | None, b'"9124"', as_is, 9124.0),  # protojson int64
        (int | None, b"172800512", msecs, 172800.512),
        (float | None, b"172800512.0", msecs, 172800.512),
        (int | None, b"41250", micros, 0.04125),
        (float | None, b"41250.0", micros, 0.04125),
        (bool | None, b"true", flag, 1.0),
        (bool | None, b"false", flag, 0.0),
        # The lax decoder's booleans: in a string (any case), or 0 and 1.
        (bool | None, b'"true"', flag, 1.0),
        (bool | None, b'"False"', flag, 0.0),
        (bool | None, b"1", flag, 1.0),
        (bool | None, b"0", flag, 0.0),
        (int | None, b"1742472000", unix_seconds, 1742472000.0),
        (str | None, b'"2025-03-20T12:00:00Z"', rfc3339, 1742472000.0),
        (str | None, b'"2025-03-20T13:00:00.5+01:00"', rfc3339, 1742472000.5),
        (int | str | None, b'"12"', as_is, 12.0),  # a string the type allows: converted
        (int | str | None, b'"12500"', msecs, 12.5),
    ],
)
def test_each_conversion_of_a_typed_field_gives_the_value_in_base_units(
    hint: Any, raw: bytes, convert: Conversion, expected: float
) -> None:
    body = b'{"x": %s}' % raw
    value = typed_one(hint, body, convert)
    assert value == pytest.approx(expected)
    assert type(value) is float  # samples are appended without Family.add's float()
    # The table's fast path for plain numbers gives exactly what the conversion gives.
    decoded = Decoder(shape_of(hint, convert)).body(body, "GET /x")
    assert value == convert(msgspec.structs.asdict(decoded)["x"], "GET /x: x")


@pytest.mark.parametrize(
    ("hint", "raw", "convert", "message"),
    [
        (float | None, b'"NaN"', as_is, "x: expected a finite number, got nan"),
        (float | None, b'"-inf"', msecs, "x: expected a finite number, got -inf"),
        (float | None, b'"inf"', micros, "x: expected a finite number, got inf"),
        (int | str | None, b'"lots"', as_is, "x: expected a number, got 'lots'"),
        (str | None, b'"yesterday"', rfc3339, "x: invalid timestamp 'yesterday'"),
        (bool | None, b"2", flag, "x: expected bool | null, got int"),
        (bool | None, b'"yes"', flag, "x: expected bool | null, got str"),
        (int | None, b'"12a"', as_is, "x: expected int | null, got str"),
        # A type the conversion cannot read (a declaration slip) is refused, not guessed at.
        (bool | None, b"true", as_is, "x: expected a number, got a boolean"),
        (list[int] | None, b"[1]", msecs, "x: expected a number, got list"),
        (dict[str, int] | None, b"{}", micros, "x: expected a number, got dict"),
        (int | None, b"1", flag, "x: expected a boolean, got int"),
        (int | None, b"1742472000", rfc3339, "x: expected a string, got int"),
    ],
)
def test_a_typed_field_the_conversion_refuses_is_a_schema_error_naming_it(
    hint: Any, raw: bytes, convert: Conversion, message: str
) -> None:
    with pytest.raises(SchemaError) as caught:
        typed_one(hint, b'{"x": %s}' % raw, convert)
    assert str(caught.value) == f"GET /x: {message}"


class _Count(msgspec.Struct):
    count: Annotated[int | str, Plain(spec("count_total"))]


def test_a_wrong_type_in_a_required_field_is_refused_as_in_an_optional_one() -> None:
    with pytest.raises(SchemaError) as caught:
        Metrics(_Count).read(Decoder(_Count).body(b'{"count": "n/a"}', "r"), "r")
    assert str(caught.value) == "r: count: expected a number, got 'n/a'"


def test_a_typed_time_out_of_range_is_refused_naming_the_field() -> None:
    with pytest.raises(SchemaError, match=r"^GET /x: x: time out of range: 1e\+20 s "):
        typed_one(float | None, b'{"x": 1e20}', unix_seconds)


def test_a_required_timestamp_a_source_reads_itself_is_refused_when_null() -> None:
    # A table never passes null to a conversion; a source calling `rfc3339` on a field it
    # requires (Feldera's checkpoint times) may.
    with pytest.raises(SchemaError, match=r"^thing\.x: expected a timestamp, got NoneType$"):
        rfc3339(None, "thing.x")


# -- absent fields --------------------------------------------------------------------------------


@pytest.mark.parametrize("body", [b"{}", b'{"x": null}', b'{"x": ""}'])
def test_a_null_or_absent_typed_field_gives_no_sample(body: bytes) -> None:
    # An empty timestamp is absent too.
    assert typed_one(str | None, body, rfc3339) is None


class _Pair(msgspec.Struct):
    x: Annotated[int | None, Plain(spec("x"), msecs)] = None
    y: Annotated[int | None, Plain(spec("y"))] = None


@pytest.mark.parametrize("body", [b'{"y": 3}', b'{"x": null, "y": 3}'])
def test_an_absent_field_gives_no_series_beside_a_present_one(body: bytes) -> None:
    table = Metrics(_Pair)
    values = table.read(Decoder(_Pair).body(body, "p"), "p")
    assert values["t_x"] is None
    families = table.families()
    families.add(("a",), values)
    assert [(f.spec.name, f.samples) for f in families.all()] == [
        ("t_x", []),
        ("t_y", [(("a",), 3.0)]),
    ]


def test_many_entities_added_at_once_give_the_samples_one_by_one_would() -> None:
    table, decoder = Metrics(_Pair), Decoder(_Pair)
    bodies = [b'{"x": 1000, "y": 3}', b'{"y": 4}', b'{"x": 3000}', b"{}"]
    values = [table.read(decoder.body(body, "p"), "p") for body in bodies]
    labels = [("a",), ("b",), ("c",), ("d",)]
    one_by_one, at_once = table.families(), table.families()
    for label, read in zip(labels, values, strict=True):
        one_by_one.add(label, read)
    at_once.add_many(labels, values)
    assert [f.samples for f in at_once.all()] == [f.samples for f in one_by_one.all()]
    assert at_once.all()[0].samples == [(("a",), 1.0), (("c",), 3.0)]


def test_many_entities_need_a_value_each_read_by_the_same_table() -> None:
    table, other = Metrics(_Pair), Metrics(_Pair)
    read = table.read(Decoder(_Pair).body(b'{"y": 1}', "p"), "p")
    with pytest.raises(ValueError, match="2 label sets for 1"):
        table.families().add_many([("a",), ("b",)], [read])
    with pytest.raises(ValueError, match="another table"):
        other.families().add_many([("a",)], [read])


class _Retried(msgspec.Struct):
    retries: Annotated[float | None, Plain(spec("retries"), as_is, absent=0.0)] = None


@pytest.mark.parametrize(("body", "expected"), [(b"{}", 0.0), (b'{"retries": null}', 0.0)])
def test_a_null_that_means_a_value_is_that_value(body: bytes, expected: float) -> None:
    table = Metrics(_Retried)
    values = table.read(Decoder(_Retried).body(body, "r"), "r")
    assert values["t_retries"] == expected
    families = table.families()
    families.add(("a",), values)
    assert families.all()[0].samples == [(("a",), expected)]


class _Required(msgspec.Struct):
    count: Annotated[int, Plain(spec("count_total"))]


def test_a_plain_field_on_a_required_type_is_exported_and_its_absence_refused() -> None:
    table = Metrics(_Required)
    assert table.read(Decoder(_Required).body(b'{"count": 3}', "r"), "r")["t_count_total"] == 3.0
    with pytest.raises(SchemaError, match=r"^r: object missing required field count$"):
        Decoder(_Required).body(b"{}", "r")


# -- nested shapes --------------------------------------------------------------------------------


class _Frontier(msgspec.Struct, rename="camel"):
    completed_at: Annotated[str | None, Plain(spec("completed_at"), rfc3339)] = None
    lag_ms: Annotated[int | None, Plain(spec("lag"), msecs)] = None


class _Connector(msgspec.Struct, rename="camel"):
    name: str
    records_total: Annotated[int | None, Plain(spec("records_total"))] = None
    last_frontier: _Frontier | None = None


CONNECTOR = Decoder(_Connector)


def test_a_nested_shape_contributes_its_fields_in_declaration_order() -> None:
    table = Metrics(_Connector)
    assert [s.name for s in table.specs] == ["t_records_total", "t_completed_at", "t_lag"]
    body = b'{"name":"a","recordsTotal":7,"lastFrontier":{"completedAt":"2025-03-20T12:00:00Z"}}'
    values = table.read(CONNECTOR.body(body, "c"), "c")
    assert values.values == (7.0, 1742472000.0, None)


def test_a_nested_field_is_exported_with_its_conversion() -> None:
    body = b'{"name":"a","lastFrontier":{"lagMs":2500}}'
    assert Metrics(_Connector).read(CONNECTOR.body(body, "c"), "c")["t_lag"] == 2.5


def test_an_absent_nested_shape_gives_no_samples_of_its_fields() -> None:
    table = Metrics(_Connector)
    for body in (b'{"name":"a"}', b'{"name":"a","lastFrontier":null}'):
        assert table.read(CONNECTOR.body(body, "c"), "c").values == (None, None, None)


def test_a_nested_field_is_named_by_its_path_as_the_answer_spells_it() -> None:
    body = b'{"name":"a","lastFrontier":{"completedAt":"soon"}}'
    with pytest.raises(SchemaError) as caught:
        Metrics(_Connector).read(CONNECTOR.body(body, "GET /c: data[2]"), "GET /c: data[2]")
    assert str(caught.value) == "GET /c: data[2].lastFrontier.completedAt: invalid timestamp 'soon'"


def test_a_nested_row_knows_its_path_in_the_answer_and_its_attribute_in_the_shape() -> None:
    rows = plain_fields(_Connector)
    assert [(r.path, r.attr) for r in rows] == [
        ("recordsTotal", "records_total"),
        ("lastFrontier.completedAt", "last_frontier.completed_at"),
        ("lastFrontier.lagMs", "last_frontier.lag_ms"),
    ]


def test_a_nested_shape_that_is_not_an_object_is_refused_by_the_decoder_naming_it() -> None:
    with pytest.raises(SchemaError) as caught:
        CONNECTOR.body(b'{"name":"a","lastFrontier":[]}', "c")
    assert str(caught.value) == "c: lastFrontier: expected object | null, got array"


class _Attempt(msgspec.Struct):
    retries: Annotated[float | None, Plain(spec("retries"), as_is, absent=0.0)] = None


class _Run(msgspec.Struct):
    last_attempt: _Attempt | None = None


def test_a_null_that_means_a_value_keeps_its_value_in_a_nested_shape() -> None:
    table = Metrics(_Run)
    for body in (b"{}", b'{"last_attempt": {}}'):
        assert table.read(Decoder(_Run).body(body, "r"), "r")["t_retries"] == 0.0
    assert (
        table.read(Decoder(_Run).body(b'{"last_attempt": {"retries": 2}}', "r"), "r")["t_retries"]
        == 2.0
    )


# -- the table ----------------------------------------------------------------------------------


class _Counted(msgspec.Struct):
    a_total: Annotated[int | None, Plain(spec("a_total"))] = None
    b: Annotated[bool | None, Plain(spec("b"), flag)] = None


def test_specs_and_families_follow_the_rows_with_hand_filled_specs_in_place() -> None:
    table = Metrics(_Counted, STATE, spec("b"))
    assert [s.name for s in table.specs] == ["t_a_total", "t_state", "t_b"]
    assert [s.kind for s in table.specs] == ["counter", "gauge", "gauge"]
    families = table.families()
    StateSet(("up", "down")).one_hot(families[STATE], ("a",), "down")
    families.add(("a",), table.read(Decoder(_Counted).body(b'{"a_total":7,"b":true}', "t"), "t"))
    assert [(f.spec.name, f.samples) for f in families.all()] == [
        ("t_a_total", [(("a",), 7.0)]),
        ("t_state", [(("a", "up"), 0.0), (("a", "down"), 1.0)]),
        ("t_b", [(("a",), 1.0)]),
    ]


def test_a_spec_listed_by_itself_places_its_plain_field_there() -> None:
    # The derived STATE sits between two plain fields of one shape, as a family order may ask.
    lag = spec("lag")
    table = Metrics(_Connector, STATE, lag)
    assert [s.name for s in table.specs] == [
        "t_records_total",
        "t_completed_at",
        "t_state",
        "t_lag",
    ]
    body = b'{"name":"a","recordsTotal":1,"lastFrontier":{"lagMs":2500}}'
    families = table.families()
    families.add(("a",), table.read(CONNECTOR.body(body, "c"), "c"))
    assert [(f.spec.name, f.samples) for f in families.all()] == [
        ("t_records_total", [(("a",), 1.0)]),
        ("t_completed_at", []),
        ("t_state", []),
        ("t_lag", [(("a",), 2.5)]),
    ]


def test_rows_made_by_plain_fields_keep_the_order_they_are_listed_in() -> None:
    # How a source places its own specs between a shape's fields by the fields' paths.
    records, completed, lag = plain_fields(_Connector)
    table = Metrics(lag, STATE, records, completed)
    assert [s.name for s in table.specs] == [
        "t_lag",
        "t_state",
        "t_records_total",
        "t_completed_at",
    ]
    body = b'{"name":"a","recordsTotal":1,"lastFrontier":{"lagMs":2500}}'
    assert table.read(CONNECTOR.body(body, "c"), "c").values == (2.5, 1.0, None)


class _Other(msgspec.Struct):
    lag: Annotated[int | None, Plain(spec("lag"))] = None


def test_a_placed_spec_that_is_a_plain_field_of_two_shapes_is_refused() -> None:
    with pytest.raises(ValueError, match="t_lag is a Plain field of two shapes"):
        Metrics(_Connector, _Other, spec("lag"))


class _OtherHelp(msgspec.Struct):
    # Same name as `_Other.lag`'s metric, another help: two families of one name.
    late: Annotated[int | None, Plain(MetricSpec("t_lag", "gauge", "Another help.", LABELS))] = None


@pytest.mark.parametrize(
    "rows",
    [
        (_Connector, _Connector),
        (_Connector, _Other),
        (_Other, _OtherHelp),
        (_Connector, spec("records_total"), STATE, spec("records_total")),
    ],
    ids=["shape twice", "field in two shapes", "name with another help", "field placed twice"],
)
def test_a_plain_field_listed_twice_is_refused(rows: tuple[Any, ...]) -> None:
    with pytest.raises(ValueError, match="twice"):
        Metrics(*rows)


def test_two_plain_marks_on_one_field_are_refused() -> None:
    twice = msgspec.defstruct(
        "Twice", [("x", Annotated[int | None, Plain(spec("a")), Plain(spec("b"))], None)]
    )
    with pytest.raises(ValueError, match=r"^Twice\.x: one Plain per field$"):
        Metrics(twice)


def test_values_read_by_another_table_are_refused() -> None:
    first, second = Metrics(_Other), Metrics(_Other)
    shape = Decoder(_Other).body(b'{"lag": 1}', "o")
    with pytest.raises(ValueError, match="another table"):
        first.families().add(("x",), second.read(shape, "o"))


def test_values_of_the_same_answer_are_equal() -> None:
    table, decoder = Metrics(_Retried), Decoder(_Retried)
    assert table.read(decoder.body(b'{"retries": 1}', "p"), "p") == table.read(
        decoder.body(b'{"retries": 1.0}', "q"), "q"
    )
    assert table.read(decoder.body(b'{"retries": 1}', "p"), "p") != table.read(
        decoder.body(b'{"retries": 2}', "p"), "p"
    )
