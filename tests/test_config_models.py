"""Config models: the shard, validated once whether it comes from the YAML `shard:` key or the
`--shard.*` flags, and each way of giving it wrong in the words of where it was given."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from dataflow_exporter import config as config_mod
from dataflow_exporter.cli import shard_from
from dataflow_exporter.config_models import Shard, not_both
from dataflow_exporter.errors import ConfigError

TARGETS = [{"name": "a", "system": "peerdb", "url": "http://p:3000"}]


def _config_errors(shard: Any) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        config_mod.parse({"shard": shard, "targets": TARGETS}, env={})
    return caught.value.errors


def test_no_shard_is_the_whole_of_one() -> None:
    assert (Shard().index, Shard().count) == (0, 1)
    assert Shard().primary
    assert Shard().owns("anything")


@pytest.mark.parametrize(("index", "count"), [(0, 1), (0, 3), (2, 3)])
def test_a_shard_within_its_count_is_valid(index: int, count: int) -> None:
    shard = Shard.model_validate({"index": index, "count": count})
    assert (shard.index, shard.count) == (index, count)


@pytest.mark.parametrize(
    ("given", "where"),
    [
        ({"index": 3, "count": 3}, ()),
        ({"index": 0, "count": 0}, ("count",)),
        ({"index": -1, "count": 2}, ("index",)),
        ({"index": "1", "count": 2}, ("index",)),
        ({"index": True, "count": 2}, ("index",)),
        ({"index": 1.0, "count": 2}, ("index",)),
        ({"count": 3}, ()),
        ({"index": 1}, ()),
        ({"index": 0, "count": 2, "replicas": 2}, ("replicas",)),
    ],
    ids=[
        "index-not-below-count",
        "count-zero",
        "index-negative",
        "index-text",
        "index-boolean",
        "index-float",
        "count-alone",
        "index-alone",
        "unknown-key",
    ],
)
def test_an_invalid_shard_is_refused_at_the_key_at_fault(
    given: dict[str, Any], where: tuple[str, ...]
) -> None:
    with pytest.raises(ValidationError) as caught:
        Shard.model_validate(given)
    assert tuple(caught.value.errors()[0]["loc"]) == where


def test_a_shard_is_frozen_and_equal_by_value() -> None:
    shard = Shard(index=1, count=3)
    assert shard == Shard(index=1, count=3)
    assert hash(shard) == hash(Shard(index=1, count=3))
    with pytest.raises(ValidationError):
        shard.index = 2  # type: ignore[misc]


def test_a_constructed_shard_is_validated_like_a_loaded_one() -> None:
    with pytest.raises(ValidationError):
        Shard(index=3, count=3)


@pytest.mark.parametrize(
    ("shard", "error"),
    [
        ({"index": 3, "count": 3}, "shard: need count >= 1 and 0 <= index < count"),
        ({"index": 0, "count": 0}, "shard.count: must be at least 1"),
        ({"index": "1", "count": 3}, "shard.index: expected a whole number"),
        ({"count": 3}, "shard: index and count go together"),
        ({"index": 0, "count": 2, "replicas": 2}, "shard.replicas: unknown key"),
        ([0, 2], "shard: expected a mapping (key: value)"),
    ],
)
def test_the_config_names_the_yaml_path_of_a_bad_shard(shard: Any, error: str) -> None:
    assert _config_errors(shard) == [error]


def test_the_config_loads_a_valid_shard() -> None:
    loaded = config_mod.parse({"shard": {"index": 1, "count": 2}, "targets": TARGETS}, env={})
    assert loaded.shard == Shard(index=1, count=2)


@pytest.mark.parametrize(
    ("index", "count", "error"),
    [
        ("1", None, "--shard.index and --shard.count go together"),
        (None, 3, "--shard.index and --shard.count go together"),
        ("3", 3, "invalid shard 3/3: need 0 <= index < count"),
        ("0", 0, "--shard.count 0: must be at least 1"),
        ("one", 3, "--shard.index one: expected a whole number"),
        ("-1", 3, "--shard.index -1: expected a whole number"),
    ],
)
def test_the_command_line_names_the_flags_of_a_bad_shard(
    index: str | None, count: int | None, error: str
) -> None:
    with pytest.raises(ValueError) as caught:
        shard_from(index, count)
    assert str(caught.value) == error


def test_the_command_line_takes_the_index_from_the_hostname_ordinal() -> None:
    assert shard_from("hostname", 3, hostname="exporter-2") == Shard(index=2, count=3)
    with pytest.raises(ValueError, match=r"^--shard.index hostname \(exporter\): expected"):
        shard_from("hostname", 3, hostname="exporter")
    assert shard_from(None, None) is None


def test_not_both_refuses_a_secret_given_inline_and_as_a_file() -> None:
    with pytest.raises(ValueError, match="give either password or password_file, not both"):
        not_both({"password": "x", "password_file": "/p"}, "password", "password_file")
    given = {"password": "x", "password_file": None}
    assert not_both(given, "password", "password_file") is given
