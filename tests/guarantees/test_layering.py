"""The package's shape: no import cycle, nothing imports upward, the core knows no upstream.

Read from the source with `ast` (not by importing), so a lazy import inside a function counts too.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

PACKAGE = "dataflow_exporter"
ROOT = Path(__file__).resolve().parents[2] / PACKAGE
SYSTEMS = ("peerdb", "feldera", "confluent", "etlworks")
# What only the command line and the process around the exporter may import.
TOP = ("cli",)


def _module_name(path: Path) -> str:
    parts = path.with_suffix("").relative_to(ROOT).parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts) or "__init__"


@cache
def graph() -> dict[str, frozenset[str]]:
    """Module -> the package modules it imports (names relative to the package)."""
    modules = {_module_name(p): p for p in ROOT.rglob("*.py")}
    edges: dict[str, frozenset[str]] = {}
    for name, path in modules.items():
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                if node.level or not node.module.startswith(PACKAGE):
                    assert not node.level, f"{name}: relative import"
                    continue
                base = node.module[len(PACKAGE) + 1 :]
                if base:
                    found.add(base)
                # `from pkg import mod` (or `from pkg.sub import mod`) imports a module.
                found.update(
                    f"{base}.{a.name}".lstrip(".")
                    for a in node.names
                    if f"{base}.{a.name}".lstrip(".") in modules
                )
            elif isinstance(node, ast.Import):
                found.update(
                    a.name[len(PACKAGE) + 1 :]
                    for a in node.names
                    if a.name.startswith(PACKAGE + ".")
                )
        edges[name] = frozenset(found & modules.keys() - {name})
    return edges


def test_the_graph_is_read_from_every_module() -> None:
    edges = graph()
    assert {"cli", "scheduler", "store", "sources", "sources.base", "simulator"} <= edges.keys()
    assert "sources.base" in edges["sources.peerdb"]
    assert "scheduler" in edges["cli"] or any("scheduler" in edges[m] for m in edges["cli"])


def test_there_is_no_import_cycle() -> None:
    edges = graph()
    done: set[str] = set()

    def visit(module: str, path: tuple[str, ...]) -> None:
        if module in path:
            cycle = " -> ".join((*path[path.index(module) :], module))
            pytest.fail(f"import cycle: {cycle}")
        if module in done:
            return
        for dep in sorted(edges[module]):
            visit(dep, (*path, module))
        done.add(module)

    for module in sorted(edges):
        visit(module, ())


def test_nothing_imports_the_command_line() -> None:
    importers = {m for m, deps in graph().items() if set(TOP) & deps}
    assert importers == set()


def test_the_core_imports_no_upstream_module() -> None:
    """The core reaches the sources only through their registry and their shared base."""
    for module, deps in graph().items():
        if module.startswith(("sources", "simulator")) or module in TOP:
            continue
        upstream = {d for d in deps if d in {f"sources.{s}" for s in SYSTEMS}}
        assert not upstream, f"{module} imports {upstream}"


def test_a_source_imports_neither_another_source_nor_the_core_above_it() -> None:
    above = {"cli", "scheduler", "store", "exposition_cache", "server", "daemon", "exporter"}
    above |= {"status", "status_page", "status_api", "status_cache", "simulator"}
    for system in SYSTEMS:
        deps = graph()[f"sources.{system}"]
        others = deps & {f"sources.{s}" for s in SYSTEMS}
        assert not others, f"sources.{system} imports {others}"
        assert not deps & above, f"sources.{system} imports {deps & above}"
    shared = {m for m in graph() if m.startswith("sources.")} - {f"sources.{s}" for s in SYSTEMS}
    for module in shared:
        assert not graph()[module] & above, module
        assert not graph()[module] & {f"sources.{s}" for s in SYSTEMS}, module


def test_the_simulator_stands_apart_from_the_exporter() -> None:
    """A simulator plays an upstream; it must not borrow the exporter's view of that upstream."""
    for module, deps in graph().items():
        if module.startswith("simulator"):
            outside = {d for d in deps if not d.startswith("simulator")}
            assert not outside, f"{module} imports {outside}"
        elif module not in TOP:
            assert not {d for d in deps if d.startswith("simulator")}, module


def test_every_module_has_a_test_file_of_its_name() -> None:
    """Core modules at tests/test_<module>.py; a source's shared modules at
    tests/sources/test_<module>.py; each upstream's module at tests/sources/<system>/."""
    tests = ROOT.parent / "tests"
    missing = [
        f"tests/test_{p.stem}.py"
        for p in ROOT.glob("*.py")
        if p.stem != "__init__" and not (tests / f"test_{p.stem}.py").is_file()
    ]
    for p in (ROOT / "sources").glob("*.py"):
        if p.stem in SYSTEMS:
            wanted = tests / "sources" / p.stem / "test_source.py"
        elif p.stem != "__init__":
            wanted = tests / "sources" / f"test_{p.stem}.py"
        else:
            continue
        if not wanted.is_file():
            missing.append(str(wanted.relative_to(ROOT.parent)))
    assert missing == []
