"""Rendering of families into exposition bytes: sample lines once per poll, headers per format.

Prometheus text 0.0.4 and OpenMetrics 1.0 share sample-line syntax for gauges and `_total`
counters; they differ only in the TYPE/HELP header of counters and the OpenMetrics `# EOF`. So a
target's sample lines are rendered once when its poll completes and every scrape only joins bytes.
"""

from __future__ import annotations

import itertools
import operator
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

import msgspec

from dataflow_exporter.families import Family, LabelValues, MetricSpec, bound_label_value

TEXT_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS_CONTENT_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"
OPENMETRICS_EOF = b"# EOF\n"


def escape_label_value(value: str) -> str:
    """Escape a label value as both formats require (backslash, double quote, newline)."""
    if "\\" in value or '"' in value or "\n" in value:
        value = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return value


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


# Go (and so the exposition format) writes 1e6 <= x < 1e16 with an exponent; Python's repr
# does not. Their exponent suffixes, by the position of repr's decimal point (the number of
# digits before it).
_EXPONENTS = {dot: f"e+{dot - 1:02d}" for dot in range(7, 17)}


def format_value(value: float) -> str:
    """Format a sample value exactly as prometheus_client's `floatToGoString` does.

    Written out rather than called: it runs for every changed series of every poll, and the
    library version spends most of its time on checks that `repr` answers in one go.
    """
    if value == 0.0:
        return "0.0"
    if value == 1.0:
        return "1.0"
    if 1e6 <= value < 1e16:
        exact = float(value)  # an int slipped into a sample prints as the float it becomes
        whole = int(exact)
        if whole == exact:
            # A whole number (offsets, counts: most values here): below 1e16 its shortest
            # repr is all its digits, so the mantissa is them without their trailing zeros,
            # and `str` of the int finds them in a third of `repr`'s time.
            digits = str(whole)
            tail = digits[1:].rstrip("0")
            exponent = _EXPONENTS[len(digits)]
            return f"{digits[0]}.{tail}{exponent}" if tail else digits[0] + exponent
        text = repr(float(value))
        dot = text.find(".")
        digits = (text[1:dot] + text[dot + 1 :]).rstrip("0")
        mantissa = f"{text[0]}.{digits}" if digits else text[0]
        return mantissa + _EXPONENTS[dot]
    text = repr(float(value))  # an int slipped into a sample still prints as a float
    if value > 0:
        return "+Inf" if text == "inf" else text
    if text == "nan":
        return "NaN"
    return "-Inf" if text == "-inf" else text


def format_values(values: Sequence[float]) -> list[bytes]:
    """Each value as `format_value` writes it, in bytes, for many values at once.

    msgspec writes a whole list in C, each float in its shortest round-trip digits as `repr`
    does, and as plain decimals where `repr` does: from 1e-4 to below 1e16 in size. Below 1e6
    that is the exposition's spelling; from 1e6 its digits are moved behind an exponent here;
    the rest (non-floats, NaN, the infinities, -0.0, tiny and huge values) is written by
    `format_value`.
    """
    if not values:
        return []
    try:
        written = msgspec.json.encode(values)
    except (TypeError, OverflowError):  # a number of a type msgspec does not write
        return [format_value(value).encode() for value in values]
    texts = written[1:-1].split(b",")
    if (
        # Finite floats all: an int, a boolean and NaN or an infinity (`null`) have no point.
        written.count(b".") == len(texts)
        and b'"' not in written  # nor a number msgspec writes as a string (a Decimal)
        and b"e" not in written  # no exponent: none huge, none tiny
        and b"0.0000" not in written  # none below 1e-4 (or one alike: the loop below sees)
        and b"-0.0" not in written  # no -0.0 (or a small negative value: the same)
        and max(values) < 1e6
    ):
        return texts  # the common case, all in C: counts, lags, states, small sizes
    for i, value in enumerate(values):
        if type(value) is not float:
            texts[i] = format_value(value).encode()
        elif -1e16 < value < 1e6:
            if -1e-4 < value < 1e-4 and (value != 0.0 or texts[i] == b"-0.0"):
                texts[i] = format_value(value).encode()
        elif 1e6 <= value < 1e16:
            # As `format_value` does from `repr`: "1742471944.5" is "1.7424719445e+09".
            text = texts[i]
            dot = text.find(b".")
            digits = (text[:dot] + text[dot + 1 :]).rstrip(b"0")
            exponent = _EXPONENT_BYTES[dot]
            texts[i] = (
                digits[:1] + b"." + digits[1:] + exponent if len(digits) > 1 else digits + exponent
            )
        else:
            texts[i] = format_value(value).encode()
    return texts


