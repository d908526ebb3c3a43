"""Loading the YAML config: strict YAML, `${VAR}` expansion, per-system validation, invariants.

Every problem is collected and reported at once, each prefixed with its YAML path
(`targets[2].interval: ...`), so `dataflow-exporter check` shows everything to fix in one go.
Mistakes in the file are kept apart from what the environment lacks (unset variables, missing or
unreadable files), which `check --syntax-only` leaves out.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, SecretStr, ValidationError

from dataflow_exporter import config_messages, known_secrets, thresholds
from dataflow_exporter.config_models import (
    DEFAULT_KEYS,
    Defaults,
    Shard,
    TargetConfig,
    format_duration,
)
from dataflow_exporter.errors import ConfigError
from dataflow_exporter.sources.base import Source
from dataflow_exporter.sources.registry import REGISTRY

# `${NAME}`, `${NAME:-default}`, `$$`; any other `${` (unclosed, or not a name) is a mistake.
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$\$|(?P<bad>\$\{)")
_TOP_KEYS = ("global", "targets", "shard")


@dataclass(frozen=True, slots=True)
class Config:
    """A loaded, validated config."""

    defaults: Defaults
    targets: tuple[TargetConfig, ...]
    shard: Shard
    # The source class of each system the targets name, resolved here so that the scheduler
    # polls them without knowing the registry of upstreams.
    sources: Mapping[str, type[Source[Any]]]


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


def did_you_mean(word: Any, choices: Any) -> str:
    """` (did you mean X?)` for the closest of `choices`, or nothing if none is close."""
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def _path(parts: tuple[Any, ...], names: Mapping[int, str] | None = None) -> str:
    """`targets[3] (name: orders-peerdb).url`: the YAML path, with the target's name when the
    file gives one, since an index alone makes the user count list items."""
    out = ""
    for depth, part in enumerate(parts):
        if isinstance(part, int):
            out += f"[{part}]"
            if depth == 1 and parts[0] == "targets" and names and part in names:
                out += f" (name: {names[part]})"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


# A target name shown in paths: one a target may have (anything else is reported at `name`).
_SHOWN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,127}$")


def _target_names(data: Any) -> dict[int, str]:
    """Index -> name of the raw targets that give a valid name."""
    targets = data.get("targets") if isinstance(data, dict) else None
    if not isinstance(targets, list):
        return {}
    return {
        i: t["name"]
        for i, t in enumerate(targets)
        if isinstance(t, dict) and isinstance(t.get("name"), str) and _SHOWN_NAME.match(t["name"])
    }


@dataclass(slots=True)
class _Findings:
    """What validation found: mistakes in the file, and what the environment lacks (unset
    variables, missing or unreadable files), kept apart so `check` can report them apart."""

    errors: list[str] = field(default_factory=list)
    environment: list[str] = field(default_factory=list)
    # YAML paths whose value came from an unset variable: further errors there are moot.
    unset_paths: list[tuple[Any, ...]] = field(default_factory=list)
    # Every path refused, reported or not (an unset variable's path is refused, not reported).
    refused: list[tuple[Any, ...]] = field(default_factory=list)
    syntax_only: bool = False
    # Index -> name of each target that has a valid name, for the paths of its errors.
    names: dict[int, str] = field(default_factory=dict)

    def add(self, where: tuple[Any, ...], message: str, *, environment: bool = False) -> None:
        """Record one problem at a YAML path."""
        self.refused.append(where)
        if any(where[: len(p)] == p for p in self.unset_paths):
            return  # the unset variable is the problem there, and it is reported already
        if environment:
            if not self.syntax_only:
                self.environment.append(f"{_path(where, self.names)}: {message}")
            return
        self.errors.append(f"{_path(where, self.names)}: {message}")

    @property
    def failed(self) -> bool:
        """True if the config cannot be used as it stands."""
        return bool(self.errors or self.environment)


def _expand_env(node: Any, where: tuple[Any, ...], found: _Findings, env: Mapping[str, str]) -> Any:
    """Expand `${VAR}` and `${VAR:-default}` in every string (`$$` is a literal `$`)."""
    if isinstance(node, dict):
        return {k: _expand_env(v, (*where, k), found, env) for k, v in node.items()}
    if isinstance(node, list):
        return [_expand_env(v, (*where, i), found, env) for i, v in enumerate(node)]
    if not isinstance(node, str) or "$" not in node:
        return node

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        if match.group("bad"):
            found.add(
                where,
                "a ${ without a variable name and closing brace: write ${NAME} or "
                "${NAME:-default}, and $$ for a literal $",
            )
            return match.group(0)
        name, default = match.group(1), match.group(2)
        if name in env:
            return env[name]
        if default is not None:
            return default
        found.add(where, f"environment variable {name} is not set", environment=True)
        found.unset_paths.append(where)
        return ""

    return _ENV_REF.sub(replace, node)


def _validate(model: type[BaseModel], data: Any, where: tuple[Any, ...], found: _Findings) -> Any:
    try:
        return model.model_validate(data, context={"yaml": True})
    except ValidationError as exc:
        for loc, message, is_file in config_messages.translate(exc, model):
            found.add((*where, *loc), message, environment=is_file)
        return None


def parse(data: Any, env: Mapping[str, str] | None = None) -> Config:
    """Validate an already-parsed YAML document into a `Config`, or raise `ConfigError`."""
    config, found = _parse(data, env, syntax_only=False)
    if config is None or found.failed:
        raise ConfigError(found.errors + found.environment, found.environment)
    for target in config.targets:
        _register_secrets(target)
    return config


def _parse(
    data: Any, env: Mapping[str, str] | None, *, syntax_only: bool
) -> tuple[Config | None, _Findings]:
    found = _Findings(syntax_only=syntax_only, names=_target_names(data))
    if data is None:
        data = {}
    if not isinstance(data, dict):
        found.add((), "expected a mapping with 'global' and 'targets'")
        return None, found
    data = _expand_env(data, (), found, os.environ if env is None else env)
    _register_secret_like(data)
    for key in data:
        if key not in _TOP_KEYS:
            found.add((key,), "unknown key" + did_you_mean(key, _TOP_KEYS))

    defaults, inherited = _parse_global(data.get("global"), found)
    shard = _parse_shard(data.get("shard"), found)
    raw_targets = data.get("targets")
    if not isinstance(raw_targets, list) or not raw_targets:
        found.add(("targets",), "expected a non-empty list of targets")
        raw_targets = []

    targets: list[TargetConfig] = []
    first_index: dict[str, int] = {}
    for i, raw in enumerate(raw_targets):
        target = _parse_target(raw, i, inherited, defaults, found)
        if target is None:
            continue
        if target.name in first_index:
            found.add(
                ("targets", i, "name"),
                f"duplicate target name {target.name!r} (also targets[{first_index[target.name]}])",
            )
        first_index.setdefault(target.name, i)
        targets.append(target)
    if found.errors or len(targets) != len(raw_targets):
        return None, found
    sources = {target.system: REGISTRY[target.system] for target in targets}
    return Config(defaults, tuple(targets), shard, sources), found


def _parse_global(raw: Any, found: _Findings) -> tuple[Defaults, dict[str, Any]]:
    """The `global:` section, and the raw values targets inherit: only those that are valid,
    so a mistake there is reported once, at `global.*`, not again under every target."""
    if raw is None:
        return Defaults(), {}
    if not isinstance(raw, dict):
        found.add(("global",), "expected a mapping of defaults (interval, timeout, ...)")
        return Defaults(), {}
    if "alerts" in raw:
        raw = dict(raw)
        mistakes = [] if raw["alerts"] is None else thresholds.problems(raw["alerts"])
        for loc, message in mistakes:
            found.add(("global", "alerts", *loc), message)
        if mistakes or raw["alerts"] is None:
            del raw["alerts"]  # the shipped settings, rather than a second error per target
    before = len(found.refused)
    defaults = _validate(Defaults, raw, ("global",), found)
    if defaults is not None:
        if defaults.timeout >= defaults.interval:
            found.add(
                ("global", "timeout"),
                f"must be shorter than global.interval "
                f"({format_duration(defaults.timeout)} >= {format_duration(defaults.interval)})",
            )
        return defaults, {k: v for k, v in raw.items() if k in DEFAULT_KEYS}
    # A refused default is not inherited: each target would report it again as its own.
    bad = {where[1] for where in found.refused[before:] if len(where) > 1}
    inherited = {key: value for key, value in raw.items() if key in DEFAULT_KEYS and key not in bad}
    partial = _validate(Defaults, inherited, ("global",), _Findings())
    return partial or Defaults(), inherited


def _parse_target(
    raw: Any, i: int, inherited: dict[str, Any], defaults: Defaults, found: _Findings
) -> TargetConfig | None:
    where: tuple[Any, ...] = ("targets", i)
    if not isinstance(raw, dict):
        found.add(where, "expected a mapping")
        return None
    system = raw.get("system")
    source = REGISTRY.get(system) if isinstance(system, str) else None
    if source is None:
        known = ", ".join(sorted(REGISTRY))
        got = "missing" if system is None else f"unknown system {system!r}"
        found.add((*where, "system"), f"{got} (expected one of: {known})")
        return None
    before = len(found.errors) + len(found.environment)
    if "alerts" in raw:
        found.add(
            (*where, "alerts"),
            "set alert thresholds under global.alerts: the alert rules apply to every target",
        )
        raw = {k: v for k, v in raw.items() if k != "alerts"}
    target: TargetConfig | None = _validate(source.config_model, inherited | raw, where, found)
    if target is None or len(found.errors) + len(found.environment) > before:
        return None
    _check_timeout(target, raw, where, defaults, found)
    used = {label for spec in source.specs for label in spec.labels}
    for label in sorted(set(target.labels) & used):
        found.add((*where, "labels", label), f"clashes with a label of {system} metrics")
    _check_files(target, where, found)
    return target


def _check_timeout(
    target: TargetConfig,
    raw: dict[str, Any],
    where: tuple[Any, ...],
    defaults: Defaults,
    found: _Findings,
) -> None:
    """timeout < interval, reported at the key this target sets (a global clash is reported
    once, at `global.timeout`)."""
    if target.timeout < target.interval or not {"timeout", "interval"} & set(raw):
        return
    timeout, interval = format_duration(target.timeout), format_duration(target.interval)
    if "timeout" in raw:
        inherited = "" if "interval" in raw else ", interval from global"
        found.add(
            (*where, "timeout"),
            f"must be shorter than interval ({timeout} >= {interval}{inherited})",
        )
    else:
        found.add(
            (*where, "interval"),
            f"must be longer than timeout ({interval} <= {timeout}, timeout from global)",
        )


def _check_files(target: TargetConfig, where: tuple[Any, ...], found: _Findings) -> None:
    """Every file the target names must be readable now (existence is checked by the model)."""
    files: list[tuple[tuple[Any, ...], Any]] = [((k,), v) for k, v in target.__dict__.items()]
    if target.tls is not None:
        files += [(("tls", k), v) for k, v in target.tls.__dict__.items()]
    for loc, value in files:
        if isinstance(value, Path) and not os.access(value, os.R_OK):
            found.add((*where, *loc), f"{value}: cannot read the file", environment=True)


def _parse_shard(raw: Any, found: _Findings) -> Shard:
    if raw is None:
        return Shard()
    shard: Shard | None = _validate(Shard, raw, ("shard",), found)
    return shard or Shard()


_SECRET_KEY = re.compile(r"(password|secret|token|api_key)$", re.IGNORECASE)


def _register_secret_like(node: Any) -> None:
    """Register inline secrets before validation, so even an invalid config's errors are clean."""
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(key, str) and _SECRET_KEY.search(key) and isinstance(value, str):
                known_secrets.register(value)
            else:
                _register_secret_like(value)
    elif isinstance(node, list):
        for value in node:
            _register_secret_like(value)


