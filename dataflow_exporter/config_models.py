"""Typed, frozen config models shared by every source: durations, filters, TLS, the shard.

Each source subclasses `TargetConfig` with its own keys; `config` loads YAML into them.
"""

from __future__ import annotations

import re
import urllib.parse
import zlib
from typing import Annotated, Any, ClassVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    FilePath,
    StrictInt,
    ValidationInfo,
    field_validator,
    model_validator,
)

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)")
_UNIT_SECONDS = {
    "ms": 0.001,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86400.0,
    "w": 604800.0,
    "y": 31536000.0,
}
_DURATION_HINT = "expected a duration with a unit, such as 30s, 5m, 1h30m or 250ms"


def parse_duration(value: Any, *, from_yaml: bool = False) -> float:
    """Parse `30s`, `5m`, `1h30m` or `250ms` (Prometheus style) into seconds.

    A bare number is taken as seconds only from Python; in YAML it needs a unit, since
    `interval: 30000` would otherwise quietly mean more than eight hours.
    """
    if isinstance(value, bool) or (from_yaml and isinstance(value, int | float)):
        raise ValueError(f"{_DURATION_HINT} (got {value!r})")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip()
        pos, seconds = 0, 0.0
        for match in _DURATION_PART.finditer(text):
            if match.start() != pos:
                break
            seconds += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
            pos = match.end()
        if not text or pos != len(text):
            raise ValueError(f"invalid duration {value!r}: {_DURATION_HINT}")
    else:
        raise ValueError(_DURATION_HINT)
    if seconds <= 0:
        raise ValueError("duration must be greater than zero")
    return seconds


def format_duration(seconds: float) -> str:
    """Seconds as the config writes them: 90 -> 1m30s, 0.25 -> 250ms."""
    if seconds < 1:
        return f"{seconds * 1000:g}ms"
    out, rest = "", seconds
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if rest >= size:
            count = int(rest // size)
            out += f"{count}{unit}"
            rest -= count * size
    if rest or not out:
        out += f"{rest:g}s"
    return out


def config_duration(value: Any, info: ValidationInfo) -> float:
    """The `Duration` validator: strict about units when the value comes from the YAML file."""
    return parse_duration(value, from_yaml=bool((info.context or {}).get("yaml")))


Duration = Annotated[float, BeforeValidator(config_duration)]

_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_TARGET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,127}$")


_SECRETS_HINT = "credentials belong in the password, token or api_key keys (or their _file forms)"


def check_url(url: str) -> str:
    """An upstream base URL as given, without a trailing slash; a path prefix is kept."""
    if any(char.isspace() for char in url):
        raise ValueError("must not contain spaces or other whitespace (percent-encode them)")
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an http:// or https:// URL, e.g. http://peerdb-ui:3000")
    if "@" in parts.netloc:
        raise ValueError(f"must not carry credentials; {_SECRETS_HINT}")
    if parts.query or parts.fragment or url.endswith(("?", "#")):
        raise ValueError(
            f"must not have a query string or fragment (it would be sent on every request "
            f"and shown in errors); {_SECRETS_HINT}"
        )
    if not parts.hostname:
        raise ValueError("has no host name")
    try:
        port = parts.port
    except ValueError:
        raise ValueError("has an invalid port: expected a number from 1 to 65535") from None
    if port == 0:
        raise ValueError("has an invalid port: expected a number from 1 to 65535")
    return url.rstrip("/")


class ConfigModel(BaseModel):
    """Base of every config model: unknown keys are errors and loaded config never changes."""

    # Not named "Strict": that is pydantic's word for refusing type coercion, which this is not.
    model_config = ConfigDict(extra="forbid", frozen=True)


