"""The failure taxonomy: an upstream error's message never carries a secret the process knows,
however the upstream echoed it."""

from __future__ import annotations

import base64

from dataflow_exporter import redact
from dataflow_exporter.upstream import Reason, SchemaError, UpstreamError

SECRET = "S3cr3t-errors-9c1f"


def test_an_upstream_error_masks_a_registered_secret_in_every_known_form() -> None:
    redact.register(SECRET)
    basic = base64.b64encode(f":{SECRET}".encode()).decode()
    message = f"HTTP 401: password {SECRET}, Basic {basic}, url-encoded pw%3D{SECRET}"
    error = UpstreamError(Reason.AUTH, message, status=401)
    assert SECRET not in str(error)
    assert basic not in str(error)
    assert str(error) == (
        f"HTTP 401: password {redact.MASK}, Basic {redact.MASK}, url-encoded pw%3D{redact.MASK}"
    )
    assert (error.reason, error.status) == (Reason.AUTH, 401)


def test_a_schema_error_masks_a_registered_secret() -> None:
    redact.register(SECRET)
    error = SchemaError(f"field 'token' was {SECRET!r}")
    assert str(error) == f"field 'token' was '{redact.MASK}'"
    assert error.reason is Reason.SCHEMA
