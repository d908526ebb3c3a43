"""The set of secret values known to this process, and their removal from any text.

Secrets are registered when the config is loaded (inline and `${ENV}` values) and whenever a
`*_file` secret is read, so log lines, error messages and pages can be scrubbed even when an
upstream echoes a credential back. Each secret is also known in the forms an upstream may echo
it in: URL-encoded, and as the base64 of an HTTP Basic `user:password` (see `register_basic`).

The forms are found by one Aho-Corasick automaton (`ahocorasick_rs`), so the cost of `redact`
per character hardly grows with the number of forms; it is rebuilt at the first `redact` after
the set changes. Every occurrence is found, overlapping ones too, and their union is masked: a
secret inside a longer one, or overlapping another, leaves no character of either.
"""

from __future__ import annotations

import base64
import threading
import urllib.parse
from collections.abc import Iterator

import ahocorasick_rs

MASK = "<redacted>"
# Very short values would mask ordinary words; they are still never logged on purpose.
_MIN_LENGTH = 4

_lock = threading.Lock()
# Every known form, by how many secrets registered it (a form shared by two stays until both
# are forgotten). Changed only under `_lock`.
_counts: dict[str, int] = {}
# The matcher over `_counts` and its longest form, or None when `_counts` changed since it was
# built: registering many secrets costs one build at the next `redact`, not one per secret.
_matcher: tuple[ahocorasick_rs.AhoCorasick, int] | None = None
# A huge text is searched this many characters at a time, so the list of matches the automaton
# returns stays small whatever the text.
_WINDOW = 1 << 16


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
    global _matcher
    with _lock:
        for form in new:
            _counts[form] = _counts.get(form, 0) + 1
        _matcher = None


def _remove(old: set[str]) -> None:
    global _matcher
    with _lock:
        for form in old:
            count = _counts.get(form, 0)
            if count > 1:
                _counts[form] = count - 1
            elif count == 1:
                del _counts[form]
        _matcher = None


def _current() -> tuple[ahocorasick_rs.AhoCorasick, int] | None:
    """The matcher over every known form (built now if the set changed), None if none is known."""
    global _matcher
    built = _matcher
    if built is not None or not _counts:
        return built
    with _lock:
        if _matcher is None and _counts:
            # Every occurrence, overlapping ones too: `redact` masks their union, so a secret
            # inside a longer one, or overlapping another, leaves no character of either.
            _matcher = (ahocorasick_rs.AhoCorasick(list(_counts)), max(map(len, _counts)))
        return _matcher


def redact(text: str) -> str:
    """Replace every registered secret, in any of its known forms, in `text` with a mask."""
    return _redact(text, len(text))


def head(text: str, bound: int) -> str:
    """The first `bound` characters of `text` with known secrets masked, ready to be scrubbed
    and cut again: the work stays bounded however long `text` is, a known secret the cut falls
    in is masked whole, and the word the cut falls in is dropped (it may be part of a credential
    no scrubber could recognise once cut)."""
    if len(text) <= bound:
        return redact(text)
    return _whole_words(_redact(text, bound))


def _redact(text: str, bound: int) -> str:
    """`text[:bound]` with every known form masked, one straddling `bound` masked whole."""
    if len(text) < _MIN_LENGTH:
        return text[:bound]
    built = _current()
    if built is None:
        return text[:bound]
    # Most texts hold no secret: one search, without the windows' bookkeeping, says so.
    if len(text) <= _WINDOW and not built[0].find_matches_as_indexes(text):
        return text[:bound]
    out: list[str] = []
    copied = 0
    for start, end in _spans(text, bound, *built):
        out.append(text[copied:start])
        out.append(MASK)
        copied = end
    if not out:
        return text[:bound]
    out.append(text[copied:bound])
    return "".join(out)


def _whole_words(text: str) -> str:
    """`text` without its last word (cut short), or a mask if it is all one word."""
    last = max(text.rfind(space) for space in " \t\n\r\f\v")
    return text[: last + 1] if last >= 0 else MASK


def _spans(
    text: str, bound: int, matcher: ahocorasick_rs.AhoCorasick, longest: int
) -> Iterator[tuple[int, int]]:
    """The stretches of `text` covered by known forms starting before `bound`, in order,
    overlapping ones merged."""
    start = end = -1
    position = 0
    while position < bound:
        # Every occurrence starting before `stop` ends inside the window; the later ones are
        # found, whole, by the next window.
        stop = min(position + _WINDOW, bound)
        window = text[position : stop + longest - 1]
        found = sorted(
            (position + first, position + last)
            for _, first, last in matcher.find_matches_as_indexes(window, overlapping=True)
            if position + first < stop
        )
        for first, last in found:
            if first < end:
                end = max(end, last)
                continue
            if end > 0:
                yield start, end
            start, end = first, last
        position = stop
    if end > 0:
        yield start, end


def forget_all() -> None:
    """Drop every registered secret (tests start from a clean slate)."""
    global _matcher
    with _lock:
        _counts.clear()
        _matcher = None
