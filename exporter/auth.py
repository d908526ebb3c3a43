"""Static credentials for upstream requests: HTTP Basic and Bearer, read from inline or file
secrets. A `*_file` secret is re-read at most every few seconds so rotation needs no restart.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Mapping
from pathlib import Path

from pydantic import SecretStr

from exporter.schema import read_secret

# How long a secret file's content is reused before it is read again.
SECRET_FILE_TTL_SECONDS = 5.0


class SecretReader:
    """Reads one secret, inline or from a file (off the event loop, cached briefly)."""

    def __init__(self, inline: SecretStr | None, path: Path | None) -> None:
        self._inline = inline
        self._path = path
        self._cached: str | None = None
        self._read_at = -SECRET_FILE_TTL_SECONDS

    async def get(self) -> str | None:
        """The secret's current value (None when the config gives none)."""
        if self._path is None:
            return read_secret(self._inline, None)
        now = time.monotonic()
        if now - self._read_at >= SECRET_FILE_TTL_SECONDS:
            self._cached = await asyncio.to_thread(read_secret, None, self._path)
            self._read_at = now
        return self._cached


class BasicAuth:
    """`Authorization: Basic` from a username and a password secret (the username may be empty)."""

    def __init__(self, username: str, password: SecretReader) -> None:
        self._username = username
        self._password = password
        # The header of the password last seen: built again only when the password changes.
        self._built: tuple[str | None, Mapping[str, str]] = (None, {})

    async def headers(self) -> Mapping[str, str]:
        """The Authorization header, or none when no password is configured."""
        password = await self._password.get()
        seen, built = self._built
        if password == seen:
            return built
        if password is None:
            return {}
        token = base64.b64encode(f"{self._username}:{password}".encode()).decode("ascii")
        built = {"Authorization": f"Basic {token}"}
        self._built = (password, built)
        return built

    async def renew(self) -> bool:
        """Static credentials cannot be renewed."""
        return False


class BearerAuth:
    """`Authorization: Bearer <token>` from a secret."""

    def __init__(self, token: SecretReader) -> None:
        self._token = token

    async def headers(self) -> Mapping[str, str]:
        """The Authorization header, or none when no token is configured."""
        token = await self._token.get()
        return {"Authorization": f"Bearer {token}"} if token else {}

    async def renew(self) -> bool:
        """Static credentials cannot be renewed."""
        return False
