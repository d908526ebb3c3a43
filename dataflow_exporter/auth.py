"""Credentials for upstream requests: the `Auth` interface the HTTP client calls, and the static
schemes, HTTP Basic and Bearer, read from inline or file secrets (`SecretReader`). A scheme that
logs in to its target (Etlworks' token login) implements `Auth` in its source module. A `*_file`
secret is re-read at most every few seconds so rotation needs no restart.

Secret files are read in a small pool of their own, so a slow file system or a flood of other
blocking work (password checks, inflation) cannot hold up the other.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import errno
import functools
import os
import stat
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from pydantic import SecretStr

from dataflow_exporter import known_secrets
from dataflow_exporter.errors import Reason, SecretFileError, UpstreamError, os_error_text

if TYPE_CHECKING:
    # A type only: the client calls the auth, never the other way round at import.
    from dataflow_exporter.upstream import UpstreamClient

# A secret is a password, token or key: anything bigger is not one (a log file, /dev/zero).
MAX_SECRET_BYTES = 64 * 1024


class Auth(Protocol):
    """Supplies credentials for requests; may renew them once after a 401.

    Each call receives the client making the request, for credentials obtained from the
    target itself (a login call): the auth never holds a client, so neither owns the other.
    """

    async def headers(self, client: UpstreamClient) -> Mapping[str, str]:
        """Headers to add to the next request `client` makes."""
        ...

    async def renew(self, client: UpstreamClient) -> bool:
        """Called after a 401: return True if new credentials are worth one retry."""
        ...


def read_secret_file(path: Path) -> str:
    """A `*_file` secret's content, stripped. Blocking: callers on the event loop run it in a
    worker thread. Only a regular file of at most `MAX_SECRET_BYTES` is read; a FIFO, device
    or directory is refused (opened without blocking, checked before reading), and so is a
    symlink to one. Registering the value for redaction is the caller's (`SecretReader`)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno in (errno.EMFILE, errno.ENFILE):
            raise  # the process is out of descriptors: not a problem of this file
        raise SecretFileError(f"secret file {path}: cannot open: {exc.strerror}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise SecretFileError(f"secret file {path}: not a regular file")
        data = b""
        while len(data) <= MAX_SECRET_BYTES:
            chunk = os.read(fd, MAX_SECRET_BYTES + 1 - len(data))
            if not chunk:
                break
            data += chunk
    except OSError as exc:
        raise SecretFileError(f"secret file {path}: cannot read: {exc.strerror}") from None
    finally:
        os.close(fd)
    if len(data) > MAX_SECRET_BYTES:
        raise SecretFileError(f"secret file {path}: larger than {MAX_SECRET_BYTES} bytes")
    try:
        return data.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise SecretFileError(f"secret file {path}: not UTF-8 text") from None


# How long a secret file's content is reused before it is read again.
SECRET_FILE_TTL_SECONDS = 5.0
# How long a value rotated out of a secret file stays masked: an upstream may still echo the
# credential it was last given (a request in flight, a job that failed with it). After that it
# is forgotten, so a file rotated every few minutes does not grow the set of known secrets.
ROTATED_SECRET_GRACE_SECONDS = 15 * 60.0
# Two threads: one file on a hung network mount does not hold up every other secret.
_SECRET_READS = concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="secret-read")


class SecretReader:
    """Reads one secret, inline or from a file (off the event loop, cached briefly)."""

    def __init__(
        self,
        inline: SecretStr | None,
        path: Path | None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._inline = inline
        self._path = path
        self._clock = clock
        self._cached: str | None = None
        self._read_at: float | None = None
        # What to forget once the grace period is over, oldest first, with when the value it
        # masks was rotated away: the value itself, and forms of it others registered (the
        # Basic token of a password).
        self._retired: list[tuple[float, Callable[[], None]]] = []

    async def get(self) -> str | None:
        """The secret's current value (None when the config gives none)."""
        if self._path is None:
            return self._inline.get_secret_value() if self._inline is not None else None
        now = self._clock()
        self._forget_retired(now)
        if self._read_at is None or now - self._read_at >= SECRET_FILE_TTL_SECONDS:
            value = await self._read(self._path)
            if value != self._cached:
                # Registered once per value, not per read.
                known_secrets.register(value)
                if self._cached is not None:
                    self._retired.append(
                        (now, functools.partial(known_secrets.unregister, self._cached))
                    )
            self._cached = value
            self._read_at = now
        return self._cached

    def retire(self, forget: Callable[[], None]) -> None:
        """Run `forget` once the grace period has passed: for a form of a value just rotated
        away that the caller registered (an upstream may still echo it meanwhile)."""
        self._retired.append((self._clock(), forget))

    def _forget_retired(self, now: float) -> None:
        """Unregister what was rotated away at least the grace period ago."""
        while self._retired and now - self._retired[0][0] >= ROTATED_SECRET_GRACE_SECONDS:
            self._retired.pop(0)[1]()

    @staticmethod
    async def _read(path: Path) -> str | None:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(_SECRET_READS, read_secret_file, path)
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

    async def headers(self, client: UpstreamClient) -> Mapping[str, str]:
        """The Authorization header, or none when no password is configured."""
        password = await self._password.get()
        seen, built = self._built
        if password == seen:
            return built
        if password is None:
            return {}
        token = base64.b64encode(f"{self._username}:{password}".encode()).decode("ascii")
        # An upstream that echoes the header puts this token in its error text.
        known_secrets.register_basic(self._username, password)
        if seen is not None:
            # Masked for the grace period too: a request in flight may still be echoed.
            self._password.retire(
                functools.partial(known_secrets.unregister_basic, self._username, seen)
            )
        built = {"Authorization": f"Basic {token}"}
        self._built = (password, built)
        return built

    async def renew(self, client: UpstreamClient) -> bool:
        """Static credentials cannot be renewed."""
        return False


class BearerAuth:
    """`Authorization: Bearer <token>` from a secret."""

    def __init__(self, token: SecretReader) -> None:
        self._token = token

    async def headers(self, client: UpstreamClient) -> Mapping[str, str]:
        """The Authorization header, or none when no token is configured."""
        token = await self._token.get()
        return {"Authorization": f"Bearer {token}"} if token else {}

    async def renew(self, client: UpstreamClient) -> bool:
        """Static credentials cannot be renewed."""
        return False
