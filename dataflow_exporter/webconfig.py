"""The exporter-toolkit `web-config.yml`: TLS for the listener and bcrypt basic auth.

Supported keys: `tls_server_config` (`cert_file`, `key_file`, `client_ca_file`,
`client_auth_type`, `min_version`, `max_version`, `cipher_suites`,
`prefer_server_cipher_suites`) and `basic_auth_users` (user: bcrypt hash).

Password checks run in a small thread pool of their own (bcrypt is deliberately slow), at most a
few at once; failed logins are limited per client address; unknown users are checked against a
dummy hash as costly as the dearest configured one and every failed check takes at least as
long, so response timing does not tell which usernames exist.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import concurrent.futures
import secrets
import ssl
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Literal

import bcrypt
import yaml
from aiohttp import web
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from dataflow_exporter import config_messages
from dataflow_exporter.errors import WebConfigError, os_error_text

# A bcrypt hash of a random string nobody knows; checked for unknown users to equalise timing.
_DUMMY_HASH = b"$2b$10$G1FGI6Em0LmWEIHYJ1wLleyXNDZDh3N1vLS0IEKcHSCJmz16.mGfm"
# bcrypt reads at most 72 bytes of a password; the library refuses longer ones.
MAX_PASSWORD_BYTES = 72

TLSVersion = Literal["TLS10", "TLS11", "TLS12", "TLS13"]
_TLS_VERSIONS = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}
# exporter-toolkit takes Go's cipher suite names (TLS 1.0-1.2 only; Go does not let TLS 1.3
# suites be chosen): their OpenSSL names.
CIPHER_SUITES = {
    "TLS_RSA_WITH_AES_128_CBC_SHA": "AES128-SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA": "AES256-SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA256": "AES128-SHA256",
    "TLS_RSA_WITH_AES_128_GCM_SHA256": "AES128-GCM-SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384": "AES256-GCM-SHA384",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA": "ECDHE-ECDSA-AES128-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA": "ECDHE-ECDSA-AES256-SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA": "ECDHE-RSA-AES128-SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA": "ECDHE-RSA-AES256-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256": "ECDHE-ECDSA-AES128-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256": "ECDHE-RSA-AES128-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": "ECDHE-RSA-AES128-GCM-SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256": "ECDHE-ECDSA-AES128-GCM-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": "ECDHE-RSA-AES256-GCM-SHA384",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384": "ECDHE-ECDSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-RSA-CHACHA20-POLY1305",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-ECDSA-CHACHA20-POLY1305",
}

ClientAuth = Literal[
    "NoClientCert",
    "RequestClientCert",
    "RequireAnyClientCert",
    "VerifyClientCertIfGiven",
    "RequireAndVerifyClientCert",
]


class _TLS(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    cert_file: Path
    key_file: Path
    client_ca_file: Path | None = None
    client_auth_type: ClientAuth = "NoClientCert"
    min_version: TLSVersion = "TLS12"
    max_version: TLSVersion = "TLS13"
    cipher_suites: tuple[str, ...] | None = None
    prefer_server_cipher_suites: bool = True

    @field_validator("cipher_suites")
    @classmethod
    def _known_suites(cls, suites: tuple[str, ...] | None) -> tuple[str, ...] | None:
        unknown = [suite for suite in suites or () if suite not in CIPHER_SUITES]
        if unknown:
            raise ValueError(f"unknown cipher suite(s): {', '.join(unknown)}")
        if suites is not None and not suites:
            raise ValueError("give at least one cipher suite, or leave the key out")
        return suites


class _WebConfigFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    tls_server_config: _TLS | None = None
    basic_auth_users: dict[str, str] | None = None
    http_server_config: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class WebConfig:
    """Loaded web config: an SSL context for the listener (or None) and bcrypt users, with the
    dummy hash checked for unknown users and how long checking it took (the floor of every
    failed check)."""

    ssl_context: ssl.SSLContext | None = None
    users: Mapping[str, bytes] = field(default_factory=dict)
    dummy_hash: bytes = _DUMMY_HASH
    failed_check_seconds: float = 0.0


def load_web_config(path: str | Path) -> WebConfig:
    """Read a `web-config.yml`; raises `WebConfigError` with a readable reason."""
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        parsed = _WebConfigFile.model_validate(raw)
    except (OSError, yaml.YAMLError) as exc:
        raise WebConfigError(f"{path}: cannot read: {exc}") from None
    except ValidationError as exc:
        # In the file's words (YAML values), as config errors are, not pydantic's types.
        problems = "; ".join(
            f"{'.'.join(str(p) for p in loc)}: {message}"
            for loc, message, _ in config_messages.translate(exc)
        )
        raise WebConfigError(f"{path}: {problems}") from None
    try:
        context = _ssl_context(parsed.tls_server_config) if parsed.tls_server_config else None
    except WebConfigError as exc:
        raise WebConfigError(f"{path}: {exc}") from None
    users = {u: h.encode() for u, h in (parsed.basic_auth_users or {}).items()}
    for user, hashed in users.items():
        if not hashed.startswith((b"$2a$", b"$2b$", b"$2y$")) or _cost(hashed) is None:
            raise WebConfigError(f"{path}: basic_auth_users.{user}: not a bcrypt hash")
    if not users:
        return WebConfig(context)
    dummy, seconds = _dummy_like(users.values())
    return WebConfig(context, users, dummy, seconds)


def _cost(hashed: bytes) -> int | None:
    """The cost factor of a `$2b$12$...` hash."""
    parts = hashed.split(b"$")
    if len(parts) != 4 or not parts[2].isdigit() or not 4 <= int(parts[2]) <= 31:
        return None
    return int(parts[2])


def _dummy_like(hashes: Any) -> tuple[bytes, float]:
    """A hash of a random secret at the highest cost among `hashes`, and how long making it
    took (as long as checking it)."""
    cost = max(_cost(hashed) or 4 for hashed in hashes)
    started = time.perf_counter()
    dummy = bcrypt.hashpw(secrets.token_bytes(16), bcrypt.gensalt(cost))
    return dummy, time.perf_counter() - started


def _ssl_context(tls: _TLS) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    if _TLS_VERSIONS[tls.min_version] > _TLS_VERSIONS[tls.max_version]:
        raise WebConfigError("tls_server_config: min_version is above max_version")
    try:
        ctx.minimum_version = _TLS_VERSIONS[tls.min_version]
        ctx.maximum_version = _TLS_VERSIONS[tls.max_version]
        if tls.cipher_suites:
            ctx.set_ciphers(":".join(CIPHER_SUITES[suite] for suite in tls.cipher_suites))
        if tls.prefer_server_cipher_suites:
            ctx.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
    except (ssl.SSLError, ValueError) as exc:
        raise WebConfigError(f"tls_server_config: {exc}") from None
    _load(lambda: ctx.load_cert_chain(str(tls.cert_file), str(tls.key_file)), "cert_file, key_file")
    if tls.client_ca_file:
        ca_file = str(tls.client_ca_file)
        _load(lambda: ctx.load_verify_locations(cafile=ca_file), "client_ca_file")
    ctx.verify_mode = {
        "NoClientCert": ssl.CERT_NONE,
        "RequestClientCert": ssl.CERT_OPTIONAL,
        "RequireAnyClientCert": ssl.CERT_REQUIRED,
        "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
        "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
    }[tls.client_auth_type]
    return ctx


def _load(load: Callable[[], None], keys: str) -> None:
    """Load certificates or keys, naming the keys to fix rather than OpenSSL's internals."""
    try:
        load()
    except ssl.SSLError:
        raise WebConfigError(
            f"tls_server_config.{keys}: not a PEM certificate and its matching key"
        ) from None
    except OSError as exc:
        text = exc.strerror or os_error_text(exc)
        raise WebConfigError(f"tls_server_config.{keys}: {text.lower()}") from None


