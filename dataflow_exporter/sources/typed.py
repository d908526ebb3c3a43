"""One decoder per upstream answer: the answer's typed shape decodes it and checks it in one pass.

A shape is a `msgspec.Struct` written as the upstream documents the answer: a field an older
release lacks is `X | None = None`, a field every release sends is required. msgspec decodes and
type-checks the body against it in C; numbers may come as strings (protojson's int64), so the
decoder is lax: an int or float field takes a number in a string (`"42"`, `"1e3"`, `"7.0"` for
an int; a float field also `"NaN"` and `"inf"`, which a `Plain` field refuses), an int field a
whole float
(`7.0`), a bool field `"true"`/`"false"` in any case, `"1"`/`"0"` and 1/0. A source whose
upstream must not send one of these says so in its docs. What the shape refuses becomes a
`SchemaError` naming the field as the answer spells it (`GET /x: data[3].lag: expected int, got
str`), so the user reads the upstream's words, not the decoder's. A body that is not JSON at
all (HTML, a truncated body, an empty one) is a `decode` error, as `Answer.json` gives.

Integers are `Integer` (int64): the decoder takes integers of any size, and a bounded one is
the field's error rather than an overflow later. A field one entity may break without failing
its siblings (a time out of range) is checked where the entity's record is built, not here;
where a page must decode entity by entity, its shape lists them as `list[msgspec.Raw]` and the
source decodes each with `Decoder.body(raw, where)`.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from typing import Annotated, Any, Generic, TypeVar, overload

import msgspec

from dataflow_exporter import credential_text
from dataflow_exporter.errors import Reason, SchemaError, UpstreamError
from dataflow_exporter.upstream import Answer, decode_json

S = TypeVar("S")

# An upstream's integer: the lax decoder takes integers of any size, and one of 400 digits would
# overflow where it becomes a float sample; bounded, it is the field's schema error. msgspec
# bounds stop at int64, which no count, size or time reaches (a uint64 counter would need
# centuries at a billion a second).
Integer = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]
# An upstream's float that is a number: the lax decoder reads "nan" or "inf" in a string as a
# float; bounded, it is the field's schema error, as a number out of range is.
Finite = Annotated[float, msgspec.Meta(ge=-sys.float_info.max, le=sys.float_info.max)]

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")

# msgspec's refusals that quote the upstream's value (an enum's, a tagged union's tag).
_QUOTING = ("Invalid enum value ", "Invalid value ")

# msgspec words a refusal as "Expected `int`, got `str` - at `$.data[0].lag`".
_REFUSAL = re.compile(r"(?s)(?P<message>.*?)(?: - at `\$(?P<path>[^`]*)`)?")


def worded(exc: msgspec.ValidationError, where: str) -> SchemaError:
    """msgspec's refusal as a `SchemaError` at `where` plus the field's path in the answer."""
    found = _REFUSAL.fullmatch(str(exc))
    message, path = (found["message"], found["path"] or "") if found else (str(exc), "")
    for quoting in _QUOTING:
        if message.startswith(quoting):
            # The upstream's value: scrubbed and cut like any other upstream text.
            message = quoting + credential_text.shorten(message.removeprefix(quoting), 40)
            break
    message = message.replace("`", "")
    message = message[:1].lower() + message[1:]
    field = path.removeprefix(".")
    return SchemaError(f"{at(where, field)}: {message}" if field else f"{where}: {message}")


def at(where: str, path: str) -> str:
    """The field at `path` inside `where`, in one spelling whoever names it: `GET /x: data[3]`
    plus `lag` is `GET /x: data[3].lag`; a request alone plus `lag` is `GET /x: lag`."""
    if not path.startswith("[") and ": " in where:
        return f"{where}.{path}"
    return f"{where}{path}" if ": " in where else f"{where}: {path}"


class Decoder(Generic[S]):
    """Decodes and checks an answer, or one entity of it, against the typed shape `S` (a
    union such as `Shape | None` is not a class: annotate it, `Decoder[Shape | None]`)."""

    @overload
    def __init__(self, shape: type[S]) -> None: ...
    @overload
    def __init__(self, shape: object) -> None: ...
    def __init__(self, shape: object) -> None:
        self._decode: Callable[[bytes | msgspec.Raw], S] = msgspec.json.Decoder(
            shape, strict=False
        ).decode

    def answer(self, answer: Answer) -> S:
        """The whole answer as `S`; a `schema` error naming the field it refuses, a `decode`
        error if the body is not JSON."""
        try:
            return self._decode(answer.body)  # as `body` does, a call fewer on the hot path
        except (msgspec.MsgspecError, UnicodeDecodeError, RecursionError):
            return self.body(answer.body, answer.what)

    def body(self, body: bytes | msgspec.Raw, where: str) -> S:
        """`body` (an answer's, or one entity's `msgspec.Raw`) as `S`; errors name `where`."""
        try:
            return self._decode(body)
        except msgspec.ValidationError as exc:
            # msgspec refuses a value before it reads the rest of the body: a truncated or
            # broken body is a `decode` error, not a field of the wrong type.
            decode_json(bytes(body), where)
            raise worded(exc, where) from None
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
            # Not JSON at all: `decode_json` says what it is (HTML, empty, truncated) in the
            # same words as every other answer, and decodes JSON msgspec alone refuses.
            data = decode_json(bytes(body), where)
            # JSON msgspec refuses but the standard library takes (a lone surrogate escaped):
            # re-encoded by the standard library's rules, it is decoded against the shape.
            return self._reencoded(data, where)

    def _reencoded(self, data: Any, where: str) -> S:
        try:
            text = json.dumps(data, ensure_ascii=False, allow_nan=False)
            return self._decode(_LONE_SURROGATE.sub("\ufffd", text).encode())
        except msgspec.ValidationError as exc:
            raise worded(exc, where) from None
        except RecursionError:
            # JSON nested deeper than Python's recursion limit: neither re-encoding nor msgspec
            # gets through it, and no upstream's answer is shaped so.
            raise UpstreamError(Reason.DECODE, f"{where}: JSON nested too deeply") from None
