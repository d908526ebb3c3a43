"""TLS and basic auth on every endpoint, from an exporter-toolkit web config."""

from __future__ import annotations

import asyncio
import base64
import ssl
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import bcrypt
import pytest
import trustme
import yaml

from dataflow_exporter import webconfig
from dataflow_exporter.config_messages import INTERNAL_WORDING
from dataflow_exporter.errors import WebConfigError
from dataflow_exporter.exporter import Exporter
from dataflow_exporter.simulator import Simulation
from dataflow_exporter.webconfig import load_web_config

PASSWORD = "web-pass-81c3"
ENDPOINTS = [("GET", "/metrics"), ("GET", "/"), ("GET", "/api/v1/status"), ("POST", "/-/reload")]


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def _hash(password: str) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(4)).decode()


def _web_config(tmp_path: Path, ca: trustme.CA, *, users: bool, client_ca: bool = False) -> Path:
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert_file, key_file = tmp_path / "server.pem", tmp_path / "server.key"
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    data: dict[str, object] = {
        "tls_server_config": {"cert_file": str(cert_file), "key_file": str(key_file)}
    }
    if client_ca:
        ca_file = tmp_path / "client-ca.pem"
        ca.cert_pem.write_to_path(str(ca_file))
        data["tls_server_config"] = {
            **data["tls_server_config"],  # type: ignore[dict-item]
            "client_ca_file": str(ca_file),
            "client_auth_type": "RequireAndVerifyClientCert",
        }
    if users:
        data["basic_auth_users"] = {"prometheus": _hash(PASSWORD)}
    path = tmp_path / "web.yml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture
async def sim() -> AsyncIterator[Simulation]:
    async with Simulation({"peerdb": {}}) as s:
        yield s


async def _start(tmp_path: Path, sim: Simulation, web: Path) -> Exporter:
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump({"targets": [{"name": "pg", "system": "peerdb", "url": sim.url}]})
    )
    exporter = Exporter(config, "127.0.0.1:0", load_web_config(web), enable_lifecycle=True)
    await exporter.start()
    return exporter


def _client_ssl(ca: trustme.CA, with_cert: bool = False) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    if with_cert:
        ca.issue_cert("prometheus-client").configure_cert(ctx)
    return ctx


async def _status(
    exporter: Exporter, ctx: ssl.SSLContext, method: str, path: str, auth: dict[str, str] | None
) -> int:
    async with (
        aiohttp.ClientSession() as session,
        session.request(
            method, f"https://127.0.0.1:{exporter.port}{path}", ssl=ctx, headers=auth
        ) as resp,
    ):
        return resp.status


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
async def test_every_endpoint_needs_the_right_password(
    tmp_path: Path, sim: Simulation, ca: trustme.CA, method: str, path: str
) -> None:
    exporter = await _start(tmp_path, sim, _web_config(tmp_path, ca, users=True))
    ctx = _client_ssl(ca)
    try:
        assert await _status(exporter, ctx, method, path, None) == 401
        assert await _status(exporter, ctx, method, path, basic("prometheus", "wrong")) == 401
        assert await _status(exporter, ctx, method, path, basic("nobody", PASSWORD)) == 401
        assert await _status(exporter, ctx, method, path, basic("prometheus", PASSWORD)) == 200
    finally:
        await exporter.stop()


@pytest.mark.parametrize("path", ["/-/healthy", "/-/ready"])
async def test_health_probes_answer_without_credentials(
    tmp_path: Path, sim: Simulation, ca: trustme.CA, path: str
) -> None:
    exporter = await _start(tmp_path, sim, _web_config(tmp_path, ca, users=True))
    try:
        assert await _status(exporter, _client_ssl(ca), "GET", path, None) in (200, 503)
    finally:
        await exporter.stop()


async def test_an_unauthenticated_answer_asks_for_basic_auth(
    tmp_path: Path, sim: Simulation, ca: trustme.CA
) -> None:
    exporter = await _start(tmp_path, sim, _web_config(tmp_path, ca, users=True))
    try:
        async with aiohttp.ClientSession() as session:
            url = f"https://127.0.0.1:{exporter.port}/metrics"
            async with session.get(url, ssl=_client_ssl(ca)) as resp:
                assert resp.headers["WWW-Authenticate"].startswith("Basic ")
                assert "dataflow_exporter" not in await resp.text()
    finally:
        await exporter.stop()


async def test_plain_http_to_the_tls_port_gets_no_metrics(
    tmp_path: Path, sim: Simulation, ca: trustme.CA
) -> None:
    exporter = await _start(tmp_path, sim, _web_config(tmp_path, ca, users=False))
    try:
        async with aiohttp.ClientSession() as session:
            with pytest.raises(aiohttp.ClientError):
                async with session.get(f"http://127.0.0.1:{exporter.port}/metrics") as resp:
                    await resp.read()
        assert await _status(exporter, _client_ssl(ca), "GET", "/-/healthy", None) == 200
    finally:
        await exporter.stop()


async def test_client_certificates_are_required_when_configured(
    tmp_path: Path, sim: Simulation, ca: trustme.CA
) -> None:
    exporter = await _start(tmp_path, sim, _web_config(tmp_path, ca, users=False, client_ca=True))
    try:
        with pytest.raises(aiohttp.ClientError):
            await _status(exporter, _client_ssl(ca), "GET", "/-/healthy", None)
        assert (
            await _status(exporter, _client_ssl(ca, with_cert=True), "GET", "/-/healthy", None)
            == 200
        )
    finally:
        await exporter.stop()


