"""`AnswerMemo`: an answer byte-identical to the last successful poll's is not parsed again."""

from __future__ import annotations

from dataflow_exporter.sources.base import AnswerMemo
from dataflow_exporter.upstream import Answer


class CountingParser:
    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    def __call__(self, answer: Answer) -> tuple[bytes, int]:
        self.bodies.append(answer.body)
        return (answer.body, len(self.bodies))


def _poll(memo: AnswerMemo[tuple[bytes, int]], parse: CountingParser, **bodies: bytes) -> dict:
    memo.begin()
    records = {key: memo.parse(key, Answer(body, key), parse) for key, body in bodies.items()}
    memo.finish()
    return records


def test_an_unchanged_answer_gives_the_last_record_without_parsing() -> None:
    memo: AnswerMemo[tuple[bytes, int]] = AnswerMemo()
    parse = CountingParser()
    first = _poll(memo, parse, a=b'{"x":1}', b=b'{"x":2}')
    second = _poll(memo, parse, a=b'{"x":1}', b=b'{"x":3}')
    assert parse.bodies == [b'{"x":1}', b'{"x":2}', b'{"x":3}']
    assert second["a"] is first["a"]
    assert second["b"] == (b'{"x":3}', 3)


def test_the_same_body_under_another_key_is_parsed_for_that_key() -> None:
    memo: AnswerMemo[tuple[bytes, int]] = AnswerMemo()
    parse = CountingParser()
    _poll(memo, parse, a=b"1")
    _poll(memo, parse, b=b"1")
    assert parse.bodies == [b"1", b"1"]


def test_a_failed_poll_is_not_what_the_next_poll_compares_with() -> None:
    memo: AnswerMemo[tuple[bytes, int]] = AnswerMemo()
    parse = CountingParser()
    _poll(memo, parse, a=b"old")
    memo.begin()
    memo.parse("a", Answer(b"half", "a"), parse)  # this poll fails: finish() is never called
    record = _poll(memo, parse, a=b"old")["a"]
    assert record == (b"old", 1)
    assert parse.bodies == [b"old", b"half"]


def test_entities_gone_upstream_are_forgotten_after_one_poll() -> None:
    memo: AnswerMemo[tuple[bytes, int]] = AnswerMemo()
    parse = CountingParser()
    _poll(memo, parse, a=b"1", b=b"2")
    _poll(memo, parse, a=b"1")
    _poll(memo, parse, a=b"1", b=b"2")
    assert parse.bodies == [b"1", b"2", b"2"]
