"""Metric tables: a metric read from one plain JSON field is one line, `Field(spec, path, how)`.

A source lists the metrics of one kind of entity in a `Metrics` table, in the order of its
families (a `max_series` cap drops families from the end). Plain fields are `Field` rows: the
table reads them from the entity's JSON object (`read`) and adds their samples (`Families.add`).
Anything else — a state set, an info metric, a value derived from several fields — is listed by
its `MetricSpec` alone and filled by the source's own code. The source's `specs` are the tables'
specs, so adding a plain field is one line in its table::

    Field(_input("records_total", "Records received ..."), "metrics.total_records", as_is),

A field that is null or absent gives no sample when it is `optional` (what older upstream
releases lack, see docs/compatibility.md); when it is required, the conversion refuses it with
a `SchemaError` naming the field, as it refuses a value of the wrong type.
"""

from __future__ import annotations

import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec

from dataflow_exporter.errors import SchemaError
from dataflow_exporter.families import Family, MetricSpec
from dataflow_exporter.sources.base import boolean, number, obj, timestamp, unix_time

# How a JSON value becomes a sample value: given the value and its path for error messages,
# a float, or None for "absent" (an empty timestamp).
Conversion = Callable[[Any, str], float | None]


def as_is(value: Any, what: str) -> float:
    """A count, a size in bytes or Unix seconds, as it is (an integer in a string too)."""
    return number(value, what)


def msecs(value: Any, what: str) -> float:
    """Milliseconds, exported in seconds."""
    return as_is(value, what) / 1000.0


def micros(value: Any, what: str) -> float:
    """Microseconds, exported in seconds."""
    return as_is(value, what) / 1e6


# Conversions of a number that divide it by a constant, for the fast path of `Field.read`
# (dividing by 1.0 leaves every float as it is).
_PLAIN_NUMBERS: dict[Conversion, float] = {as_is: 1.0, msecs: 1000.0, micros: 1e6}


def unix_seconds(value: Any, what: str) -> float:
    """A time in Unix seconds, checked to be one (`sources.base.unix_time`)."""
    return unix_time(number(value, what), what)


def flag(value: Any, what: str) -> float:
    """A boolean, exported as 1 or 0."""
    return 1.0 if boolean(value, what) else 0.0


def rfc3339(value: Any, what: str) -> float | None:
    """An RFC 3339 timestamp, exported in Unix seconds (an empty string is absent)."""
    if value is None:  # only a required field gets here
        raise SchemaError(f"{what}: expected a timestamp, got NoneType")
    return timestamp(value, what)


def plain_spec(name: str, help_text: str, labels: tuple[str, ...]) -> MetricSpec:
    """The spec of a plain field's metric: a counter if its name ends in `_total` (the
    suffix `MetricSpec` reserves for counters), else a gauge."""
    return MetricSpec(name, "counter" if name.endswith("_total") else "gauge", help_text, labels)


@dataclass(frozen=True, slots=True)
class Field:
    """One metric read from one JSON field: its spec, the field's dotted path in the entity's
    object, the conversion, and whether the field may be null or absent (no sample then).
    With `attr` (the dotted attribute path of a typed shape's field, see `Plain`) it reads a
    decoded shape instead of a JSON object."""

    spec: MetricSpec
    path: str
    convert: Conversion
    optional: bool = False
    attr: str | None = None
    _attrs: tuple[str, ...] = field(init=False, repr=False, compare=False)
    _parents: tuple[tuple[str, str], ...] = field(init=False, repr=False, compare=False)
    _key: str = field(init=False, repr=False, compare=False)
    _divisor: float | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        *parents, key = self.path.split(".")
        # Each parent object's key, and its path for the error when it is not an object.
        prefixes = tuple(".".join(parents[: depth + 1]) for depth in range(len(parents)))
        object.__setattr__(self, "_parents", tuple(zip(parents, prefixes, strict=True)))
        object.__setattr__(self, "_key", key)
        object.__setattr__(self, "_divisor", _PLAIN_NUMBERS.get(self.convert))
        object.__setattr__(self, "_attrs", tuple(self.attr.split(".")) if self.attr else ())

    def under(self, name: str, attr: str) -> Field:
        """This row of a nested shape, read from the field `name` (`attr`) of its parent."""
        return Field(
            self.spec, f"{name}.{self.path}", self.convert, self.optional, f"{attr}.{self.attr}"
        )

    def read(self, container: Any, where: str) -> float | None:
        """This field's value in `container` (the object, or decoded shape, at `where`),
        converted."""
        if self._attrs:
            return self._read_shape(container, where)
        node: Any = container
        for key, prefix in self._parents:
            node = node.get(key)
            if node is None:
                break  # an absent parent object: the field is absent
            if not isinstance(node, dict):
                obj(node, f"{where}.{prefix}")
        else:
            node = node.get(self._key)
        if node is None:
            if self.optional:
                return None
        elif self._divisor is not None and (type(node) is int or type(node) is float):
            # The common case, read for every counter of every connector: no error path built.
            return float(node) / self._divisor
        return self.convert(node, f"{where}.{self.path}")

    def _read_shape(self, shape: Any, where: str) -> float | None:
        node: Any = shape
        for attr in self._attrs:
            node = getattr(node, attr)
            if node is None:
                return None  # the field, or a nested shape holding it, is absent
        if self._divisor is not None and type(node) is not bool:
            return float(node) / self._divisor
        return self.convert(node, f"{where}.{self.path}")


