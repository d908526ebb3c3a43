"""Config loading: every validation rule has a bad config with its exact error."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from dataflow_exporter import config as config_mod
from dataflow_exporter.config_models import Filter, parse_duration
from dataflow_exporter.errors import ConfigError
from dataflow_exporter.sources.registry import REGISTRY

CONFIGS = Path(__file__).parent / "configs"
BAD = sorted(CONFIGS.glob("bad-*.yaml"))


def expected_error(path: Path) -> str:
    first = path.read_text().splitlines()[0]
    assert first.startswith("# error: "), f"{path.name} must start with '# error: ...'"
    return first.removeprefix("# error: ").replace("{systems}", ", ".join(sorted(REGISTRY)))


@pytest.mark.parametrize("path", BAD, ids=[p.stem for p in BAD])
def test_bad_config_is_rejected_with_its_yaml_path(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(CONFIGS)  # the files they name are beside them
    with pytest.raises(ConfigError) as caught:
        config_mod.load(path, env={})
    assert any(e.endswith(expected_error(path)) for e in caught.value.errors), caught.value.errors


# The YAML path an error starts with, the target's name included.
PATH = re.compile(r"[^ :]+(?: \(name: [^)]*\)[^ :]*)?")


def test_every_error_is_reported_at_once(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "global: {interval: fast}\n"
        "targets:\n"
        "  - {name: a, system: peerdb, url: 'ftp://x', color: red}\n"
        "  - {name: b, system: nope, url: 'http://x'}\n"
    )
    with pytest.raises(ConfigError) as caught:
        config_mod.load(path, env={})
    paths = sorted(PATH.match(e).group(0) for e in caught.value.errors)  # type: ignore[union-attr]
    assert paths == [
        "global.interval",
        "targets[0] (name: a).color",
        "targets[0] (name: a).url",
        "targets[1] (name: b).system",
    ]


def test_global_defaults_apply_and_targets_override_them() -> None:
    cfg = config_mod.parse(
        {
            "global": {"interval": "1m", "timeout": "20s", "max_concurrency": 3},
            "targets": [
                {"name": "a", "system": "peerdb", "url": "http://a:3000"},
                {"name": "b", "system": "peerdb", "url": "http://b:3000/", "interval": "2m"},
            ],
        },
        env={},
    )
    a, b = cfg.targets
    assert (a.interval, a.timeout, a.max_concurrency) == (60.0, 20.0, 3)
    assert (b.interval, b.timeout) == (120.0, 20.0)
    assert b.url == "http://b:3000"


def test_environment_references_expand_with_defaults_and_dollar_escape() -> None:
    cfg = config_mod.parse(
        {
            "targets": [
                {
                    "name": "${NAME}",
                    "system": "peerdb",
                    "url": "${URL:-http://fallback:3000}",
                    "labels": {"note": "costs $$5"},
                }
            ]
        },
        env={"NAME": "from-env"},
    )
    target = cfg.targets[0]
    assert (target.name, target.url, target.labels) == (
        "from-env",
        "http://fallback:3000",
        {"note": "costs $5"},
    )


def test_loaded_config_is_frozen() -> None:
    cfg = config_mod.parse({"targets": [{"name": "a", "system": "peerdb", "url": "http://a"}]})
    with pytest.raises(ValueError, match="frozen"):
        cfg.targets[0].name = "b"  # type: ignore[misc]


def test_an_unreadable_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        config_mod.load(tmp_path / "missing.yaml")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30),
        ("5m", 300),
        ("1h30m", 5400),
        ("250ms", 0.25),
        ("2d", 172800),
        ("1w", 604800),
        (15, 15),
    ],
)
def test_durations_parse_to_seconds(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == seconds


def test_filters_include_then_exclude_by_regex_search() -> None:
    f = Filter(include=("^orders_", "^users_"), exclude=("_tmp$",))
    assert [n for n in ["orders_a", "users_b", "orders_tmp", "events"] if f.matches(n)] == [
        "orders_a",
        "users_b",
    ]


def test_example_config_is_valid() -> None:
    example = Path(__file__).resolve().parents[1] / "config.example.yaml"
    env = {
        "PEERDB_PASSWORD": "x" * 8,
        "CC_API_KEY": "key",
        "CC_API_SECRET": "secret-value",
        "FELDERA_API_KEY": "apikey:abc",
        "ETLWORKS_PASSWORD": "pw-value",
    }
    cfg = config_mod.load(example, env=env)
    assert {t.system for t in cfg.targets} == set(REGISTRY)


GLOBAL_FROM_AN_UNSET_VARIABLE = """\
global:
  interval: ${SCRAPE_INTERVAL}
targets:
  - {name: a, system: peerdb, url: "http://peerdb:3001"}
  - {name: b, system: peerdb, url: "http://peerdb:3002"}
