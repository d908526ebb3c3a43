"""Every shell command in the docs works as written.

Each line of a ```sh, ```bash or ```shell block (and each `$ ` line of a ```console block) in
README.md, CONTRIBUTING.md, docs/*.md and the chart's README is split into its commands (at
`&&`, `||`, `;` and `|`) and checked:

- the cheap, safe ones run for real: `scripts/regenerate.sh` in a copy of the repository (and
  must leave the committed artefacts as they are), `promtool` on the repository's rules;
- `dataflow-exporter …` (also as `.venv/bin/dataflow-exporter`) must parse with the CLI's own
  parser: the sub-command, every flag and its value;
- `.venv/bin/python -m MODULE` and `.venv/bin/python SCRIPT` must name a module or script of the
  repository (or an installed tool such as pytest) whose `--help` lists every flag used;
- a bare `python`, `python3` (except to make the virtualenv) or `pip` fails: an externally
  managed system Python (PEP 668) refuses them;
- every repository path a command names (`alerts/…`, `./helm/…`, globs included) exists, and a
  program is either one of the repository's, one in the README's `.venv`, or a known tool.

A failure names the doc file and line.
"""

from __future__ import annotations

import glob
import importlib.util
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

from dataflow_exporter import cli
from tests.support.tools import require_tool

ROOT = Path(__file__).resolve().parents[2]
DOCS = [
    ROOT / "README.md",
    ROOT / "CONTRIBUTING.md",
    *sorted((ROOT / "docs").glob("*.md")),
    ROOT / "helm" / "dataflow-exporter" / "README.md",
]
SHELL_BLOCKS = {"sh", "bash", "shell"}
FENCE = re.compile(r"^\s*```(\S*)")
# Programs the docs may run that are not the project's: the user's own tools.
KNOWN_TOOLS = {
    "[",
    "apt-get",
    "curl",
    "cut",
    "docker",
    "echo",
    "git",
    "helm",
    "htpasswd",
    "jq",
    "kubectl",
    "pipx",
    "podman",
    "promtool",
    "sudo",
}
# Shell words that start or end a compound command, and `sudo`: the command after them is checked.
SHELL_KEYWORDS = {"sudo", "while", "until", "if", "then", "do", "done", "else", "elif", "fi", "!"}
SUBSTITUTION = re.compile(r"\$\(([^()]*)\)")
# What a command may start with to name the repository's own files.
TOP_LEVEL = {p.name for p in ROOT.iterdir() if not p.name.startswith(".")} | {".ci"}
VENV_BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class Command:
    """One command of a doc's shell block, where it is written."""

    doc: Path
    line: int
    argv: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.doc.relative_to(ROOT)}:{self.line}: {shlex.join(self.argv)}"


def shell_lines(doc: Path) -> Iterator[tuple[int, str]]:
    """(line number, command text) of each command line in a doc's shell blocks, with
    continuation lines joined onto the line that starts the command."""
    lang: str | None = None
    pending: tuple[int, str] | None = None
    for number, raw in enumerate(doc.read_text(encoding="utf-8").splitlines(), 1):
        fence = FENCE.match(raw)
        if fence:
            lang = (fence[1] or "none") if lang is None else None
            continue
        if lang not in SHELL_BLOCKS | {"console"}:
            continue
        text = raw.strip()
        if lang == "console":
            if not text.startswith("$ "):
                continue
            text = text[2:]
        start, so_far = pending if pending else (number, "")
        if text.endswith("\\"):
            pending = (start, so_far + text[:-1] + " ")
            continue
        pending = None
        if (so_far + text).strip():
            yield start, so_far + text


def split_commands(text: str) -> list[list[str]]:
    """A shell line as its simple commands: split at `&&`, `||`, `;` and `|`, comments
    dropped, quotes removed as the shell would; a `$(…)` is a command of its own."""
    inner: list[list[str]] = []
    while (found := SUBSTITUTION.search(text)) is not None:
        inner += split_commands(found[1])
        text = text[: found.start()] + "SUBST" + text[found.end() :]
    return inner + _simple_commands(text)


def _simple_commands(text: str) -> list[list[str]]:
    lexer = shlex.shlex(text, posix=True, punctuation_chars="&|;")
    lexer.whitespace_split = True
    lexer.commenters = "#"
    commands: list[list[str]] = [[]]
    for token in lexer:
        if token in {"&&", "||", ";", "|", "&"}:
            commands.append([])
        else:
            commands[-1].append(token)
    return [command for command in commands if command]


