"""Control, bidi and zero-width characters from upstream text are written as escapes."""

from __future__ import annotations

import sys
import unicodedata

import pytest

from dataflow_exporter.visible import escape

SHOWN = [
    ("\x1b", "\\x1b"),  # ESC: a terminal escape sequence
    ("\r", "\\r"),  # CR: overwrite the line
    ("\n", "\\n"),  # LF: forge a line
    ("\t", "\\t"),
    ("\x07", "\\x07"),  # BEL
    ("\x00", "\\x00"),
    ("\x7f", "\\x7f"),  # DEL
    ("\x85", "\\x85"),  # C1 next line
    ("\x9b", "\\x9b"),  # C1 control sequence introducer
    ("\u202e", "\\u202e"),  # right-to-left override
    ("\u2066", "\\u2066"),  # left-to-right isolate
    ("\u200b", "\\u200b"),  # zero-width space
    ("\u200d", "\\u200d"),  # zero-width joiner
    ("\ufeff", "\\ufeff"),  # byte order mark
    ("\u00ad", "\\xad"),  # soft hyphen
    ("\u2028", "\\u2028"),  # line separator
    ("\U000e0041", "\\U000e0041"),  # tag character
]


@pytest.mark.parametrize(("char", "shown"), SHOWN)
def test_an_invisible_character_is_written_as_its_escape(char: str, shown: str) -> None:
    assert escape(f"flow{char}name") == f"flow{shown}name"


@pytest.mark.parametrize(
    "text", ["orders_sync", 'a b=c "d" \\e', "café 中文 Ελληνικά", "\u00a0nbsp", ""]
)
def test_visible_text_is_left_as_it_is(text: str) -> None:
    assert escape(text) == text


def test_newlines_can_be_kept_for_a_renderer_that_escapes_them() -> None:
    assert escape("a\nb\rc\x1b", keep_newlines=True) == "a\nb\\rc\\x1b"


@pytest.mark.slow
def test_every_control_format_and_separator_character_is_escaped() -> None:
    """Checked against the running Python's Unicode database, not the module's own list."""
    for code in range(sys.maxunicode + 1):
        char = chr(code)
        if unicodedata.category(char) == "Cs":
            continue  # a lone surrogate cannot be in text decoded from UTF-8
        invisible = unicodedata.category(char) in {"Cc", "Cf", "Zl", "Zp"}
        assert (escape(char) != char) == invisible, hex(code)
