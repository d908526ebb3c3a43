"""One decoder per upstream answer: the answer's typed shape decodes it and checks it in one pass.

A shape is a `msgspec.Struct` written as the upstream documents the answer: a field an older
release lacks is `X | None = None`, a field every release sends is required. msgspec decodes and
type-checks the body against it in C; numbers may come as strings (protojson's int64), so the
decoder is lax about strings for numbers and booleans. What the shape refuses becomes a
`SchemaError` naming the field as the answer spells it (`GET /x: data[3].lag: expected int, got
str`), so the user reads the upstream's words, not the decoder's. A body that is not JSON at
all (HTML, a truncated body, an empty one) is a `decode` error, as `Answer.json` gives.

To keep one broken entity from failing its siblings, a shape lists its entities as
`list[msgspec.Raw]` and the source decodes each with its own `Decoder`: the entity's error then
names the entity, and the others still decode.
"""

from __future__ import annotations

import json
import re
from typing import Generic, TypeVar

import msgspec

from dataflow_exporter.errors import Reason, SchemaError, UpstreamError
from dataflow_exporter.upstream import Answer, decode_json

S = TypeVar("S")

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")

# msgspec words a refusal as "Expected `int`, got `str` - at `$.data[0].lag`".
_REFUSAL = re.compile(r"(?s)(?P<message>.*?)(?: - at `\$(?P<path>[^`]*)`)?")


def worded(exc: msgspec.ValidationError, where: str) -> SchemaError:
    """msgspec's refusal as a `SchemaError` at `where` plus the field's path in the answer."""
    found = _REFUSAL.fullmatch(str(exc))
    message, path = (found["message"], found["path"] or "") if found else (str(exc), "")
    message = message.replace("`", "")
    message = message[:1].lower() + message[1:]
    field = path.removeprefix(".")
    return SchemaError(f"{where}: {field}: {message}" if field else f"{where}: {message}")


class Decoder(Generic[S]):
    """Decodes and checks an answer, or one entity of it, against the typed shape `S`."""

    def __init__(self, shape: type[S]) -> None:
        self._decode = msgspec.json.Decoder(shape, strict=False).decode

    def answer(self, answer: Answer) -> S:
        """The whole answer as `S`; a `schema` error naming the field it refuses, a `decode`
        error if the body is not JSON."""
        return self.body(answer.body, answer.what)

    def body(self, body: bytes | msgspec.Raw, where: str) -> S:
        """`body` (an answer's, or one entity's `msgspec.Raw`) as `S`; errors name `where`."""
        try:
            return self._decode(body)
        except msgspec.ValidationError as exc:
            raise worded(exc, where) from None
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
            # Not JSON at all: `decode_json` says what it is (HTML, empty, truncated) in the
            # same words as every other answer, and decodes JSON msgspec alone refuses.
            raw = bytes(body)
            decode_json(raw, where)
            # JSON msgspec refuses but the standard library takes (a lone surrogate escaped):
            # re-encoded by the standard library's rules, it is decoded against the shape.
            return self._reencoded(raw, where)

    def _reencoded(self, raw: bytes, where: str) -> S:
        try:
            text = json.dumps(decode_json(raw, where), ensure_ascii=False, allow_nan=False)
            return self._decode(_LONE_SURROGATE.sub("\ufffd", text).encode())
        except msgspec.ValidationError as exc:
            raise worded(exc, where) from None
        except RecursionError:
            # JSON nested deeper than Python's recursion limit: neither re-encoding nor msgspec
            # gets through it, and no upstream's answer is shaped so.
            raise UpstreamError(Reason.DECODE, f"{where}: JSON nested too deeply") from None
