"""Credentials for upstream requests: secrets read inline or from files (size, kind and encoding
limits, re-read after a TTL for rotation), the Basic and Bearer headers built from them, and an
auth that obtains its credentials through the client it is handed."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import errno
import os
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import pytest
from pydantic import SecretStr

import dataflow_exporter.auth as auth_mod
from dataflow_exporter import known_secrets
from dataflow_exporter.auth import (
    MAX_SECRET_BYTES,
    ROTATED_SECRET_GRACE_SECONDS,
    SECRET_FILE_TTL_SECONDS,
    BasicAuth,
    BearerAuth,
    SecretReader,
    read_secret_file,
)
from dataflow_exporter.errors import Reason, SecretFileError, UpstreamError
from dataflow_exporter.sources.etlworks import TOKEN_ISSUE_PATH, TokenAuth
from dataflow_exporter.upstream import Answer, UpstreamClient

MiB = 1024 * 1024


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Fixed:
    """A secret that is always `value` (what a SecretReader returns, without a file)."""

    def __init__(self, value: str | None) -> None:
        self.value = value

    async def get(self) -> str | None:
        return self.value


class TokenIssuer:
    """Stands in for the client an auth is handed: answers the token call, counting calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Mapping[str, Any], bool]] = []

    async def request(
        self, method: str, path: str, *, body: Mapping[str, Any], authenticate: bool = True
    ) -> Answer:
        assert method == "POST"
        self.calls.append((path, body, authenticate))
        token = f"token-{len(self.calls)}-Xk9q"
        return Answer(b'{"token": "%s"}' % token.encode(), f"POST {path}")


def _client(fake: object) -> UpstreamClient:
    return cast(UpstreamClient, fake)


# --- secret files --------------------------------------------------------------------------------


async def test_an_inline_secret_is_returned_as_given() -> None:
    assert await SecretReader(SecretStr("inline-Xk9"), None).get() == "inline-Xk9"
    assert await SecretReader(None, None).get() is None


async def test_a_secret_file_is_read_stripped_and_registered_for_redaction(
    tmp_path: Path,
) -> None:
    path = tmp_path / "password"
    path.write_text("from-a-file-Xk9\n")
    assert await SecretReader(SecretStr("inline-ignored"), path).get() == "from-a-file-Xk9"
    assert known_secrets.redact("echoed from-a-file-Xk9") == f"echoed {known_secrets.MASK}"


def test_a_secret_file_of_exactly_the_limit_is_read(tmp_path: Path) -> None:
    path = tmp_path / "password"
    path.write_bytes(b"k" * MAX_SECRET_BYTES)
    assert read_secret_file(path) == "k" * MAX_SECRET_BYTES


def test_a_secret_file_one_byte_over_the_limit_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "password"
    path.write_bytes(b"k" * (MAX_SECRET_BYTES + 1))
    with pytest.raises(SecretFileError, match=f"larger than {MAX_SECRET_BYTES} bytes"):
        read_secret_file(path)


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (lambda p: None, "cannot open: No such file or directory"),
        (lambda p: p.mkdir(), "not a regular file"),
        (lambda p: p.write_bytes(b"\xff\xfe secret"), "not UTF-8 text"),
    ],
    ids=["missing", "directory", "not-utf8"],
)
def test_an_unusable_secret_file_names_the_file_and_why(
    tmp_path: Path, make: Any, problem: str
) -> None:
    path = tmp_path / "password"
    make(path)
    with pytest.raises(SecretFileError) as caught:
        read_secret_file(path)
    assert str(caught.value) == f"secret file {path}: {problem}"


async def test_running_out_of_descriptors_is_not_blamed_on_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def exhausted(*_args: Any) -> int:
        raise OSError(errno.EMFILE, "Too many open files")

    monkeypatch.setattr("dataflow_exporter.auth.os.open", exhausted)
    with pytest.raises(UpstreamError) as caught:
        await SecretReader(None, tmp_path / "password").get()
    assert caught.value.reason is Reason.CONNECT
    assert "too many open files in the exporter" in str(caught.value)


def _secret_error(path: Path) -> UpstreamError:
    async def read() -> None:
        await asyncio.wait_for(SecretReader(None, path).get(), 10)

    with pytest.raises(UpstreamError) as caught:
        asyncio.run(read())
    return caught.value


def test_a_fifo_secret_file_fails_the_poll_as_config(tmp_path: Path) -> None:
    fifo = tmp_path / "password"
    os.mkfifo(fifo)
    # Should a read block on the FIFO (the bug this guards against), a writer that opens and
    # closes it later ends that read, so the test fails instead of hanging.
    unblock = threading.Timer(15, _open_and_close_for_writing, args=(fifo,))
    unblock.start()
    try:
        error = _secret_error(fifo)
    finally:
        unblock.cancel()
    assert error.reason is Reason.CONFIG
    assert "not a regular file" in str(error)


