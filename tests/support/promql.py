"""Metric names in PromQL, for checking alert rules and dashboards against what the exporter
emits: parsed with PyPI's promql-parser when it is installed, else read with a small tokenizer
that a test keeps in agreement with the parser."""

from __future__ import annotations

import re
from typing import Any

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_BRACES = re.compile(r"\{[^{}]*\}")
_RANGE = re.compile(r"\[[^\]]*\]")
_LABEL_LIST = re.compile(
    r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", re.IGNORECASE
)
_IDENT = re.compile(r"(?<![\w.:])([a-zA-Z_:][a-zA-Z0-9_:]*)(?![\w:])(?!\s*\()")
_NAME_MATCHER = re.compile(r'__name__\s*=\s*"([^"]+)"')
_KEYWORDS = frozenset(
    {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "inf", "nan"}
    | {"group_left", "group_right", "atan2"}
)


def metric_names_by_tokens(expr: str) -> set[str]:
    """Metric names in a PromQL expression, read without a parser: identifiers outside label
    matchers, label lists, ranges and strings that are neither keywords nor function calls."""
    names = set(_NAME_MATCHER.findall(expr))
    text = _STRING.sub('""', expr)
    text = re.sub(r"#[^\n]*", " ", text)
    text = _BRACES.sub(" ", text)
    text = _RANGE.sub(" ", text)
    text = _LABEL_LIST.sub(" ", text)
    for name in _IDENT.findall(text):
        if name.lower() not in _KEYWORDS:
            names.add(name)
    return names


def metric_names_by_parser(expr: str) -> set[str]:
    """Metric names in a PromQL expression, from promql-parser's AST (raises ValueError when the
    expression does not parse)."""
    import promql_parser

    names: set[str] = set()

    def visit(node: Any) -> bool:
        if isinstance(node, promql_parser.VectorSelector):
            if node.name:
                names.add(node.name)
            for matcher in node.matchers.matchers:
                if matcher.name == "__name__":
                    names.add(matcher.value)
        return True

    promql_parser.walk(promql_parser.parse(expr), visit)
    return names


def metric_names(expr: str) -> set[str]:
    """Metric names in a PromQL expression: parsed when promql-parser is installed."""
    try:
        import promql_parser  # noqa: F401
    except ImportError:
        return metric_names_by_tokens(expr)
    return metric_names_by_parser(expr)
