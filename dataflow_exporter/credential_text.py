"""Scrubbing of credential-shaped text from what upstreams write in their error messages.

`known_secrets.redact` removes the secrets this process knows. Upstream error texts (a Java
exception, a Kafka client's message) can carry credentials the exporter never saw: a database
password in a JDBC URL, `password=...` in a connection string, an `Authorization:` header echoed
back. So text from an upstream is shown only through `scrub`, which masks those shapes as well, and
is shortened only through `shorten`, which scrubs before it cuts.

What counts as a credential's name (`key=value`, `key: value`, quoted, JSON-escaped): a name,
split into words at `_`, `-`, `.` and camelCase, that holds `password`, `passwd`, `passphrase`,
`secret`, `pwd` or `credential` anywhere (`PGPASSWORD`, `dbPassword`, `AWS_SECRET_ACCESS_KEY`,
`MYSQL_PWD`), a word `pass`, `passcode`, `jaas` or `userinfo` (`basic.auth.user.info`), a word
ending in `token` (`accessToken`, `X-Auth-Token`), or `key` after a word naming whose key it is
(`api_key`, `X-API-Key`, `AccountKey`, `SharedAccessKey`, `client.key`). Not a credential: `key`
alone or after another word (`partition_key`, `primary_key`, a Kafka record's `key=`), `tokens`
(`tokens_total`, `max_tokens`), and a name whose last word says it describes a credential
rather than holds one (`token_count`, `password_file`, `secret_name`, `token_expires_in`).
"""

from __future__ import annotations

import functools
import re

from dataflow_exporter import known_secrets

MASK = known_secrets.MASK

# A text longer than this many times the limit is cut (at a word) before it is scrubbed: the
# work stays bounded for a 10 MB error text, and the part shown is scrubbed exactly as if the
# whole text had been.
_HEAD_FACTOR = 4
_HEAD_SLACK = 256

# The start of any URL (`scheme://`, JDBC's `jdbc:postgresql://` too): its userinfo, up to the
# last `@` before the URL ends, is masked (a password may hold `/`).
_URL = re.compile(r"(?<![a-zA-Z0-9+.-])[a-zA-Z][a-zA-Z0-9+.-]*://")
_URL_END = re.compile(r"[\s'\"<>]|\Z")
# Oracle's thin driver: `jdbc:oracle:thin:user/password@host...`.
_ORACLE = re.compile(r"(?P<head>\bjdbc:oracle:[a-z0-9]+:)[^\s'\"<>@:]+@", re.IGNORECASE)
# A PEM private key block, to its end or to the end of the text (cut short).
_PEM = re.compile(
    r"(?P<head>-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----)"
    r"(?:.*?(?P<end>-----END [A-Z0-9 ]*PRIVATE KEY-----)|.*)",
    re.DOTALL,
)
# A JSON Web Token: base64url of a JSON header (`{"` is `eyJ`), a payload and a signature.
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
# An Authorization header with its scheme.
_AUTHORIZATION = re.compile(
    r"(?P<head>\b(?:proxy-)?authorization[\\\"']*\s*[=:]\s*[\\\"']*)"
    r"(?:(?:bearer|basic|digest|token|apikey)\s+)?[^\s,;'\"<>\\]+",
    re.IGNORECASE,
)
# A Cookie or Set-Cookie header: every `name=value` pair of it (session cookies are credentials).
_COOKIE = re.compile(
    r"(?P<head>\b(?:set-)?cookie[\\\"']*\s*:\s*)"
    r"[^\s;,=]+=[^\s;,]*(?:;\s*[^\s;,=]+(?:=[^\s;,]*)?)*",
    re.IGNORECASE,
)
# An XML element whose name is a credential's: `<password>...</password>`.
_XML = re.compile(r"<(?P<name>[A-Za-z][\w.:-]*)>(?P<value>[^<]*)</(?P=name)>")
# A bearer or basic credential without a header name before it; a plain lowercase word after
# the scheme is prose (`basic authentication failed`), not a credential.
_BEARER = re.compile(
    r"(?P<head>\b(?:bearer|basic)\s+)(?!(?-i:[a-z]+)(?![A-Za-z0-9._~+/=-]))"
    r"[A-Za-z0-9._~+/=-]{8,}",
    re.IGNORECASE,
)
# A name followed by `=` or `:`, bare, quoted or in escaped quotes; `_credential` decides.
_NAME = re.compile(
    r"(?<![A-Za-z0-9_.\-])(?P<quote>\\?[\"']|)(?P<name>[A-Za-z][A-Za-z0-9_.\-]*)(?P=quote)"
    r"\s*(?:=>?|:)\s*"
)
# The value after a credential's name: in escaped quotes, in quotes (to the end of the text if
# the closing quote was cut off), or a bare run up to a separator.
_VALUE = re.compile(
    r"(?P<open>\\\")(?:[^\"\\]|\\(?!\"))*(?:\\\"|\Z)"
    r"|(?P<open1>\\')(?:[^'\\]|\\(?!'))*(?:\\'|\Z)"
    r"|(?P<open2>\")(?:[^\"\\]|\\.)*(?:\"|\Z)"
    r"|(?P<open3>')[^']*(?:'|\Z)"
    r"|(?:[^\s&;,'\"<>)}\]\\]|\\(?![\"']))+",
    re.DOTALL,
)
_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")

