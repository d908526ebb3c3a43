"""Loading the YAML config: strict YAML, `${VAR}` expansion, per-system validation, invariants.

Every problem is collected and reported at once, each prefixed with its YAML path
(`targets[2].interval: ...`), so `dataflow-exporter check` shows everything to fix in one go.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, SecretStr, ValidationError

from exporter import redact
from exporter.schema import DEFAULT_KEYS, Defaults, TargetConfig
from exporter.sources import REGISTRY
from exporter.sources.base import Shard

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$\$")
_TOP_KEYS = ("global", "targets", "shard")


class ConfigError(Exception):
    """A config that cannot be used; `errors` lists every problem with its YAML path."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


@dataclass(frozen=True, slots=True)
class Config:
    """A loaded, validated config."""

    defaults: Defaults
    targets: tuple[TargetConfig, ...]
    shard: Shard


# A config is a few levels deep; anything much deeper is an attack or a generated mistake, and
# would exhaust Python's recursion limit while being loaded.
MAX_YAML_DEPTH = 64
# Nodes after aliases are expanded: 100k targets of a dozen keys stay far below; an alias bomb
# ("billion laughs") is refused before it is expanded.
MAX_YAML_NODES = 5_000_000


class _DuplicateKeyError(yaml.constructor.ConstructorError):
    """A key given twice in one mapping (its name is shown: keys are not secrets)."""


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate keys instead of silently keeping the last one, and
    documents nested too deeply or expanding through aliases into too many nodes."""

    _depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        """Compose one node, refusing nesting beyond `MAX_YAML_DEPTH`."""
        self._depth += 1
        try:
            if self._depth > MAX_YAML_DEPTH:
                raise yaml.composer.ComposerError(
                    None,
                    None,
                    f"nested more than {MAX_YAML_DEPTH} levels deep",
                    self.peek_event().start_mark,  # type: ignore[no-untyped-call]
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def get_single_node(self) -> yaml.Node | None:
        """The document's node, once its size with aliases expanded is known to be sane."""
        node = super().get_single_node()
        if node is not None:
            _check_expanded_size(node)
        return node


