"""One gzip body from pieces compressed apart, so each piece is compressed once, when it changes.

Each piece is a raw deflate stream ended by a sync flush: byte-aligned, not final, and
referring to nothing before it, so pieces from separate compressors can follow one another in
any order. A body is the gzip header, the pieces, an empty final block and the trailer: one
gzip member (RFC 1952), which every client reads whole. Concatenated members would be valid
too, but curl's `--compressed` and a plain `zlib.decompress` stop after the first member.

The trailer's CRC-32 of the whole body is combined from the pieces' own CRCs, as zlib's
`crc32_combine` does (Python's zlib does not offer it): CRC(A·B) = CRC(A)·x^(8·|B|) ⊕ CRC(B)
modulo the CRC polynomial. Each piece carries x^(8·|piece|) worked out when it was compressed,
so combining costs one small product per piece.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable
from dataclasses import dataclass

# Fastest: every piece that changed is compressed once per poll, and level 1 is within a few
# percent of the default's size on exposition text at a fraction of its CPU.
LEVEL = 1
# A member header: deflate, no name, mtime 0, "fastest" (level 1), unknown OS.
HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x04\xff"
FINAL_BLOCK = b"\x03\x00"  # an empty final block with fixed codes: what ends the stream

_POLY = 0xEDB88320  # CRC-32's polynomial, bit-reversed as zlib works with it
_ONE = 1 << 31  # the polynomial 1 in that representation


def _multiply(a: int, b: int) -> int:
    """a·b modulo the CRC polynomial (zlib's `multmodp`)."""
    m, product = _ONE, 0
    while True:
        if a & m:
            product ^= b
            if a & (m - 1) == 0:
                return product
        m >>= 1
        b = (b >> 1) ^ _POLY if b & 1 else b >> 1


def _powers() -> tuple[int, ...]:
    table = [1 << 30]  # x^1
    for _ in range(31):
        table.append(_multiply(table[-1], table[-1]))
    return tuple(table)


_X_2N = _powers()  # x^(2^n) for n = 0..31


def shift_of(size: int) -> int:
    """x^(8·size) modulo the CRC polynomial: what appending `size` bytes does to a CRC."""
    product, n, k = _ONE, size, 3  # 8·size = size·2^3
    while n:
        if n & 1:
            product = _multiply(_X_2N[k & 31], product)
        n >>= 1
        k += 1
    return product


def crc32_combine(crc1: int, crc2: int, shift2: int) -> int:
    """The CRC-32 of A followed by B, from CRC(A), CRC(B) and `shift_of(len(B))`."""
    return _multiply(shift2, crc1) ^ crc2


@dataclass(frozen=True, slots=True)
class Deflated:
    """A piece: its sync-flushed raw deflate stream, and its uncompressed CRC, size and
    shift."""

    data: bytes
    crc: int
    size: int
    shift: int


def deflate(piece: bytes) -> Deflated:
    """Compress one piece on its own."""
    compressor = zlib.compressobj(LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS)
    data = compressor.compress(piece) + compressor.flush(zlib.Z_SYNC_FLUSH)
    return Deflated(data, zlib.crc32(piece), len(piece), shift_of(len(piece)))


@dataclass(frozen=True, slots=True)
class Lined:
    """Pieces lined up: their deflate streams in order, and the CRC and size of all the text
    they hold, so more pieces can follow without combining these again."""

    data: tuple[bytes, ...] = ()
    crc: int = 0
    size: int = 0


def line_up(pieces: Iterable[Deflated], after: Lined | None = None) -> Lined:
    """`pieces`, in order, after those of `after` (empty pieces left out)."""
    data = list(after.data) if after is not None else []
    crc, size = (after.crc, after.size) if after is not None else (0, 0)
    for piece in pieces:
        if not piece.size:
            continue
        data.append(piece.data)
        crc = crc32_combine(crc, piece.crc, piece.shift)
        size += piece.size
    return Lined(tuple(data), crc, size)


def member(lined: Lined) -> tuple[bytes, ...]:
    """Lined-up pieces as the consecutive parts of one gzip body (their bytes are shared, not
    copied)."""
    trailer = FINAL_BLOCK + struct.pack("<II", lined.crc, lined.size & 0xFFFFFFFF)
    return (HEADER, *lined.data, trailer)


def gzip_body(pieces: Iterable[Deflated]) -> tuple[bytes, ...]:
    """The pieces, in order, as the consecutive parts of one gzip body."""
    return member(line_up(pieces))
