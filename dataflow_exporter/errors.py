"""Every way the exporter fails, in one place.

    Exception
    ├── ConfigError        config.py: the YAML config cannot be used; `errors` lists every
    │                      problem with its YAML path. Startup exits 1; a reload keeps the
    │                      old config (dataflow_exporter_config_last_reload_successful 0).
    ├── WebConfigError     webconfig.py: the --web.config.file cannot be used; startup exits 2.
    ├── SecretFileError    auth.py (read_secret_file): an unusable `*_file` secret. Read at
    │                      poll time, it becomes UpstreamError(Reason.CONFIG) for that target.
    └── UpstreamError      upstream.py (HTTP, decoding), auth.py, sources/*: one poll failed,
        │                  classified by `reason` (a `Reason`), message redacted of secrets.
        └── SchemaError    sources/* parsers, upstream.py (links): reason `schema`, the answer
            │              does not have the shape the upstream's API documents.
            └── TimeRangeError  sources/base.py (unix_time): a time outside 1970..9999; in
                           an inventory it fails only its entity (`sources.base.entity_time`).

A `Reason` is the `reason` label of `dataflow_exporter_target_errors_total`: the scheduler counts
every failed poll under one, and `internal` for any other exception that escapes a poll (a bug).
An inventory that selects more entities than `max_entities` fails the poll as `max_entities`
(`Source.admit` in sources/base.py), before any detail call is spent.

Per entity, nothing is raised: `Details.fetch` in sources/base.py turns an UpstreamError whose
reason is one of `ENTITY_REASONS` (about one answer: http_4xx, http_5xx, decode, schema) into a
`DetailFailure` record (records.py), counted in
`dataflow_exporter_detail_errors_total{endpoint,reason}`, and the target stays up.
"""

from __future__ import annotations

import errno
from enum import StrEnum
from typing import Any

from dataflow_exporter import credential_text, known_secrets

# Characters of an OS error's own text kept in a message.
_OS_ERROR_LIMIT = 200


class Reason(StrEnum):
    """Why a poll failed; the closed set of `reason` label values."""

    TIMEOUT = "timeout"
    CONNECT = "connect"
    TLS = "tls"
    AUTH = "auth"
    RATE_LIMITED = "rate_limited"
    HTTP_4XX = "http_4xx"
    HTTP_5XX = "http_5xx"
    DECODE = "decode"
    SCHEMA = "schema"
    INTERNAL = "internal"  # a bug in the exporter, not a fault of the upstream
    CONFIG = "config"
    # The inventory selected more entities than the target's `max_entities` allows.
    MAX_ENTITIES = "max_entities"


# Reasons that say something about one answer rather than about reaching the target at all: a
# detail call failing with one of these fails that entity's detail, not the poll.
ENTITY_REASONS = frozenset({Reason.HTTP_4XX, Reason.HTTP_5XX, Reason.DECODE, Reason.SCHEMA})


class ConfigError(Exception):
    """A config that cannot be used; `errors` lists every problem with its YAML path."""

    def __init__(self, errors: list[str], environment: list[str] | None = None) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors
        # The subset of `errors` the environment causes: unset variables, unreadable files.
        self.environment = environment or []


class WebConfigError(Exception):
    """An unusable web config file."""


class SecretFileError(Exception):
    """A secret file that cannot be used; the message names the file and why."""


class UpstreamError(Exception):
    """A failed upstream call, classified; `status` and `payload` let sources special-case it."""

    def __init__(
        self,
        reason: Reason,
        message: str,
        *,
        status: int | None = None,
        payload: Any = None,
        retry_after: float | None = None,
    ) -> None:
        # The message reaches logs, the status page and the status API: an upstream that
        # echoes a credential must not carry it there.
        super().__init__(known_secrets.redact(message))
        self.reason = reason
        self.status = status
        self.payload = payload
        self.retry_after = retry_after


class SchemaError(UpstreamError):
    """The upstream answered JSON that does not have the shape its API documents."""

    def __init__(self, message: str) -> None:
        super().__init__(Reason.SCHEMA, message)


class TimeRangeError(SchemaError):
    """An upstream time outside 1970-01-01..9999-12-31: one entity's broken field."""


def os_error_text(exc: OSError) -> str:
    """An OS error in words (a connection, a secret file, the listener's files), naming
    descriptor exhaustion plainly."""
    if exc.errno in (errno.EMFILE, errno.ENFILE):
        return "too many open files in the exporter (raise its file descriptor limit)"
    return credential_text.shorten(str(exc) or type(exc).__name__, _OS_ERROR_LIMIT)