"""


def test_an_unset_variable_under_global_is_reported_once_not_under_each_target(
    tmp_path: Path,
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(GLOBAL_FROM_AN_UNSET_VARIABLE)
    report = config_mod.check(path, env={})
    assert report.errors == []
    assert len(report.environment) == 1
    assert report.environment[0].startswith("global.interval: ")


def test_an_unset_variable_under_global_is_no_error_when_checking_syntax_only(
    tmp_path: Path,
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(GLOBAL_FROM_AN_UNSET_VARIABLE)
    report = config_mod.check(path, env={}, syntax_only=True)
    assert (report.errors, report.environment) == ([], [])


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"target": []}, "target: unknown key (did you mean targets?)"),
        ({"global": {"intervall": "1m"}}, "global.intervall: unknown key (did you mean interval?)"),
        (
            {"targets": [{"name": "p", "system": "peerdb", "url": "http://p", "pasword": "x"}]},
            "targets[0] (name: p).pasword: unknown key (did you mean password?)",
        ),
        (
            {
                "targets": [
                    {"name": "p", "system": "peerdb", "url": "http://p", "tls": {"cafile": "x"}}
                ]
            },
            "targets[0] (name: p).tls.cafile: unknown key (did you mean ca_file?)",
        ),
        (
            {
                "targets": [
                    {"name": "p", "system": "peerdb", "url": "http://p", "mirrors": {"inclde": []}}
                ]
            },
            "targets[0] (name: p).mirrors.inclde: unknown key (did you mean include?)",
        ),
        (
            {"targets": [{"name": "p", "system": "peerdb", "url": "http://p", "colour": "x"}]},
            "targets[0] (name: p).colour: unknown key",
        ),
    ],
)
def test_an_unknown_key_is_told_the_closest_key(data: dict[str, Any], error: str) -> None:
    data.setdefault("targets", [{"name": "a", "system": "peerdb", "url": "http://p"}])
    with pytest.raises(ConfigError) as caught:
        config_mod.parse(data, env={})
    assert error in caught.value.errors


def test_an_error_names_the_target_by_index_and_name_and_by_index_alone_without_a_name() -> None:
    data = {
        "targets": [
            {"name": "orders-peerdb", "system": "peerdb", "url": "ftp://p"},
            {"system": "peerdb", "url": "ftp://p"},
            {"name": "bad name!", "system": "peerdb", "url": "ftp://p"},
        ]
    }
    with pytest.raises(ConfigError) as caught:
        config_mod.parse(data, env={})
    paths = {PATH.match(e).group(0) for e in caught.value.errors}  # type: ignore[union-attr]
    assert {p for p in paths if p.endswith(".url")} == {
        "targets[0] (name: orders-peerdb).url",
        "targets[1].url",
        "targets[2].url",
    }


def test_errors_are_logged_with_the_path_apart_from_the_problem() -> None:
    assert config_mod.log_form(
        [
            "targets[3] (name: orders-peerdb).password: environment variable X is not set",
            "global.alerts.PeerDBSlotLagHigh.for: duration must be greater than zero",
            "(top level): expected a mapping with 'global' and 'targets'",
            "/etc/x.yaml: invalid YAML at line 3, column 1: found a tab",
            "no path here",
        ]
    ) == [
        {
            "at": "targets[3] (name: orders-peerdb).password",
            "problem": "environment variable X is not set",
        },
        {
            "at": "global.alerts.PeerDBSlotLagHigh.for",
            "problem": "duration must be greater than zero",
        },
        {"at": "(top level)", "problem": "expected a mapping with 'global' and 'targets'"},
        {"at": "/etc/x.yaml", "problem": "invalid YAML at line 3, column 1: found a tab"},
        "no path here",
    ]


@pytest.mark.parametrize(
    ("system", "url"),
    [
        ("peerdb", "https://gw.example/peerdb/api/v1"),
        ("feldera", "https://gw.example/feldera/v0/"),
        ("confluent", "https://gw.example/kafka/v3"),
        ("confluent", "https://gw.example/kafka/v3/clusters"),
        ("etlworks", "https://gw.example/etl/rest/v1"),
    ],
)
def test_a_url_ending_in_the_api_path_the_exporter_adds_is_refused(system: str, url: str) -> None:
    target = {"name": "t", "system": system, "url": url, "cluster_id": "lkc-1", "api_key": "k"}
    if system != "confluent":
        del target["cluster_id"]
    with pytest.raises(ConfigError) as caught:
        config_mod.parse({"targets": [target]}, env={})
    (error,) = [e for e in caught.value.errors if ".url:" in e]
    assert "which the exporter adds to every request itself" in error


def test_a_path_prefix_that_only_resembles_an_api_path_is_kept() -> None:
    target = {"name": "t", "system": "peerdb", "url": "https://gw.example/api/v10"}
    (loaded,) = config_mod.parse({"targets": [target]}, env={}).targets
    assert loaded.url == "https://gw.example/api/v10"
