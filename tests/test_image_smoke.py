"""scripts/image_smoke.py: what it builds from, what it accepts, and how it skips.

The build and run themselves take minutes and root; `.ci/run` does them. These tests pin the
decisions the script makes without podman.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "image_smoke.py"
CI_RUN = ROOT / ".ci" / "run"


def load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("image_smoke", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


smoke = load()


class FakePodman:
    """Reports the sizes given, in MB, for the image and its base."""

    def __init__(self, image_mb: float, base_mb: float) -> None:
        self.sizes = {smoke.IMAGE: image_mb, "base": base_mb}


@pytest.fixture
def sizes(monkeypatch: pytest.MonkeyPatch) -> None:
    def image_megabytes(podman: FakePodman, name: str) -> float:
        return podman.sizes[name]

    monkeypatch.setattr(smoke, "image_megabytes", image_megabytes)


def test_the_base_is_tagged_with_the_name_the_dockerfile_pulls() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert smoke.base_image_name(dockerfile) == "docker.io/library/python:3.11.14-slim-bookworm"


@pytest.mark.parametrize(
    ("line", "name"),
    [
        ("FROM python:3.11 AS builder", "docker.io/library/python:3.11"),
        ("FROM --platform=linux/amd64 owner/image:1", "docker.io/owner/image:1"),
        ("FROM quay.io/owner/image:1", "quay.io/owner/image:1"),
        ("FROM registry:5000/image", "registry:5000/image"),
        ("FROM localhost/image", "localhost/image"),
    ],
)
def test_a_short_name_is_qualified_as_podman_resolves_it(line: str, name: str) -> None:
    assert smoke.base_image_name(f"# syntax=docker/dockerfile:1\n{line}\n") == name


def test_a_dockerfile_without_from_is_refused() -> None:
    with pytest.raises(smoke.SmokeError, match="no FROM"):
        smoke.base_image_name("RUN true\n")


@pytest.mark.usefixtures("sizes")
@pytest.mark.parametrize(
    ("image", "base"),
    [
        (smoke.IMAGE_BUDGET_MB, smoke.IMAGE_BUDGET_MB - smoke.ADDED_BUDGET_MB),
        (smoke.ADDED_BUDGET_MB + 100, 100),
    ],
)
def test_an_image_at_its_budgets_passes(image: float, base: float) -> None:
    smoke.check_size(FakePodman(image, base), "base")


@pytest.mark.usefixtures("sizes")
def test_an_image_over_its_total_budget_fails() -> None:
    with pytest.raises(smoke.SmokeError, match="over its 200 MB budget"):
        smoke.check_size(FakePodman(smoke.IMAGE_BUDGET_MB + 0.5, 160), "base")


@pytest.mark.usefixtures("sizes")
def test_a_dockerfile_adding_more_than_its_budget_fails() -> None:
    with pytest.raises(smoke.SmokeError, match="adds 51 MB, over 50 MB"):
        smoke.check_size(FakePodman(100 + smoke.ADDED_BUDGET_MB + 0.6, 100), "base")


def test_a_target_is_up_only_when_its_value_is_one() -> None:
    metrics = (
        "# TYPE dataflow_exporter_target_up gauge\n"
        'dataflow_exporter_target_up{system="peerdb",target="a"} 1\n'
        'dataflow_exporter_target_up{system="feldera",target="b"} 0\n'
        'dataflow_exporter_target_up_other{target="c"} 1\n'
    )
    assert smoke.targets_up(metrics) == {"a": True, "b": False}


def test_podman_gets_ulimits_it_may_set_runc_and_the_host_network() -> None:
    import resource

    conf = smoke.containers_conf()
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if nofile != resource.RLIM_INFINITY:
        assert f'"nofile={nofile}:{nofile}"' in conf
    assert 'runtime = "runc"' in conf
    assert 'cgroup_manager = "cgroupfs"' in conf
    assert 'netns = "host"' in conf


@pytest.mark.slow
@pytest.mark.parametrize(("required", "status", "word"), [("", 0, "skipped"), ("1", 1, "FAILED")])
def test_without_podman_it_says_why_in_one_line(
    tmp_path: Path, required: str, status: int, word: str
) -> None:
    env = {**os.environ, "PATH": str(tmp_path), "IMAGE_SMOKE_REQUIRED": required}
    result = subprocess.run(
        [sys.executable, str(SCRIPT)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == status
    assert result.stderr == ""
    [line] = result.stdout.splitlines()
    assert line.startswith(f"image smoke {word}: ")


# --- .ci/run ------------------------------------------------------------------------------------


def ci_lines() -> list[str]:
    return [line.strip() for line in CI_RUN.read_text(encoding="utf-8").splitlines()]


def test_ci_waits_for_the_dpkg_lock_on_every_apt_call() -> None:
    lines = [line for line in ci_lines() if not line.startswith("#")]
    [wrapper] = [line for line in lines if line.startswith("apt_get()")]
    assert "apt-get -o DPkg::Lock::Timeout=" in wrapper
    direct = [
        line
        for line in lines
        if "apt-get " in line and line != wrapper and "command -v apt-get" not in line
    ]
    assert direct == []
    assert any(line.startswith("apt_get install") for line in lines)


def test_ci_builds_the_image_after_the_tests_never_beside_them() -> None:
    lines = ci_lines()
    tests = next(i for i, line in enumerate(lines) if line.endswith(".venv/bin/python -m pytest"))
    image = next(i for i, line in enumerate(lines) if "image_smoke.py" in line and line[:1] != "#")
    assert image > tests
    assert not lines[tests].endswith("&")
    assert "IMAGE_SMOKE_REQUIRED=" in lines[image]
