"""Every validation error the config can raise speaks YAML, not Python: each key of every model,
global and per system, is fed values of every wrong kind, and no message may carry pydantic's
wording or a secret."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from dataflow_exporter import config as config_mod
from dataflow_exporter.config_messages import INTERNAL_WORDING
from dataflow_exporter.config_models import Defaults, TLSConfig
from dataflow_exporter.errors import ConfigError
from dataflow_exporter.sources.registry import REGISTRY

EXAMPLE = Path(__file__).resolve().parents[1] / "config.example.yaml"
SECRET = "hunter2-secret-9f1c"
# Values of every YAML kind, and the strings that have tripped each validator before.
WRONG_VALUES: list[Any] = [
    None,
    True,
    -1,
    0,
    80800,
    1.5,
    "",
    " ",
    "x",
    "30000",
    "http://h x",
    "http://u:p@h",
    "http://h?token=1",
    "ftp://h",
    "/nonexistent/file",
    "/tmp",
    "(",
    [],
    [1, "a", None, {"k": 1}],
    ["("],
    {"include": 5, "exclude": [None]},
    {"include": ["("]},
    {"unknown": 1},
    {"pipeline": 1, "table": [], "connector": None},
]


def example_targets() -> dict[str, dict[str, Any]]:
    """One valid target per system, from the example config."""
    data = yaml.safe_load(EXAMPLE.read_text())
    return {t["system"]: t for t in data["targets"]}


def keys_of(model: type[BaseModel]) -> list[str]:
    return [k for k in model.model_fields if k not in ("name", "system")]


def errors_for(data: dict[str, Any]) -> list[str]:
    try:
        config_mod.parse(data, env={"X": SECRET})
    except ConfigError as exc:
        return exc.errors
    return []


def all_messages() -> list[str]:
    bases = example_targets()
    messages: list[str] = []
    for system, source in sorted(REGISTRY.items()):
        base = {k: v for k, v in bases[system].items() if "$" not in str(v)}
        for key in keys_of(source.config_model):
            for value in WRONG_VALUES:
                secret = {} if key.startswith("password") else {"password": SECRET}
                target = {**base, **secret, key: value}
                messages += errors_for({"targets": [target]})
        for key in keys_of(TLSConfig):
            for value in WRONG_VALUES:
                messages += errors_for({"targets": [{**base, "tls": {key: value}}]})
    peerdb = bases["peerdb"] | {"password": SECRET}
    for key in keys_of(Defaults):
        for value in WRONG_VALUES:
            messages += errors_for({"global": {key: value}, "targets": [peerdb]})
    for shape in WRONG_VALUES:
        messages += errors_for({"global": shape, "targets": [peerdb]})
        messages += errors_for({"targets": [shape]})
        messages += errors_for({"targets": shape})
        messages += errors_for({"shard": shape, "targets": [peerdb]})
    return messages


MESSAGES = all_messages()


def test_the_sweep_reaches_many_distinct_errors() -> None:
    # Guards the sweep itself: if it stopped reaching the validators, the next test would pass
    # vacuously.
    distinct = {m.split(": ", 1)[1] for m in MESSAGES}
    assert len(distinct) >= 40, sorted(distinct)


@pytest.mark.parametrize("wording", INTERNAL_WORDING)
def test_no_message_uses_library_wording(wording: str) -> None:
    offending = sorted({m for m in MESSAGES if wording.lower() in m.lower()})
    assert not offending


def test_every_message_starts_at_a_yaml_path() -> None:
    roots = ("targets", "global", "shard", "(top level)")
    assert all(m.startswith(roots) for m in MESSAGES), [
        m for m in MESSAGES if not m.startswith(roots)
    ][:5]


def test_no_message_carries_the_secret() -> None:
    assert not [m for m in MESSAGES if SECRET in m]


def test_a_missing_file_is_named_in_its_error() -> None:
    for key in ("password_file", "tls.ca_file"):
        assert any(
            m.startswith("targets[0] (name: ")
            and m.endswith(f").{key}: /nonexistent/file: no such file")
            for m in MESSAGES
        ), key