# Parts of a word (`PGPASSWORD`, `dbpwd`), and whole words.
_SECRET_PARTS = ("password", "passwd", "passphrase", "secret", "pwd", "credential")
_SECRET_WORDS = frozenset({"pass", "passcode", "jaas", "userinfo"})
# Whose key a `key` is, when it is a credential.
_KEY_OWNERS = (
    "api", "access", "secret", "private", "account", "shared", "client", "master", "encryption",
    "decryption", "signing", "sas", "subscription", "app", "consumer", "auth", "service",
    "session", "ssh", "hmac", "license", "storage", "keystore", "ssl", "tls",
)  # fmt: skip
# A last word that makes the name describe a credential rather than hold it.
_DESCRIBING = frozenset(
    {
        "count", "counts", "total", "size", "len", "length", "type", "kind", "ttl", "expiry",
        "expires", "expiration", "expired", "exp", "in", "at", "age", "limit", "max", "min",
        "id", "ids", "name", "names", "file", "path", "dir", "location", "url", "uri",
        "endpoint", "version", "rotation", "field", "format", "policy", "required",
        "enabled", "set", "present", "missing", "invalid", "ref", "arn", "provider", "mode",
        "header", "scheme", "prefix",
    }
)  # fmt: skip


def scrub(text: str) -> str:
    """`text` without the process's known secrets and without anything credential-shaped."""
    text = known_secrets.redact(text)
    text = _PEM.sub(lambda m: m["head"] + MASK + (m["end"] or ""), text)
    text = _AUTHORIZATION.sub(lambda m: m["head"] + MASK, text)
    text = _BEARER.sub(lambda m: m["head"] + MASK, text)
    text = _COOKIE.sub(lambda m: m["head"] + MASK, text)
    text = _XML.sub(_xml_value, text)
    text = _JWT.sub(MASK, text)
    text = _ORACLE.sub(lambda m: m["head"] + MASK + "@", text)
    text = _userinfo(text)
    return _named_values(text)


def shorten(text: str, limit: int) -> str:
    """`text` scrubbed, then cut to at most `limit` characters.

    Scrubbing first: a cut can leave part of a credential that no longer looks like one (a URL's
    `user:pass` without its `@`). A huge text is first cut to a few times `limit`, at a word and
    past any known secret (`known_secrets.head`), so the part that is shown is the same.
    """
    return scrub(known_secrets.head(text, read_bound(limit)))[:limit]


def read_bound(limit: int) -> int:
    """How many characters of a text `shorten(text, limit)` reads: a store that keeps more of
    each text than this leaves every cut to `shorten`, which knows to drop a cut word."""
    return _HEAD_FACTOR * limit + _HEAD_SLACK


@functools.lru_cache(maxsize=4096)
def is_credential_name(name: str) -> bool:
    """True if a `name=value` pair names a credential (see the module docstring)."""
    parts = [part for part in re.split(r"[_.\-]+", name) if part]
    camel = [word for part in parts for word in _WORDS.findall(part)]
    # Split at camelCase and not: `aCCessToKen` is one word in any case but not in camelCase.
    views = [[word.lower() for word in view] for view in (camel, parts) if view]
    if any(len(view) > 1 and view[-1] in _DESCRIBING for view in views):
        return False
    return any(_holds_credential(view) for view in views)


def _holds_credential(words: list[str]) -> bool:
    for i, word in enumerate(words):
        before = words[i - 1] if i else ""
        if (
            any(part in word for part in _SECRET_PARTS)
            or word in _SECRET_WORDS
            or word.endswith("token")
            or (word == "info" and before == "user")
            or _is_key(word, before)
        ):
            return True
    return False


def _is_key(word: str, before: str) -> bool:
    if word in ("key", "keys"):
        return before.endswith(_KEY_OWNERS)
    stem = word.removesuffix("keys").removesuffix("key")
    return stem != word and bool(stem) and stem.endswith(_KEY_OWNERS)


def _xml_value(found: re.Match[str]) -> str:
    name = found["name"]
    if not found["value"] or not is_credential_name(name.rpartition(":")[2]):
        return found[0]
    return f"<{name}>{MASK}</{name}>"


def _userinfo(text: str) -> str:
    """Mask the userinfo of every URL, up to the URL's last `@`."""
    out: list[str] = []
    copied = position = 0
    while (found := _URL.search(text, position)) is not None:
        start = found.end()
        end = _URL_END.search(text, start)
        stop = end.start() if end is not None else len(text)
        at = text.rfind("@", start, stop)
        # Past the URL either way: another `scheme://` inside it is part of this userinfo or
        # of a URL without one, and scanning each again would be quadratic.
        position = stop
        if at < 0:
            continue
        out.append(text[copied:start])
        out.append(MASK)
        copied = at
    if not out:
        return text
    out.append(text[copied:])
    return "".join(out)


def _named_values(text: str) -> str:
    """Mask the value of every `name=value` or `name: value` whose name is a credential's."""
    out: list[str] = []
    copied = position = 0
    while (found := _NAME.search(text, position)) is not None:
        position = found.end()
        if not is_credential_name(found["name"]):
            continue
        value = _VALUE.match(text, position)
        if value is None:
            continue
        quote = value["open"] or value["open1"] or value["open2"] or value["open3"] or ""
        closed = value[0].endswith(quote) and len(value[0]) > len(quote)
        out.append(text[copied:position])
        out.append(quote + MASK + (quote if quote and closed else ""))
        copied = position = value.end()
    if not out:
        return text
    out.append(text[copied:])
    return "".join(out)
