"""Streaming line readers that survive broken files.

Lines are yielded as bytes with their 1-based line number, in bounded memory:
the gzip stream is decompressed chunk by chunk, and a line longer than the
cap is not kept whole (only a prefix is held for the quarantine copy).
A gzip file truncated mid-stream yields the lines before the break and then
one final :class:`Break` with whatever partial bytes followed the last newline.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

CHUNK_BYTES = 1 << 20


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
    """The stream ended abnormally at this line (truncated or corrupt gzip)."""

    number: int
    data: bytes
    length: int
    detail: str


def _decompressed_chunks(path: Path) -> Iterator[bytes | Break]:
    """Yield decompressed chunks; a trailing Break (with empty data) if the stream is cut."""
    decomp = zlib.decompressobj(wbits=31)
    with open(path, "rb") as handle:
        while True:
            raw = handle.read(CHUNK_BYTES)
            if not raw:
                break
            try:
                out = decomp.decompress(raw)
                # Concatenated gzip members are valid gzip: continue with the next member.
                while decomp.eof and decomp.unused_data:
                    rest = decomp.unused_data
                    decomp = zlib.decompressobj(wbits=31)
                    out += decomp.decompress(rest)
            except zlib.error as exc:
                yield Break(0, b"", 0, f"corrupt gzip stream: {exc}")
                return
            if out:
                yield out
    if not decomp.eof:
        tail = decomp.flush()
        if tail:
            yield tail
        yield Break(0, b"", 0, "gzip stream truncated before its end-of-stream marker")


def _raw_chunks(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            yield chunk


def iter_lines(path: Path, max_line_bytes: int, *, gzipped: bool) -> Iterator[Line | Break]:
    """Yield every line of ``path``; lines over ``max_line_bytes`` keep a capped prefix."""
    keep_cap = max_line_bytes * 4  # enough of an oversized line to inspect it later
    pending: list[bytes] = []  # pieces of the current, unfinished line
    pending_len = 0
    number = 0
    chunks = _decompressed_chunks(path) if gzipped else _raw_chunks(path)
    for chunk in chunks:
        if isinstance(chunk, Break):
            number += 1
            yield Break(number, b"".join(pending), pending_len, chunk.detail)
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
