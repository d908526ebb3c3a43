"""Static credentials for upstream requests: HTTP Basic and Bearer, read from inline or file
secrets. A `*_file` secret is re-read at most every few seconds so rotation needs no restart.

Secret files are read in a small pool of their own, so a slow file system or a flood of other
blocking work (password checks, inflation) cannot hold up the other.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import time
from collections.abc import Mapping
from pathlib import Path

from pydantic import SecretStr

from dataflow_exporter import redact
from dataflow_exporter.config_models import SecretFileError, read_secret
from dataflow_exporter.upstream import Reason, UpstreamError, os_error_text

# How long a secret file's content is reused before it is read again.
SECRET_FILE_TTL_SECONDS = 5.0
# Two threads: one file on a hung network mount does not hold up every other secret.
_SECRET_READS = concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="secret-read")


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
            self._cached = await self._read(self._path)
            self._read_at = now
        return self._cached

    @staticmethod
    async def _read(path: Path) -> str | None:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(_SECRET_READS, read_secret, None, path)
        except SecretFileError as exc:
            raise UpstreamError(Reason.CONFIG, str(exc)) from None
        except OSError as exc:
            raise UpstreamError(
                Reason.CONNECT, f"secret file {path}: {os_error_text(exc)}"
            ) from None


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
        # An upstream that echoes the header puts this token in its error text.
        redact.register_basic(self._username, password)
        if seen is not None:
            redact.unregister_basic(self._username, seen)
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