def without_prefix(argv: list[str]) -> tuple[str, ...]:
    """The command `sudo`, a shell keyword or leading `NAME=value` assignments run: the one to
    check."""
    while argv and (
        argv[0] in SHELL_KEYWORDS or re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=\S*", argv[0])
    ):
        argv = argv[1:]
    return tuple(argv)


def doc_commands() -> list[Command]:
    return [
        Command(doc, line, without_prefix(argv))
        for doc in DOCS
        for line, text in shell_lines(doc)
        for argv in split_commands(text)
        if without_prefix(argv)
    ]


COMMANDS = doc_commands()


def program(command: Command) -> str:
    """The program a command runs, without the README's `.venv/bin/` prefix."""
    return command.argv[0].removeprefix(".venv/bin/")


def repo_path(word: str) -> str | None:
    """The repository path a word names (a flag's value included), or None."""
    value = word.split("=", 1)[1] if word.startswith("-") and "=" in word else word
    value = value.removeprefix("./")
    first = value.split("/", 1)[0]
    if "/" in value and first in TOP_LEVEL and "://" not in value:
        return value
    return None


@cache
def help_text(argv: tuple[str, ...]) -> str:
    """What `ARGV --help` prints, run from the repository root."""
    result = subprocess.run(
        [*argv, "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, f"{shlex.join(argv)} --help: {result.stderr[-500:]}"
    return result.stdout


def flags(words: tuple[str, ...]) -> list[str]:
    """The flags a command passes, without their `=value`."""
    return [w.split("=", 1)[0] for w in words if re.fullmatch(r"--?[A-Za-z][\w.-]*(=.*)?", w)]


# --- the extraction itself ------------------------------------------------------------------------


def test_every_shell_block_line_is_found_with_its_line_number(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text(
        "text\n```sh\na --x \\\n  --y   # note\n```\n```yaml\nb: 1\n```\n"
        "```console\n$ c && d | e\noutput\n```\n",
        encoding="utf-8",
    )
    found = [(line, argv) for line, text in shell_lines(doc) for argv in split_commands(text)]
    assert found == [(3, ["a", "--x", "--y"]), (10, ["c"]), (10, ["d"]), (10, ["e"])]


def test_the_docs_commands_are_found() -> None:
    written = {str(c).split(": ", 1)[1] for c in COMMANDS}
    assert "scripts/regenerate.sh" in written
    assert ".venv/bin/python scripts/image_smoke.py" in written
    # What sudo runs is checked, not sudo.
    assert ".venv/bin/python scripts/image_smoke.py" in {
        shlex.join(c.argv) for c in COMMANDS if c.doc.name == "CONTRIBUTING.md"
    }
    assert {c.doc.name for c in COMMANDS} >= {"README.md", "operations.md", "deploy.md"}


# --- the checks ---------------------------------------------------------------------------------


def system_python_problems(command: Command) -> list[str]:
    """PEP 668: a system Python refuses pip; only `python3 -m venv` is safe outside .venv."""
    argv = command.argv
    if argv[0] in {"python", "python3"} and argv[1:3] != ("-m", "venv"):
        return [f"{command}: a system {argv[0]} lacks the project: use .venv/bin/python"]
    if argv[0] in {"pip", "pip3"}:
        return [f"{command}: an externally managed Python refuses pip: use .venv/bin/pip"]
    return []


def program_problems(command: Command) -> list[str]:
    """The program is the repository's (and executable), the .venv's, or a known tool."""
    name = program(command)
    if command.argv[0].startswith(".venv/bin/"):
        return [] if (VENV_BIN / name).exists() else [f"{command}: the .venv has no {name}"]
    if repo_path(name) is not None:
        if not (ROOT / name).is_file():
            return [f"{command}: no {name} in the repository"]
        return [] if os.access(ROOT / name, os.X_OK) else [f"{command}: {name} not executable"]
    if name in KNOWN_TOOLS | {"python", "python3", "dataflow-exporter"}:
        return []
    return [f"{command}: {name} is neither the project's nor a known tool"]


def path_problems(command: Command) -> list[str]:
    """Every repository path the command names exists (a glob matches something)."""
    missing = [p for w in command.argv if (p := repo_path(w)) and not glob.glob(str(ROOT / p))]
    return [f"{command}: no {path} in the repository" for path in missing]


def cli_problems(command: Command) -> list[str]:
    """`dataflow-exporter …` parses with the CLI's own parser."""
    if program(command) != "dataflow-exporter":
        return []
    try:
        cli.build_parser().parse_args(cli.with_default_command(list(command.argv[1:])))
    except SystemExit:
        return [f"{command}: dataflow-exporter refuses these arguments"]
    return []


def python_problems(command: Command) -> list[str]:
    """`.venv/bin/python -m MODULE …` or `.venv/bin/python SCRIPT …`: it exists, and its
    `--help` lists every flag the command passes."""
    if command.argv[0] != ".venv/bin/python" or command.argv[1:3] == ("-m", "venv"):
        return []
    argv = command.argv[1:]
    if argv[0] == "-m":
        module, rest = argv[1], argv[2:]
        if importlib.util.find_spec(module) is None:
            return [f"{command}: no module {module}"]
        shown = help_text((sys.executable, "-m", module))
    else:
        script, rest = argv[0], argv[1:]
        if not (ROOT / script).is_file():
            return [f"{command}: no script {script}"]
        shown = help_text((sys.executable, script))
    return [
        f"{command}: {flag} is not in its --help"
        for flag in flags(rest)
        if not re.search(rf"(^|[\s,\[]){re.escape(flag)}\b", shown)
    ]


CHECKS = [system_python_problems, program_problems, path_problems, cli_problems, python_problems]


@pytest.mark.parametrize(
    "wrong",
    [
        "python3 alerts/generate.py",
        "python -m pytest",
        "pip install -e .",
        "scripts/regenerat.sh",
        "dataflow-exporer demo",
        "promtool test rules alerts/test/*.yml",
        "dataflow-exporter simulate --simulator.listen=127.0.0.1:1 --sett x",
        "dataflow-exporter chek config.yaml",
        ".venv/bin/python -m benchmarks.run --scal small",
        ".venv/bin/python -m benchmarks.runn",
        ".venv/bin/python scripts/image_smok.py",
        ".venv/bin/mypi dataflow_exporter",
        "sudo pip install .",
        "CI=true python3 -m pytest",
        "do pip install .",
    ],
)
def test_a_command_that_would_fail_is_caught(wrong: str) -> None:
    [argv] = split_commands(wrong)
    command = Command(ROOT / "README.md", 1, without_prefix(argv))
    assert [problem for check in CHECKS for problem in check(command)]


def test_a_command_inside_a_substitution_is_checked_on_its_own() -> None:
    commands = split_commands('page=$(pip install . | jq -r .next) && echo "$page"')
    assert [without_prefix(argv) for argv in commands] == [
        ("pip", "install", "."),
        ("jq", "-r", ".next"),
        (),
        ("echo", "$page"),
    ]


@pytest.mark.parametrize("command", COMMANDS, ids=str)
def test_every_command_works_as_written(command: Command) -> None:
    assert [problem for check in CHECKS for problem in check(command)] == []


# --- the ones cheap and safe enough to run -------------------------------------------------------


def written(name: str) -> list[Command]:
    return [c for c in COMMANDS if c.argv[0] == name]


def test_regenerate_works_from_a_copy_and_leaves_the_artefacts_as_committed(
    tmp_path: Path,
) -> None:
    assert written("scripts/regenerate.sh"), "the docs no longer name scripts/regenerate.sh"
    copy = tmp_path / "repo"
    shutil.copytree(
        ROOT,
        copy,
        ignore=shutil.ignore_patterns(".git", ".venv", "*_cache", "__pycache__", ".hypothesis"),
    )
    # The README's .venv, as a fresh clone has it after its first command.
    (copy / ".venv").symlink_to(VENV_BIN.parent)
    result = subprocess.run(
        [str(copy / "scripts" / "regenerate.sh")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    generated = [
        "alerts/dataflow-exporter.rules.yml",
        "helm/dataflow-exporter/files/rules.template.yml",
        "helm/dataflow-exporter/files/alerts-config.yml",
        "dataflow_exporter/runbooks.md",
        *(f"grafana/{p.name}" for p in (ROOT / "grafana").glob("*.json")),
    ]
    for path in generated:
        assert (copy / path).read_bytes() == (ROOT / path).read_bytes(), f"{path} is stale"


PROMTOOL = written("promtool")


@pytest.mark.parametrize("command", PROMTOOL, ids=str)
def test_every_promtool_command_on_the_repository_passes(command: Command) -> None:
    if not all(repo_path(w) for w in command.argv[3:]):
        pytest.skip("names a file of the reader's own installation")
    promtool = require_tool("promtool")  # CI installs it: there, no skip
    paths = [p for w in command.argv[3:] for p in sorted(glob.glob(str(ROOT / w)))]
    result = subprocess.run(
        [promtool, *command.argv[1:3], *paths],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"{command}: {result.stdout[-1000:]}{result.stderr[-1000:]}"