def _credentials(header: str) -> tuple[str, str] | None:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


def check_password(
    users: Mapping[str, bytes], user: str, password: str, dummy: bytes = _DUMMY_HASH
) -> bool:
    """bcrypt check; unknown users are checked against `dummy` so timing is the same.
    Blocking and slow: `PasswordChecker` runs it in its own threads."""
    encoded = password.encode("utf-8")
    hashed = users.get(user)
    if len(encoded) > MAX_PASSWORD_BYTES:
        # bcrypt would ignore the rest; refuse rather than accept a password by its prefix.
        bcrypt.checkpw(b"", dummy)
        return False
    ok = bcrypt.checkpw(encoded, hashed or dummy)
    return ok and hashed is not None


class Verdict(Enum):
    """The outcome of one login attempt."""

    OK = "ok"
    DENIED = "denied"
    LIMITED = "limited"  # this client failed too often lately
    BUSY = "busy"  # too many checks already waiting


@dataclass(frozen=True, slots=True)
class LoginLimits:
    """What logins may cost: bcrypt threads, checks in flight, failures per client."""

    threads: int = 2
    max_pending: int = 16
    failures_burst: float = 10.0
    failures_per_second: float = 1.0
    max_clients: int = 10_000


class PasswordChecker:
    """Checks credentials off the event loop, in threads of its own, at most `max_pending` at
    once; each client address may fail `failures_burst` times, then one more per
    `1/failures_per_second` seconds (a token bucket), and is answered without a check meanwhile."""

    def __init__(self, config: WebConfig, limits: LoginLimits | None = None) -> None:
        self._config = config
        self._limits = limits or LoginLimits()
        self._pool = concurrent.futures.ThreadPoolExecutor(
            self._limits.threads, thread_name_prefix="password-check"
        )
        self._pending = 0
        # client -> (tokens left, when last refilled); oldest first, so the longest-quiet
        # client is the one forgotten when the table is full.
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    async def check(self, client: str, user: str, password: str) -> Verdict:
        """The verdict on one login attempt from `client` (its address)."""
        if not self._take_token(client):
            return Verdict.LIMITED
        if self._pending >= self._limits.max_pending:
            self._refund(client)
            return Verdict.BUSY
        self._pending += 1
        started = time.monotonic()
        try:
            loop = asyncio.get_running_loop()
            ok = await loop.run_in_executor(
                self._pool,
                check_password,
                self._config.users,
                user,
                password,
                self._config.dummy_hash,
            )
        finally:
            self._pending -= 1
        if ok:
            self._refund(client)
            return Verdict.OK
        # A failure takes as long as checking the dearest hash, whatever the user's own cost.
        await asyncio.sleep(self._config.failed_check_seconds - (time.monotonic() - started))
        return Verdict.DENIED

    def _take_token(self, client: str) -> bool:
        limits = self._limits
        now = time.monotonic()
        tokens, then = self._buckets.pop(client, (limits.failures_burst, now))
        tokens = min(limits.failures_burst, tokens + (now - then) * limits.failures_per_second)
        if tokens < 1.0:
            self._buckets[client] = (tokens, now)
            return False
        self._buckets[client] = (tokens - 1.0, now)
        while len(self._buckets) > limits.max_clients:
            self._buckets.popitem(last=False)
        return True

    def _refund(self, client: str) -> None:
        found = self._buckets.get(client)
        if found is not None:
            tokens, then = found
            self._buckets[client] = (min(self._limits.failures_burst, tokens + 1.0), then)

    def close(self) -> None:
        """Stop the check threads once the checks in flight are done."""
        self._pool.shutdown(wait=False, cancel_futures=True)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


