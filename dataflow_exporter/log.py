"""structlog set-up: JSON lines or logfmt when not on a TTY, console lines on one, secrets always
redacted.

The redaction processor runs last before rendering, over every string in the event, so a secret
that reaches a log call by any route (an upstream echoing it, an exception text) is masked. It
scrubs (`scrub.scrub`), not only redacts: poll and detail failures carry upstream error texts,
which can hold credentials the exporter never knew (a database password in a peer's DSN).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any, Literal, TextIO

import structlog

from dataflow_exporter import scrub

LogFormat = Literal["logfmt", "json", "console", "auto"]
LEVELS = ("debug", "info", "warn", "error")
FORMATS = ("auto", "logfmt", "json", "console")


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return scrub.scrub(value)
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(v) for v in value]
    return value


def redact_processor(
    _logger: Any, _method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: mask known secrets and credential shapes in every string, and leave
    out keys without a value (logfmt would end a line with an empty `retry_after_s=`)."""
    return {key: _scrub(value) for key, value in event.items() if value is not None}


def configure(level: str = "info", fmt: LogFormat = "auto", stream: TextIO | None = None) -> None:
    """Configure structlog for the process (idempotent); `level` is one of LEVELS."""
    out = stream or sys.stderr
    renderer: Any = structlog.processors.JSONRenderer()
    if fmt == "console" or (fmt == "auto" and out.isatty()):
        renderer = structlog.dev.ConsoleRenderer(colors=False)
    elif fmt == "logfmt":
        renderer = structlog.processors.LogfmtRenderer(
            key_order=["timestamp", "level", "event"], drop_missing=True
        )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            redact_processor,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=False,
    )


def get_logger(name: str) -> Any:
    """A bound logger carrying the module name."""
    return structlog.get_logger(logger_name=name)