def _open_and_close_for_writing(fifo: Path) -> None:
    with contextlib.suppress(OSError):  # no reader waiting: nothing to unblock
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))


def test_a_symlink_to_a_device_is_refused(tmp_path: Path) -> None:
    link = tmp_path / "password"
    link.symlink_to("/dev/zero")
    assert _secret_error(link).reason is Reason.CONFIG


def test_a_huge_secret_file_is_refused_without_reading_it(tmp_path: Path) -> None:
    huge = tmp_path / "password"
    with huge.open("wb") as file:
        file.truncate(1024 * MiB)  # sparse: costs no disk
    started = time.monotonic()
    error = _secret_error(huge)
    assert error.reason is Reason.CONFIG
    assert "larger than" in str(error)
    assert time.monotonic() - started < 5


async def test_secret_files_are_read_in_their_own_threads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: list[str] = []
    real = auth_mod.read_secret_file

    def recording(*args: Any) -> str | None:
        threads.append(threading.current_thread().name)
        return real(*args)

    monkeypatch.setattr(auth_mod, "read_secret_file", recording)
    path = tmp_path / "password"
    path.write_text("from-a-file\n")
    assert await SecretReader(None, path).get() == "from-a-file"
    assert threads[0].startswith("secret-read")


# --- SecretReader: rotation ----------------------------------------------------------------------


async def test_a_secret_file_is_read_again_once_the_ttl_has_passed(tmp_path: Path) -> None:
    path = tmp_path / "password"
    path.write_text("first-Xk9")
    clock = FakeClock()
    reader = SecretReader(None, path, clock)
    assert await reader.get() == "first-Xk9"
    path.write_text("second-Xk9")
    read_at = clock.now
    clock.now = read_at + SECRET_FILE_TTL_SECONDS - 0.5
    assert await reader.get() == "first-Xk9"
    clock.now = read_at + SECRET_FILE_TTL_SECONDS  # the boundary itself reads again
    assert await reader.get() == "second-Xk9"


async def test_a_secret_file_read_again_unchanged_is_registered_once(tmp_path: Path) -> None:
    path = tmp_path / "password"
    path.write_text("same-value-Xk9")
    clock = FakeClock()
    reader = SecretReader(None, path, clock)
    for _ in range(3):
        assert await reader.get() == "same-value-Xk9"
        clock.now += SECRET_FILE_TTL_SECONDS
    # One registration: a single unregister forgets it (three would keep it masked).
    known_secrets.unregister("same-value-Xk9")
    assert known_secrets.redact("same-value-Xk9") == "same-value-Xk9"


async def test_a_rotated_away_secret_stays_masked_for_the_grace_period(tmp_path: Path) -> None:
    path = tmp_path / "password"
    path.write_text("old-value-Xk9")
    clock = FakeClock()
    reader = SecretReader(None, path, clock)
    await reader.get()
    path.write_text("new-value-Xk9")
    clock.now += SECRET_FILE_TTL_SECONDS
    rotated_at = clock.now
    assert await reader.get() == "new-value-Xk9"
    assert (
        known_secrets.redact("old-value-Xk9 new-value-Xk9")
        == f"{known_secrets.MASK} {known_secrets.MASK}"
    )
    clock.now = rotated_at + ROTATED_SECRET_GRACE_SECONDS - 0.5
    await reader.get()
    assert known_secrets.redact("old-value-Xk9") == known_secrets.MASK


async def test_a_rotated_away_secret_is_forgotten_after_the_grace_period(tmp_path: Path) -> None:
    path = tmp_path / "password"
    path.write_text("old-value-Xk9")
    clock = FakeClock()
    reader = SecretReader(None, path, clock)
    await reader.get()
    path.write_text("new-value-Xk9")
    clock.now += SECRET_FILE_TTL_SECONDS
    rotated_at = clock.now
    await reader.get()
    clock.now = rotated_at + ROTATED_SECRET_GRACE_SECONDS  # the boundary itself forgets
    assert await reader.get() == "new-value-Xk9"
    assert (
        known_secrets.redact("old-value-Xk9 new-value-Xk9") == f"old-value-Xk9 {known_secrets.MASK}"
    )


async def test_a_value_rotated_back_stays_masked_after_its_old_grace(tmp_path: Path) -> None:
    path = tmp_path / "password"
    path.write_text("value-a-Xk9")
    clock = FakeClock()
    reader = SecretReader(None, path, clock)
    await reader.get()
    for value in ("value-b-Xk9", "value-a-Xk9"):
        path.write_text(value)
        clock.now += SECRET_FILE_TTL_SECONDS
        await reader.get()
    clock.now += ROTATED_SECRET_GRACE_SECONDS
    assert await reader.get() == "value-a-Xk9"
    assert known_secrets.redact("value-a-Xk9 value-b-Xk9") == f"{known_secrets.MASK} value-b-Xk9"


