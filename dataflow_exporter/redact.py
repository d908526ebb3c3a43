"""The set of secret values known to this process, and their removal from any text.

Secrets are registered when the config is loaded (inline and `${ENV}` values) and whenever a
`*_file` secret is read, so log lines, error messages and pages can be scrubbed even when an
upstream echoes a credential back. Each secret is also known in the forms an upstream may echo
it in: URL-encoded, and as the base64 of an HTTP Basic `user:password` (see `register_basic`).
"""

from __future__ import annotations

import base64
import threading
import urllib.parse

MASK = "<redacted>"
# Very short values would mask ordinary words; they are still never logged on purpose.
_MIN_LENGTH = 4
# Up to this many known forms, `redact` tries each in turn (fast for a few); beyond it, it
# looks up every position of the text by its first characters (fast for 100k secrets).
_SCAN_THRESHOLD = 64

_lock = threading.Lock()
# Every known form, by how many secrets registered it (a form shared by two stays until both
# are forgotten), and the forms by their first `_MIN_LENGTH` characters, then by length: a
# position of the text is checked with one set lookup per length, however many forms share
# the prefix. Both change only under `_lock`, which `_scan` holds too.
_counts: dict[str, int] = {}
_by_prefix: dict[str, dict[int, set[str]]] = {}
# While there are few forms: all of them, longest first (a secret inside a longer one must not
# be masked first and leave the longer one's ends).
_ordered: tuple[str, ...] = ()


def forms(value: str) -> set[str]:
    """The secret and the encodings of it that text it did not write may carry."""
    found = {value, urllib.parse.quote(value, safe=""), urllib.parse.quote_plus(value, safe="")}
    found.add(_basic_token("", value))
    return {form for form in found if len(form) >= _MIN_LENGTH}


def _basic_token(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


def register(value: str | None) -> None:
    """Remember a secret value so `redact` removes it (and its encodings) from text."""
    if not value or len(value) < _MIN_LENGTH:
        return
    _add(forms(value))


def register_basic(user: str, password: str) -> None:
    """Remember the base64 `user:password` token of an HTTP Basic header (an upstream that
    echoes the Authorization header puts it in its error text)."""
    if password:
        _add({_basic_token(user, password)})


def unregister(value: str | None) -> None:
    """Forget a secret that is no longer valid (a replaced access token), so the set stays
    bounded in a long-running process."""
    if not value or len(value) < _MIN_LENGTH:
        return
    _remove(forms(value))


def unregister_basic(user: str, password: str) -> None:
    """Forget a Basic token registered with `register_basic`."""
    if password:
        _remove({_basic_token(user, password)})


def _add(new: set[str]) -> None:
    with _lock:
        for form in new:
            count = _counts.get(form, 0)
            _counts[form] = count + 1
            if count == 0:
                _index(form, add=True)
        _reorder()


def _remove(old: set[str]) -> None:
    with _lock:
        for form in old:
            count = _counts.get(form, 0)
            if count > 1:
                _counts[form] = count - 1
            elif count == 1:
                del _counts[form]
                _index(form, add=False)
        _reorder()


def _reorder() -> None:
    global _ordered
    few = len(_counts) <= _SCAN_THRESHOLD
    _ordered = tuple(sorted(_counts, key=len, reverse=True)) if few else ()


def _index(form: str, *, add: bool) -> None:
    """Add or drop one form in the prefix index (the caller holds the lock)."""
    key = form[:_MIN_LENGTH]
    if add:
        _by_prefix.setdefault(key, {}).setdefault(len(form), set()).add(form)
        return
    by_length = _by_prefix.get(key, {})
    same = by_length.get(len(form), set())
    same.discard(form)
    if not same:
        by_length.pop(len(form), None)
    if not by_length:
        _by_prefix.pop(key, None)


def redact(text: str) -> str:
    """Replace every registered secret, in any of its known forms, in `text` with a mask."""
    ordered, index = _ordered, _by_prefix
    if not index or len(text) < _MIN_LENGTH:
        return text
    if ordered:
        for form in ordered:
            if form in text:
                text = text.replace(form, MASK)
        return text
    return _scan(text, index)


def _scan(text: str, index: dict[str, dict[int, set[str]]]) -> str:
    out: list[str] = []
    copied = position = 0
    last = len(text) - _MIN_LENGTH
    with _lock:
        while position <= last:
            by_length = index.get(text[position : position + _MIN_LENGTH])
            length = _longest_match(text, position, by_length) if by_length else 0
            if not length:
                position += 1
                continue
            out.append(text[copied:position])
            out.append(MASK)
            position = copied = position + length
    if not out:
        return text
    out.append(text[copied:])
    return "".join(out)


def _longest_match(text: str, position: int, by_length: dict[int, set[str]]) -> int:
    """The length of the longest form found at `position` (0 if none)."""
    for length in sorted(by_length, reverse=True):
        if text[position : position + length] in by_length[length]:
            return length
    return 0


def shorten(text: str, limit: int) -> str:
    """`text` redacted, then cut to `limit` characters: cutting first could leave a secret's
    prefix that no longer matches."""
    return redact(text)[:limit]


def forget_all() -> None:
    """Drop every registered secret (tests start from a clean slate)."""
    global _ordered
    with _lock:
        _counts.clear()
        _by_prefix.clear()
        _ordered = ()
