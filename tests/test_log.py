"""Logging: every string of every event is masked of registered secrets just before rendering,
whatever route the secret took into the log call."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import pytest

from dataflow_exporter import redact
from dataflow_exporter.log import configure, get_logger

SECRET = "S3cr3t-log-only-7d41"


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    out = io.StringIO()
    configure("debug", "json", out)
    yield out
    configure()


def test_a_registered_secret_is_masked_in_the_event_and_in_nested_fields(
    log_lines: io.StringIO,
) -> None:
    redact.register(SECRET)
    get_logger("test").warning(
        f"event carrying {SECRET}",
        error=f"upstream said password={SECRET}",
        nested={"list": [SECRET, 1], "text": f"x{SECRET}x"},
    )
    text = log_lines.getvalue()
    assert SECRET not in text
    (line,) = [json.loads(row) for row in text.splitlines()]
    assert line["event"] == f"event carrying {redact.MASK}"
    assert line["error"] == f"upstream said password={redact.MASK}"
    assert line["nested"] == {"list": [redact.MASK, 1], "text": f"x{redact.MASK}x"}


def test_a_secret_in_an_exception_traceback_is_masked(log_lines: io.StringIO) -> None:
    redact.register(SECRET)
    try:
        raise RuntimeError(f"connect failed with {SECRET}")
    except RuntimeError:
        get_logger("test").error("failed", exc_info=True)
    text = log_lines.getvalue()
    assert "RuntimeError: connect failed with" in text
    assert SECRET not in text


def test_text_without_secrets_is_logged_unchanged(log_lines: io.StringIO) -> None:
    redact.register(SECRET)
    get_logger("test").info("poll_finished", target="pg", url="http://pg:3000/api")
    (line,) = [json.loads(row) for row in log_lines.getvalue().splitlines()]
    assert (line["target"], line["url"]) == ("pg", "http://pg:3000/api")


def test_a_key_without_a_value_is_left_out_of_a_logfmt_line() -> None:
    out = io.StringIO()
    configure("debug", "logfmt", out)
    try:
        get_logger("test").info("poll_scheduled", retry_after_s=None, interval_s=30)
    finally:
        configure()
    line = out.getvalue().strip()
    assert "retry_after_s" not in line
    assert line.endswith("interval_s=30")
