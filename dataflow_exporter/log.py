"""structlog set-up: JSON lines or logfmt when not on a TTY, console lines on one, secrets always
redacted.

The redaction processor runs just before rendering, over every string in the event, so a secret that
reaches a log call by any route (an upstream echoing it, an exception text) is masked. It scrubs
(`credential_text.scrub`), not only redacts: poll and detail failures carry upstream error texts,
which can hold credentials the exporter never knew (a database password in a peer's DSN).

Then every control, bidi and zero-width character is written as an escape (`visible.escape`):
a flow name holding ESC, CR or U+202E cannot forge or hide a line on the terminal or in the log
file, in any format. A newline is left to the JSON and logfmt renderers, which escape it
themselves; the console format escapes it too, except in a traceback shown to a person.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any, Literal, TextIO

import structlog

from dataflow_exporter import credential_text, visible

LogFormat = Literal["logfmt", "json", "console", "auto"]
LEVELS = ("debug", "info", "warn", "error")
FORMATS = ("auto", "logfmt", "json", "console")


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return credential_text.scrub(value)
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


def _visible(value: Any, keep_newlines: bool) -> Any:
    if isinstance(value, str):
        return visible.escape(value, keep_newlines=keep_newlines)
    if isinstance(value, dict):
        return {_visible(k, keep_newlines): _visible(v, keep_newlines) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_visible(v, keep_newlines) for v in value]
    return value


class EscapeProcessor:
    """structlog processor: every control, bidi and zero-width character written as an escape;
    newlines are kept in the fields named in `keep_newlines_in` (`"*"`: every field)."""

    def __init__(self, keep_newlines_in: frozenset[str]) -> None:
        self._keep = keep_newlines_in

    def __call__(
        self, _logger: Any, _method: str, event: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        every = "*" in self._keep
        return {
            visible.escape(key): _visible(value, every or key in self._keep)
            for key, value in event.items()
        }


def configure(level: str = "info", fmt: LogFormat = "auto", stream: TextIO | None = None) -> None:
    """Configure structlog for the process (idempotent); `level` is one of LEVELS."""
    out = stream or sys.stderr
    renderer: Any = structlog.processors.JSONRenderer()
    # JSON and logfmt escape a newline themselves; the console prints it as it is.
    keep_newlines = frozenset({"*"})
    if fmt == "console" or (fmt == "auto" and out.isatty()):
        renderer = structlog.dev.ConsoleRenderer(colors=False)
        keep_newlines = frozenset({"exception"})
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
            EscapeProcessor(keep_newlines),
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
