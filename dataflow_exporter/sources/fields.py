"""Metric tables: a metric read from one plain field is one line, on the field of its typed shape.

Each upstream answer has one typed shape (a `msgspec.Struct`) and one decoder
(`sources.typed.Decoder`) that decodes and checks the answer against it in one pass. A plain
field (a count, bytes, milliseconds, a boolean, a time) is exported by one line, where the shape
declares the field::

    rows_synced: Annotated[Integer | None, Plain(MIRROR_ROWS_SYNCED)] = None

A source lists the metrics of one kind of entity in a `Metrics` table, in the order of its
families (a `max_series` cap drops families from the end). A row that is a shape's class stands
for the shape's `Plain` fields, in declaration order (a nested shape's fields too); a `Plain`
field whose spec is also listed by itself in the table takes that place instead, so families
keep their order when a derived value sits between two plain ones. The table reads the fields
of a decoded shape (`read`) and adds their samples (`Families.add`). Anything else — a state
set, an info metric, a value derived from several fields — is listed by its `MetricSpec` alone
and filled by the source's own code. The source's `specs` are the tables' specs.

A field that is null or absent gives no sample (what older upstream releases lack, see
docs/compatibility.md), unless its `Plain` names the value that stands for "none". Whether a
field may be absent, and its type, the shape's decoder has already checked. There is no other
way to read a plain field: a table's rows are the `Plain` fields of shapes (`plain_fields`).
"""

from __future__ import annotations

import itertools
import math
import operator
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import msgspec

from dataflow_exporter.errors import SchemaError
from dataflow_exporter.families import Family, LabelValues, MetricSpec
from dataflow_exporter.sources.base import boolean, number, rfc3339_seconds, timestamp, unix_time
from dataflow_exporter.sources.typed import at

# How a field's value becomes a sample value: given the value and its path for error messages,
# a float, or None for "absent" (an empty timestamp).
Conversion = Callable[[Any, str], float | None]


# Conversions of a number that divide it by a constant, for the fast path of `Row.read`
# (dividing by 1.0 leaves every float as it is).
_PLAIN_NUMBERS: dict[Conversion, float] = {}


C = TypeVar("C", bound=Conversion)


def plain_number(divisor: float) -> Callable[[C], C]:
    """Mark a conversion as a number divided by `divisor` (exactly what it computes): `Row.read`
    divides an int or a finite float itself, and calls the conversion for anything else."""

    def mark(conversion: C) -> C:
        _PLAIN_NUMBERS[conversion] = divisor
        return conversion

    return mark


@plain_number(1.0)
def as_is(value: Any, what: str) -> float:
    """A count, a size in bytes or Unix seconds, as it is (an integer in a string too)."""
    return number(value, what)


@plain_number(1000.0)
def msecs(value: Any, what: str) -> float:
    """Milliseconds, exported in seconds."""
    return as_is(value, what) / 1000.0


@plain_number(1e6)
def micros(value: Any, what: str) -> float:
    """Microseconds, exported in seconds."""
    return as_is(value, what) / 1e6


def unix_seconds(value: Any, what: str) -> float:
    """A time in Unix seconds, checked to be one (`sources.base.unix_time`)."""
    return unix_time(number(value, what), what)


def flag(value: Any, what: str) -> float:
    """A boolean, exported as 1 or 0."""
    return 1.0 if boolean(value, what) else 0.0


def rfc3339(value: Any, what: str) -> float | None:
    """An RFC 3339 timestamp, exported in Unix seconds (an empty string is absent)."""
    if value is None:  # never from a table (null is absent there): a source's own call
        raise SchemaError(f"{what}: expected a timestamp, got NoneType")
    return timestamp(value, what)


def plain_spec(name: str, help_text: str, labels: tuple[str, ...]) -> MetricSpec:
    """The spec of a plain field's metric: a counter if its name ends in `_total` (the
    suffix `MetricSpec` reserves for counters), else a gauge."""
    return MetricSpec(name, "counter" if name.endswith("_total") else "gauge", help_text, labels)


