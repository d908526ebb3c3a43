"""Metric specifications and the plain records sources fill with samples.

Sources describe every family they emit with a `MetricSpec` (name, type, help, label names) and
return `Family` objects: a spec plus its samples' label values and values. The core adds the
`target` and static labels and renders them; sources never format exposition text themselves.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

Kind = Literal["gauge", "counter", "info"]

_METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")

# Label values longer than this are cut and suffixed with a digest of the full value, so two long
# names that share a prefix still give two distinct series.
MAX_LABEL_VALUE_LENGTH = 200
_DIGEST_CHARS = 12


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """One metric family: its exposed name, type, help text and label names (besides `target`)."""

    name: str
    kind: Kind
    help: str
    labels: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not _METRIC_NAME.match(self.name):
            raise ValueError(f"invalid metric name {self.name!r}")
        if self.kind == "counter" and not self.name.endswith("_total"):
            raise ValueError(f"counter {self.name!r} must end in _total")
        if self.kind == "info" and not self.name.endswith("_info"):
            raise ValueError(f"info metric {self.name!r} must end in _info")
        for label in self.labels:
            if not _LABEL_NAME.match(label) or label.startswith("__"):
                raise ValueError(f"invalid label name {label!r} in {self.name}")


LabelValues = tuple[str, ...]
Sample = tuple[LabelValues, float]


@dataclass(slots=True)
class Family:
    """A spec and its samples for one poll of one target: each sample's label values (in the
    spec's label order) in `keys`, its value at the same place in `values`.

    Two lists rather than a list of pairs: a million-series poll then allocates a million
    fewer tuples, which the garbage collector would also walk while the poll is rendered.
    Samples appended directly (hot loops do) must append to both, a float value. Once
    rendered, a family is not changed: the renderer keeps its lists for the next poll.
    """

    spec: MetricSpec
    keys: list[LabelValues] = field(default_factory=list)
    values: list[float] = field(default_factory=list)

    @classmethod
    def of(cls, spec: MetricSpec, samples: Iterable[Sample]) -> Family:
        """A family of (label values, value) pairs."""
        family = cls(spec)
        for labels, value in samples:
            family.add(labels, value)
        return family

    @property
    def samples(self) -> list[Sample]:
        """The samples as (label values, value) pairs: a copy, to read."""
        return list(zip(self.keys, self.values, strict=True))

    def add(self, label_values: Sequence[str], value: float) -> None:
        """Append one sample; label values are given in the spec's label order."""
        number = float(value)  # first: a value that is no number leaves both lists as they were
        self.keys.append(tuple(label_values))
        self.values.append(number)


def bound_label_value(value: str) -> str:
    """Cap a label value's length deterministically, keeping distinct values distinct."""
    if len(value) <= MAX_LABEL_VALUE_LENGTH:
        return value
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:_DIGEST_CHARS]
    return f"{value[: MAX_LABEL_VALUE_LENGTH - _DIGEST_CHARS - 1]}~{digest}"


_UNSAFE_STATE_CHARS = re.compile(r"[^A-Za-z0-9_.:\-]")
MAX_UNKNOWN_STATE_LENGTH = 64