def _check_expanded_size(root: yaml.Node) -> None:
    """Count the nodes the document becomes once every alias is expanded, without expanding
    it (each shared node is sized once); refuse recursive aliases and alias bombs."""
    sizes: dict[int, int] = {}
    in_progress: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        known = sizes.get(key)
        if known is not None:
            return known
        if key in in_progress:
            raise yaml.composer.ComposerError(
                None, None, "an alias refers to a node that contains it", node.start_mark
            )
        in_progress.add(key)
        total = 1
        if isinstance(node, yaml.SequenceNode):
            total += sum(size(child) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            total += sum(size(k) + size(v) for k, v in node.value)
        in_progress.discard(key)
        if total > MAX_YAML_NODES:
            raise yaml.composer.ComposerError(
                None,
                None,
                f"aliases expand the document beyond {MAX_YAML_NODES} nodes",
                node.start_mark,
            )
        sizes[key] = total
        return total

    size(root)


def _mapping_without_duplicates(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise _DuplicateKeyError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node)


# A quoted piece of a YAML error that may be the document's own text (an alias name, a tag, a
# scalar): PyYAML quotes such values with repr. Token names (',', '<stream end>') stay.
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
_TOKEN_NAME = re.compile(r"^.<[a-z ]+>.$|^[^A-Za-z0-9]*$")


def _hide_value(match: re.Match[str]) -> str:
    quoted = match.group(0)
    return quoted if _TOKEN_NAME.match(quoted) else "(value not shown)"


def yaml_problem(exc: yaml.YAMLError) -> str:
    """The position and problem of a YAML error, never the document's text: an inline secret
    written as `!abc` or `*abc` would otherwise be printed back as a tag or alias name."""
    mark = getattr(exc, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    problem = str(getattr(exc, "problem", None) or "cannot parse")
    if not isinstance(exc, _DuplicateKeyError):
        problem = _QUOTED.sub(_hide_value, problem)
    return f"invalid YAML{where}: {problem}"


_StrictLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_duplicates
)


def _path(parts: tuple[Any, ...]) -> str:
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def expand_env(node: Any, where: tuple[Any, ...], errors: list[str], env: Mapping[str, str]) -> Any:
    """Expand `${VAR}` and `${VAR:-default}` in every string (`$$` is a literal `$`)."""
    if isinstance(node, dict):
        return {k: expand_env(v, (*where, k), errors, env) for k, v in node.items()}
    if isinstance(node, list):
        return [expand_env(v, (*where, i), errors, env) for i, v in enumerate(node)]
    if not isinstance(node, str) or "$" not in node:
        return node

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, default = match.group(1), match.group(2)
        if name in env:
            return env[name]
        if default is not None:
            return default
        errors.append(f"{_path(where)}: environment variable {name} is not set")
        return ""

    return _ENV_REF.sub(replace, node)


def _pydantic_errors(exc: ValidationError, where: tuple[Any, ...]) -> list[str]:
    out = []
    for err in exc.errors(include_url=False, include_input=False):
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        # A union of Filter | list reports both branches; name the key once with a clear hint.
        loc = tuple(p for p in loc if p not in ("Filter", "tuple[str, ...]"))
        if err["type"] == "extra_forbidden":
            message = "unknown key"
        elif err["type"] == "missing":
            message = "required key is missing"
        else:
            message = err["msg"].removeprefix("Value error, ")
        out.append(f"{_path((*where, *loc))}: {message}")
    return list(dict.fromkeys(out))


def _validate(model: type[BaseModel], data: Any, where: tuple[Any, ...], errors: list[str]) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors.extend(_pydantic_errors(exc, where))
        return None


def parse(data: Any, env: Mapping[str, str] | None = None) -> Config:
    """Validate an already-parsed YAML document into a `Config`, or raise `ConfigError`."""
    errors: list[str] = []
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(["(top level): expected a mapping with 'global' and 'targets'"])
    data = expand_env(data, (), errors, os.environ if env is None else env)
    _register_secret_like(data)
    errors.extend(f"{key}: unknown key" for key in data if key not in _TOP_KEYS)

    defaults = _validate(Defaults, data.get("global") or {}, ("global",), errors) or Defaults()
    shard = _parse_shard(data.get("shard"), errors)
    raw_targets = data.get("targets")
    if not isinstance(raw_targets, list) or not raw_targets:
        errors.append("targets: expected a non-empty list of targets")
        raw_targets = []

    targets: list[TargetConfig] = []
    first_index: dict[str, int] = {}
    for i, raw in enumerate(raw_targets):
        target = _parse_target(raw, i, defaults, errors)
        if target is None:
            continue
        if target.name in first_index:
            errors.append(
                f"targets[{i}].name: duplicate target name {target.name!r} "
                f"(also targets[{first_index[target.name]}])"
            )
        first_index.setdefault(target.name, i)
        targets.append(target)
    if errors:
        raise ConfigError(errors)
    for target in targets:
        _register_secrets(target)
    return Config(defaults, tuple(targets), shard)


def _parse_target(raw: Any, i: int, defaults: Defaults, errors: list[str]) -> TargetConfig | None:
    where: tuple[Any, ...] = ("targets", i)
    if not isinstance(raw, dict):
        errors.append(f"{_path(where)}: expected a mapping")
        return None
    system = raw.get("system")
    source = REGISTRY.get(system) if isinstance(system, str) else None
    if source is None:
        known = ", ".join(sorted(REGISTRY))
        got = "missing" if system is None else f"unknown system {system!r}"
        errors.append(f"{_path((*where, 'system'))}: {got} (expected one of: {known})")
        return None
    merged = {key: getattr(defaults, key) for key in DEFAULT_KEYS} | raw
    before = len(errors)
    target: TargetConfig | None = _validate(source.config_model, merged, where, errors)
    if target is None or len(errors) > before:
        return None
    if target.timeout >= target.interval:
        errors.append(
            f"{_path((*where, 'timeout'))}: must be shorter than interval "
            f"({target.timeout:g}s >= {target.interval:g}s)"
        )
    used = {label for spec in source.specs for label in spec.labels}
    for label in sorted(set(target.labels) & used):
        errors.append(
            f"{_path((*where, 'labels', label))}: clashes with a label of {system} metrics"
        )
    return target


def _parse_shard(raw: Any, errors: list[str]) -> Shard:
    if raw is None:
        return Shard()
    if (
        not isinstance(raw, dict)
        or set(raw) != {"index", "count"}
        or not all(isinstance(raw[k], int) and not isinstance(raw[k], bool) for k in raw)
    ):
        errors.append("shard: expected {index: <int>, count: <int>}")
        return Shard()
    if raw["count"] < 1 or not 0 <= raw["index"] < raw["count"]:
        errors.append("shard: need count >= 1 and 0 <= index < count")
        return Shard()
    return Shard(raw["index"], raw["count"])


_SECRET_KEY = re.compile(r"(password|secret|token|api_key)$", re.IGNORECASE)


def _register_secret_like(node: Any) -> None:
    """Register inline secrets before validation, so even an invalid config's errors are clean."""
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(key, str) and _SECRET_KEY.search(key) and isinstance(value, str):
                redact.register(value)
            else:
                _register_secret_like(value)
    elif isinstance(node, list):
        for value in node:
            _register_secret_like(value)


def _register_secrets(target: TargetConfig) -> None:
    for value in target.__dict__.values():
        if isinstance(value, SecretStr):
            redact.register(value.get_secret_value())


def load(path: str | Path, env: Mapping[str, str] | None = None) -> Config:
    """Read and validate a config file, or raise `ConfigError` listing every problem."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror or exc}"]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{path}: not UTF-8 text (byte {exc.start})"]) from None
    try:
        data = yaml.load(text, Loader=_StrictLoader)
    except yaml.YAMLError as exc:
        # Only the position and the problem: the YAML snippet could hold a secret.
        raise ConfigError([f"{path}: {yaml_problem(exc)}"]) from None
    except (RecursionError, MemoryError):
        raise ConfigError([f"{path}: too large or too deeply nested to load"]) from None
    try:
        return parse(data, env)
    except (RecursionError, MemoryError):
        raise ConfigError([f"{path}: too large or too deeply nested to validate"]) from None