@dataclass(frozen=True, slots=True)
class Row:
    """A `Plain` field of a typed shape as a row of a `Metrics` table, made by `plain_fields`:
    its spec, its dotted path as the answer spells it (for error messages), its dotted attribute
    path in the decoded shape, its conversion, and the value a null or absent field stands for
    (None: no sample)."""

    spec: MetricSpec
    path: str
    attr: str
    convert: Conversion
    absent: float | None = None
    _attrs: tuple[str, ...] = field(init=False, repr=False, compare=False)
    _get: Callable[[Any], Any] = field(init=False, repr=False, compare=False)
    _divisor: float | None = field(init=False, repr=False, compare=False)
    _flag: bool = field(init=False, repr=False, compare=False)
    _rfc3339: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_attrs", tuple(self.attr.split(".")))
        object.__setattr__(self, "_divisor", _PLAIN_NUMBERS.get(self.convert))
        object.__setattr__(self, "_flag", self.convert is flag)
        object.__setattr__(self, "_rfc3339", self.convert is rfc3339)
        # One level (most fields): the attribute read in C; nested: walked, None-safe.
        get = operator.attrgetter(self.attr) if len(self._attrs) == 1 else self._walk
        object.__setattr__(self, "_get", get)

    def under(self, name: str, attr: str) -> Row:
        """This row of a nested shape, read from the field `name` (`attr`) of its parent."""
        return Row(
            self.spec, f"{name}.{self.path}", f"{attr}.{self.attr}", self.convert, self.absent
        )

    def _walk(self, shape: Any) -> Any:
        node: Any = shape
        for attr in self._attrs:
            node = getattr(node, attr)
            if node is None:
                return None  # a nested shape holding the field is absent
        return node

    def read(self, shape: Any, where: str) -> float | None:
        """This field's value in `shape` (the decoded shape at `where`), converted."""
        node = self._get(shape)
        if node is None:
            return self.absent  # the field, or a nested shape holding it, is absent
        if self._divisor is not None:
            # The common case, read for every counter of every entity: no error path built.
            if type(node) is int:
                return float(node) / self._divisor
            if type(node) is float:
                if math.isfinite(node):
                    return node / self._divisor
                # JSON has no NaN or infinity, but the lax decoder reads "NaN" and "inf"
                # strings as floats: refused, as `number` refuses them.
                raise SchemaError(f"{at(where, self.path)}: expected a finite number, got {node}")
        elif self._flag and type(node) is bool:
            return 1.0 if node else 0.0  # `flag`'s own answer, without its checks
        elif self._rfc3339 and type(node) is str:
            seconds = rfc3339_seconds(node)  # `rfc3339`'s answer when it has one to give
            if seconds is not None:
                return seconds
        # Anything else (a string a field's type allows, a boolean) goes through the
        # conversion, which refuses what it cannot read with an error naming the field in the
        # words of the shape's decoder (`GET /x: data[3].lag: ...`, see `typed.worded`).
        return self.convert(node, at(where, self.path))


@dataclass(frozen=True, slots=True)
class Plain:
    """What a typed shape's field exports, written on the field itself::

        rows_synced: Annotated[Integer | None, Plain(MIRROR_ROWS_SYNCED)] = None

    The field's value, converted (`as_is`, `msecs`, `micros`, `flag`, `unix_seconds`,
    `rfc3339`, or the source's own), is the sample of `spec`; a None value gives no sample, or
    `absent` when the upstream's null means a value (`retries: null`: none). The shape's decoder
    (`sources.typed.Decoder`) has already checked the value's type, and whether it may be absent.
    """

    spec: MetricSpec
    convert: Conversion = as_is
    absent: float | None = None