class Unknown(str):
    """An upstream state outside its `StateSet`, as the label value its series carries
    (sanitised and length-capped). It is a `str`, so it labels, prints and compares as that
    value does; `isinstance(state, Unknown)` is how a source tells it apart to count it."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Unknown({str.__repr__(self)})"


# What `StateSet.normalise` gives: a state name of the set, or an `Unknown` one.
State = str | Unknown


@dataclass(frozen=True, slots=True)
class StateSet:
    """A closed set of upstream state names, exported as a one-hot gauge with a `status` label.

    Values outside the set are sanitised, length-capped and returned as `Unknown`, so the caller
    can count them. `sparse` states are known too but get a series only while current: the
    upstream's own states that only some releases report (one series per entity for a state
    most targets never see would cost more than it tells).
    """

    values: tuple[str, ...]
    sparse: frozenset[str] = frozenset()
    _suffixes: tuple[tuple[str], ...] = field(init=False, repr=False, compare=False)
    _zeros: tuple[float, ...] = field(init=False, repr=False, compare=False)
    _index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_suffixes", tuple((state,) for state in self.values))
        object.__setattr__(self, "_zeros", (0.0,) * len(self.values))
        object.__setattr__(self, "_index", {state: i for i, state in enumerate(self.values)})

    def normalise(self, raw: object) -> State:
        """The state name of an upstream value, or `Unknown` with its label value (a JSON null
        is `null`, as the upstream wrote it, not Python's `None`)."""
        text = raw if isinstance(raw, str) else "null" if raw is None else str(raw)
        if text in self._index or text in self.sparse:
            return text
        cleaned = _UNSAFE_STATE_CHARS.sub("_", text)[:MAX_UNKNOWN_STATE_LENGTH]
        return Unknown(cleaned or "_")

    def one_hot(self, family: Family, prefix: Sequence[str], current: State) -> None:
        """Add one sample per known state (1 for `current`, else 0), plus `current` if it is
        sparse or unknown."""
        base = tuple(prefix)
        start = len(family.values)
        # Runs once per entity per poll: every state's labels in one comprehension, all
        # zeros at once, then the one 1.
        family.keys += [base + suffix for suffix in self._suffixes]
        family.values += self._zeros
        index = self._index.get(current)
        if index is None:
            family.add((*base, current), 1.0)
        else:
            family.values[start + index] = 1.0

    def one_hot_many(
        self,
        family: Family,
        prefixes: Sequence[LabelValues],
        currents: Sequence[State],
        memo: LabelMemo | None = None,
    ) -> None:
        """`one_hot` for many entities at once, in order: `prefixes[i]` in `currents[i]`.

        A fleet's states are built in a few C-level passes rather than a call per entity; an
        entity whose state is sparse or unknown sends the whole batch the entity-by-entity
        way, as its extra sample sits among the others. With a `memo`, an entity's label sets
        are those of the last poll, not new ones."""
        if len(prefixes) != len(currents):
            raise ValueError(f"{len(prefixes)} label sets for {len(currents)} states")
        index = self._index
        try:
            positions = [index[current] for current in currents]
        except KeyError:
            for prefix, current in zip(prefixes, currents, strict=True):
                self.one_hot(family, prefix, current)
            return
        suffixes = self._suffixes

        def states(prefix: LabelValues) -> tuple[LabelValues, ...]:
            return tuple([prefix + suffix for suffix in suffixes])

        width, start = len(suffixes), len(family.values)
        family.keys += remembered_label_sets(memo, family.spec.name, prefixes, states)
        values = family.values
        values += self._zeros * len(prefixes)
        for first, position in zip(itertools.count(start, width), positions):
            values[first + position] = 1.0


K = TypeVar("K", bound=Hashable)


@dataclass(slots=True)
class LabelMemo:
    """A source's label sets of its last poll, by family and entity, for its next poll
    (`StateSet.one_hot_many`, `label_sets`): a fleet's families then reuse their label sets
    rather than allocate them anew every poll, which the garbage collector would also walk,
    and the renderer finds them unchanged by identity. It holds the entities of the last
    poll only."""

    kept: dict[str, dict[Any, tuple[LabelValues, ...]]] = field(default_factory=dict)

    def label_sets(
        self, family: str, keys: Sequence[K], make: Callable[[K], tuple[LabelValues, ...]]
    ) -> list[tuple[LabelValues, ...]]:
        """Each entity's label sets in `family` (`make(key)` makes them from the entity's
        `key`, which must say everything they are made of): the last poll's where it had the
        key. Remembered for the next poll, for these keys only."""
        # Changed in place rather than made anew: entries that stay are then old objects the
        # collector's young generation does not walk again, poll after poll.
        kept = self.kept.setdefault(family, {})
        get, add = kept.get, kept.setdefault
        blocks = [get(key) or add(key, make(key)) for key in keys]
        now = set(keys)
        if len(kept) != len(now):
            for gone in kept.keys() - now:
                del kept[gone]
        return blocks


def remembered_label_sets(
    memo: LabelMemo | None,
    family: str,
    keys: Sequence[K],
    make: Callable[[K], tuple[LabelValues, ...]],
) -> list[LabelValues]:
    """Every entity's label sets in `family`, in order, in one list: `memo.label_sets`'s, or
    each entity's made anew where the caller keeps no memo."""
    blocks = list(map(make, keys)) if memo is None else memo.label_sets(family, keys, make)
    return list(itertools.chain.from_iterable(blocks))


def families_by_name(families: Iterable[Family]) -> dict[str, Family]:
    """Index families by metric name (tests and tools use this to look one up)."""
    return {f.spec.name: f for f in families}