_EXPONENT_BYTES = {dot: exponent.encode() for dot, exponent in _EXPONENTS.items()}


def header(spec: MetricSpec, openmetrics: bool) -> bytes:
    """HELP and TYPE lines of a family for one format."""
    name, kind = spec.name, spec.kind
    if openmetrics and kind == "counter":
        name = name[: -len("_total")]
    elif openmetrics and kind == "info":
        name = name[: -len("_info")]
    elif kind == "info":
        kind = "gauge"
    return f"# HELP {name} {_escape_help(spec.help)}\n# TYPE {name} {kind}\n".encode()


def label_prefix(pairs: Sequence[tuple[str, str]]) -> str:
    """Pre-render constant labels (`target` and static labels) once per target."""
    return ",".join(f'{k}="{escape_label_value(bound_label_value(v))}"' for k, v in pairs)


@dataclass(slots=True)
class _Rendered:
    """One family's series as last rendered, in output order: label values and values, the
    rendered block, each line's length in it and where in its line the value starts (the
    length of `name{labels} `), all in bytes."""

    keys: list[LabelValues]
    values: array[float]  # not a list: the collector walks a list of a million floats
    block: bytes
    lengths: array[int]
    cuts: array[int]
    # The block with each value a `%s` (and `%` doubled): kept while most values change from
    # one poll to the next, so that the block is refilled in C (`_reuse`).
    template: bytes | None = None


