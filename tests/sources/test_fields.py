"""Metric tables: a plain JSON field read, converted and exported from its one `Field` line."""

from __future__ import annotations

from typing import Any

import pytest

from dataflow_exporter.errors import SchemaError
from dataflow_exporter.families import Family, MetricSpec, StateSet, Unknown
from dataflow_exporter.sources.fields import (
    Conversion,
    Field,
    Metrics,
    as_is,
    flag,
    micros,
    msecs,
    plain_spec,
    rfc3339,
)

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
