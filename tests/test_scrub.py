"""Credential-shaped text in an upstream's error message is masked before it is shown."""

from __future__ import annotations

import pytest

from dataflow_exporter import redact
from dataflow_exporter.scrub import scrub

LEAKS = [
    ("jdbc:postgresql://etl:Hunter2pw@db:5432/app failed", "Hunter2pw"),
    ("jdbc:sqlserver://db:1433;user=sa;password=Pa55w0rd!;encrypt=true", "Pa55w0rd!"),
    ("mysql://app:s3cret-pw@mysql/app?ssl=true", "s3cret-pw"),
    ("connect failed: password=letmein123 host=db", "letmein123"),
    ('login rejected {"user": "x", "password": "quoted pw here"}', "quoted pw here"),
    ("GET /x?token=tok-abcdef123&page=2 answered 401", "tok-abcdef123"),
    ("api_key: AKIAEXAMPLEKEY rejected", "AKIAEXAMPLEKEY"),
    ("request headers: Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig", "eyJhbGciOiJIUzI1NiJ9"),
    ("Authorization: Basic dXNlcjpwYXNzd29yZA== was refused", "dXNlcjpwYXNzd29yZA=="),
    ("https://admin@internal.example/api denied", "admin"),
]


@pytest.mark.parametrize(("text", "secret"), LEAKS)
def test_credential_shaped_text_is_masked(text: str, secret: str) -> None:
    shown = scrub(text)
    assert secret not in shown
    assert redact.MASK in shown


@pytest.mark.parametrize(
    "text",
    [
        "Kafka error: Broker: Unknown topic or partition",
        "java.sql.SQLTransientConnectionException: Connection is not available, "
        "request timed out after 30000ms.",
        "FATAL error on input endpoint 'stock_levels.kafka_in': token expired",
        "see https://docs.example.com/errors#auth for details",
    ],
)
def test_ordinary_error_text_is_left_as_the_upstream_wrote_it(text: str) -> None:
    assert scrub(text) == text


def test_secrets_the_process_knows_are_masked_too() -> None:
    redact.register("plain-known-secret")
    assert scrub("echoed plain-known-secret back") == f"echoed {redact.MASK} back"