class SeriesRenderer:
    """Renders one target's families poll after poll, reusing the previous poll's rendering.

    Upstream inventories come back in a stable order, so a family usually lists exactly the
    label sets of the last poll in the same order. Then a series costs one tuple comparison,
    its value is formatted only if it changed, and the new block is the old one with those
    values spliced in. Otherwise lines are rendered afresh, reusing by label set the known
    heads, and the whole lines whose value is unchanged.
    Only the last poll is remembered: a series gone upstream is forgotten one poll later.
    """

    def __init__(self, constant_labels: Sequence[tuple[str, str]] = ()) -> None:
        self.constant_labels = tuple(constant_labels)
        self._prefix = label_prefix(self.constant_labels)
        self._previous: dict[str, _Rendered] = {}
        self._current: dict[str, _Rendered] = {}
        self._templates: dict[MetricSpec, str] = {}

    def __len__(self) -> int:
        """Series remembered from the last finished poll."""
        return sum(len(rendered.keys) for rendered in self._previous.values())

    def begin(self) -> None:
        """Start a poll's rendering (forgets a half-rendered poll that failed)."""
        self._current = {}

    def finish(self) -> None:
        """End a poll: what it rendered is what the next poll reuses."""
        self._previous, self._current = self._current, {}

    def render(self, family: Family) -> tuple[bytes, int]:
        """Render a family's sample lines; returns (bytes, count). Sample values must be floats.

        A repeated label set keeps its first sample only, so one odd upstream payload can never
        make the whole scrape invalid with a duplicate series.
        """
        name = family.spec.name
        previous = self._previous.get(name)
        earlier = self._current.get(name)
        if previous is not None and earlier is None:
            reused = _reuse(family, previous)
            if reused is not None:
                self._current[name] = reused
                return reused.block, len(reused.keys)
        fresh = self._render_by_label_set(family, previous, earlier)
        if earlier is not None:
            # A second family of the same name in one poll continues the first one's series.
            self._current[name] = _Rendered(
                earlier.keys + fresh.keys,
                earlier.values + fresh.values,
                earlier.block + fresh.block,
                earlier.lengths + fresh.lengths,
                earlier.cuts + fresh.cuts,
            )
        else:
            self._current[name] = fresh
        return fresh.block, len(fresh.keys)

    def _render_by_label_set(
        self, family: Family, previous: _Rendered | None, earlier: _Rendered | None
    ) -> _Rendered:
        if previous is not None and previous.keys and earlier is None:
            known = self._render_moved(family, previous)
            if known is not None:
                return known
        # A label set rendered last poll keeps its head, and its whole line if its value is
        # unchanged: found by its position in the last poll's block.
        where = {labels: i for i, labels in enumerate(previous.keys)} if previous else {}
        old = previous or _Rendered([], array("d"), b"", array("I"), array("I"))
        starts = list(itertools.accumulate(old.lengths, initial=0))
        # Repeats are recognised by their rendered head, not their raw label values: two raw
        # values may render alike (a lone surrogate and "?" both encode as "?"), and a scrape
        # must still never show one series twice.
        seen = set(_heads(earlier)) if earlier else set()
        spec = family.spec
        new_head = self._head_maker(spec)
        keys: list[LabelValues] = []
        values: list[float] = []
        lines: list[bytes] = []
        cuts = array("I")
        for labels, value in zip(family.keys, family.values, strict=True):
            i = where.get(labels)
            line = None
            if i is None:
                if len(labels) != len(spec.labels):
                    raise ValueError(f"{spec.name}: {len(labels)} label values for {spec.labels}")
                head = new_head(labels).encode("utf-8", "replace")
            else:
                start = starts[i]
                head = old.block[start : start + old.cuts[i]]
                if value == old.values[i]:
                    line = old.block[start : starts[i + 1]]
            if head in seen:
                continue  # a repeated series: the first sample wins
            seen.add(head)
            keys.append(labels)
            values.append(value)
            lines.append(line or head + format_value(value).encode() + b"\n")
            cuts.append(len(head))
        lengths = array("I", map(len, lines))
        return _Rendered(keys, array("d", values), b"".join(lines), lengths, cuts)

    def _render_moved(self, family: Family, previous: _Rendered) -> _Rendered | None:
        """The family's lines when its label sets are not exactly the last poll's (some came,
        some went, the order changed), in C-level passes: a label set rendered last poll
        keeps its head, and its value's text while the value is unchanged. None if two label
        sets render alike: `_render_by_label_set` keeps the first of them, line by line."""
        keys, values = family.keys, family.values  # as many of each: `_reuse` checked
        where = {labels: i for i, labels in enumerate(previous.keys)}
        positions = list(map(where.get, keys, itertools.repeat(-1)))
        new = [i for i, position in enumerate(positions) if position < 0]
        for i in new:
            positions[i] = 0  # a stand-in, its head and text written below
        block, starts = previous.block, list(itertools.accumulate(previous.lengths, initial=0))
        line_starts = list(map(starts.__getitem__, positions))
        cuts = array("I", map(previous.cuts.__getitem__, positions))
        value_starts = list(map(operator.add, line_starts, cuts))
        heads = list(map(block.__getitem__, map(slice, line_starts, value_starts)))
        old_values = list(map(previous.values.__getitem__, positions))
        if 2 * sum(map(operator.ne, values, old_values)) > len(values):
            texts = format_values(values)  # most values changed: all written anew at once
        else:
            value_ends = map(_BEFORE, map(starts.__getitem__, map(_NEXT, positions)))
            texts = list(map(block.__getitem__, map(slice, value_starts, value_ends)))
            moved = map(operator.ne, values, old_values)
            changed = list(itertools.compress(itertools.count(), moved))
            for i, text in zip(changed, format_values([values[i] for i in changed]), strict=True):
                texts[i] = text
        if new:
            spec = family.spec
            new_head = self._head_maker(spec)
            for i, text in zip(new, format_values([values[i] for i in new]), strict=True):
                labels = keys[i]
                if len(labels) != len(spec.labels):
                    raise ValueError(f"{spec.name}: {len(labels)} label values for {spec.labels}")
                head = new_head(labels).encode("utf-8", "replace")
                heads[i], cuts[i], texts[i] = head, len(head), text
        if len(set(heads)) != len(heads):
            return None
        block = b"\n".join(map(operator.add, heads, texts)) + b"\n" if heads else b""
        lengths = array("I", map(_NEXT, map(operator.add, cuts, map(len, texts))))
        return _Rendered(keys, array("d", values), block, lengths, cuts)

    def _head_maker(self, spec: MetricSpec) -> Callable[[tuple[str, ...]], str]:
        template = self._templates.get(spec)
        if template is None:
            # A `str.format` template with one field per label value; literal braces doubled.
            parts = [_literal(self._prefix)] if self._prefix else []
            parts += [f'{name}="{{}}"' for name in spec.labels]
            template = f"{spec.name}{{{{{','.join(parts)}}}}} " if parts else f"{spec.name} "
            self._templates[spec] = template
        if not spec.labels:
            head = template.format()
            return lambda _values: head
        fill = template.format
        escaped: dict[str, str] = {}

        def make(values: tuple[str, ...]) -> str:
            texts = []
            for raw in values:
                text = escaped.get(raw)
                if text is None:
                    text = escaped[raw] = escape_label_value(bound_label_value(raw))
                texts.append(text)
            return fill(*texts)

        return make


