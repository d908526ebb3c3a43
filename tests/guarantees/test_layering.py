"""The package's shape: no import cycle, nothing imports upward, the core knows no upstream, and
each concept lives in the module its name promises.

Read from the source with `ast` (not by importing), so a lazy import inside a function counts too;
one rule imports the core in a fresh interpreter to see what it really loads.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Callable
from functools import cache
from pathlib import Path

import pytest

PACKAGE = "dataflow_exporter"
ROOT = Path(__file__).resolve().parents[2] / PACKAGE
SYSTEMS = ("peerdb", "feldera", "confluent", "etlworks")
# What only the command line and the process around the exporter may import.
TOP = ("cli",)
# Where a config's `system:` is resolved: the only modules that may import the registry.
COMPOSITION_ROOT = ("config", "config_messages")
# The store and the exposition path: they import nothing from `sources/`, not even for types.
EXPOSITION_PATH = (
    "store",
    "records",
    "snapshot",
    "exposition",
    "exposition_cache",
    "gzip_parts",
    "self_metrics",
    "server",
    "status",
    "status_cache",
    "status_page",
    "status_api",
)
# The core as the process loads it; importing it must load no module of `sources/`.
CORE = (*EXPOSITION_PATH, "scheduler", "backoff", "upstream", "errors")


def _module_name(path: Path) -> str:
    parts = path.with_suffix("").relative_to(ROOT).parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts) or "__init__"


@cache
def paths() -> dict[str, Path]:
    """Module (name relative to the package) -> its file."""
    return {_module_name(p): p for p in ROOT.rglob("*.py")}


def _type_only(tree: ast.Module) -> set[int]:
    """The ids of the nodes under `if TYPE_CHECKING:`, imported for annotations only."""
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test).endswith("TYPE_CHECKING"):
            inside.update(id(child) for stmt in node.body for child in ast.walk(stmt))
    return inside


@cache
def graph(types: bool = True) -> dict[str, frozenset[str]]:
    """Module -> the package modules it imports (names relative to the package); without
    `types`, only the imports that run (not those under `if TYPE_CHECKING:`)."""
    modules = paths()
    edges: dict[str, frozenset[str]] = {}
    for name, path in modules.items():
        found: set[str] = set()
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skipped = set() if types else _type_only(tree)
        for node in ast.walk(tree):
            if id(node) in skipped:
                continue
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
    assert {f"sources.{s}" for s in SYSTEMS} <= edges["sources.registry"]
    assert "sources.base" in edges["sources.peerdb"]
    assert "scheduler" in edges["cli"] or any("scheduler" in edges[m] for m in edges["cli"])


def test_there_is_no_import_cycle() -> None:
    """Among the imports that run: an interface may name its caller's type for annotations
    only (`auth.Auth` takes the `UpstreamClient` that calls it)."""
    edges = graph(types=False)
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
    """Outside `sources/`, an upstream's module is reached only through the registry."""
    for module, deps in graph().items():
        if module.startswith(("sources", "simulator")) or module in TOP:
            continue
        upstream = {d for d in deps if d in {f"sources.{s}" for s in SYSTEMS}}
        assert not upstream, f"{module} imports {upstream}"


def test_only_the_composition_root_imports_the_registry() -> None:
    importers = {m for m, deps in graph().items() if "sources.registry" in deps}
    assert importers <= {*COMPOSITION_ROOT, *TOP}, importers
    assert "config" in importers  # the rule reads the real import, not an empty graph


def test_the_store_and_the_exposition_path_import_nothing_from_sources() -> None:
    for module in EXPOSITION_PATH:
        deps = {d for d in graph()[module] if d == "sources" or d.startswith("sources.")}
        assert not deps, f"{module} imports {deps}"


@pytest.mark.slow  # starts another interpreter
def test_importing_the_core_loads_no_module_of_sources() -> None:
    modules = ", ".join(f"{PACKAGE}.{m}" for m in CORE)
    script = (
        f"import sys, {modules}\n"
        f"print(' '.join(m for m in sys.modules if m.startswith('{PACKAGE}.sources')))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    ).stdout.split()
    assert loaded == []


def _defined(module: str) -> set[str]:
    """The names a module binds at its top level: functions, classes and assignments."""
    tree = ast.parse(paths()[module].read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def _definers(predicate: Callable[[str], bool]) -> set[str]:
    return {m for m in paths() if any(map(predicate, _defined(m)))}


def test_the_reasons_that_fail_one_entity_are_drawn_with_the_error_tree() -> None:
    assert _definers(lambda name: name == "ENTITY_REASONS") == {"errors"}


def test_the_backoff_policy_has_one_home_and_the_store_only_counts_failures() -> None:
    assert _definers(lambda name: "backoff" in name.lower()) == set()
    assert {"factor", "delay"} <= _defined("backoff")
    assert "backoff" not in graph()["store"]


def test_the_own_families_are_computed_beside_their_specs_and_know_no_source() -> None:
    assert "families" in _defined("self_metrics")
    assert not {d for d in graph()["self_metrics"] if d.startswith("sources")}
    # The cache only caches and assembles: it builds no family of its own.
    cache_tree = ast.parse(paths()["exposition_cache"].read_text(encoding="utf-8"))
    called = {
        node.func.id
        for node in ast.walk(cache_tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    }
    assert "Family" not in called
    assert "all_specs" in _defined("sources.registry")
    assert _definers(lambda name: name == "all_specs") == {"sources.registry"}


def test_a_source_imports_neither_another_source_nor_the_core_above_it() -> None:
    above = {"cli", "scheduler", "store", "exposition_cache", "server", "daemon", "exporter"}
    above |= {"status", "status_page", "status_api", "status_cache", "simulator"}
    for system in SYSTEMS:
        deps = graph()[f"sources.{system}"]
        others = deps & {f"sources.{s}" for s in SYSTEMS}
        assert not others, f"sources.{system} imports {others}"
        assert not deps & above, f"sources.{system} imports {deps & above}"
    shared = {m for m in graph() if m.startswith("sources.")} - {f"sources.{s}" for s in SYSTEMS}
    for module in shared - {"sources.registry"}:
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


def test_the_upstream_auth_interface_and_its_static_schemes_live_in_auth() -> None:
    assert _definers(lambda name: name == "Auth") == {"auth"}
    assert {"BasicAuth", "BearerAuth", "SecretReader"} <= _defined("auth")
    # The HTTP client calls the auth; the auth names the client for annotations only.
    assert "auth" in graph(types=False)["upstream"]
    assert "upstream" in graph()["auth"]
    assert "upstream" not in graph(types=False)["auth"]