# Kubelet probes cannot send a password, and these answer only "ok" or "not yet".
UNAUTHENTICATED_PATHS = frozenset({"/-/healthy", "/-/ready"})
_CHALLENGE = {"WWW-Authenticate": 'Basic realm="dataflow-exporter", charset="UTF-8"'}


def auth_middleware(config: WebConfig, limits: LoginLimits | None = None) -> Any:
    """aiohttp middleware requiring basic auth on every endpoint but the health probes."""
    checker = PasswordChecker(config, limits)

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in UNAUTHENTICATED_PATHS:
            return await handler(request)
        creds = _credentials(request.headers.get("Authorization", ""))
        if creds is None:
            return web.Response(status=401, text="Unauthorized\n", headers=_CHALLENGE)
        verdict = await checker.check(request.remote or "", *creds)
        if verdict is Verdict.OK:
            return await handler(request)
        if verdict is Verdict.LIMITED:
            return web.Response(
                status=429,
                text="Too many failed logins from this address; try again later.\n",
                headers={"Retry-After": "10"},
            )
        if verdict is Verdict.BUSY:
            return web.Response(
                status=503, text="Too many logins in progress.\n", headers={"Retry-After": "1"}
            )
        return web.Response(status=401, text="Unauthorized\n", headers=_CHALLENGE)

    return middleware
