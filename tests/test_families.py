"""Metric specs refuse what Prometheus would reject, families hold float samples, long label
values are capped yet stay distinct, and state sets export one-hot with unknowns cleaned."""

from __future__ import annotations

import pytest

from dataflow_exporter.families import (
    MAX_LABEL_VALUE_LENGTH,
    MAX_UNKNOWN_STATE_LENGTH,
    Family,
    LabelMemo,
    MetricSpec,
    StateSet,
    Unknown,
    bound_label_value,
    families_by_name,
)

STATUS = MetricSpec("demo_thing_status", "gauge", "Thing state.", ("thing", "status"))


@pytest.mark.parametrize(
    ("name", "kind", "labels", "message"),
    [
        ("demo-thing", "gauge", (), "invalid metric name"),
        ("1demo", "gauge", (), "invalid metric name"),
        ("demo_rows", "counter", (), "must end in _total"),
        ("demo_thing", "info", (), "must end in _info"),
        ("demo_up", "gauge", ("__reserved",), "invalid label name"),
        ("demo_up", "gauge", ("a-b",), "invalid label name"),
        ("demo_up", "gauge", ("9lives",), "invalid label name"),
    ],
)
def test_a_spec_prometheus_would_reject_is_refused(
    name: str, kind: str, labels: tuple[str, ...], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        MetricSpec(name, kind, "Help.", labels)  # type: ignore[arg-type]


def test_valid_specs_of_each_kind_are_accepted() -> None:
    specs = [
        MetricSpec("demo:rate_up", "gauge", "Help.", ("_private", "target2")),
        MetricSpec("demo_rows_total", "counter", "Help."),
        MetricSpec("demo_build_info", "info", "Help.", ("version",)),
    ]
    assert [spec.kind for spec in specs] == ["gauge", "counter", "info"]


def test_add_stores_label_values_as_a_tuple_and_the_value_as_a_float() -> None:
    family = Family(STATUS)
    family.add(["a", "UP"], 1)
    ((labels, value),) = family.samples
    assert (labels, value) == (("a", "UP"), 1.0)
    assert type(value) is float


def test_a_family_of_pairs_keeps_every_sample_in_order_with_float_values() -> None:
    family = Family.of(STATUS, [(("a", "UP"), 1), (("b", "UP"), 0.5)])
    assert family.keys == [("a", "UP"), ("b", "UP")]
    assert family.values == [1.0, 0.5]
    assert [type(value) for value in family.values] == [float, float]


def test_short_label_values_are_kept_as_they_are() -> None:
    value = "x" * MAX_LABEL_VALUE_LENGTH
    assert bound_label_value(value) == value


def test_long_label_values_are_capped_distinct_and_stable() -> None:
    one, two = "x" * 500 + "1", "x" * 500 + "2"
    capped = bound_label_value(one)
    assert len(capped) == MAX_LABEL_VALUE_LENGTH
    assert capped.startswith("x" * 100)
    assert capped != bound_label_value(two)
    assert capped == bound_label_value(one)


def test_a_lone_surrogate_in_a_long_value_is_capped_without_error() -> None:
    assert len(bound_label_value("\ud800" * 300)) == MAX_LABEL_VALUE_LENGTH


def test_a_known_state_is_kept_and_reported_known() -> None:
    states = StateSet(("RUNNING", "FAILED"), sparse=frozenset({"PAUSING"}))
    for name in ("FAILED", "PAUSING"):
        state = states.normalise(name)
        assert (type(state), state) == (str, name)


@pytest.mark.parametrize(
    ("raw", "label"),
    [
        ("Running now!", "Running_now_"),
        ("a{b}=c", "a_b__c"),
        ("", "_"),
        (7, "7"),
        ("z" * 100, "z" * MAX_UNKNOWN_STATE_LENGTH),
    ],
)
def test_an_unknown_state_is_cleaned_capped_and_reported_unknown(raw: object, label: str) -> None:
    state = StateSet(("RUNNING",)).normalise(raw)
    assert (type(state), state) == (Unknown, label)


def test_one_hot_gives_every_known_state_and_a_one_for_the_current() -> None:
    family = Family(STATUS)
    StateSet(("UP", "DOWN", "PAUSED")).one_hot(family, ("a",), "DOWN")
    assert family.samples == [(("a", "UP"), 0.0), (("a", "DOWN"), 1.0), (("a", "PAUSED"), 0.0)]


def test_one_hot_marks_each_entitys_own_state_in_a_shared_family() -> None:
    family = Family(STATUS)
    states = StateSet(("UP", "DOWN"))
    states.one_hot(family, ("a",), "UP")
    states.one_hot(family, ("b",), "DOWN")
    assert family.samples == [
        (("a", "UP"), 1.0),
        (("a", "DOWN"), 0.0),
        (("b", "UP"), 0.0),
        (("b", "DOWN"), 1.0),
    ]


@pytest.mark.parametrize("odd", [None, "PAUSING", "SOMETHING_NEW"])
def test_many_entities_states_at_once_give_the_samples_one_by_one_would(odd: str | None) -> None:
    states = StateSet(("UP", "DOWN", "PAUSED"), sparse=frozenset({"PAUSING"}))
    currents = ["DOWN", "UP", "PAUSED", *([odd] if odd else [])]
    prefixes = [(f"t{i}",) for i in range(len(currents))]
    one_by_one, at_once = Family(STATUS), Family(STATUS)
    for prefix, current in zip(prefixes, currents, strict=True):
        states.one_hot(one_by_one, prefix, states.normalise(current))
    states.one_hot_many(at_once, prefixes, [states.normalise(c) for c in currents], LabelMemo())
    assert at_once.samples == one_by_one.samples


def test_many_entities_states_need_a_state_each() -> None:
    with pytest.raises(ValueError, match="2 label sets for 1 states"):
        StateSet(("UP",)).one_hot_many(Family(STATUS), [("a",), ("b",)], ["UP"])


def test_an_entitys_state_label_sets_are_the_last_polls_while_it_stays() -> None:
    states, memo = StateSet(("UP", "DOWN")), LabelMemo()
    first, second = Family(STATUS), Family(STATUS)
    states.one_hot_many(first, [("a",), ("b",)], ["UP", "UP"], memo)
    states.one_hot_many(second, [("b",), ("c",)], ["DOWN", "UP"], memo)
    assert second.keys[0] is first.keys[2]  # b's, made last poll
    assert second.samples == [
        (("b", "UP"), 0.0),
        (("b", "DOWN"), 1.0),
        (("c", "UP"), 1.0),
        (("c", "DOWN"), 0.0),
    ]
    assert set(memo.kept[STATUS.name]) == {("b",), ("c",)}  # a is gone: forgotten


def test_label_sets_are_made_again_for_a_key_the_last_poll_did_not_have() -> None:
    memo, made = LabelMemo(), []

    def make(key: tuple[str, int]) -> tuple[tuple[str, ...], ...]:
        made.append(key)
        return tuple((key[0], str(n)) for n in range(key[1]))

    memo.label_sets("f", [("t", 2)], make)
    again = memo.label_sets("f", [("t", 2), ("t", 3)], make)
    assert made == [("t", 2), ("t", 3)]
    assert again[1] == (("t", "0"), ("t", "1"), ("t", "2"))
    memo.label_sets("f", [("t", 3), ("u", 1)], make)  # as many as before, one gone
    assert set(memo.kept["f"]) == {("t", 3), ("u", 1)}


@pytest.mark.parametrize("current", ["PAUSING", "SOMETHING_NEW"])
def test_a_sparse_or_unknown_current_state_gets_its_own_series(current: str) -> None:
    family = Family(STATUS)
    StateSet(("UP", "DOWN"), sparse=frozenset({"PAUSING"})).one_hot(family, ("a",), current)
    assert family.samples == [(("a", "UP"), 0.0), (("a", "DOWN"), 0.0), (("a", current), 1.0)]


def test_families_are_indexed_by_metric_name() -> None:
    status, rows = Family(STATUS), Family(MetricSpec("demo_rows_total", "counter", "Rows."))
    assert families_by_name([status, rows]) == {
        "demo_thing_status": status,
        "demo_rows_total": rows,
    }


def test_a_missing_state_is_unknown_and_labelled_null_as_json_writes_it() -> None:
    state = StateSet(("RUNNING",)).normalise(None)
    assert (type(state), state) == (Unknown, "null")


def test_an_unknown_state_spelling_a_known_one_marks_it_without_a_second_series() -> None:
    # "STATUS RUNNING" cleans to a known name: still reported unknown, one series per state.
    states = StateSet(("STATUS_RUNNING", "STATUS_PAUSED"))
    state = states.normalise("STATUS RUNNING")
    assert isinstance(state, Unknown)
    family = Family(STATUS)
    states.one_hot(family, ("a",), state)
    assert family.samples == [(("a", "STATUS_RUNNING"), 1.0), (("a", "STATUS_PAUSED"), 0.0)]


def test_a_value_that_is_no_number_leaves_the_family_as_it_was() -> None:
    family = Family(STATUS)
    with pytest.raises(ValueError):
        family.add(["a", "UP"], "not a number")  # type: ignore[arg-type]
    assert (family.keys, family.values) == ([], [])