def test_unknown_users_are_checked_against_a_dummy_hash(monkeypatch: pytest.MonkeyPatch) -> None:
    checked: list[bytes] = []
    real = bcrypt.checkpw

    def counting(password: bytes, hashed: bytes) -> bool:
        checked.append(hashed)
        return real(password, hashed)

    monkeypatch.setattr("dataflow_exporter.webconfig.bcrypt.checkpw", counting)
    users = {"prometheus": _hash(PASSWORD).encode()}
    assert webconfig.check_password(users, "prometheus", PASSWORD)
    assert not webconfig.check_password(users, "intruder", PASSWORD)
    assert len(checked) == 2
    assert checked[1] not in users.values()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("basic_auth_users: {a: plaintext}", "not a bcrypt hash"),
        (
            "tls_server_config: {cert_file: /nonexistent.pem, key_file: /nonexistent.key}",
            "tls_server_config",
        ),
        ("unknown_section: {}", "unknown_section"),
    ],
)
def test_bad_web_configs_are_rejected(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "web.yml"
    path.write_text(text)
    with pytest.raises(WebConfigError, match=message):
        load_web_config(path)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("basic_auth_users: [alice]", "basic_auth_users: expected a mapping (key: value)"),
        (
            "tls_server_config: {cert_file: a.pem, key_file: a.key, cipher_suites: 5}",
            "tls_server_config.cipher_suites: expected a list",
        ),
        (
            "tls_server_config: {cert_file: /nonexistent.pem, key_file: /nonexistent.key}",
            "tls_server_config.cert_file, key_file: no such file or directory",
        ),
    ],
)
def test_web_config_errors_name_the_key_in_the_files_words(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = tmp_path / "web.yml"
    path.write_text(text)
    with pytest.raises(WebConfigError) as caught:
        load_web_config(path)
    assert str(caught.value) == f"{path}: {expected}"
    assert not any(word in str(caught.value) for word in INTERNAL_WORDING)


def test_a_certificate_that_is_not_pem_is_named_not_described_by_openssl(tmp_path: Path) -> None:
    (tmp_path / "bad.pem").write_text("not a certificate\n")
    path = tmp_path / "web.yml"
    path.write_text(
        f"tls_server_config: {{cert_file: {tmp_path}/bad.pem, key_file: {tmp_path}/bad.pem}}"
    )
    with pytest.raises(WebConfigError) as caught:
        load_web_config(path)
    assert str(caught.value) == (
        f"{path}: tls_server_config.cert_file, key_file: not a PEM certificate and its matching key"
    )


# --- the login limiter (PasswordChecker) --------------------------------------------------------

CHEAP_USERS = {"prometheus": bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4))}
NO_REFILL = 1e-9  # failures per second: no token comes back during a test


def _checker(**limits: float) -> webconfig.PasswordChecker:
    config = webconfig.WebConfig(None, CHEAP_USERS, CHEAP_USERS["prometheus"], 0.0)
    settings = {"failures_per_second": NO_REFILL, **limits}
    return webconfig.PasswordChecker(config, webconfig.LoginLimits(**settings))  # type: ignore[arg-type]


async def _verdicts(
    checker: webconfig.PasswordChecker, attempts: list[tuple[str, str]]
) -> list[str]:
    """The verdicts, in order, of (client, password) attempts by user prometheus."""
    return [
        (await checker.check(client, "prometheus", password)).value for client, password in attempts
    ]


async def test_good_logins_are_refunded_so_they_never_run_a_client_out() -> None:
    checker = _checker(failures_burst=2)
    try:
        assert await _verdicts(checker, [("a", PASSWORD)] * 10) == ["ok"] * 10
    finally:
        checker.close()


async def test_a_client_may_fail_its_burst_then_is_limited_even_with_the_right_password() -> None:
    checker = _checker(failures_burst=2)
    try:
        attempts = [("a", "wrong"), ("a", "wrong"), ("a", PASSWORD), ("b", PASSWORD)]
        assert await _verdicts(checker, attempts) == ["denied", "denied", "limited", "ok"]
    finally:
        checker.close()


async def test_the_per_address_table_is_capped_by_forgetting_the_longest_quiet_client() -> None:
    checker = _checker(failures_burst=1, max_clients=2)
    try:
        attempts = [("a", "wrong"), ("b", "wrong"), ("a", "wrong")]
        assert await _verdicts(checker, attempts) == ["denied", "denied", "limited"]
        # A third address pushes out the one quiet longest (a was touched last, b goes).
        assert await _verdicts(checker, [("c", "wrong"), ("b", "wrong")]) == ["denied", "denied"]
        assert await _verdicts(checker, [("c", "wrong")]) == ["limited"]
    finally:
        checker.close()


async def test_too_many_checks_in_flight_answer_busy_without_spending_a_failure(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    entered, release = threading.Event(), threading.Event()
    real = webconfig.check_password

    def held(*args: object) -> bool:
        entered.set()
        release.wait(10)
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(webconfig, "check_password", held)
    checker = _checker(failures_burst=1, max_pending=1, threads=1)
    try:
        first = asyncio.ensure_future(checker.check("a", "prometheus", PASSWORD))
        assert await asyncio.to_thread(entered.wait, 10)
        busy = await checker.check("b", "prometheus", "wrong")
        release.set()
        assert (await first, busy) == (webconfig.Verdict.OK, webconfig.Verdict.BUSY)
        # "b" was refunded: its one failure is still there to spend.
        assert await _verdicts(checker, [("b", "wrong"), ("b", "wrong")]) == ["denied", "limited"]
    finally:
        release.set()
        checker.close()


def test_a_72_byte_password_is_accepted_and_a_73rd_byte_refused() -> None:
    for password in ("p" * 72, "é" * 36):  # 72 bytes in UTF-8 either way
        users = {"u": bcrypt.hashpw(password.encode(), bcrypt.gensalt(4))}
        assert webconfig.check_password(users, "u", password)
        assert not webconfig.check_password(users, "u", password + "x")
