"""No credential ever leaves the process: unique secrets are planted in every credential field
(inline, `*_file` and `${ENV}`), the simulated upstreams echo credentials in their error texts
(the exporter's own, and ones it never saw), every path that logs or renders is driven, and every
byte the exporter wrote or served is searched for them."""

from __future__ import annotations

import asyncio
import base64
import io
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp import web

from dataflow_exporter.config_models import TargetConfig
from dataflow_exporter.errors import UpstreamError
from dataflow_exporter.known_secrets import MASK
from dataflow_exporter.log import configure, get_logger
from dataflow_exporter.simulator import Simulation
from dataflow_exporter.upstream import UpstreamClient
from tests.support.daemon import wait_ready
from tests.support.helpers import poll_once
from tests.support.loopback import serving
from tests.support.ports import free_port

CLI = [sys.executable, "-m", "dataflow_exporter.cli"]

GOOD = {
    "peerdb": "S3cr3t-peerdb-inline-4b7e",
    "peerdb_env": "S3cr3t-peerdb-env-91aa",
    "feldera": "apikey:S3cr3t-feldera-file-0c2d",
    "cc_key": "S3cr3t-cc-key-5f1e",
    "cc_secret": "S3cr3t-cc-secret-file-77ab",
    "etl_password": "S3cr3t-etl-password-file-3d90",
    "etl_key": "S3cr3t-etl-apikey-env-aa12",
}
WRONG = {
    "peerdb": "S3cr3t-wrong-peerdb-1111",
    "feldera": "apikey:S3cr3t-wrong-feldera-2222",
    "cc_secret": "S3cr3t-wrong-cc-3333",
    "etl_password": "S3cr3t-wrong-etl-4444",
    "broken": "S3cr3t-in-a-broken-config-5555",
}


# Credentials only the upstreams know, echoed in their error texts: only scrubbing masks them.
UPSTREAM_ONLY = {
    "peer_dsn": "S3cr3t-peerdb-peer-dsn-6161",
    "jdbc": "S3cr3t-etlworks-jdbc-7171",
}
FAILING_FLOW = 4921  # its executions call fails, echoing the JDBC URL and the request's token
UNREACHABLE_PEER = "pg_prod"


def _planted() -> list[str]:
    """The credentials the exporter was given, and the encodings it sends them in."""
    values = [*GOOD.values(), *WRONG.values()]
    encoded = [base64.b64encode(f":{GOOD['peerdb']}".encode()).decode()]
    encoded.append(base64.b64encode(f"{GOOD['cc_key']}:{GOOD['cc_secret']}".encode()).decode())
    return values + encoded


