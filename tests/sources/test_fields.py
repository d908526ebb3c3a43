"""Metric tables: a plain field read, converted and exported from its one line."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
import pytest

from dataflow_exporter.errors import SchemaError
from dataflow_exporter.families import Family, MetricSpec, StateSet, Unknown
from dataflow_exporter.sources.fields import (
    Conversion,
    Field,
    Metrics,
    Plain,
    Row,
    as_is,
    flag,
    micros,
    msecs,
    plain_spec,
    rfc3339,
    unix_seconds,
)
from dataflow_exporter.sources.typed import Decoder

LABELS = ("thing",)
STATE = MetricSpec("t_state", "gauge", "A state set, filled by hand.", (*LABELS, "status"))


def spec(name: str) -> MetricSpec:
    return plain_spec(f"t_{name}", f"The {name}.", LABELS)


def one(convert: Conversion, value: Any, optional: bool = False) -> float | None:
    """`value` read through a one-field table."""
    table = Metrics(Field(spec("x"), "x", convert, optional=optional))
    return table.read({"x": value}, "thing")["t_x"]


# -- conversions ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("convert", "raw", "expected"),
    [
        (as_is, 1048576, 1048576.0),
        (as_is, 0.25, 0.25),
        (as_is, "9124", 9124.0),  # protojson int64
        (msecs, 172800512, 172800.512),
        (micros, 41250, 0.04125),
        (flag, True, 1.0),
        (flag, False, 0.0),
        (rfc3339, "2025-03-20T12:00:00Z", 1742472000.0),
        (rfc3339, "2025-03-20T13:00:00.5+01:00", 1742472000.5),
    ],
)
def test_each_conversion_gives_the_value_in_base_units(
    convert: Conversion, raw: Any, expected: float
) -> None:
    value = one(convert, raw)
    assert value == pytest.approx(expected)
    assert type(value) is float  # samples are appended without Family.add's float()
    # The table's fast path for plain numbers gives exactly what the conversion gives.
    assert value == convert(raw, "thing.x")


@pytest.mark.parametrize(
    ("convert", "raw", "message"),
    [
        (as_is, "lots", "thing.x: expected a number, got 'lots'"),
        (as_is, True, "thing.x: expected a number, got a boolean"),
        (msecs, [1], "thing.x: expected a number, got list"),
        (micros, {}, "thing.x: expected a number, got dict"),
        (flag, 1, "thing.x: expected a boolean, got int"),
        (rfc3339, "yesterday", "thing.x: invalid timestamp 'yesterday'"),
        (rfc3339, 1742472000, "thing.x: expected a string, got int"),
    ],
)
def test_a_value_of_the_wrong_type_is_a_schema_error_naming_the_field(
    convert: Conversion, raw: Any, message: str
) -> None:
    with pytest.raises(SchemaError, match=f"^{message}$"):
        one(convert, raw)


@pytest.mark.parametrize("optional", [False, True])
def test_a_wrong_type_is_an_error_even_in_an_optional_field(optional: bool) -> None:
    with pytest.raises(SchemaError, match="expected a number"):
        one(as_is, "n/a", optional=optional)


# -- absent fields --------------------------------------------------------------------------------


@pytest.mark.parametrize("container", [{}, {"x": None}])
def test_an_absent_optional_field_gives_no_series(container: dict[str, Any]) -> None:
    table = Metrics(Field(spec("x"), "x", msecs, optional=True), Field(spec("y"), "y", as_is))
    values = table.read({**container, "y": 3}, "thing")
    assert values["t_x"] is None
    families = table.families()
    families.add(("a",), values)
    assert [(f.spec.name, f.samples) for f in families.all()] == [
        ("t_x", []),
        ("t_y", [(("a",), 3.0)]),
    ]


@pytest.mark.parametrize(
    ("convert", "message"),
    [(as_is, "expected a number, got NoneType"), (flag, "expected a boolean, got NoneType")],
)
def test_an_absent_required_field_is_a_schema_error(convert: Conversion, message: str) -> None:
    table = Metrics(Field(spec("x"), "metrics.x", convert))
    with pytest.raises(SchemaError, match=f"^thing.metrics.x: {message}$"):
        table.read({"metrics": {}}, "thing")


def test_an_empty_timestamp_is_absent() -> None:
    assert one(rfc3339, "") is None


def test_a_dotted_path_reads_a_nested_field_and_an_absent_parent_is_absent() -> None:
    table = Metrics(Field(spec("at"), "frontier.completed_at", rfc3339, optional=True))
    nested = {"frontier": {"completed_at": "2025-03-20T12:00:00Z"}}
    assert table.read(nested, "c")["t_at"] == 1742472000.0
    assert table.read({"frontier": None}, "c")["t_at"] is None
    assert table.read({}, "c")["t_at"] is None


def test_a_parent_that_is_not_an_object_is_a_schema_error() -> None:
    table = Metrics(Field(spec("at"), "frontier.completed_at", rfc3339, optional=True))
    with pytest.raises(SchemaError, match=r"^c\.frontier: expected an object, got list$"):
        table.read({"frontier": []}, "c")


# -- the table ----------------------------------------------------------------------------------


def test_specs_and_families_follow_the_rows_with_hand_filled_specs_in_place() -> None:
    table = Metrics(Field(spec("a_total"), "a", as_is), STATE, Field(spec("b"), "b", flag))
    assert [s.name for s in table.specs] == ["t_a_total", "t_state", "t_b"]
    assert [s.kind for s in table.specs] == ["counter", "gauge", "gauge"]
    families = table.families()
    StateSet(("up", "down")).one_hot(families[STATE], ("a",), "down")
    families.add(("a",), table.read({"a": 7, "b": True}, "thing"))
    assert [(f.spec.name, f.samples) for f in families.all()] == [
        ("t_a_total", [(("a",), 7.0)]),
        ("t_state", [(("a", "up"), 0.0), (("a", "down"), 1.0)]),
        ("t_b", [(("a",), 1.0)]),
    ]


def test_a_metric_listed_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="twice"):
        Metrics(Field(spec("a"), "a", as_is), Field(spec("a"), "b", as_is))


def test_a_metric_name_listed_twice_with_another_help_is_refused() -> None:
    other = MetricSpec(spec("a").name, "gauge", "Another help.", spec("a").labels)
    with pytest.raises(ValueError, match="twice"):
        Metrics(Field(spec("a"), "a", as_is), Field(other, "b", as_is))


def test_values_read_by_another_table_are_refused() -> None:
    first = Metrics(Field(spec("a"), "a", as_is))
    second = Metrics(Field(spec("a"), "a", as_is))
    with pytest.raises(ValueError, match="another table"):
        first.families().add(("x",), second.read({"a": 1}, "thing"))


def test_values_of_the_same_answer_are_equal() -> None:
    table = Metrics(Field(spec("a"), "a", as_is))
    assert table.read({"a": 1}, "p") == table.read({"a": 1.0}, "q")
    assert table.read({"a": 1}, "p") != table.read({"a": 2}, "p")


# -- states outside a state set -------------------------------------------------------------------


def test_a_state_outside_the_set_is_unknown_and_labelled_sanitised() -> None:
    states = StateSet(("Running", "Paused"), sparse=frozenset({"Suspending"}))
    assert type(states.normalise("Running")) is str
    assert type(states.normalise("Suspending")) is str
    weird = states.normalise("on hold!")
    assert (type(weird), weird) == (Unknown, "on_hold_")
    family = Family(STATE)
    states.one_hot(family, ("a",), weird)
    assert family.samples[-1] == (("a", "on_hold_"), 1.0)


def test_an_unknown_state_spelling_a_known_one_marks_it_without_a_second_series() -> None:
    # "STATUS RUNNING" sanitises to a known name: still counted unknown, one series per state.
    states = StateSet(("STATUS_RUNNING", "STATUS_PAUSED"))
    state = states.normalise("STATUS RUNNING")
    assert isinstance(state, Unknown)
    family = Family(STATE)
    states.one_hot(family, ("a",), state)
    assert family.samples == [(("a", "STATUS_RUNNING"), 1.0), (("a", "STATUS_PAUSED"), 0.0)]


def test_a_required_timestamp_that_is_null_is_a_schema_error() -> None:
    with pytest.raises(SchemaError, match=r"^thing\.x: expected a timestamp, got NoneType$"):
        one(rfc3339, None)
    assert one(rfc3339, None, optional=True) is None


# -- typed shapes: a plain field is one line on the struct --------------------------------------


def typed_one(hint: Any, body: bytes, convert: Conversion = as_is) -> float | None:
    """The sample of field `x` (of type `hint`, exported with `convert`) in `body`."""
    shape = msgspec.defstruct("One", [("x", Annotated[hint, Plain(spec("x"), convert)], None)])
    table = Metrics(shape)
    return table.read(Decoder(shape).body(body, "GET /x"), "GET /x")["t_x"]


@pytest.mark.parametrize(
    ("hint", "raw", "convert", "expected"),
    [
        (int | None, b"1048576", as_is, 1048576.0),
        (float | None, b"0.25", as_is, 0.25),
        (int | None, b'"9124"', as_is, 9124.0),  # protojson int64
        (int | None, b"172800512", msecs, 172800.512),
        (float | None, b"172800512.0", msecs, 172800.512),
        (int | None, b"41250", micros, 0.04125),
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
    ],
)
def test_each_conversion_of_a_typed_field_gives_the_value_in_base_units(
    hint: Any, raw: bytes, convert: Conversion, expected: float
) -> None:
    value = typed_one(hint, b'{"x": %s}' % raw, convert)
    assert value == pytest.approx(expected)
    assert type(value) is float


@pytest.mark.parametrize(
    ("hint", "raw", "convert", "message"),
    [
        (float | None, b'"NaN"', as_is, "x: expected a finite number, got nan"),
        (float | None, b'"-inf"', msecs, "x: expected a finite number, got -inf"),
        (int | str | None, b'"lots"', as_is, "x: expected a number, got 'lots'"),
        (str | None, b'"yesterday"', rfc3339, "x: invalid timestamp 'yesterday'"),
        (bool | None, b"2", flag, "x: expected bool | null, got int"),
        (bool | None, b'"yes"', flag, "x: expected bool | null, got str"),
        (int | None, b'"12a"', as_is, "x: expected int | null, got str"),
    ],
)
def test_a_typed_field_the_conversion_refuses_is_a_schema_error_naming_it(
    hint: Any, raw: bytes, convert: Conversion, message: str
) -> None:
    with pytest.raises(SchemaError) as caught:
        typed_one(hint, b'{"x": %s}' % raw, convert)
    assert str(caught.value) == f"GET /x: {message}"


def test_a_typed_time_out_of_range_is_refused_naming_the_field() -> None:
    with pytest.raises(SchemaError, match=r"^GET /x: x: time out of range: 1e\+20 s "):
        typed_one(float | None, b'{"x": 1e20}', unix_seconds)


@pytest.mark.parametrize("body", [b"{}", b'{"x": null}', b'{"x": ""}'])
def test_a_null_or_absent_typed_field_gives_no_sample(body: bytes) -> None:
    # An empty timestamp is absent too.
    assert typed_one(str | None, body, rfc3339) is None


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


def test_an_absent_nested_shape_gives_no_samples_of_its_fields() -> None:
    table = Metrics(_Connector)
    for body in (b'{"name":"a"}', b'{"name":"a","lastFrontier":null}'):
        assert table.read(CONNECTOR.body(body, "c"), "c").values == (None, None, None)


def test_a_nested_field_is_named_by_its_path_as_the_answer_spells_it() -> None:
    body = b'{"name":"a","lastFrontier":{"completedAt":"soon"}}'
    with pytest.raises(SchemaError, match=r"^c: lastFrontier\.completedAt: invalid timestamp"):
        Metrics(_Connector).read(CONNECTOR.body(body, "c"), "c")


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


class _Other(msgspec.Struct):
    lag: Annotated[int | None, Plain(spec("lag"))] = None


def test_a_placed_spec_that_is_a_plain_field_of_two_shapes_is_refused() -> None:
    with pytest.raises(ValueError, match="t_lag is a Plain field of two shapes"):
        Metrics(_Connector, _Other, spec("lag"))


@pytest.mark.parametrize(
    "rows",
    [
        (_Connector, _Connector),
        (_Connector, _Other),
        (_Connector, spec("records_total"), STATE, spec("records_total")),
    ],
    ids=["shape twice", "field in two shapes", "field placed twice"],
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


def test_the_row_keeps_its_earlier_name_until_every_source_uses_plain() -> None:
    assert Field is Row


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
