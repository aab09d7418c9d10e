"""Streaming line readers that survive broken files.

Lines are yielded as bytes with their 1-based line number, in bounded memory:
the object is read block by block, gzip is decompressed with a cap on the output
of each step (a small file that expands to gigabytes stays flat in memory), and
a line longer than the cap is not kept whole (only a prefix is held for the
quarantine copy).

Where a file stops being readable, nothing before that point is lost:
- a gzip stream cut off mid-way yields every line before the cut, then one
  :class:`Break` holding the partial last line;
- corrupt compressed bytes (or bytes after the last gzip member that are not
  another member) yield every line decompressed before the first bad byte, a
  :class:`Break` for a partial line cut by it, then one :class:`Undecodable`
  with the bad bytes' offset, count and a capped copy.

A UTF-8 byte-order mark at the start of a file is a signature, not content: it
is dropped.
"""

from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass
from typing import BinaryIO, Iterator

CHUNK_BYTES = 1 << 18  #: compressed bytes fed to zlib at a time (also bounds the salvage after an error)
OUTPUT_CAP = 1 << 20  #: decompressed bytes produced at a time
UTF8_BOM = b"\xef\xbb\xbf"
GZIP_MAGIC = b"\x1f\x8b"


@dataclass
class Line:
    number: int
    data: bytes  #: the line without its newline; a prefix when ``length`` is larger
    length: int  #: the line's true length in bytes

    @property
    def oversized(self) -> bool:
        return self.length > len(self.data)


@dataclass
class Break:
    """The stream ended abnormally at this line (truncated or corrupt gzip): the partial line."""

    number: int
    data: bytes
    length: int
    detail: str


@dataclass
class Undecodable:
    """Compressed bytes that cannot be decoded, from ``offset`` to the end of the object."""

    number: int
    data: bytes  #: a capped copy of the bytes
    length: int  #: how many bytes could not be decoded
    offset: int  #: where they start in the object
    detail: str


@dataclass
class _StreamEnd:
    """Internal: how a decompressed stream ended, when it did not end cleanly."""

    detail: str
    undecodable: Undecodable | None = None


class Tally:
    """A read-through wrapper that counts and hashes the bytes of an object as they stream by."""

    def __init__(self, stream: BinaryIO):
        self._stream = stream
        self.bytes = 0
        self._sha = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        self.bytes += len(data)
        self._sha.update(data)
        return data

    def drain(self) -> None:
        """Read to the end (so that the count and hash cover the whole object)."""
        while self.read(CHUNK_BYTES):
            pass

    @property
    def sha256(self) -> str:
        return self._sha.hexdigest()


def _raw_chunks(stream: BinaryIO) -> Iterator[bytes]:
    while chunk := stream.read(CHUNK_BYTES):
        yield chunk


def _undecodable_rest(stream: BinaryIO, head: bytes, offset: int, keep: int, detail: str) -> _StreamEnd:
    """Count (and keep a capped copy of) the bytes from ``offset`` to the end of the stream."""
    kept, length = head[:keep], len(head)
    while chunk := stream.read(CHUNK_BYTES):
        if len(kept) < keep:
            kept += chunk[: keep - len(kept)]
        length += len(chunk)
    return _StreamEnd(detail, Undecodable(0, kept, length, offset, detail))


def _salvage(decomp, data: bytes) -> Iterator[bytes | int]:
    """Replay ``data`` one byte at a time from a state saved before a zlib error: yield the output
    produced before the bad byte, then the bad byte's index in ``data``."""
    pieces: list[bytes] = []
    size = 0
    for index in range(len(data)):
        try:
            out = decomp.decompress(data[index:index + 1])
        except zlib.error:
            if pieces:
                yield b"".join(pieces)
            yield index
            return
        if out:
            pieces.append(out)
            size += len(out)
            if size >= OUTPUT_CAP:
                yield b"".join(pieces)
                pieces, size = [], 0
    if pieces:
        yield b"".join(pieces)
    yield len(data)


