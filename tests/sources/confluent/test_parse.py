"""Confluent REST v3 payloads -> records -> families, and the target's config keys."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest

from dataflow_exporter import config as config_mod
from dataflow_exporter.config_models import Filter
from dataflow_exporter.errors import ConfigError, Reason, SchemaError, UpstreamError
from dataflow_exporter.families import Family, LabelMemo, families_by_name
from dataflow_exporter.sources.confluent import (
    LINK_STATES,
    MIRROR_STATUSES,
    PARTITION_METRICS,
    SPECS,
    ConfluentTarget,
    Link,
    MirrorTopic,
    Observation,
    broken_entities,
    build_families,
    entity_counts,
    read_links,
    read_mirror_topics,
    unknown_values,
)
from dataflow_exporter.upstream import Answer
from tests.sources.confluent.upstream_enums import LINK_STATE, MIRROR_TOPIC_STATUS

FIXTURES = Path(__file__).parent / "fixtures"
CLUSTER = "lkc-3w6270"


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def mirror_item(**fields: Any) -> dict[str, Any]:
    """The `orders` item of the example payload, with fields replaced."""
    item: dict[str, Any] = copy.deepcopy(fixture("link_mirrors_list")["data"][0])
    item.update(fields)
    return item


MIRRORS = f"GET /kafka/v3/clusters/{CLUSTER}/links/-/mirrors"


def answer(payload: Any, what: str = MIRRORS) -> Answer:
    return Answer(json.dumps(payload).encode(), what)


def page(items: list[dict[str, Any]]) -> dict[str, Any]:
    """A `ResourceCollection` envelope around `items`."""
    return {"kind": "x", "metadata": {"self": "s"}, "data": items}


def parse_mirror_topics(payload: Any) -> tuple[list[MirrorTopic], str | None]:
    return read_mirror_topics(answer(payload))


def parse_links(payload: Any) -> tuple[list[Link], str | None]:
    return read_links(answer(payload, f"GET /kafka/v3/clusters/{CLUSTER}/links"))


def families_of(
    items: list[dict[str, Any]], links: list[dict[str, Any]] | None = None, partitions: bool = True
) -> dict[str, Family]:
    topics, _ = parse_mirror_topics(page(items))
    parsed_links, _ = parse_links(page(links or []))
    return families_by_name(build_families(Observation(parsed_links, topics), CLUSTER, partitions))


def by_labels(family: Family) -> dict[tuple[str, ...], float]:
    return dict(family.samples)


def test_a_link_and_a_topic_in_unknown_states_are_broken_in_their_own_words() -> None:
    topics, _ = parse_mirror_topics(
        {"metadata": {}, "data": [mirror_item(mirror_status="REBALANCING")]}
    )
    link = {"link_name": "dr", "link_state": "DEGRADED", "link_error": "NO_ERROR"}
    links, _ = parse_links({"metadata": {}, "data": [link]})
    broken = broken_entities(Observation(links, topics), [0.0], now=0.0)
    assert [(b.kind, b.state) for b in broken] == [
        ("link", "DEGRADED"),
        ("mirror topic", "REBALANCING"),
    ]
    assert all(type(b.state) is str and type(b.error) is str for b in broken)


def test_links_list_reads_state_and_error_of_each_link() -> None:
    links, next_url = parse_links(fixture("links_list"))
    assert [(x.name, x.state, x.error) for x in links] == [
        ("dr-link", "ACTIVE", "NO_ERROR"),
        ("partner-link", "UNAVAILABLE", "AUTHENTICATION_ERROR"),
    ]
    assert next_url is None


def test_link_error_message_text_never_becomes_a_label() -> None:
    links, _ = parse_links(fixture("links_list"))
    fams = build_families(Observation(links, []), CLUSTER)
    every_label = {v for f in fams for labels, _ in f.samples for v in labels}
    assert "Please check your api key and secret" not in every_label
    assert by_labels(families_by_name(fams)["confluent_link_error"]) == {
        (CLUSTER, "dr-link", "NO_ERROR"): 1.0,
        (CLUSTER, "partner-link", "AUTHENTICATION_ERROR"): 1.0,
    }


def test_the_state_series_are_confluents_enums_in_the_specs_order() -> None:
    assert LINK_STATES.values == LINK_STATE
    assert MIRROR_STATUSES.values == MIRROR_TOPIC_STATUS


@pytest.mark.parametrize("state", LINK_STATE)
def test_every_link_state_is_one_hot_over_the_five(state: str) -> None:
    link = {"link_name": "l", "cluster_link_id": "c", "topic_names": [], "link_state": state}
    status = by_labels(families_of([], [link])["confluent_link_status"])
    assert len(status) == 5
    assert {labels[-1] for labels, v in status.items() if v == 1.0} == {state}


def test_a_link_without_link_state_has_no_state_series_rather_than_a_made_up_one() -> None:
    # Confluent Platform before 7.6 reports neither link_state nor link_error.
    link = {"link_name": "l", "cluster_link_id": "c", "topic_names": []}
    families = families_of([], [link])
    assert by_labels(families["confluent_link_status"]) == {}
    assert by_labels(families["confluent_link_error"]) == {}


def test_platform_unknown_mirror_status_is_known_and_gets_a_series_only_while_current() -> None:
    unknown = families_of([mirror_item(mirror_status="UNKNOWN")])
    assert (
        by_labels(unknown["confluent_mirror_topic_status"])[
            (CLUSTER, "dr-link", "orders", "UNKNOWN")
        ]
        == 1.0
    )
    active = by_labels(families_of([mirror_item()])["confluent_mirror_topic_status"])
    assert len(active) == 12
    assert (CLUSTER, "dr-link", "orders", "UNKNOWN") not in active


@pytest.mark.parametrize("status", MIRROR_TOPIC_STATUS)
def test_every_mirror_status_is_one_hot_over_the_twelve(status: str) -> None:
    samples = by_labels(
        families_of([mirror_item(mirror_status=status)])["confluent_mirror_topic_status"]
    )
    assert len(samples) == 12
    assert samples[(CLUSTER, "dr-link", "orders", status)] == 1.0
    assert sum(samples.values()) == 1.0


def test_an_unknown_mirror_status_gets_its_own_series_and_is_reported() -> None:
    topics, _ = parse_mirror_topics(
        {"kind": "x", "metadata": {"self": "s"}, "data": [mirror_item(mirror_status="HIBERNATING")]}
    )
    status = by_labels(
        families_by_name(build_families(Observation([], topics), CLUSTER))[
            "confluent_mirror_topic_status"
        ]
    )
    assert status[(CLUSTER, "dr-link", "orders", "HIBERNATING")] == 1.0
    assert len(status) == 13
    assert unknown_values(Observation([], topics)) == [("mirror_status", "HIBERNATING")]


def test_an_unknown_mirror_topic_error_is_sanitised_kept_and_reported() -> None:
    raw = 'QUOTA EXCEEDED/"new"'
    topics, _ = parse_mirror_topics(
        {"kind": "x", "metadata": {"self": "s"}, "data": [mirror_item(mirror_topic_error=raw)]}
    )
    error = families_by_name(build_families(Observation([], topics), CLUSTER))[
        "confluent_mirror_topic_error"
    ]
    assert by_labels(error) == {(CLUSTER, "dr-link", "orders", "QUOTA_EXCEEDED__new_"): 1.0}
    assert unknown_values(Observation([], topics)) == [
        ("mirror_topic_error", "QUOTA_EXCEEDED__new_")
    ]


def test_unknown_link_state_and_error_are_reported() -> None:
    link = {
        "link_name": "l",
        "cluster_link_id": "c",
        "topic_names": [],
        "link_state": "DEGRADED",
        "link_error": "QUOTA_ERROR",
    }
    links, _ = parse_links({"kind": "x", "metadata": {"self": "s"}, "data": [link]})
    assert unknown_values(Observation(links, [])) == [
        ("link_state", "DEGRADED"),
        ("link_error", "QUOTA_ERROR"),
    ]


def test_a_topic_without_mirror_topic_error_has_no_error_series() -> None:
    item = mirror_item()
    del item["mirror_topic_error"]
    assert families_of([item])["confluent_mirror_topic_error"].samples == []


def test_per_partition_values_match_the_unordered_payload() -> None:
    fams = families_of(fixture("link_mirrors_list")["data"])
    lag = by_labels(fams["confluent_mirror_partition_lag"])
    fetched = by_labels(fams["confluent_mirror_partition_last_source_fetch_offset"])
    for item in fixture("link_mirrors_list")["data"]:
        for entry in item["mirror_lags"]:
            key = (CLUSTER, "dr-link", item["mirror_topic_name"], str(entry["partition"]))
            assert lag[key] == entry["lag"]
            if entry["last_source_fetch_offset"] >= 0:
                assert fetched[key] == entry["last_source_fetch_offset"]


def test_partitions_are_sorted_by_number_whatever_order_they_arrive_in() -> None:
    topics, _ = parse_mirror_topics(fixture("link_mirrors_list"))
    assert [p.partition for p in topics[0].lags] == [0, 1, 2]


def test_an_offset_of_minus_one_gets_no_fetch_offset_sample_but_keeps_its_lag() -> None:
    fams = families_of(fixture("link_mirrors_list")["data"])
    key = (CLUSTER, "dr-link", "payments", "0")
    assert key not in by_labels(fams["confluent_mirror_partition_last_source_fetch_offset"])
    assert by_labels(fams["confluent_mirror_partition_lag"])[key] == 0.0
    assert (
        by_labels(fams["confluent_mirror_partition_last_source_fetch_offset"])[
            (CLUSTER, "dr-link", "payments", "1")
        ]
        == 0.0
    )


def test_a_topics_partitions_of_the_last_poll_are_exported_as_this_polls_are() -> None:
    memo = LabelMemo()
    lags = [{"partition": 0, "lag": 1, "last_source_fetch_offset": 5}]
    grown = [*lags, {"partition": 1, "lag": 2, "last_source_fetch_offset": 6}]
    for partitions, expected in [(lags, ["0"]), (grown, ["0", "1"]), (lags, ["0"])]:
        topics, _ = parse_mirror_topics(page([mirror_item(mirror_lags=partitions)]))
        fams = families_by_name(build_families(Observation([], topics), CLUSTER, memo=memo))
        lag = fams["confluent_mirror_partition_lag"]
        assert [key[-1] for key in lag.keys] == expected
        assert lag.values == [1.0, 2.0][: len(expected)]


def test_the_partition_samples_are_what_the_partition_tables_rows_read() -> None:
    # build_families writes PartitionLag's rows out for speed; it must export what they say.
    lags = [
        {"partition": 0, "lag": 3, "last_source_fetch_offset": -1},
        {"partition": 1, "lag": -1, "last_source_fetch_offset": 0},
        {"partition": 2, "lag": 0, "last_source_fetch_offset": 12},
    ]
    (topic,), _ = parse_mirror_topics(page([mirror_item(mirror_lags=lags)]))
    fams = build_families(Observation([], [topic]), CLUSTER)
    exported = {f.spec: by_labels(f) for f in fams}
    for p in topic.lags:
        read = PARTITION_METRICS.read(p, "partition")
        labels = (CLUSTER, "dr-link", "orders", str(p.partition))
        assert read.values == tuple(exported[f.spec].get(labels) for f in PARTITION_METRICS.fields)
    assert [f.spec for f in fams[-2:]] == [f.spec for f in PARTITION_METRICS.fields]


def test_topic_lag_is_the_sum_and_the_max_over_partitions() -> None:
    fams = families_of(fixture("link_mirrors_list")["data"])
    orders = (CLUSTER, "dr-link", "orders")
    assert by_labels(fams["confluent_mirror_topic_lag"])[orders] == 40017.0
    assert by_labels(fams["confluent_mirror_topic_max_partition_lag"])[orders] == 40000.0
    assert by_labels(fams["confluent_mirror_topic_partitions"])[orders] == 3.0


def test_state_change_time_is_state_time_ms_in_seconds() -> None:
    fams = families_of(fixture("link_mirrors_list")["data"])
    changed = by_labels(fams["confluent_mirror_topic_state_change_timestamp_seconds"])
    assert changed[(CLUSTER, "dr-link", "orders")] == pytest.approx(1703285083.428)


def test_a_topic_without_partitions_reports_zero_lag() -> None:
    fams = families_of([mirror_item(mirror_lags=[], num_partitions=0)])
    assert by_labels(fams["confluent_mirror_topic_lag"]) == {(CLUSTER, "dr-link", "orders"): 0.0}
    assert by_labels(fams["confluent_mirror_topic_max_partition_lag"]) == {
        (CLUSTER, "dr-link", "orders"): 0.0
    }


def test_integer_lags_and_offsets_become_float_samples() -> None:
    # The renderer writes floats; an int would lose its ".0" and differ from a fresh rendering.
    lags = [{"partition": 0, "lag": 7, "last_source_fetch_offset": 10}]
    fams = families_of([mirror_item(mirror_lags=lags, num_partitions=1)])
    assert by_labels(fams["confluent_mirror_partition_lag"]) == {
        (CLUSTER, "dr-link", "orders", "0"): 7.0
    }
    assert all(type(v) is float for family in fams.values() for _, v in family.samples)


def test_a_negative_lag_is_left_out_of_samples_sum_and_max() -> None:
    lags = [
        {"partition": 0, "lag": -1, "last_source_fetch_offset": -1},
        {"partition": 1, "lag": 5, "last_source_fetch_offset": 10},
    ]
    fams = families_of([mirror_item(mirror_lags=lags, num_partitions=2)])
    assert by_labels(fams["confluent_mirror_topic_lag"]) == {(CLUSTER, "dr-link", "orders"): 5.0}
    assert set(by_labels(fams["confluent_mirror_partition_lag"])) == {
        (CLUSTER, "dr-link", "orders", "1")
    }


def test_partition_metrics_off_keeps_topic_lag_and_drops_partition_families() -> None:
    fams = families_of(fixture("link_mirrors_list")["data"], partitions=False)
    assert "confluent_mirror_partition_lag" not in fams
    assert "confluent_mirror_partition_last_source_fetch_offset" not in fams
    assert by_labels(fams["confluent_mirror_topic_lag"])[(CLUSTER, "dr-link", "orders")] == 40017.0


def test_a_partition_listed_twice_gives_one_series() -> None:
    lags = [
        {"partition": 0, "lag": 3, "last_source_fetch_offset": 10},
        {"partition": 0, "lag": 3, "last_source_fetch_offset": 10},
    ]
    fams = families_of([mirror_item(mirror_lags=lags, num_partitions=1)])
    assert len(fams["confluent_mirror_partition_lag"].samples) == 1
    assert by_labels(fams["confluent_mirror_topic_lag"]) == {(CLUSTER, "dr-link", "orders"): 3.0}


def test_next_page_link_is_read_from_the_envelope() -> None:
    payload = fixture("link_mirrors_list")
    payload["metadata"]["next"] = "https://pkc.example/kafka/v3/clusters/c/links/-/mirrors?page=2"
    _, next_url = parse_mirror_topics(payload)
    assert next_url == "https://pkc.example/kafka/v3/clusters/c/links/-/mirrors?page=2"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("mirror_status", None, "data[0].mirror_status: expected str, got null"),
        ("state_time_ms", "soon", "data[0].state_time_ms: expected float, got str"),
        ("num_partitions", 2.5, "data[0].num_partitions: expected int, got float"),
        (
            "mirror_lags",
            [{"partition": 0, "lag": 1}],
            "data[0].mirror_lags[0]: object missing required field last_source_fetch_offset",
        ),
        (
            "mirror_lags",
            [{"partition": 0, "lag": True, "last_source_fetch_offset": 1}],
            "data[0].mirror_lags[0].lag: expected float, got bool",
        ),
    ],
)
def test_a_malformed_item_is_a_schema_error_naming_the_field(
    field: str, value: Any, message: str
) -> None:
    with pytest.raises(SchemaError) as caught:
        parse_mirror_topics(page([mirror_item(**{field: value})]))
    assert str(caught.value) == f"{MIRRORS}: {message}"


@pytest.mark.parametrize("key", ["data", "metadata"])
def test_an_envelope_without_data_or_metadata_is_a_schema_error(key: str) -> None:
    payload = page([])
    del payload[key]
    with pytest.raises(SchemaError) as caught:
        parse_mirror_topics(payload)
    assert str(caught.value) == f"{MIRRORS}: object missing required field {key}"


def test_a_topic_without_mirror_lags_is_a_schema_error_but_null_lags_are_no_partitions() -> None:
    item = mirror_item()
    del item["mirror_lags"]
    with pytest.raises(SchemaError, match=re.escape("data[0]: object missing required field")):
        parse_mirror_topics(page([item]))
    (topic,), _ = parse_mirror_topics(page([mirror_item(mirror_lags=None)]))
    assert topic.lags == ()


@pytest.mark.parametrize("field", ["lag", "last_source_fetch_offset"])
@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_a_lag_or_offset_that_is_not_finite_is_refused(field: str, value: str) -> None:
    lags = [{"partition": 0, "lag": 1, "last_source_fetch_offset": 2, field: value}]
    with pytest.raises(SchemaError, match=re.escape(f"data[0].mirror_lags[0].{field}: expected")):
        parse_mirror_topics(page([mirror_item(mirror_lags=lags)]))


@pytest.mark.parametrize("value", ['"nan"', '"inf"'])
def test_a_state_time_that_is_not_finite_is_refused(value: str) -> None:
    body = json.dumps(page([mirror_item(state_time_ms=0)]))
    body = body.replace('"state_time_ms": 0', f'"state_time_ms": {value}')
    with pytest.raises(SchemaError, match=re.escape("data[0].state_time_ms: ")):
        read_mirror_topics(Answer(body.encode(), MIRRORS))


def test_numbers_in_strings_are_read_as_the_numbers() -> None:
    # Confluent sends JSON numbers; the decoder is lax like every source's (protojson's int64).
    lags = [{"partition": "1", "lag": "42", "last_source_fetch_offset": "7"}]
    families = families_of([mirror_item(mirror_lags=lags, num_partitions="3", state_time_ms="5")])
    labels = (CLUSTER, "dr-link", "orders")
    assert by_labels(families["confluent_mirror_partition_lag"]) == {(*labels, "1"): 42.0}
    assert by_labels(families["confluent_mirror_topic_partitions"]) == {labels: 3.0}
    assert by_labels(families["confluent_mirror_topic_state_change_timestamp_seconds"]) == {
        labels: 0.005
    }


def test_a_number_beyond_a_double_is_no_json_the_exporter_reads() -> None:
    body = json.dumps(page([mirror_item(state_time_ms=0)]))
    body = body.replace('"state_time_ms": 0', '"state_time_ms": 1e400')
    with pytest.raises(UpstreamError) as caught:
        read_mirror_topics(Answer(body.encode(), MIRRORS))
    assert caught.value.reason is Reason.DECODE
    assert str(caught.value).startswith(f"{MIRRORS}: invalid JSON")


@pytest.mark.parametrize("field", ["partition", "num_partitions"])
def test_an_integer_beyond_64_bits_is_refused_rather_than_overflowing(field: str) -> None:
    lags = [{"partition": 0, "lag": 1, "last_source_fetch_offset": 2}]
    item = mirror_item(mirror_lags=lags, num_partitions=1)
    if field == "partition":
        lags[0]["partition"] = 2**70
    else:
        item["num_partitions"] = 2**70
    with pytest.raises(SchemaError, match=re.escape(f"{field}: expected int <= {2**63 - 1}")):
        parse_mirror_topics(page([item]))


def test_the_families_are_exported_in_the_order_of_the_specs() -> None:
    fams = build_families(Observation(*_fixture_records()), CLUSTER)
    assert [f.spec for f in fams] == list(SPECS)
    assert [s.name for s in SPECS] == [
        "confluent_link_status",
        "confluent_link_error",
        "confluent_link_task_status",
        "confluent_mirror_topic_status",
        "confluent_mirror_topic_error",
        "confluent_mirror_topic_state_change_timestamp_seconds",
        "confluent_mirror_topic_partitions",
        "confluent_mirror_topic_lag",
        "confluent_mirror_topic_max_partition_lag",
        "confluent_mirror_partition_lag",
        "confluent_mirror_partition_last_source_fetch_offset",
    ]


def _fixture_records() -> tuple[list[Link], list[MirrorTopic]]:
    links, _ = parse_links(fixture("links_list"))
    topics, _ = parse_mirror_topics(fixture("link_mirrors_list"))
    return links, topics


def test_a_links_error_message_that_is_not_a_string_counts_as_none() -> None:
    links, _ = parse_links(page([{"link_name": "l", "link_error_message": 5}]))
    assert links == [Link("l", None, None, "")]


def test_a_link_without_a_name_is_a_schema_error_naming_the_field() -> None:
    with pytest.raises(SchemaError, match=re.escape("data[0]: object missing required field")):
        parse_links(page([{"link_state": "ACTIVE"}]))


def test_entity_counts_group_links_and_topics_by_state() -> None:
    topics, _ = parse_mirror_topics(fixture("link_mirrors_list"))
    links, _ = parse_links(fixture("links_list"))
    assert entity_counts(Observation(links, topics)) == {
        "links ACTIVE": 1,
        "links UNAVAILABLE": 1,
        "mirror topics ACTIVE": 1,
        "mirror topics PAUSED": 1,
        "mirror topics FAILED": 1,
    }


# -- config -----------------------------------------------------------------------------------


def target(**keys: Any) -> dict[str, Any]:
    base = {
        "name": "dr",
        "system": "confluent",
        "url": "https://pkc.example",
        "cluster_id": "lkc-1",
    }
    return {"targets": [base | keys]}


def config_errors(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        config_mod.parse(data, env={})
    return caught.value.errors


def test_config_defaults_discover_every_link_with_partition_metrics_and_a_page_cap() -> None:
    cfg = config_mod.parse(target(username="KEY", password="SECRET"), env={}).targets[0]
    assert isinstance(cfg, ConfluentTarget) and isinstance(cfg.links, Filter)
    assert (cfg.links.include, cfg.partition_metrics, cfg.max_pages) == ((), True, 50)


def test_config_accepts_an_explicit_link_list() -> None:
    cfg = config_mod.parse(target(links=["dr-link", "partner-link"]), env={}).targets[0]
    assert isinstance(cfg, ConfluentTarget)
    assert cfg.links == ("dr-link", "partner-link")


def test_config_requires_the_cluster_id() -> None:
    data = target()
    del data["targets"][0]["cluster_id"]
    assert config_errors(data) == ["targets[0] (name: dr).cluster_id: required key is missing"]


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"username": "K", "password": "S", "token": "T"}, "or token, not both"),
        ({"password": "SECRET"}, "password needs username"),
        ({"username": "KEY"}, "username needs password or password_file"),
        ({"token": "T", "token_file": __file__}, "give either token or token_file"),
        ({"max_pages": 0}, "max_pages: must be at least 1"),
        ({"partitions": False}, "partitions: unknown key"),
    ],
)
def test_config_rejects_inconsistent_credentials_and_bad_keys(
    keys: dict[str, Any], message: str
) -> None:
    errors = config_errors(target(**keys))
    assert any(message in e for e in errors), errors


def test_partitions_come_sorted_and_a_repeated_partition_keeps_its_first_entry() -> None:
    lags = [
        {"partition": 2, "lag": 5, "last_source_fetch_offset": 9},
        {"partition": 0, "lag": 1, "last_source_fetch_offset": 3},
        {"partition": 2, "lag": 7, "last_source_fetch_offset": 11},
    ]
    topics, _ = parse_mirror_topics(page([mirror_item(mirror_lags=lags)]))
    assert [(p.partition, p.lag, p.last_source_fetch_offset) for p in topics[0].lags] == [
        (0, 1.0, 3.0),
        (2, 5.0, 9.0),
    ]


def test_an_integer_beyond_float_precision_stays_exact() -> None:
    lags = [{"partition": 2**60 + 1, "lag": 1, "last_source_fetch_offset": 2}]
    families = families_of([mirror_item(mirror_lags=lags, num_partitions=3.0)])
    ((labels, _),) = families["confluent_mirror_partition_lag"].samples
    assert labels[-1] == str(2**60 + 1)
    assert by_labels(families["confluent_mirror_topic_partitions"]) == {
        (CLUSTER, "dr-link", "orders"): 3.0
    }


@pytest.mark.parametrize("state_time_ms", [1e300, -1, 253_402_300_800_000])
def test_an_absurd_state_time_is_that_topics_error(state_time_ms: float) -> None:
    items = [mirror_item(), mirror_item(mirror_topic_name="bad", state_time_ms=state_time_ms)]
    good, bad = parse_mirror_topics(page(items))[0]
    assert (good.time_error, bad.state_time) == ("", None)
    # The answer's words, as the decoder's refusals: which answer, which topic, which field.
    where = rf"{re.escape(MIRRORS)}: data\[1\](\.|: )state_time_ms"
    assert re.match(rf"{where}: time out of range", bad.time_error)
    assert good.state_time is not None
    # The topic keeps every other series; only its state-change time is absent.
    families = families_of([items[1]])
    labels = (CLUSTER, "dr-link", "bad")
    assert by_labels(families["confluent_mirror_topic_partitions"]) == {labels: 3}
    assert by_labels(families["confluent_mirror_topic_state_change_timestamp_seconds"]) == {}


@pytest.mark.parametrize(
    "unread",
    [b'"\xff"', b"1e400", b'"\\ud800"'],
    ids=["invalid UTF-8", "out of range", "lone surrogate"],
)
def test_a_field_the_source_does_not_read_never_fails_the_answer(unread: bytes) -> None:
    usual = (FIXTURES / "link_mirrors_list.json").read_bytes()
    body = b'{"x": ' + unread + b", " + usual.lstrip()[1:]
    topics, _ = read_mirror_topics(Answer(body, MIRRORS))
    assert topics == read_mirror_topics(Answer(usual, MIRRORS))[0]
    assert topics  # the fixture holds topics, so the comparison compared something


def test_an_answer_nested_deeper_than_python_recurses_is_a_decode_error() -> None:
    # Deeper than the recursion limit wherever the decoder is called from, but JSON a parser
    # reads (up to 1024 levels): an error naming the answer, not a crash.
    usual = (FIXTURES / "link_mirrors_list.json").read_bytes()
    body = b'{"x": ' + b"[" * 1020 + b"]" * 1020 + b", " + usual.lstrip()[1:]
    with pytest.raises(UpstreamError) as caught:
        read_mirror_topics(Answer(body, MIRRORS))
    assert (caught.value.reason, str(caught.value)) == (
        Reason.DECODE,
        f"{MIRRORS}: JSON nested too deeply",
    )