class Filter(ConfigModel):
    """Include/exclude regular expressions applied to entity names (search, not full match)."""

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    @field_validator("include", "exclude")
    @classmethod
    def _valid_regexes(cls, patterns: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from exc
        return patterns

    def matches(self, name: str) -> bool:
        """True if `name` passes: matches some include (or none are given) and no exclude."""
        if self.include and not any(re.search(p, name) for p in self.include):
            return False
        return not any(re.search(p, name) for p in self.exclude)


class TLSConfig(ConfigModel):
    """Client TLS towards one upstream."""

    ca_file: FilePath | None = None
    cert_file: FilePath | None = None
    key_file: FilePath | None = None
    insecure_skip_verify: bool = False

    @model_validator(mode="after")
    def _cert_and_key_together(self) -> TLSConfig:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file must be given together")
        return self


class Defaults(ConfigModel):
    """The `global:` section: defaults every target may override."""

    interval: Duration = 30.0
    timeout: Duration = 10.0
    stale_after: Duration = 300.0
    max_concurrency: int = Field(default=8, ge=1, le=256)
    max_series: int = Field(default=100_000, ge=1)
    max_entities: int = Field(default=20_000, ge=1)
    max_response_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    # Overrides of the alert settings (alerts/config.yml's `alerts:`), checked by config.py
    # against the shipped ones; only `global:` may set them, as the rules apply to every target.
    alerts: dict[str, dict[str, Any]] = Field(default_factory=dict)


DEFAULT_KEYS = tuple(Defaults.model_fields)
RESERVED_LABELS = frozenset({"target", "system", "job", "instance"})


class TargetConfig(Defaults):
    """Keys every target has; each source adds its own in a subclass."""

    name: str
    system: str
    url: str
    labels: dict[str, str] = Field(default_factory=dict)
    tls: TLSConfig | None = None
    # The API paths the source adds to the URL: a URL already ending in one would double it.
    api_paths: ClassVar[tuple[str, ...]] = ()

    @field_validator("name")
    @classmethod
    def _valid_name(cls, name: str) -> str:
        if not _TARGET_NAME.match(name):
            raise ValueError(
                "must be 1-128 characters of letters, digits, '_', '.', ':' or '-', "
                "starting with a letter or digit"
            )
        return name

    @field_validator("url")
    @classmethod
    def _valid_url(cls, url: str) -> str:
        url = check_url(url)
        path = urllib.parse.urlsplit(url).path
        for api in cls.api_paths:
            if path.endswith(api):
                raise ValueError(
                    f"ends with {api}, which the exporter adds to every request itself; "
                    f"give the base URL without it"
                )
        return url

    @field_validator("labels")
    @classmethod
    def _valid_labels(cls, labels: dict[str, str]) -> dict[str, str]:
        for key in labels:
            if not _LABEL_NAME.match(key) or key.startswith("__"):
                raise ValueError(f"invalid label name {key!r}")
            if key in RESERVED_LABELS:
                raise ValueError(f"label name {key!r} is reserved")
        return labels

    def __hash__(self) -> int:  # frozen models with dict fields are not hashable by default
        return hash((self.name, self.system))


def not_both(data: Any, inline: str, file: str) -> Any:
    """Reject a config that gives both `x` and `x_file` for the same secret."""
    if isinstance(data, dict) and data.get(inline) is not None and data.get(file) is not None:
        raise ValueError(f"give either {inline} or {file}, not both")
    return data


# How a shard is given wrong, in words the YAML path or the command-line flags complete.
SHARD_TOGETHER = "index and count go together"
SHARD_RANGE = "need count >= 1 and 0 <= index < count"


class Shard(ConfigModel):
    """This replica's share of entities: those whose stable hash modulo `count` is `index`.

    Validated here once, whether it comes from the `shard:` key or the `--shard.*` flags.
    """

    index: StrictInt = Field(default=0, ge=0)
    count: StrictInt = Field(default=1, ge=1)

    @model_validator(mode="before")
    @classmethod
    def _both_or_neither(cls, data: Any) -> Any:
        # A lone `count: 3` would quietly make this replica shard 0.
        if isinstance(data, dict) and len({"index", "count"} & data.keys()) == 1:
            raise ValueError(SHARD_TOGETHER)
        return data

    @model_validator(mode="after")
    def _index_below_count(self) -> Shard:
        if self.index >= self.count:
            raise ValueError(SHARD_RANGE)
        return self

    def owns(self, key: str) -> bool:
        """True if the entity named `key` belongs to this replica."""
        count = self.count  # read once: called for every entity of every poll
        if count <= 1:
            return True
        return zlib.crc32(key.encode("utf-8", "surrogatepass")) % count == self.index

    @property
    def primary(self) -> bool:
        """True on the replica that exports target-wide series (not tied to one entity)."""
        return self.index == 0
