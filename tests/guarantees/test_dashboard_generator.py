"""The dashboard generator's shape: short functions, and an import that does nothing.

Function lengths are read from the source with `ast`; the import is checked by importing the
generator afresh while argv and file access are booby-trapped.
"""

from __future__ import annotations

import ast
import builtins
import importlib
import sys
from pathlib import Path
from typing import Any, NoReturn

import pytest

GRAFANA = Path(__file__).resolve().parents[2] / "grafana"
LONGEST = 79


def _functions() -> list[tuple[str, int]]:
    found = []
    for path in sorted(GRAFANA.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                assert node.end_lineno is not None
                found.append((f"{path.name}:{node.name}", node.end_lineno - node.lineno + 1))
    return found


def test_the_generator_has_functions_to_measure() -> None:
    names = {name for name, _ in _functions()}
    assert {"generate.py:main", "layout.py:place", "peerdb.py:build"} <= names


def test_no_generator_function_is_80_lines_or_longer() -> None:
    assert [(name, n) for name, n in _functions() if n > LONGEST] == []


class _Untouchable(list[str]):
    """An argv that fails the test when anything looks at it."""

    def _refuse(self, *args: object, **kwargs: object) -> NoReturn:
        raise AssertionError("sys.argv read at import")

    __getitem__ = __len__ = __iter__ = __contains__ = __bool__ = _refuse


def _refuse_io(*args: object, **kwargs: object) -> NoReturn:
    raise AssertionError(f"file access at import: {args[:1]}")


def test_importing_the_generator_reads_no_argv_and_touches_no_file(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in [n for n in sys.modules if n == "grafana" or n.startswith("grafana.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setattr(sys, "argv", _Untouchable())
    for method in ("read_text", "read_bytes", "write_text", "write_bytes", "open", "mkdir"):
        monkeypatch.setattr(Path, method, _refuse_io)
    monkeypatch.setattr(builtins, "open", _refuse_io)
    module: Any = importlib.import_module("grafana.generate")
    assert callable(module.main)
