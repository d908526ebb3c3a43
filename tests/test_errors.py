"""The failure taxonomy: the `reason` label values users read in the docs, and error messages
that never carry a registered secret."""

from __future__ import annotations

import base64
import errno
import re
from pathlib import Path

import pytest

from dataflow_exporter import known_secrets
from dataflow_exporter.errors import (
    ConfigError,
    Reason,
    SchemaError,
    SecretFileError,
    UpstreamError,
    WebConfigError,
    os_error_text,
)

README = Path(__file__).resolve().parents[1] / "README.md"

# Stated here, not read from the code: a renamed value would break every dashboard and alert
# that matches on it (and README's metrics table below).
DOCUMENTED_REASONS = {
    Reason.TIMEOUT: "timeout",
    Reason.CONNECT: "connect",
    Reason.TLS: "tls",
    Reason.AUTH: "auth",
    Reason.RATE_LIMITED: "rate_limited",
    Reason.HTTP_4XX: "http_4xx",
    Reason.HTTP_5XX: "http_5xx",
    Reason.DECODE: "decode",
    Reason.SCHEMA: "schema",
    Reason.CONFIG: "config",
    Reason.INTERNAL: "internal",
    Reason.MAX_ENTITIES: "max_entities",
}
SECRET = "s3cr3t-Xk9q-value"
MASK = known_secrets.MASK


def test_each_reason_is_the_label_value_the_docs_name() -> None:
    assert {reason: reason.value for reason in Reason} == DOCUMENTED_REASONS


def test_the_readme_lists_exactly_the_reasons_of_the_error_counter() -> None:
    row = next(
        line
        for line in README.read_text(encoding="utf-8").splitlines()
        if line.startswith("| `dataflow_exporter_target_errors_total`")
    )
    listed = row.split("reason ∈", 1)[1].split(" — ", 1)[0]
    # The list is `value (explanation), value, ...`: drop the explanations, keep the values.
    named = {word.strip() for word in re.sub(r"\([^)]*\)", "", listed).split(",")}
    assert named == set(DOCUMENTED_REASONS.values())


def test_an_upstream_error_masks_a_registered_secret_in_every_known_form() -> None:
    known_secrets.register(SECRET)
    basic = base64.b64encode(f":{SECRET}".encode()).decode()
    message = f"HTTP 401: password {SECRET}, Basic {basic}, url-encoded pw%3D{SECRET}"
    error = UpstreamError(Reason.AUTH, message, status=401)
    assert SECRET not in str(error)
    assert basic not in str(error)
    assert str(error) == (f"HTTP 401: password {MASK}, Basic {MASK}, url-encoded pw%3D{MASK}")
    assert (error.reason, error.status) == (Reason.AUTH, 401)


def test_a_schema_error_is_redacted_too_and_carries_reason_schema() -> None:
    known_secrets.register(SECRET)
    error = SchemaError(f"flows[0].name: expected a string, got {SECRET!r}")
    assert SECRET not in str(error)
    assert error.reason is Reason.SCHEMA
    assert isinstance(error, UpstreamError)


def test_an_upstream_error_keeps_what_sources_special_case() -> None:
    error = UpstreamError(
        Reason.RATE_LIMITED, "HTTP 429", status=429, payload={"a": 1}, retry_after=3.0
    )
    assert (error.reason, error.status, error.payload, error.retry_after) == (
        Reason.RATE_LIMITED,
        429,
        {"a": 1},
        3.0,
    )


def test_a_config_error_lists_every_problem_and_which_the_environment_causes() -> None:
    error = ConfigError(["a: unknown key", "b: no such file"], ["b: no such file"])
    assert str(error) == "a: unknown key\nb: no such file"
    assert error.environment == ["b: no such file"]
    assert ConfigError(["a: unknown key"]).environment == []


@pytest.mark.parametrize("kind", [ConfigError, WebConfigError, SecretFileError, UpstreamError])
def test_every_failure_is_an_exception_of_its_own_kind(kind: type[Exception]) -> None:
    others = {ConfigError, WebConfigError, SecretFileError, UpstreamError} - {kind}
    assert not any(issubclass(kind, other) for other in others)


def test_an_os_error_is_told_in_its_own_words_and_descriptor_exhaustion_plainly() -> None:
    assert os_error_text(OSError(errno.ECONNREFUSED, "Connection refused")) == (
        "[Errno 111] Connection refused"
    )
    assert os_error_text(OSError(errno.EMFILE, "Too many open files")) == (
        "too many open files in the exporter (raise its file descriptor limit)"
    )
    assert os_error_text(OSError(errno.ENFILE, "File table overflow")).startswith("too many open")
    assert os_error_text(OSError()) == "OSError"