def _config(
    url: str, secrets_dir: Path, extra: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    def file(name: str, value: str) -> str:
        path = secrets_dir / name
        path.write_text(value + "\n")
        return str(path)

    targets: list[dict[str, Any]] = [
        {"name": "pg-inline", "system": "peerdb", "url": url, "password": GOOD["peerdb"]},
        {"name": "pg-env", "system": "peerdb", "url": url, "password": "${PEERDB_SECRET}"},
        {"name": "pg-wrong", "system": "peerdb", "url": url, "password": WRONG["peerdb"]},
        {
            "name": "fd-file",
            "system": "feldera",
            "url": url,
            "api_key_file": file("fd", GOOD["feldera"]),
        },
        {"name": "fd-wrong", "system": "feldera", "url": url, "api_key": WRONG["feldera"]},
        {
            "name": "cc-file",
            "system": "confluent",
            "url": url,
            "cluster_id": "lkc-sim001",
            "username": GOOD["cc_key"],
            "password_file": file("cc", GOOD["cc_secret"]),
        },
        {
            "name": "cc-wrong",
            "system": "confluent",
            "url": url,
            "cluster_id": "lkc-sim001",
            "username": GOOD["cc_key"],
            "password": WRONG["cc_secret"],
        },
        {
            "name": "etl-file",
            "system": "etlworks",
            "url": url,
            "login": "exporter",
            "password_file": file("etl", GOOD["etl_password"]),
        },
        {"name": "etl-env", "system": "etlworks", "url": url, "api_key": "${ETL_KEY}"},
        {
            "name": "etl-wrong",
            "system": "etlworks",
            "url": url,
            "login": "exporter",
            "password": WRONG["etl_password"],
        },
    ]
    return {"global": {"interval": "1s", "timeout": "0.8s"}, "targets": targets + (extra or [])}


async def _read(session: aiohttp.ClientSession, method: str, url: str, **kw: Any) -> str:
    async with session.request(method, url, **kw) as resp:
        return await resp.text()


@pytest.mark.slow
async def test_no_secret_appears_in_logs_pages_metrics_or_errors(tmp_path: Path) -> None:
    options: dict[str, dict[str, Any]] = {
        "peerdb": {
            "password": GOOD["peerdb"],
            "unreachable_peers": [UNREACHABLE_PEER],
            "peer_dsn_password": UPSTREAM_ONLY["peer_dsn"],
        },
        "feldera": {"api_key": GOOD["feldera"]},
        "confluent": {"api_key": GOOD["cc_key"], "api_secret": GOOD["cc_secret"]},
        "etlworks": {
            "login": "exporter",
            "password": GOOD["etl_password"],
            "api_key": GOOD["etl_key"],
            "failing_flows": (FAILING_FLOW,),
            "jdbc_password": UPSTREAM_ONLY["jdbc"],
            "echo_authorization": True,
        },
    }
    env = {**os.environ, "PEERDB_SECRET": GOOD["peerdb_env"], "ETL_KEY": GOOD["etl_key"]}
    seen: list[str] = []  # what the exporter served
    logged: list[str] = []  # what it wrote: its log, and `check`'s output
    async with Simulation(options) as sim, aiohttp.ClientSession() as session:
        # pg-env's password differs from the simulator's: its failure path is exercised too.
        config_path = tmp_path / "config.yaml"
        config_path.write_text(yaml.safe_dump(_config(sim.url, tmp_path)))
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        proc = await asyncio.create_subprocess_exec(
            *CLI, "run", "--config", str(config_path), "--web.listen-address", f"127.0.0.1:{port}",
            "--web.enable-lifecycle",
            "--log.format", "json", "--log.level", "debug",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
        )  # fmt: skip
        try:
            await wait_ready(base, session)
            await session.post(
                f"{sim.url}/_sim/etlworks/faults", json={"kind": "auth", "ratio": 0.5}
            )
            await asyncio.sleep(2.5)
            await session.delete(f"{sim.url}/_sim/etlworks/faults")
            seen.append(await _read(session, "GET", f"{base}/metrics"))
            seen.append(
                await _read(
                    session,
                    "GET",
                    f"{base}/metrics",
                    headers={"Accept": "application/openmetrics-text"},
                )
            )
            seen.append(await _read(session, "GET", f"{base}/"))
            api = await _read(session, "GET", f"{base}/api/v1/status")
            seen.append(api)
            proc.send_signal(signal.SIGHUP)
            await asyncio.sleep(1)
            broken = _config(
                sim.url,
                tmp_path,
                [{"name": "bad", "system": "peerdb", "password": WRONG["broken"]}],
            )
            config_path.write_text(yaml.safe_dump(broken))
            seen.append(await _read(session, "POST", f"{base}/-/reload"))
            seen.append(await _read(session, "GET", f"{base}/"))
            seen.append(await _read(session, "GET", f"{base}/api/v1/status"))
            proc.send_signal(signal.SIGTERM)
            out, err = await asyncio.wait_for(proc.communicate(), 30)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        logged += [out.decode(), err.decode()]
        check = await asyncio.create_subprocess_exec(
            *CLI,
            "check",
            str(config_path),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )
        check_out, check_err = await check.communicate()
        logged += [check_out.decode(), check_err.decode()]
        tokens = list(getattr(sim.systems["etlworks"], "tokens", {}))

    served, written = "\n".join(seen), "\n".join(logged)
    assert '"event": "poll_finished"' in written
    assert '"reason": "auth"' in written
    assert "targets[10] (name: bad).url: required key is missing" in written + served
    assert tokens, "the Etlworks token path was not exercised"
    # The echoes reached the status API, masked where the credential stood.
    assert f"postgresql://{MASK}@{UNREACHABLE_PEER}.db.internal" in api
    assert f"jdbc:postgresql://audit-db:5432/etl?user=etl&password={MASK}" in api
    assert f"Authorization: {MASK}" in api
    # ... and the log, where the exporter's own token was echoed back to it: scrubbed like the
    # API, so the scheme goes with the credential.
    assert f"Authorization: {MASK}" in written
    for secret in _planted() + tokens:
        assert secret not in served, f"secret {secret[:12]}... served"
        assert secret not in written, f"secret {secret[:12]}... logged"
    for secret in UPSTREAM_ONLY.values():
        assert secret not in served, f"upstream's secret {secret[:12]}... served"
        assert secret not in written, f"upstream's secret {secret[:12]}... logged"


async def test_a_credential_only_the_upstream_knew_is_not_logged() -> None:
    options = {
        "peerdb": {
            "unreachable_peers": [UNREACHABLE_PEER],
            "peer_dsn_password": UPSTREAM_ONLY["peer_dsn"],
        }
    }
    out = io.StringIO()
    configure("info", "json", out)
    try:
        async with Simulation(options) as sim:
            target = sim.systems["peerdb"].demo_target(sim.url)
            polled = await poll_once({"targets": [target]})
    finally:
        configure()
    assert polled.ok
    assert '"event": "detail_failed"' in out.getvalue()
    assert UPSTREAM_ONLY["peer_dsn"] not in out.getvalue()


# --- what an upstream echoes, through the client, into the error and the log ------------------

# Credentials of third parties an upstream's error text may carry (issue 21), each with the
# part that must not be shown.
ECHOED = {
    "oracle": ("jdbc:oracle:thin:etl/Or4cle-Pw-17@//ora:1521/XE", "Or4cle-Pw-17"),
    "camel": ("dbPassword=Camel-Pw-17", "Camel-Pw-17"),
    "pgpassword": ("PGPASSWORD=Pg-Env-Pw-17", "Pg-Env-Pw-17"),
    "aws": ("AWS_SECRET_ACCESS_KEY=Aws/Secret+Key17", "Aws/Secret+Key17"),
    "azure": ("AccountName=a;AccountKey=Azure+Key/17==;", "Azure+Key/17=="),
    "schema-registry": ("basic.auth.user.info=SRKEY:Sr-Secret-17", "Sr-Secret-17"),
    "api-key-header": ("X-API-Key: Api-Header-17", "Api-Header-17"),
    "jaas": ('password=\\"Jaas Pw 17\\";', "Jaas Pw 17"),
    "pem": ("-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANPem17\n-----END PRIVATE KEY-----", "Pem17"),
    "jwt": ("token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJqd3QxNyJ9.Sig-17", "eyJzdWIiOiJqd3QxNyJ9"),
    "slash": ("postgres://etl:Sl/ash-Pw-17@db/app", "Sl/ash-Pw-17"),
    "bearer": ("sent bearer Bearer-Tok-17", "Bearer-Tok-17"),
}


@asynccontextmanager
async def _answering(message: str) -> AsyncIterator[str]:
    """A fake upstream on loopback whose every answer is a 500 carrying `message`."""

    async def fail(_request: web.Request) -> web.Response:
        return web.json_response({"message": message}, status=500)

    app = web.Application()
    app.router.add_get("/x", fail)
    async with serving(app, access_log=None) as url:
        yield url


async def _echoed_error(message: str) -> tuple[str, str]:
    """The error the client raises for an upstream answering `message`, and its log line."""
    out = io.StringIO()
    configure("info", "logfmt", out)
    try:
        async with _answering(message) as url, aiohttp.ClientSession() as session:
            target = TargetConfig.model_validate(
                {"name": "t", "system": "any", "url": url, "timeout": 5, "interval": 10}
            )
            with pytest.raises(UpstreamError) as caught:
                await UpstreamClient(session, target).get("/x")
            get_logger("test").warning("poll_failed", error=str(caught.value))
    finally:
        configure()
    return str(caught.value), out.getvalue()


@pytest.mark.parametrize("shape", sorted(ECHOED))
async def test_a_third_party_credential_an_upstream_echoes_is_not_shown(shape: str) -> None:
    text, secret = ECHOED[shape]
    error, logged = await _echoed_error(f"connect failed: {text} (retrying)")
    assert secret not in error
    assert secret not in logged
    assert MASK in error


async def test_a_credential_straddling_the_cut_of_an_error_text_shows_no_part() -> None:
    """The client keeps 200 characters of an upstream's message; a URL's password cut there
    once showed 12 of its 16 characters."""
    password = "Straddle-0123456"
    for at in range(150, 200, 3):
        message = "e" * at + f" postgres://etl:{password}@db:5432/app failed"
        error, logged = await _echoed_error(message)
        for shown in (error, logged):
            assert not any(password[:n] in shown for n in range(4, len(password) + 1)), at
