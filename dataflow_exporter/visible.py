"""Invisible and control characters from upstream text, made visible as escapes.

A name or error text an upstream chose can hold ESC, CR, BEL (a terminal would obey them: a flow
name could erase or forge a log line), bidirectional overrides such as U+202E (text shown in
another order than stored) or zero-width characters (two names that look the same). `escape`
writes each such character as a Python-style escape (`\\x1b`, `\\r`, `\\u202e`), leaving all
other text as it is: every character of the Unicode categories Cc (C0 and C1 controls, DEL),
Cf (format: bidi controls, zero-width, soft hyphen, BOM), Zl and Zp (line and paragraph
separators). `mark` writes the same characters as `<U+202E>` for a page a person reads.
"""

from __future__ import annotations

import functools
import re
import unicodedata

_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})
_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}
# Anything but printable ASCII is looked at; everything else is left alone.
_CANDIDATE = re.compile(r"[^\x20-\x7e]")
_CANDIDATE_KEEPING_NEWLINES = re.compile(r"[^\x20-\x7e\n]")
_CANDIDATE_KEEPING_LINES = re.compile(r"[^\x20-\x7e\n\t]")


def escape(text: str, *, keep_newlines: bool = False) -> str:
    """`text` with every control, format and separator character written as an escape;
    `keep_newlines` leaves `\\n` as it is (for a renderer that escapes it itself, or a
    traceback shown to a person)."""
    if text.isprintable():
        return text
    pattern = _CANDIDATE_KEEPING_NEWLINES if keep_newlines else _CANDIDATE
    return pattern.sub(lambda m: _escaped(m[0]), text)


def mark(text: str, *, keep_lines: bool = False) -> str:
    """`text` with every control, format and separator character written as `<U+XXXX>`;
    `keep_lines` leaves tab and newline as they are (a stack trace keeps its shape)."""
    if text.isprintable():
        return text
    pattern = _CANDIDATE_KEEPING_LINES if keep_lines else _CANDIDATE
    return pattern.sub(lambda m: _marked(m[0]), text)


def _invisible(char: str) -> bool:
    return unicodedata.category(char) in _INVISIBLE_CATEGORIES


@functools.lru_cache(maxsize=1024)
def _marked(char: str) -> str:
    return f"<U+{ord(char):04X}>" if _invisible(char) else char


@functools.lru_cache(maxsize=1024)
def _escaped(char: str) -> str:
    if not _invisible(char):
        return char
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"
