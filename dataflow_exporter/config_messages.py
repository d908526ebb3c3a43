"""Config validation errors in the user's words: pydantic's errors -> (YAML path, message).

pydantic describes errors in terms of Python types (`Input should be a valid tuple`,
`tuple[constrained-int, ...]`, `instance of Filter`); a user edits YAML, so each error becomes a
key path and a sentence about YAML values. A key that takes either a list or a mapping (a
filter) yields one error for the branch the user evidently meant, or one for both.
"""

from __future__ import annotations

import difflib
import functools
import os
import types
import typing
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel, ValidationError

from dataflow_exporter.config_models import Defaults, config_duration, format_duration

_CONTAINER_MISMATCH = frozenset(
    {"model_type", "model_attributes_type", "dict_type", "tuple_type", "list_type", "set_type"}
)
_FIXED = {
    "extra_forbidden": "unknown key",
    "missing": "required key is missing",
    "int_parsing": "expected a whole number",
    "int_type": "expected a whole number",
    "int_from_float": "expected a whole number",
    "float_parsing": "expected a number",
    "float_type": "expected a number",
    "bool_parsing": "expected true or false",
    "bool_type": "expected true or false",
    "string_type": "expected a text value (quote it if YAML reads it as something else)",
    "string_unicode": "expected a text value",
    "tuple_type": "expected a list",
    "list_type": "expected a list",
    "set_type": "expected a list",
    "dict_type": "expected a mapping (key: value)",
    "model_type": "expected a mapping (key: value)",
    "model_attributes_type": "expected a mapping (key: value)",
    "path_type": "expected a file path",
    "none_required": "must be empty (null)",
}
_LIMITS = {
    "greater_than": ("gt", "must be greater than {}"),
    "greater_than_equal": ("ge", "must be at least {}"),
    "less_than": ("lt", "must be less than {}"),
    "less_than_equal": ("le", "must be at most {}"),
    "too_short": ("min_length", "must have at least {} item(s)"),
    "too_long": ("max_length", "must have at most {} item(s)"),
    "string_too_short": ("min_length", "must be at least {} character(s) long"),
    "string_too_long": ("max_length", "must be at most {} character(s) long"),
}
_PREFIXES = ("Value error, ", "Assertion failed, ")
# Words that name Python or pydantic rather than the YAML; a message still holding one after
# translation is replaced by a plain one.
INTERNAL_WORDING = (
    "Input should be",
    "tuple[",
    "list[",
    "constrained-",
    "instance of",
    "pydantic",
    "Value error,",
    "Assertion failed",
    "function-",
)

Loc = tuple[str | int, ...]


def _model_names() -> frozenset[str]:
    names: set[str] = set()
    pending: list[type[BaseModel]] = [BaseModel]
    while pending:
        for sub in pending.pop().__subclasses__():
            names.add(sub.__name__)
            pending.append(sub)
    return frozenset(names)


def _is_tag(part: str | int, models: frozenset[str]) -> bool:
    """True for a location part pydantic adds for a union branch, not a YAML key."""
    return isinstance(part, str) and ("[" in part or part in models)


def _branch(tag: str) -> str:
    if tag.startswith(("tuple[", "list[", "set[", "frozenset[")):
        return "a list"
    if tag == "Filter":
        return "a mapping with include and/or exclude lists"
    return "a mapping (key: value)"


def _limit_text(value: Any, key: str) -> str:
    if key in _duration_keys() and isinstance(value, int | float):
        return format_duration(float(value))
    return f"{value:g}" if isinstance(value, float) else str(value)


def _message(err: Any, loc: Loc) -> tuple[str, bool]:
    """(message, is it about a file the environment lacks?) for one pydantic error."""
    kind, ctx = err["type"], err.get("ctx") or {}
    if kind == "path_not_file":
        path = str(err.get("input"))
        if not path.strip():
            return "expected a file path", False
        if os.path.exists(path):
            return f"{path}: not a regular file", True
        return f"{path}: no such file", True
    if kind in _FIXED:
        return _FIXED[kind], False
    if kind in _LIMITS:
        name, template = _LIMITS[kind]
        key = next((p for p in reversed(loc) if isinstance(p, str)), "")
        return template.format(_limit_text(ctx.get(name), key)), False
    if kind in ("literal_error", "enum"):
        return f"expected one of: {ctx.get('expected', '')}", False
    message = str(err["msg"])
    for prefix in _PREFIXES:
        message = message.removeprefix(prefix)
    message = message.replace("Input should be", "expected")
    if any(word in message for word in INTERNAL_WORDING):
        return "invalid value", False
    return message, False


