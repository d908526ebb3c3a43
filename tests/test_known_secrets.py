"""The process's known secrets: registered, removed from any text in every form an upstream may
echo, forgotten when replaced, the same with a handful of forms and with hundreds."""

from __future__ import annotations

import base64
import urllib.parse

import pytest

from dataflow_exporter import known_secrets
from dataflow_exporter.known_secrets import MASK

SECRET = "p@ss w/rd-8f2k"
# Hundreds of forms (the old per-character scan took over past 64).
MANY = 200


@pytest.fixture(params=["few", "many"])
def path(request: pytest.FixtureRequest) -> str:
    """Run a test on both lookup paths: a handful of secrets, and hundreds of them."""
    if request.param == "many":
        for n in range(MANY):
            known_secrets.register(f"other-secret-{n:04d}")
    return str(request.param)


def test_a_registered_secret_is_masked(path: str) -> None:
    known_secrets.register(SECRET)
    assert known_secrets.redact(f"login failed for {SECRET}.") == f"login failed for {MASK}."


def test_the_url_encoded_forms_are_masked(path: str) -> None:
    known_secrets.register(SECRET)
    quoted = urllib.parse.quote(SECRET, safe="")
    plus = urllib.parse.quote_plus(SECRET, safe="")
    assert quoted not in (SECRET, plus)
    assert known_secrets.redact(f"?pw={quoted}&x={plus}") == f"?pw={MASK}&x={MASK}"


def test_the_basic_token_of_a_user_and_password_is_masked(path: str) -> None:
    known_secrets.register_basic("etl", SECRET)
    token = base64.b64encode(f"etl:{SECRET}".encode()).decode()
    assert known_secrets.redact(f"Authorization: Basic {token}") == f"Authorization: Basic {MASK}"


def test_a_secret_inside_a_longer_one_does_not_leave_the_longer_ones_ends(path: str) -> None:
    known_secrets.register("abcd")
    known_secrets.register("xxabcdyy")
    assert known_secrets.redact("[xxabcdyy] [abcd]") == f"[{MASK}] [{MASK}]"


def test_values_too_short_to_tell_from_words_are_not_registered() -> None:
    known_secrets.register("abc")
    known_secrets.register("")
    known_secrets.register(None)
    assert known_secrets.redact("abc is a word") == "abc is a word"


def test_a_forgotten_secret_is_no_longer_masked(path: str) -> None:
    known_secrets.register(SECRET)
    known_secrets.unregister(SECRET)
    assert known_secrets.redact(SECRET) == SECRET


def test_a_secret_registered_twice_stays_until_forgotten_twice() -> None:
    known_secrets.register(SECRET)
    known_secrets.register(SECRET)
    known_secrets.unregister(SECRET)
    assert known_secrets.redact(SECRET) == MASK
    known_secrets.unregister(SECRET)
    assert known_secrets.redact(SECRET) == SECRET


def test_a_forgotten_basic_token_is_no_longer_masked() -> None:
    known_secrets.register_basic("etl", SECRET)
    token = base64.b64encode(f"etl:{SECRET}".encode()).decode()
    known_secrets.unregister_basic("etl", SECRET)
    assert known_secrets.redact(token) == token


def test_overlapping_secrets_leave_no_character_of_either(path: str) -> None:
    known_secrets.register("abcdef-1")
    known_secrets.register("ef-1-ghij")
    assert known_secrets.redact("[abcdef-1-ghij]") == f"[{MASK}]"


def test_adjacent_secrets_are_masked_one_by_one(path: str) -> None:
    known_secrets.register("abcd-1")
    assert known_secrets.redact("abcd-1abcd-1") == MASK + MASK


def test_a_text_exactly_as_long_as_a_secret_is_masked(path: str) -> None:
    known_secrets.register("abcd")
    assert known_secrets.redact("abcd") == MASK
    assert known_secrets.redact("abc") == "abc"


def test_a_secret_is_found_where_the_search_windows_meet() -> None:
    known_secrets.register(SECRET)
    # Straddling the first window's end, and starting exactly at the second window.
    for at in (known_secrets._WINDOW - 3, known_secrets._WINDOW):
        text = "x" * at + SECRET + "y" * 10
        assert known_secrets.redact(text) == "x" * at + MASK + "y" * 10


def test_a_change_to_the_set_is_seen_by_the_next_redact() -> None:
    known_secrets.register(SECRET)
    assert known_secrets.redact(SECRET) == MASK
    known_secrets.register("second-secret")
    assert known_secrets.redact(f"{SECRET} second-secret") == f"{MASK} {MASK}"
    known_secrets.unregister(SECRET)
    assert known_secrets.redact(f"{SECRET} second-secret") == f"{SECRET} {MASK}"


def test_head_masks_a_known_secret_the_cut_falls_in_whole() -> None:
    known_secrets.register(SECRET)  # it holds a space: dropping the word cut in two is not enough
    text = "x" * 10 + " " + SECRET + " and more"
    cut = 11 + SECRET.index(" ") + 3
    assert known_secrets.head(text, cut) == "x" * 10 + " "


def test_head_drops_the_word_the_cut_falls_in() -> None:
    # `pass` would be left of `postgres://user:password@`: no scrubber could tell it from a word.
    text = "failed: postgres://user:password@db/app"
    assert known_secrets.head(text, 30) == "failed: "


def test_head_of_one_long_word_is_a_mask() -> None:
    assert known_secrets.head("y" * 100, 10) == MASK


def test_head_of_a_short_text_is_the_text_redacted() -> None:
    known_secrets.register(SECRET)
    assert known_secrets.head(f"a {SECRET}", 40) == f"a {MASK}"
    assert known_secrets.head("exactly-ten", 11) == "exactly-ten"


def test_forget_all_empties_the_set() -> None:
    known_secrets.register(SECRET)
    known_secrets.forget_all()
    assert known_secrets.redact(SECRET) == SECRET
