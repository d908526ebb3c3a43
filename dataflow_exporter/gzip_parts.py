"""One gzip body from pieces compressed apart, so each piece is compressed once, when it changes.

Each piece is a raw deflate stream ended by a sync flush: byte-aligned, not final, and
referring to nothing before it, so pieces from separate compressors can follow one another in
any order. A body is the gzip header, the pieces, an empty final block and the trailer: one
gzip member (RFC 1952), which every client reads whole. Concatenated members would be valid
too, but curl's `--compressed` and a plain `zlib.decompress` stop after the first member.

The trailer's CRC-32 of the whole body is combined from the pieces' own CRCs (`crc32_combine`,
under a microsecond per piece), so lining pieces up never reads their text again.

Compression and CRCs are ISA-L's (`isal`): on exposition text its level 1 is about five times
as fast as zlib's level 1 with a smaller output, and its CRC-32 about twelve times Python's
`zlib`; every piece that changed is compressed in each poll, so this is poll CPU saved at every
size.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass

from isal import isal_zlib

# ISA-L's levels run 0 to 3; 1 is as fast as 0 on exposition text and a third smaller.
LEVEL = 1
# A member header: deflate, no name, mtime 0, "fastest" (level 1), unknown OS.
HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x04\xff"
FINAL_BLOCK = b"\x03\x00"  # an empty final block with fixed codes: what ends the stream


@dataclass(frozen=True, slots=True)
class Deflated:
    """A piece: its sync-flushed raw deflate stream, and its uncompressed CRC and size."""

    data: bytes
    crc: int
    size: int


def deflate(piece: bytes) -> Deflated:
    """Compress one piece on its own."""
    compressor = isal_zlib.compressobj(LEVEL, isal_zlib.DEFLATED, -isal_zlib.MAX_WBITS)
    data = compressor.compress(piece) + compressor.flush(isal_zlib.Z_SYNC_FLUSH)
    return Deflated(data, isal_zlib.crc32(piece), len(piece))


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
        crc = isal_zlib.crc32_combine(crc, piece.crc, piece.size)
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