def plain_fields(shape: type[msgspec.Struct]) -> tuple[Row, ...]:
    """The `Plain` fields of a typed shape, in its order, as table rows; a field whose type is
    another shape (or None) contributes that shape's `Plain` fields under its name."""
    hints = typing.get_type_hints(shape, include_extras=True)
    found: list[Row] = []
    for attr, name in zip(shape.__struct_fields__, shape.__struct_encode_fields__, strict=True):
        hint = hints[attr]
        marks = [m for m in getattr(hint, "__metadata__", ()) if isinstance(m, Plain)]
        if len(marks) > 1:
            raise ValueError(f"{shape.__name__}.{attr}: one Plain per field")
        if marks:
            mark = marks[0]
            found.append(Row(mark.spec, name, attr, mark.convert, mark.absent))
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
    """The metrics of one kind of entity, in family order: the `Plain` fields of a typed shape
    (a row that is the shape's class, or rows `plain_fields` made; a field whose spec is listed
    by itself sits there), and specs the source fills itself."""

    def __init__(self, *rows: Row | MetricSpec | type[msgspec.Struct]) -> None:
        listed = {row for row in rows if isinstance(row, MetricSpec)}
        placed: dict[MetricSpec, Row] = {}
        expanded: list[Row | MetricSpec] = []
        for row in rows:
            if not isinstance(row, type):
                expanded.append(row)
                continue
            for plain in plain_fields(row):
                if plain.spec not in listed:
                    expanded.append(plain)
                elif placed.setdefault(plain.spec, plain) is not plain:
                    raise ValueError(f"{plain.spec.name} is a Plain field of two shapes")
        # A listed spec that names a Plain field is where that field's family goes.
        expanded = [
            placed.get(row, row) if isinstance(row, MetricSpec) else row for row in expanded
        ]
        self.specs = tuple(row.spec if isinstance(row, Row) else row for row in expanded)
        self.fields = tuple(row for row in expanded if isinstance(row, Row))
        self._index = {f.spec.name: i for i, f in enumerate(self.fields)}
        self._readers = tuple(f.read for f in self.fields)
        names = [spec.name for spec in self.specs]
        if len(set(names)) != len(names):
            # By name: two specs of one name differing in help or labels would be two families
            # of one name in the exposition.
            raise ValueError("a metric is listed twice")

    def position(self, metric: str) -> int:
        """Where the `Row` of the metric named `metric` is in the table's values."""
        return self._index[metric]

    def read(self, container: Any, where: str) -> Values:
        """Every `Row` of the table read from one entity's decoded shape at `where`."""
        readers = self._readers
        if len(readers) == 1:  # most answers' tables: a comprehension's call fewer
            return Values(self, (readers[0](container, where),))
        return Values(self, tuple([read(container, where) for read in readers]))

    def families(self) -> Families:
        """Empty families for one poll, one per row."""
        return Families(self)


class Values(msgspec.Struct, frozen=True, gc=False):
    """What one entity's shape gave for a table's fields, in its order (None: absent).
    A struct the collector does not track: one is made per entity and table every poll."""

    table: Metrics
    values: tuple[float | None, ...]

    def __getitem__(self, metric: str) -> float | None:
        """The value of the metric named `metric` (a `Row` of the table)."""
        return self.values[self.table.position(metric)]


_TABLE = operator.attrgetter("table")
_VALUES = operator.attrgetter("values")


class Families:
    """One poll's families of a table: the source fills its own specs by index, `add` the
    fields' samples."""

    def __init__(self, table: Metrics) -> None:
        self._table = table
        self._by_spec = {spec: Family(spec) for spec in table.specs}
        self._columns = [self._by_spec[f.spec] for f in table.fields]
        self._fields = [(family.keys.append, family.values.append) for family in self._columns]

    def __getitem__(self, spec: MetricSpec) -> Family:
        return self._by_spec[spec]

    def add(self, labels: tuple[str, ...], values: Values) -> None:
        """One entity's samples: a sample per field present in `values`."""
        if values.table is not self._table:
            raise ValueError("values read by another table")
        for (add_key, add_value), value in zip(self._fields, values.values, strict=True):
            if value is not None:
                add_key(labels)
                add_value(value)

    def add_many(self, labels: Sequence[LabelValues], values: Sequence[Values]) -> None:
        """`add` for many entities at once, in order: each field's column in C-level passes
        rather than a call per entity."""
        if len(labels) != len(values):
            raise ValueError(f"{len(labels)} label sets for {len(values)} entities' values")
        if any(map(operator.is_not, map(_TABLE, values), itertools.repeat(self._table))):
            raise ValueError("values read by another table")
        if not values:
            return
        columns = zip(*map(_VALUES, values), strict=True)
        for family, column in zip(self._columns, columns, strict=True):
            if None in column:
                present = [value is not None for value in column]
                family.keys += itertools.compress(labels, present)
                family.values += itertools.compress(column, present)
            else:
                family.keys += labels
                family.values += column

    def all(self) -> list[Family]:
        """Every family, in the table's order."""
        return list(self._by_spec.values())