def _reuse(family: Family, previous: _Rendered) -> _Rendered | None:
    """This poll's block from the previous one when the label sets are exactly the same, in the
    same order, with the values that changed written in; None if a label set differs.
    The hottest code of a poll: all but the changed values is compared in C, list against
    list, so an unchanged series costs tens of nanoseconds."""
    keys, values = family.keys, family.values
    if len(values) != len(keys):
        # The comparisons below would stop at the shorter list and keep a value unchecked.
        raise ValueError(f"{family.spec.name}: {len(keys)} label sets for {len(values)} values")
    if len(keys) != len(previous.keys) or keys != previous.keys:
        return None
    # How many values changed (NaN never equals itself: it is written again, the same bytes).
    changes = sum(map(operator.ne, values, previous.values))
    block, cuts = previous.block, previous.cuts
    if not changes:
        return previous
    now = array("d", values)
    if 2 * changes > len(values):
        # Most values changed (offsets, lags, sizes): every value is written into the
        # family's template at once, rather than spliced in one by one.
        template = previous.template or _template(previous)
        texts = format_values(values)
        lengths = array("I", map(_NEXT, map(operator.add, cuts, map(len, texts))))
        return _Rendered(previous.keys, now, template % tuple(texts), lengths, cuts, template)
    changed = list(itertools.compress(itertools.count(), map(operator.ne, values, previous.values)))
    lengths = array("I", previous.lengths)
    starts = list(itertools.accumulate(lengths, initial=0))
    parts: list[bytes] = []
    cut_out = parts.append
    run = 0  # where the old bytes not yet copied start
    for index, text in zip(changed, format_values([values[i] for i in changed]), strict=True):
        cut = cuts[index]
        cut_out(block[run : starts[index] + cut])
        cut_out(text)
        run = starts[index + 1] - 1  # the line's newline is copied with what follows
        lengths[index] = cut + len(text) + 1
    cut_out(block[run:])
    return _Rendered(previous.keys, now, b"".join(parts), lengths, cuts)


_NEXT = (1).__add__  # a line's length: its head, its value and the newline
_BEFORE = (-1).__add__


def _template(rendered: _Rendered) -> bytes:
    """`rendered`'s block with each value a `%s` and each `%` of its heads doubled."""
    heads = (head.replace(b"%", b"%%") for head in _heads(rendered))
    return b"".join(itertools.chain.from_iterable(zip(heads, itertools.repeat(b"%s\n"))))


def _heads(rendered: _Rendered) -> Iterator[bytes]:
    """Each line's `name{labels} ` head, in order."""
    block, start = rendered.block, 0
    for length, cut in zip(rendered.lengths, rendered.cuts, strict=True):
        yield block[start : start + cut]
        start += length


def _literal(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


def render_samples(family: Family) -> bytes:
    """Render one family on its own (no reuse across calls), e.g. the exporter's own metrics."""
    return SeriesRenderer(()).render(family)[0]


def join_exposition(
    blocks: Iterable[tuple[MetricSpec, Sequence[bytes]]], openmetrics: bool, eof: bool = True
) -> bytes:
    """Join per-family sample blocks under one header each; adds `# EOF` for OpenMetrics
    unless `eof` is False (more families follow)."""
    out: list[bytes] = []
    for spec, parts in blocks:
        if not any(parts):
            continue
        out.append(header(spec, openmetrics))
        out.extend(parts)
    if openmetrics and eof:
        out.append(OPENMETRICS_EOF)
    return b"".join(out)