def _register_secrets(target: TargetConfig) -> None:
    for value in target.__dict__.values():
        if isinstance(value, SecretStr):
            known_secrets.register(value.get_secret_value())


def _read(path: str | Path) -> Any:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror or exc}"]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{path}: not UTF-8 text (byte {exc.start})"]) from None
    try:
        return yaml.load(text, Loader=_StrictLoader)
    except yaml.YAMLError as exc:
        # Only the position and the problem: the YAML snippet could hold a secret.
        raise ConfigError([f"{path}: {yaml_problem(exc)}"]) from None
    except (RecursionError, MemoryError):
        raise ConfigError([f"{path}: too large or too deeply nested to load"]) from None


def load(path: str | Path, env: Mapping[str, str] | None = None) -> Config:
    """Read and validate a config file, or raise `ConfigError` listing every problem."""
    data = _read(path)
    try:
        return parse(data, env)
    except (RecursionError, MemoryError):
        raise ConfigError([f"{path}: too large or too deeply nested to validate"]) from None


# The YAML path that starts an error: `targets[3] (name: x).api_key`, `global.alerts.X`, a file.
_ERROR_PATH = re.compile(
    r"^(?P<at>\(top level\)|[^ :]+(?: \(name: [^)]*\)[^ :]*)?): (?P<problem>.*)$"
)


