"""Logging: every string of every event is masked of registered secrets just before rendering,
whatever route the secret took into the log call."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import pytest

from dataflow_exporter import known_secrets
from dataflow_exporter.log import LogFormat, configure, get_logger

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
    known_secrets.register(SECRET)
    get_logger("test").warning(
        f"event carrying {SECRET}",
        error=f"upstream said password={SECRET}",
        nested={"list": [SECRET, 1], "text": f"x{SECRET}x"},
    )
    text = log_lines.getvalue()
    assert SECRET not in text
    (line,) = [json.loads(row) for row in text.splitlines()]
    assert line["event"] == f"event carrying {known_secrets.MASK}"
    assert line["error"] == f"upstream said password={known_secrets.MASK}"
    assert line["nested"] == {"list": [known_secrets.MASK, 1], "text": f"x{known_secrets.MASK}x"}


def test_a_secret_in_an_exception_traceback_is_masked(log_lines: io.StringIO) -> None:
    known_secrets.register(SECRET)
    try:
        raise RuntimeError(f"connect failed with {SECRET}")
    except RuntimeError:
        get_logger("test").error("failed", exc_info=True)
    text = log_lines.getvalue()
    assert "RuntimeError: connect failed with" in text
    assert SECRET not in text


def test_text_without_secrets_is_logged_unchanged(log_lines: io.StringIO) -> None:
    known_secrets.register(SECRET)
    get_logger("test").info("poll_finished", target="pg", url="http://pg:3000/api")
    (line,) = [json.loads(row) for row in log_lines.getvalue().splitlines()]
    assert (line["target"], line["url"]) == ("pg", "http://pg:3000/api")


# --- control and bidi characters -----------------------------------------------------------------

# A flow name that would clear the terminal, return to the line start and write a forged line.
FORGED = "orders\x1b[2K\rlevel=info event=all_good\x07\u202egnp.\u200b"


def _render(fmt: LogFormat, event: str = "detail_failed", **fields: object) -> str:
    out = io.StringIO()
    configure("debug", fmt, out)
    try:
        get_logger("test").warning(event, **fields)
    finally:
        configure()
    return out.getvalue()


@pytest.mark.parametrize("fmt", ["logfmt", "json", "console"])
def test_control_and_bidi_characters_from_upstream_are_escaped(fmt: LogFormat) -> None:
    text = _render(fmt, flow=FORGED, nested={"names": [FORGED]})
    # What a reader sees: the line itself, and for JSON also the decoded values.
    seen = [text, *json.loads(text)["nested"]["names"]] if fmt == "json" else [text]
    for char in ("\x1b", "\r", "\x07", "\u202e", "\u200b"):
        assert not any(char in shown for shown in seen)
    assert text.count("\n") == 1 and text.endswith("\n")
    assert "x1b[2K" in text and "u202e" in text


@pytest.mark.parametrize("fmt", ["logfmt", "json", "console"])
def test_a_newline_from_upstream_cannot_start_a_log_line(fmt: LogFormat) -> None:
    forged = "orders\nlevel=error event=forged"
    # In a field, and in the event itself (which the console prints without quoting).
    text = _render(fmt, f"flow {forged} failed", flow=forged)
    assert text.count("\n") == 1


def test_the_json_log_carries_the_escape_as_text() -> None:
    (line,) = [json.loads(row) for row in _render("json", flow=FORGED).splitlines()]
    assert line["flow"] == "orders\\x1b[2K\\rlevel=info event=all_good\\x07\\u202egnp.\\u200b"


def test_a_console_traceback_keeps_its_lines() -> None:
    out = io.StringIO()
    configure("debug", "console", out)
    try:
        try:
            raise RuntimeError("upstream said \x1b[31mred")
        except RuntimeError:
            get_logger("test").error("failed", exc_info=True)
    finally:
        configure()
    text = out.getvalue()
    assert "Traceback (most recent call last):\n" in text
    assert "\x1b" not in text and "\\x1b[31mred" in text


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
