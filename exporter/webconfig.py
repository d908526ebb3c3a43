"""The exporter-toolkit `web-config.yml`: TLS for the listener and bcrypt basic auth.

Supported keys: `tls_server_config` (`cert_file`, `key_file`, `client_ca_file`,
`client_auth_type`) and `basic_auth_users` (user: bcrypt hash). Hashes are checked in a worker
thread (bcrypt is deliberately slow) and unknown users against a dummy hash, so response timing
does not tell which usernames exist.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import ssl
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import bcrypt
import yaml
from aiohttp import web
from pydantic import BaseModel, ConfigDict, ValidationError

# A bcrypt hash of a random string nobody knows; checked for unknown users to equalise timing.
_DUMMY_HASH = b"$2b$10$G1FGI6Em0LmWEIHYJ1wLleyXNDZDh3N1vLS0IEKcHSCJmz16.mGfm"

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
    min_version: str | None = None


class _WebConfigFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    tls_server_config: _TLS | None = None
    basic_auth_users: dict[str, str] | None = None
    http_server_config: dict[str, Any] | None = None


class WebConfigError(Exception):
    """An unusable web config file."""


@dataclass(frozen=True, slots=True)
class WebConfig:
    """Loaded web config: an SSL context for the listener (or None) and bcrypt users."""

    ssl_context: ssl.SSLContext | None = None
    users: Mapping[str, bytes] = field(default_factory=dict)


def load_web_config(path: str | Path) -> WebConfig:
    """Read a `web-config.yml`; raises `WebConfigError` with a readable reason."""
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        parsed = _WebConfigFile.model_validate(raw)
    except (OSError, yaml.YAMLError) as exc:
        raise WebConfigError(f"{path}: cannot read: {exc}") from None
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
            for e in exc.errors(include_url=False, include_input=False)
        )
        raise WebConfigError(f"{path}: {problems}") from None
    context = _ssl_context(parsed.tls_server_config) if parsed.tls_server_config else None
    users = {u: h.encode() for u, h in (parsed.basic_auth_users or {}).items()}
    for user, hashed in users.items():
        if not hashed.startswith((b"$2a$", b"$2b$", b"$2y$")):
            raise WebConfigError(f"{path}: basic_auth_users.{user}: not a bcrypt hash")
    return WebConfig(context, users)


def _ssl_context(tls: _TLS) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        ctx.load_cert_chain(str(tls.cert_file), str(tls.key_file))
        if tls.client_ca_file:
            ctx.load_verify_locations(cafile=str(tls.client_ca_file))
    except (OSError, ssl.SSLError) as exc:
        raise WebConfigError(f"tls_server_config: {exc}") from None
    ctx.verify_mode = {
        "NoClientCert": ssl.CERT_NONE,
        "RequestClientCert": ssl.CERT_OPTIONAL,
        "RequireAnyClientCert": ssl.CERT_REQUIRED,
        "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
        "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
    }[tls.client_auth_type]
    return ctx


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


def check_password(users: Mapping[str, bytes], user: str, password: str) -> bool:
    """bcrypt check; unknown users are checked against a dummy hash so timing is the same."""
    hashed = users.get(user)
    ok = bcrypt.checkpw(password.encode("utf-8"), hashed or _DUMMY_HASH)
    return ok and hashed is not None


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


# Kubelet probes cannot send a password, and these answer only "ok" or "not yet".
UNAUTHENTICATED_PATHS = frozenset({"/-/healthy", "/-/ready"})


def auth_middleware(config: WebConfig) -> Any:
    """aiohttp middleware requiring basic auth on every endpoint but the health probes."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in UNAUTHENTICATED_PATHS:
            return await handler(request)
        creds = _credentials(request.headers.get("Authorization", ""))
        if creds is not None and await asyncio.to_thread(check_password, config.users, *creds):
            return await handler(request)
        return web.Response(
            status=401,
            text="Unauthorized\n",
            headers={"WWW-Authenticate": 'Basic realm="dataflow-exporter", charset="UTF-8"'},
        )

    return middleware