async def test_forty_rotations_leave_only_the_current_value_known(tmp_path: Path) -> None:
    path = tmp_path / "password"
    clock = FakeClock()
    reader = SecretReader(None, path, clock)
    for n in range(40):
        path.write_text(f"rotation-{n:02d}-Xk9")
        await reader.get()
        clock.now += ROTATED_SECRET_GRACE_SECONDS
    await reader.get()
    shown = known_secrets.redact(" ".join(f"rotation-{n:02d}-Xk9" for n in range(40)))
    assert shown.split() == [f"rotation-{n:02d}-Xk9" for n in range(39)] + [known_secrets.MASK]


async def test_an_inline_secret_needs_no_clock() -> None:
    def no_clock() -> float:
        raise AssertionError("an inline secret is never re-read")

    assert await SecretReader(SecretStr("inline-Xk9"), None, no_clock).get() == "inline-Xk9"


# --- BasicAuth and BearerAuth --------------------------------------------------------------------


async def test_basic_auth_sends_the_base64_of_user_and_password() -> None:
    auth = BasicAuth("svc", cast(SecretReader, Fixed("pa:ss-Xk9")))
    headers = await auth.headers(_client(None))
    assert headers == {"Authorization": "Basic " + base64.b64encode(b"svc:pa:ss-Xk9").decode()}
    assert await auth.renew(_client(None)) is False


async def test_a_rotated_basic_token_stays_masked_for_the_grace_period(tmp_path: Path) -> None:
    path = tmp_path / "password"
    path.write_text("old-pass-Xk9")
    clock = FakeClock()
    auth = BasicAuth("svc", SecretReader(None, path, clock))
    await auth.headers(_client(None))
    old_token = base64.b64encode(b"svc:old-pass-Xk9").decode()
    path.write_text("new-pass-Xk9")
    clock.now += SECRET_FILE_TTL_SECONDS
    rotated_at = clock.now
    await auth.headers(_client(None))
    new_token = base64.b64encode(b"svc:new-pass-Xk9").decode()
    assert known_secrets.redact(f"echoed {new_token}") == f"echoed {known_secrets.MASK}"
    # An upstream may still echo the header of a request sent before the rotation.
    assert known_secrets.redact(f"echoed {old_token}") == f"echoed {known_secrets.MASK}"
    clock.now = rotated_at + ROTATED_SECRET_GRACE_SECONDS
    await auth.headers(_client(None))
    assert known_secrets.redact(f"echoed {old_token}") == f"echoed {old_token}"


async def test_basic_auth_without_a_password_sends_nothing() -> None:
    auth = BasicAuth("svc", cast(SecretReader, Fixed(None)))
    assert await auth.headers(_client(None)) == {}


async def test_bearer_auth_sends_the_token_or_nothing() -> None:
    auth = BearerAuth(cast(SecretReader, Fixed("tok-Xk9")))
    assert await auth.headers(_client(None)) == {"Authorization": "Bearer tok-Xk9"}
    assert await BearerAuth(cast(SecretReader, Fixed(None))).headers(_client(None)) == {}
    assert await auth.renew(_client(None)) is False


# --- an auth handed its client -------------------------------------------------------------------


def _token_auth(clock: FakeClock) -> TokenAuth:
    return TokenAuth("svc", cast(SecretReader, Fixed("pw-Xk9")), clock, max_age=60)


async def test_a_token_is_issued_through_the_client_it_is_handed() -> None:
    issuer = TokenIssuer()
    auth = _token_auth(FakeClock())
    assert await auth.headers(_client(issuer)) == {"Authorization": "Bearer token-1-Xk9q"}
    assert await auth.headers(_client(issuer)) == {"Authorization": "Bearer token-1-Xk9q"}
    # Unauthenticated: the old token may be expired, and the login must not carry it.
    assert issuer.calls == [(TOKEN_ISSUE_PATH, {"login": "svc", "password": "pw-Xk9"}, False)]


async def test_a_renewal_and_an_old_token_go_through_the_client_of_that_call() -> None:
    clock = FakeClock()
    auth = _token_auth(clock)
    first, second = TokenIssuer(), TokenIssuer()
    await auth.headers(_client(first))
    assert await auth.renew(_client(second)) is True
    clock.now += 60
    await auth.headers(_client(second))
    assert (len(first.calls), len(second.calls)) == (1, 2)
    assert not hasattr(auth, "client")
