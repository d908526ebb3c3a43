"""The docs a newcomer follows: the README's first commands, the CLI table against `--help`,
the failure reasons, and links that stay inside the repository."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from dataflow_exporter import cli
from dataflow_exporter.errors import Reason

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
DOCS = [
    ROOT / "README.md",
    ROOT / "CONTRIBUTING.md",
    *sorted((ROOT / "docs").glob("*.md")),
    *sorted((ROOT / "helm").rglob("*.md")),
    ROOT / "helm" / "dataflow-exporter" / "values.yaml",
    ROOT / "config.example.yaml",
]


def first_commands() -> list[str]:
    return re.findall(r"```sh\n(.*?)\n```", README, re.DOTALL)[:2]


def test_the_first_two_commands_make_and_use_their_own_virtualenv() -> None:
    demo, tests = first_commands()
    for command in (demo, tests):
        steps = command.split(" && ")
        assert steps[0] == "python3 -m venv .venv"
        assert all(step.startswith(".venv/bin/") for step in steps[1:]), steps
    assert demo.endswith(".venv/bin/dataflow-exporter demo")
    assert tests.endswith(".venv/bin/python -m pytest")
    assert "Python 3.11" in README.split("```")[0]


def test_ci_runs_the_readmes_test_command_verbatim() -> None:
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert first_commands()[1] in ci
    # No step of CI may fall back on the system Python's pip (refused under PEP 668).
    steps = [line for line in ci if not line.startswith("#")]
    assert not [line for line in steps if re.search(r"(^|\s)(python3 -m pip|pip) install", line)]


def cli_table() -> dict[str, tuple[set[str], str]]:
    section = README[README.index("## Command line") : README.index("## HTTP endpoints")]
    rows: dict[str, tuple[set[str], str]] = {}
    for line in section.splitlines():
        match = re.match(r"\| `(--[a-z.-]+)`[^|]*\| ([a-z, ]+) \| ([^|]+) \|", line)
        if match:
            flag, commands, default = match.groups()
            rows[flag] = ({c.strip() for c in commands.split(",")}, default.strip())
    return rows


def parser_flags() -> dict[str, tuple[set[str], set[str]]]:
    parser = cli.build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    found: dict[str, tuple[set[str], set[str]]] = {}
    for command, subparser in sub.choices.items():
        for action in subparser._actions:
            if not action.option_strings or isinstance(action, argparse._HelpAction):
                continue
            commands, defaults = found.setdefault(action.option_strings[0], (set(), set()))
            commands.add(command)
            default = action.default
            defaults.add(
                "none"
                if default in (None, [])
                else ("on" if default else "off")
                if isinstance(default, bool)
                else f"`{default}`"
            )
    return found


def test_the_readmes_flag_table_matches_help() -> None:
    table, flags = cli_table(), parser_flags()
    assert set(table) == set(flags)
    for flag, (commands, defaults) in flags.items():
        documented_commands, documented_default = table[flag]
        assert documented_commands == commands, flag
        assert all(d in documented_default for d in defaults), (flag, defaults)


def test_the_readmes_check_exit_statuses_match_the_command() -> None:
    statuses = (cli.EXIT_OK, cli.EXIT_INVALID, cli.EXIT_USAGE, cli.EXIT_ENVIRONMENT)
    for status in statuses:
        assert f"**{status}**" in README
    parser = cli.build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    check_help = sub.choices["check"].description or ""
    assert all(f"{status} " in check_help for status in statuses)


def test_every_failure_reason_is_documented() -> None:
    (row,) = [
        line for line in README.splitlines() if "`dataflow_exporter_target_errors_total`" in line
    ]
    assert all(reason.value in row for reason in Reason)


@pytest.mark.parametrize("path", DOCS, ids=[str(p.relative_to(ROOT)) for p in DOCS])
def test_docs_refer_only_to_files_inside_the_repository(path: Path) -> None:
    text = path.read_text()
    assert "DESIGN.md" not in text and "../shared" not in text
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
        if re.match(r"[a-z]+://", target) or target.startswith("mailto:"):
            continue
        resolved = (path.parent / target).resolve()
        assert resolved.is_relative_to(ROOT) and resolved.exists(), target


def test_contributing_names_every_module_of_the_package() -> None:
    """The layout table is where a newcomer learns what each module holds: none may be missing,
    none may be named that no longer exists."""
    text = (ROOT / "CONTRIBUTING.md").read_text()
    table = text[text.index("| module | holds |") : text.index("Tests mirror the code")]
    named = {
        name.removesuffix(".py").rstrip("/")
        for row in table.splitlines()
        for name in re.findall(r"`([a-z_]+(?:\.py|/))`", row.split("|")[1] if "|" in row else "")
    }
    package = ROOT / "dataflow_exporter"
    modules = {p.stem for p in package.glob("*.py") if p.stem != "__init__"}
    modules |= {p.name for p in package.iterdir() if (p / "__init__.py").is_file()}
    assert named == modules


def test_the_readmes_diagram_names_the_modules_that_do_the_work() -> None:
    """The "How it works" diagram is where a newcomer first meets the module names: each it
    names exists, and the core's path from config to `/metrics` is all there."""
    section = README[README.index("## How it works") :]
    diagram = section.split("```", 2)[1]
    package = ROOT / "dataflow_exporter"
    modules = {p.stem for p in package.glob("*.py")} | {
        f"sources/{p.stem}" for p in (package / "sources").glob("*.py")
    }
    path = {"config", "scheduler", "upstream", "auth", "snapshot", "store", "records"}
    path |= {"exposition_cache", "exposition", "gzip_parts", "self_metrics", "server"}
    path |= {"status_cache", "backoff", "sources/registry", "sources/base"}
    named = set(re.findall(r"\b(?:sources/)?[a-z]+(?:_[a-z]+)*\b", diagram))
    assert path <= named & modules, sorted(path - named)
    assert "collector" not in diagram
