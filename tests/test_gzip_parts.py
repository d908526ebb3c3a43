"""A gzip body from pieces compressed apart: one member, its CRC combined from the pieces'."""

from __future__ import annotations

import gzip
import struct
import zlib

from hypothesis import given
from hypothesis import strategies as st

from dataflow_exporter.gzip_parts import Deflated, deflate, gzip_body

PIECES = st.lists(st.binary(max_size=3000), max_size=6)


@given(PIECES)
def test_the_trailer_holds_the_crc_and_size_of_all_the_pieces_text(pieces: list[bytes]) -> None:
    trailer = gzip_body(deflate(piece) for piece in pieces)[-1]
    text = b"".join(pieces)
    assert struct.unpack("<II", trailer[-8:]) == (zlib.crc32(text), len(text))


def test_the_trailer_counts_the_size_modulo_four_gib_as_gzip_says() -> None:
    huge = Deflated(b"", 0, 2**32 + 5)
    trailer = gzip_body([huge])[-1]
    assert struct.unpack("<I", trailer[-4:]) == (5,)


@given(PIECES)
def test_pieces_read_back_as_their_concatenation(pieces: list[bytes]) -> None:
    body = b"".join(gzip_body(deflate(piece) for piece in pieces))
    assert gzip.decompress(body) == b"".join(pieces)


@given(PIECES)
def test_the_body_is_one_gzip_member_that_a_one_shot_zlib_reads_whole(
    pieces: list[bytes],
) -> None:
    # curl --compressed and zlib.decompress stop after the first member: there is only one.
    body = b"".join(gzip_body(deflate(piece) for piece in pieces))
    reader = zlib.decompressobj(16 + zlib.MAX_WBITS)
    assert reader.decompress(body) == b"".join(pieces)
    assert reader.eof
    assert reader.unused_data == b""


def test_a_piece_is_compressed_once_and_shared_by_every_body() -> None:
    piece = deflate(b"x 1.0\n" * 100)
    first, second = gzip_body([piece]), gzip_body([piece, deflate(b"y 2.0\n")])
    assert first[1] is piece.data
    assert second[1] is piece.data


def test_empty_pieces_leave_no_trace_in_the_body() -> None:
    lone = gzip_body([deflate(b"a 1.0\n")])
    assert gzip_body([deflate(b""), deflate(b"a 1.0\n"), deflate(b"")]) == lone


def test_a_body_of_nothing_is_a_valid_empty_gzip() -> None:
    assert gzip.decompress(b"".join(gzip_body([]))) == b""