@dataclass(frozen=True, slots=True)
class Plain:
    """What a typed shape's field exports, written on the field itself::

        rows_synced: Annotated[int | None, Plain(MIRROR_ROWS_SYNCED)] = None

    The field's value, converted (`as_is`, `msecs`, `micros`, `flag`, `unix_seconds`,
    `rfc3339`), is the sample of `spec`; a None value gives no sample. The shape's decoder
    (`sources.typed.Decoder`) has already checked the value's type, and whether it may be absent.
    """

    spec: MetricSpec
    convert: Conversion = as_is


def plain_fields(shape: type[msgspec.Struct]) -> tuple[Field, ...]:
    """The `Plain` fields of a typed shape, in its order, as table rows; a field whose type is
    another shape (or None) contributes that shape's `Plain` fields under its name."""
    hints = typing.get_type_hints(shape, include_extras=True)
    found: list[Field] = []
    for attr, name in zip(shape.__struct_fields__, shape.__struct_encode_fields__, strict=True):
        hint = hints[attr]
        marks = [m for m in getattr(hint, "__metadata__", ()) if isinstance(m, Plain)]
        if marks:
            found.append(Field(marks[0].spec, name, marks[0].convert, optional=True, attr=attr))
            continue
        for nested in _shapes_in(hint):
            found.extend(f.under(name, attr) for f in plain_fields(nested))
    return tuple(found)


def _shapes_in(hint: Any) -> list[type[msgspec.Struct]]:
    """The typed shapes a field of type `hint` may hold (`S`, `S | None`), lists excluded."""
    options = (
        typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, _UnionType) else (hint,)
    )
    return [o for o in options if isinstance(o, type) and issubclass(o, msgspec.Struct)]


_UnionType = type(int | None)


class Metrics:
    """The metrics of one kind of entity, in family order: `Field` rows read from its JSON
    object, the `Plain` fields of a typed shape (a row that is the shape's class), and specs the
    source fills itself."""

    def __init__(self, *rows: Field | MetricSpec | type[msgspec.Struct]) -> None:
        expanded: list[Field | MetricSpec] = []
        for row in rows:
            if isinstance(row, type):
                expanded.extend(plain_fields(row))
            else:
                expanded.append(row)
        self.specs = tuple(row.spec if isinstance(row, Field) else row for row in expanded)
        self.fields = tuple(row for row in expanded if isinstance(row, Field))
        self._index = {f.spec.name: i for i, f in enumerate(self.fields)}
        names = [spec.name for spec in self.specs]
        if len(set(names)) != len(names):
            # By name: two specs of one name differing in help or labels would be two families
            # of one name in the exposition.
            raise ValueError("a metric is listed twice")

    def position(self, metric: str) -> int:
        """Where the `Field` of the metric named `metric` is in the table's values."""
        return self._index[metric]

    def read(self, container: Any, where: str) -> Values:
        """Every `Row` of the table read from one entity (its decoded shape, or its JSON
        object) at `where`."""
        return Values(self, tuple([f.read(container, where) for f in self.fields]))

    def families(self) -> Families:
        """Empty families for one poll, one per row."""
        return Families(self)


@dataclass(frozen=True, slots=True)
class Values:
    """What one entity's JSON gave for a table's fields, in its order (None: absent)."""

    table: Metrics = field(repr=False)
    values: tuple[float | None, ...]

    def __getitem__(self, metric: str) -> float | None:
        """The value of the metric named `metric` (a `Field` of the table)."""
        return self.values[self.table.position(metric)]


class Families:
    """One poll's families of a table: the source fills its own specs by index, `add` the
    fields' samples."""

    def __init__(self, table: Metrics) -> None:
        self._table = table
        self._by_spec = {spec: Family(spec) for spec in table.specs}
        self._fields = [self._by_spec[f.spec] for f in table.fields]

    def __getitem__(self, spec: MetricSpec) -> Family:
        return self._by_spec[spec]

    def add(self, labels: tuple[str, ...], values: Values) -> None:
        """One entity's samples: a sample per field present in `values`."""
        if values.table is not self._table:
            raise ValueError("values read by another table")
        for family, value in zip(self._fields, values.values, strict=True):
            if value is not None:
                family.samples.append((labels, value))

    def all(self) -> list[Family]:
        """Every family, in the table's order."""
        return list(self._by_spec.values())
