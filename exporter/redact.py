"""The set of secret values known to this process, and their removal from any text.

Secrets are registered when the config is loaded (inline and `${ENV}` values) and whenever a
`*_file` secret is read, so log lines, error messages and pages can be scrubbed even when an
upstream echoes a credential back.
"""

from __future__ import annotations

import threading

MASK = "<redacted>"
# Very short values would mask ordinary words; they are still never logged on purpose.
_MIN_LENGTH = 4

_lock = threading.Lock()
_secrets: frozenset[str] = frozenset()


def register(value: str | None) -> None:
    """Remember a secret value so `redact` removes it from text."""
    global _secrets
    if not value or len(value) < _MIN_LENGTH or value in _secrets:
        return
    with _lock:
        _secrets = _secrets | {value}


def unregister(value: str | None) -> None:
    """Forget a secret that is no longer valid (a replaced access token), so the set stays
    bounded in a long-running process."""
    global _secrets
    if value is None or value not in _secrets:
        return
    with _lock:
        _secrets = _secrets - {value}


def redact(text: str) -> str:
    """Replace every registered secret in `text` with a mask."""
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def forget_all() -> None:
    """Drop every registered secret (tests start from a clean slate)."""
    global _secrets
    with _lock:
        _secrets = frozenset()
