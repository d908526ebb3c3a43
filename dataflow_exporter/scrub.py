"""Scrubbing of credential-shaped text from what upstreams write in their error messages.

`redact.redact` removes the secrets this process knows. Upstream error texts (a Java exception,
a Kafka client's message) can carry credentials the exporter never saw: a database password in
a JDBC URL, `password=...` in a connection string, an `Authorization:` header echoed back. So
text from an upstream is shown only through `scrub`, which masks those shapes as well.
"""

from __future__ import annotations

import re

from dataflow_exporter import redact

MASK = redact.MASK

# Userinfo in any URL (`scheme://user:password@host`, JDBC's `jdbc:postgresql://...` too).
_USERINFO = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.-]*://)[^\s/@'\"<>]+@")
# key=value and key: value pairs whose key names a credential (JDBC properties, connection
# strings, query strings, JSON-ish `"password": "..."`).
_KEY_VALUE = re.compile(
    r"(?P<head>(?<![a-zA-Z0-9])[\"']?"
    r"(?:password|passwd|pwd|secret|client_secret|token|access_token|refresh_token|api_?key"
    r"|apikey|sasl\.jaas\.config|credentials?)[\"']?\s*[=:]\s*)"
    r"(?P<value>\"[^\"]*\"|'[^']*'|[^\s&;,'\"<>)}\]]+)",
    re.IGNORECASE,
)
# An Authorization header with its scheme, and a bare bearer or basic credential.
_AUTHORIZATION = re.compile(
    r"(?P<head>\b(?:proxy-)?authorization[\"']?\s*[=:]\s*[\"']?)"
    r"(?:(?:bearer|basic|digest|token|apikey)\s+)?[^\s,;'\"<>]+",
    re.IGNORECASE,
)
_BEARER = re.compile(r"(?P<head>\b(?:bearer|basic)\s+)[A-Za-z0-9._~+/=-]{8,}", re.IGNORECASE)


def scrub(text: str) -> str:
    """`text` without the process's known secrets and without anything credential-shaped."""
    text = redact.redact(text)
    text = _AUTHORIZATION.sub(lambda m: m["head"] + MASK, text)
    text = _BEARER.sub(lambda m: m["head"] + MASK, text)
    text = _USERINFO.sub(lambda m: m["head"] + MASK + "@", text)
    return _KEY_VALUE.sub(lambda m: m["head"] + MASK, text)
