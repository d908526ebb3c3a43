"""The process's known secrets: registered, removed from any text in every form an upstream may
echo, forgotten when replaced, and fast enough for many secrets by a second code path."""

from __future__ import annotations

import base64
import urllib.parse

import pytest

from dataflow_exporter import redact
from dataflow_exporter.redact import MASK

SECRET = "p@ss w/rd-8f2k"
# More than the few the plain loop handles, so `redact` takes its prefix-index path.
MANY = 200


@pytest.fixture(params=["few", "many"])
def path(request: pytest.FixtureRequest) -> str:
    """Run a test on both lookup paths: a handful of secrets, and hundreds of them."""
    if request.param == "many":
        for n in range(MANY):
            redact.register(f"other-secret-{n:04d}")
    return str(request.param)


def test_a_registered_secret_is_masked(path: str) -> None:
    redact.register(SECRET)
    assert redact.redact(f"login failed for {SECRET}.") == f"login failed for {MASK}."


def test_the_url_encoded_forms_are_masked(path: str) -> None:
    redact.register(SECRET)
    quoted = urllib.parse.quote(SECRET, safe="")
    plus = urllib.parse.quote_plus(SECRET, safe="")
    assert quoted not in (SECRET, plus)
    assert redact.redact(f"?pw={quoted}&x={plus}") == f"?pw={MASK}&x={MASK}"


def test_the_basic_token_of_a_user_and_password_is_masked(path: str) -> None:
    redact.register_basic("etl", SECRET)
    token = base64.b64encode(f"etl:{SECRET}".encode()).decode()
    assert redact.redact(f"Authorization: Basic {token}") == f"Authorization: Basic {MASK}"


def test_a_secret_inside_a_longer_one_does_not_leave_the_longer_ones_ends(path: str) -> None:
    redact.register("abcd")
    redact.register("xxabcdyy")
    assert redact.redact("[xxabcdyy] [abcd]") == f"[{MASK}] [{MASK}]"


def test_values_too_short_to_tell_from_words_are_not_registered() -> None:
    redact.register("abc")
    redact.register("")
    redact.register(None)
    assert redact.redact("abc is a word") == "abc is a word"


def test_a_forgotten_secret_is_no_longer_masked(path: str) -> None:
    redact.register(SECRET)
    redact.unregister(SECRET)
    assert redact.redact(SECRET) == SECRET


def test_a_secret_registered_twice_stays_until_forgotten_twice() -> None:
    redact.register(SECRET)
    redact.register(SECRET)
    redact.unregister(SECRET)
    assert redact.redact(SECRET) == MASK
    redact.unregister(SECRET)
    assert redact.redact(SECRET) == SECRET


def test_a_forgotten_basic_token_is_no_longer_masked() -> None:
    redact.register_basic("etl", SECRET)
    token = base64.b64encode(f"etl:{SECRET}".encode()).decode()
    redact.unregister_basic("etl", SECRET)
    assert redact.redact(token) == token


def test_shorten_redacts_before_it_cuts() -> None:
    redact.register(SECRET)
    text = "x" * 10 + SECRET
    # Cut first, the secret's prefix would remain and no longer match.
    assert redact.shorten(text, 14) == ("x" * 10 + MASK)[:14]
    assert SECRET[:4] not in redact.shorten(text, 14)


def test_forget_all_empties_the_set() -> None:
    redact.register(SECRET)
    redact.forget_all()
    assert redact.redact(SECRET) == SECRET