def log_form(errors: list[str]) -> list[dict[str, str] | str]:
    """Errors as logs carry them: each path apart from its problem. Logged as one string,
    `targets[0].api_key: environment variable X is not set` has the shape of a credential
    (`api_key: value`), and the log's scrubbing would mask the problem's first word."""
    out: list[dict[str, str] | str] = []
    for error in errors:
        match = _ERROR_PATH.match(error)
        out.append({"at": match["at"], "problem": match["problem"]} if match else error)
    return out


@dataclass(frozen=True, slots=True)
class CheckReport:
    """What `check` found: mistakes in the file apart from what the environment lacks."""

    errors: list[str]
    environment: list[str]
    targets: int


def check(
    path: str | Path, env: Mapping[str, str] | None = None, *, syntax_only: bool = False
) -> CheckReport:
    """Validate a config file for `check`; with `syntax_only`, unset variables and the files
    it names are not looked at (for checking a config away from its secrets)."""
    try:
        data = _read(path)
    except ConfigError as exc:
        return CheckReport(exc.errors, [], 0)
    try:
        config, found = _parse(data, env, syntax_only=syntax_only)
    except (RecursionError, MemoryError):
        return CheckReport([f"{path}: too large or too deeply nested to validate"], [], 0)
    raw_targets = data.get("targets") if isinstance(data, dict) else None
    count = (
        len(config.targets)
        if config
        else len(raw_targets or [])
        if isinstance(raw_targets, list)
        else 0
    )
    return CheckReport(found.errors, found.environment, count)