def _keys_at(model: type[BaseModel], loc: Loc) -> list[str]:
    """The keys the model takes at the mapping `loc` leads into (list indexes skipped)."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        fields = getattr(current, "model_fields", None)
        if fields is None or part not in fields:
            return []
        current = next(
            (
                t
                for t in _members(fields[part].annotation)
                if isinstance(t, type) and issubclass(t, BaseModel)
            ),
            None,
        )
    fields = getattr(current, "model_fields", None)
    return list(fields) if fields else []


def _members(annotation: Any) -> list[Any]:
    """The types an annotation may hold: union members and container items, unwrapped."""
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType, tuple, list):
        return [t for a in args for t in _members(a)]
    return [annotation]


def translate(
    exc: ValidationError, model: type[BaseModel] | None = None
) -> Iterator[tuple[Loc, str, bool]]:
    """Each distinct problem once, as (YAML path below the model, message, about a file?).
    With `model`, an unknown key is told the closest key it takes."""
    for loc, message, is_file in _translate(exc):
        hint = ""
        if message == _FIXED["extra_forbidden"] and model is not None and loc:
            close = difflib.get_close_matches(str(loc[-1]), _keys_at(model, loc[:-1]), n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
        yield loc, message + hint, is_file


def _translate(exc: ValidationError) -> Iterator[tuple[Loc, str, bool]]:
    models = _model_names()
    unions: dict[Loc, list[tuple[str, Loc, Any]]] = {}
    seen: set[tuple[Loc, str]] = set()
    for err in exc.errors(include_url=False):
        loc: Loc = tuple(err["loc"])
        loc = tuple(p for p in loc if not (isinstance(p, str) and p.startswith("function-")))
        tag_at = next((i for i, p in enumerate(loc) if _is_tag(p, models)), None)
        if tag_at is None:
            yield from _once(seen, loc, err)
            continue
        rest = tuple(p for p in loc[tag_at + 1 :] if not _is_tag(p, models))
        unions.setdefault(loc[:tag_at], []).append((str(loc[tag_at]), rest, err))
    for prefix, branches in unions.items():
        # A branch that got past its container check is the one the user meant.
        kept = [(rest, err) for _tag, rest, err in branches if not _mismatch(rest, err)]
        for rest, err in kept:
            yield from _once(seen, (*prefix, *rest), err)
        if kept:
            continue
        kinds = sorted({_branch(tag) for tag, _, _ in branches}, key=lambda k: k != "a list")
        text = "expected " + " or ".join(kinds)
        if (prefix, text) not in seen:
            seen.add((prefix, text))
            yield prefix, text, False


def _mismatch(rest: Loc, err: Any) -> bool:
    """True for a union branch rejected only because the value is not its kind of container."""
    return not rest and err["type"] in _CONTAINER_MISMATCH


def _once(seen: set[tuple[Loc, str]], loc: Loc, err: Any) -> Iterator[tuple[Loc, str, bool]]:
    message, is_file = _message(err, loc)
    if (loc, message) not in seen:
        seen.add((loc, message))
        yield loc, message, is_file


@functools.cache
def _duration_keys() -> frozenset[str]:
    """Config keys that hold durations, so their limits read `9m`, not `540`."""
    from dataflow_exporter.sources.registry import REGISTRY

    keys: set[str] = set()
    models: list[type[BaseModel]] = [Defaults, *(s.config_model for s in REGISTRY.values())]
    for model in models:
        for name, info in model.model_fields.items():
            if any(getattr(m, "func", None) is config_duration for m in info.metadata):
                keys.add(name)
    return frozenset(keys)
