"""The process's known secrets: registered, removed from any text in every form an upstream may
echo, forgotten when replaced, the same with a handful of forms and with hundreds."""

from __future__ import annotations

import base64
import urllib.parse

import pytest

from dataflow_exporter import redact
from dataflow_exporter.redact import MASK

SECRET = "p@ss w/rd-8f2k"
# Hundreds of forms (the old per-character scan took over past 64).
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


def test_overlapping_secrets_leave_no_character_of_either(path: str) -> None:
    redact.register("abcdef-1")
    redact.register("ef-1-ghij")
    assert redact.redact("[abcdef-1-ghij]") == f"[{MASK}]"


def test_adjacent_secrets_are_masked_one_by_one(path: str) -> None:
    redact.register("abcd-1")
    assert redact.redact("abcd-1abcd-1") == MASK + MASK


def test_a_text_exactly_as_long_as_a_secret_is_masked(path: str) -> None:
    redact.register("abcd")
    assert redact.redact("abcd") == MASK
    assert redact.redact("abc") == "abc"


def test_a_secret_is_found_where_the_search_windows_meet() -> None:
    redact.register(SECRET)
    # Straddling the first window's end, and starting exactly at the second window.
    for at in (redact._WINDOW - 3, redact._WINDOW):
        text = "x" * at + SECRET + "y" * 10
        assert redact.redact(text) == "x" * at + MASK + "y" * 10


def test_a_change_to_the_set_is_seen_by_the_next_redact() -> None:
    redact.register(SECRET)
    assert redact.redact(SECRET) == MASK
    redact.register("second-secret")
    assert redact.redact(f"{SECRET} second-secret") == f"{MASK} {MASK}"
    redact.unregister(SECRET)
    assert redact.redact(f"{SECRET} second-secret") == f"{SECRET} {MASK}"


def test_head_masks_a_known_secret_the_cut_falls_in_whole() -> None:
    redact.register(SECRET)  # it holds a space: dropping the word cut in two is not enough
    text = "x" * 10 + " " + SECRET + " and more"
    cut = 11 + SECRET.index(" ") + 3
    assert redact.head(text, cut) == "x" * 10 + " "


def test_head_drops_the_word_the_cut_falls_in() -> None:
    # `pass` would be left of `postgres://user:password@`: no scrubber could tell it from a word.
    text = "failed: postgres://user:password@db/app"
    assert redact.head(text, 30) == "failed: "


def test_head_of_one_long_word_is_a_mask() -> None:
    assert redact.head("y" * 100, 10) == MASK


def test_head_of_a_short_text_is_the_text_redacted() -> None:
    redact.register(SECRET)
    assert redact.head(f"a {SECRET}", 40) == f"a {MASK}"
    assert redact.head("exactly-ten", 11) == "exactly-ten"


def test_forget_all_empties_the_set() -> None:
    redact.register(SECRET)
    redact.forget_all()
    assert redact.redact(SECRET) == SECRET