def _gunzip_chunks(stream: BinaryIO, keep: int) -> Iterator[bytes | _StreamEnd]:
    """Decompressed chunks of every gzip member in turn; a trailing ``_StreamEnd`` when the stream
    was cut short or holds bytes that cannot be decoded."""
    decomp = zlib.decompressobj(wbits=31)
    member_has_input = False
    position = 0  # offset of ``pending[0]`` in the object
    pending = b""
    while True:
        if not pending:
            pending = stream.read(CHUNK_BYTES)
            if not pending:
                break
        if not member_has_input:
            # A new member must start with the gzip magic; anything else is not gzip at all.
            while len(pending) < 2 and (more := stream.read(CHUNK_BYTES)):
                pending += more
            if not pending.startswith(GZIP_MAGIC):
                what = "is not gzip" if position == 0 else "follows the end of the gzip stream"
                yield _undecodable_rest(stream, pending, position, keep, f"the bytes from offset {position} {what}")
                return
            member_has_input = True
        saved = decomp.copy()
        try:
            out = decomp.decompress(pending, OUTPUT_CAP)
        except zlib.error as exc:
            bad_at = len(pending)
            for piece in _salvage(saved, pending):
                if isinstance(piece, int):
                    bad_at = piece
                else:
                    yield piece
            offset = position + bad_at
            yield _undecodable_rest(stream, pending[bad_at:], offset, keep,
                                    f"corrupt gzip data at offset {offset}: {exc}")
            return
        if out:
            yield out
        if decomp.eof:
            rest = decomp.unused_data
            position += len(pending) - len(rest)
            pending = rest
            decomp = zlib.decompressobj(wbits=31)
            member_has_input = False
        else:
            tail = decomp.unconsumed_tail
            position += len(pending) - len(tail)
            pending = tail
    if member_has_input or position == 0:
        # Input ran out inside a member (or there was no gzip member at all).
        tail = decomp.flush() if member_has_input else b""
        if tail:
            yield tail
        yield _StreamEnd(f"gzip stream truncated at offset {position} before its end-of-stream marker")


def _without_bom(chunks: Iterator) -> Iterator:
    """Drop a UTF-8 byte-order mark at the very start of the content."""
    head = b""
    for chunk in chunks:
        if isinstance(chunk, _StreamEnd):
            if head:
                yield head
            yield chunk
            return
        head += chunk
        if len(head) >= len(UTF8_BOM):
            break
    else:
        if head:
            yield head
        return
    yield head[len(UTF8_BOM):] if head.startswith(UTF8_BOM) else head
    yield from chunks


def iter_lines(stream: BinaryIO, max_line_bytes: int, *, gzipped: bool) -> Iterator[Line | Break | Undecodable]:
    """Yield every line of ``stream``; lines over ``max_line_bytes`` keep a capped prefix."""
    keep_cap = max_line_bytes * 4  # enough of an oversized line to inspect it later
    pending: list[bytes] = []  # pieces of the current, unfinished line
    pending_len = 0
    number = 0
    chunks = _gunzip_chunks(stream, keep_cap) if gzipped else _raw_chunks(stream)
    for chunk in _without_bom(chunks):
        if isinstance(chunk, _StreamEnd):
            if chunk.undecodable is None or pending_len:
                number += 1
                detail = chunk.detail if chunk.undecodable is None else f"line cut off by {chunk.detail}"
                yield Break(number, b"".join(pending), pending_len, detail)
            if chunk.undecodable is not None:
                number += 1
                bad = chunk.undecodable
                yield Undecodable(number, bad.data, bad.length, bad.offset, bad.detail)
            return
        parts = chunk.split(b"\n")
        last = parts.pop()  # the unfinished tail (b"" when the chunk ends with a newline)
        if parts:
            first = parts[0]
            if pending:
                if pending_len < keep_cap:
                    pending.append(first[: keep_cap - pending_len])
                total = pending_len + len(first)
                parts[0] = b"".join(pending)
                pending, pending_len = [], 0
            else:
                total = len(first)
            number += 1
            first_data = parts[0]
            yield Line(number, first_data if len(first_data) <= keep_cap else first_data[:keep_cap], total)
            for piece in parts[1:]:
                number += 1
                if len(piece) <= keep_cap:
                    yield Line(number, piece, len(piece))
                else:
                    yield Line(number, piece[:keep_cap], len(piece))
        if last:
            if pending_len < keep_cap:
                pending.append(last[: keep_cap - pending_len])
            pending_len += len(last)
    if pending_len:
        number += 1
        yield Line(number, b"".join(pending), pending_len)
