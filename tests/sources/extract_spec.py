"""Extract the part of an upstream OpenAPI spec the source tests check against: the component
schemas they name and every schema those `$ref`, transitively. The whole specs are large
(0.7 and 0.9 MB) and live outside this repository; the subsets are committed beside the tests.

Run from the repository root with the upstream file (see each spec directory's SOURCE.txt):

    python -m tests.sources.extract_spec confluent path/to/kafka-rest-v3-ccloud-openapi.yaml
    python -m tests.sources.extract_spec feldera path/to/openapi.json
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
SCHEMA_REF = "#/components/schemas/"

# The schemas each system's tests validate against (test_spec.py, test_simulator.py).
ROOTS: dict[str, tuple[Path, tuple[str, ...]]] = {
    "confluent": (
        HERE / "confluent" / "spec" / "kafka-rest-v3-ccloud-openapi.subset.yaml",
        (
            "ListLinksResponseDataList",
            "ListMirrorTopicsResponseDataList",
            "ListMirrorTopicsResponseData",
            "Error",
        ),
    ),
    "feldera": (
        HERE / "feldera" / "spec" / "openapi.subset.json",
        (
            "PipelineSelectedInfo",
            "ControllerStatus",
            "InputEndpointStatus",
            "OutputEndpointStatus",
            "ErrorResponse",
        ),
    ),
}


def refs(node: Any) -> Iterator[str]:
    """Names of the component schemas a schema refers to, at any depth."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            if not ref.startswith(SCHEMA_REF):
                raise ValueError(f"unsupported $ref {ref!r}: only component schemas are followed")
            yield ref.removeprefix(SCHEMA_REF)
        for value in node.values():
            yield from refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs(value)


def closure(schemas: dict[str, Any], roots: tuple[str, ...]) -> list[str]:
    """`roots` and every schema they reach through `$ref`, in the spec's own order."""
    wanted: set[str] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name not in wanted:
            wanted.add(name)
            todo.extend(refs(schemas[name]))
    return [name for name in schemas if name in wanted]


def allof_parts(schemas: dict[str, Any]) -> set[str]:
    """Schemas used as one part of a multi-part `allOf` (the Feldera test leaves those open)."""
    return {
        part["$ref"].removeprefix(SCHEMA_REF)
        for schema in schemas.values()
        for part in schema.get("allOf", [])
        if len(schema["allOf"]) > 1 and "$ref" in part
    }


def subset(document: dict[str, Any], roots: tuple[str, ...]) -> dict[str, Any]:
    """The spec's header and the component schemas `roots` need, nothing else."""
    schemas = document["components"]["schemas"]
    kept = {name: schemas[name] for name in closure(schemas, roots)}
    # A schema that is an allOf part only through a schema left out would validate differently.
    if allof_parts(schemas) & kept.keys() != allof_parts(kept):
        raise ValueError("the subset changes which schemas are allOf parts")
    return {
        "openapi": document["openapi"],
        "info": {k: document["info"][k] for k in ("title", "version")},
        "components": {"schemas": kept},
    }


def main() -> None:
    """Write the subset of one system's spec to its directory beside the tests."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("system", choices=sorted(ROOTS))
    parser.add_argument("upstream", type=Path, help="the upstream spec file, verbatim")
    args = parser.parse_args()
    target, roots = ROOTS[args.system]
    text = args.upstream.read_text(encoding="utf-8")
    if target.suffix == ".json":
        document = json.loads(text)
        out = json.dumps(subset(document, roots), indent=2, ensure_ascii=False) + "\n"
    else:
        document = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        out = yaml.safe_dump(subset(document, roots), sort_keys=False, allow_unicode=True)
    target.write_text(out, encoding="utf-8")
    print(f"{target}: {out.count(chr(10))} lines")


if __name__ == "__main__":
    main()
