"""File-level fuzzing of a whole partition: names, compression framing, encodings and byte-order
marks, line endings, empty, tiny and odd objects, extra files and folders.

For every object of every generated partition, checked against an independent reader
(`support.decode_object`) and the object's own bytes:
- it has exactly one audit row, loaded or refused;
- a refused object loaded nothing and its bytes are counted;
- a loaded object's lines balance: lines in = rows loaded + rows quarantined, and the tables agree;
- its size and SHA-256 are those of its bytes;
- no valid record is lost: every complete line that is a valid record is loaded.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
import os
import shutil
import zlib
from collections import Counter

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from growthflow.ingest.loader import load_partition
from growthflow.landing import SUCCESS_MARKER, partition_key

from support import decode_object
from test_fuzz import CSV_HEADER, VALID_EVENT

DAY = dt.date(2026, 2, 4)

#: Valid records: distinct event ids, so that each loaded line can be told apart.
VALID_EVENT_LINES = [json.dumps(dict(VALID_EVENT, event_id=f"00000000-0000-4000-8000-{i:012d}")).encode()
                     for i in range(40)]
VALID_SPEND_ROWS = [f"2026-02-03,naver,cmp_{i:04d},Spring {i},1000,20,{i}.50,KRW".encode() for i in range(40)]
#: Lines that are never a valid record of either source.
JUNK = [b"", b"not json", b"\xff\xfe\x00garbage", b"[1, 2, 3]", b'{"event_id": 5}', b"a,b", b"\x00" * 7]

names_events = st.one_of(
    st.sampled_from(["events-0000-001.jsonl.gz", "events-2359-999.jsonl.gz", "events-1200-7.jsonl.gz"]),
    st.sampled_from(["events-0000-001.jsonl", "events-0000-001.jsonl.bz2", "events-0000-001.jsonl.zst",
                     "events.jsonl.gz", "EVENTS-0000-001.JSONL.GZ", ".DS_Store", "_SUCCESS.tmp",
                     "events-0000-001.jsonl.gz.part", "payments-001.jsonl.gz", "sub/events-0000-002.jsonl.gz",
                     "a/b/c.csv", "events-0000-001 copy.jsonl.gz", "événements.jsonl.gz"]),
    st.text(alphabet=st.characters(blacklist_characters="/\x00", blacklist_categories=("Cs",)),
            min_size=1, max_size=20).filter(lambda n: n not in (".", "..", SUCCESS_MARKER)),
)
names_spend = st.one_of(
    st.sampled_from(["naver.csv", "google_ads.csv", "kakao.csv", "tiktok.csv"]),
    st.sampled_from(["naver.CSV", "naver.csv.gz", "Naver.csv", "naver.tsv", "2026/naver.csv", "naver.csv.bak"]),
)


@st.composite
def content(draw, valid: list[bytes], header: bytes | None) -> bytes:
    """Lines of valid records and junk, with a drawn line ending, BOM and encoding."""
    lines = draw(st.lists(st.one_of(st.sampled_from(valid), st.sampled_from(JUNK)), max_size=12))
    if header is not None and draw(st.booleans()):
        lines = [header] + lines
    ending = draw(st.sampled_from([b"\n", b"\n", b"\r\n", b"\r"]))
    body = ending.join(lines)
    if lines and draw(st.booleans()):
        body += ending
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "utf-8-bom", "utf-16"]))
    if encoding == "utf-8-bom":
        body = b"\xef\xbb\xbf" + body
    elif encoding == "utf-16":
        body = body.decode("utf-8", "replace").encode("utf-16")
    return body


@st.composite
def framed(draw, body: bytes) -> bytes:
    """The body gzipped in one or more members, then maybe cut, corrupted or followed by junk."""
    framing = draw(st.sampled_from(["one", "one", "members", "cut", "trailing", "corrupt", "plain", "empty"]))
    if framing == "plain":
        return body
    if framing == "empty":
        return b""
    if framing == "members" and len(body) > 1:
        at = draw(st.integers(1, len(body) - 1))
        return gzip.compress(body[:at], mtime=0) + gzip.compress(body[at:], mtime=0)
    blob = gzip.compress(body, mtime=0)
    if framing == "cut":
        return blob[: draw(st.integers(0, len(blob) - 1))]
    if framing == "trailing":
        return blob + draw(st.sampled_from([b"\x00" * 16, b"junk\n", b"\x1f\x8b", b"\x1f\x8b\x08\x00broken"]))
    if framing == "corrupt":
        at = draw(st.integers(10, len(blob) - 1))
        return blob[:at] + bytes([blob[at] ^ 0xFF]) + blob[at + 1:]
    return blob


@st.composite
def partition(draw, names, valid: list[bytes], header: bytes | None):
    """Objects of one partition: {relative name: bytes}."""
    count = draw(st.integers(1, 4))
    objects = {}
    for _ in range(count):
        name = draw(names)
        objects[name] = draw(framed(draw(content(valid, header))))
    return objects


def write_partition(root, source: str, objects: dict[str, bytes]) -> None:
    folder = root / partition_key(source, DAY)
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    for name, blob in objects.items():
        path = folder / name
        # "a" and "a/b" drawn together cannot both exist on a disk: the first one written stays.
        if path.is_dir() or any(parent.is_file() for parent in path.parents if folder in parent.parents):
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(blob)
    (folder / SUCCESS_MARKER).touch()


def files_on_disk(root, source: str) -> dict[str, bytes]:
    """Every object of the partition, walked independently of the loader's listing."""
    folder = root / partition_key(source, DAY)
    out = {}
    for dirpath, _, filenames in os.walk(folder):
        for filename in filenames:
            path = os.path.join(dirpath, filename)
            relative = os.path.relpath(path, folder)
            if relative != SUCCESS_MARKER:
                with open(path, "rb") as handle:
                    out[relative] = handle.read()
    return out


def assert_every_object_accounted_for(url: str, root, source: str, valid: list[bytes], csv: bool) -> None:
    on_disk = files_on_disk(root, source)
    with psycopg.connect(url) as conn:
        audit = {row[0]: row[1:] for row in conn.execute(
            "SELECT source_file, status, refusal_reason, file_bytes, file_sha256, lines_read, rows_loaded,"
            " rows_quarantined FROM raw.load_audit WHERE source = %s AND delivery_date = %s", (source, DAY))}
        loaded_per_file = Counter(dict(conn.execute(
            f"SELECT source_file, count(*) FROM raw.{source} WHERE delivery_date = %s GROUP BY 1", (DAY,)).fetchall()))
        quarantined_per_file = Counter(dict(conn.execute(
            "SELECT source_file, count(*) FROM raw.quarantine WHERE source = %s AND delivery_date = %s GROUP BY 1",
            (source, DAY)).fetchall()))
        loaded_records = Counter(r[0] for r in conn.execute(
            f"SELECT record::text FROM raw.{source} WHERE delivery_date = %s", (DAY,)))
    assert set(audit) == set(on_disk), "every object has exactly one audit row"
    expected_valid = Counter()
    for name, blob in on_disk.items():
        status, refusal, size, sha, lines_read, rows_loaded, rows_quarantined = audit[name]
        assert size == len(blob)
        if status == "refused":
            assert refusal and lines_read == rows_loaded == rows_quarantined == 0
            assert loaded_per_file[name] == quarantined_per_file[name] == 0
            continue
        assert sha == hashlib.sha256(blob).hexdigest()
        decoded = decode_object(blob, gzipped=name.endswith(".gz"))
        header = 1 if csv and (decoded.lines or decoded.cut or decoded.undecodable) else 0
        assert lines_read == decoded.records - header == rows_loaded + rows_quarantined
        assert (loaded_per_file[name], quarantined_per_file[name]) == (rows_loaded, rows_quarantined)
        # No valid record lost: every complete line that is a valid record was loaded.
        complete = decoded.lines if decoded.complete_last or not (decoded.cut or decoded.undecodable) \
            else decoded.lines[:-1]
        header_ok = csv and complete and complete[0].rstrip(b"\r") == CSV_HEADER.encode()
        for line in complete[1 if csv else 0:] if (not csv or header_ok) else []:
            if line.rstrip(b"\r") in valid:
                expected_valid[line.rstrip(b"\r")] += 1
    if csv:
        assert sum(loaded_per_file.values()) >= sum(expected_valid.values())
        assert sum(loaded_per_file.values()) == sum(expected_valid.values()), "only valid rows load"
    else:
        as_loaded = Counter({json.dumps(json.loads(line), sort_keys=True): n for line, n in expected_valid.items()})
        got = Counter({json.dumps(json.loads(text), sort_keys=True): n for text, n in loaded_records.items()})
        assert got == as_loaded


FUZZ = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large])


@pytest.mark.parametrize("source, names, valid, header", [
    ("events", names_events, VALID_EVENT_LINES, None),
    ("ad_spend", names_spend, VALID_SPEND_ROWS, CSV_HEADER.encode()),
])
def test_fuzzed_partitions_account_for_every_object_and_lose_no_record(warehouse, tmp_path, source, names, valid,
                                                                       header):
    @FUZZ
    @given(objects=partition(names, valid, header))
    def check(objects):
        write_partition(tmp_path, source, objects)
        load_partition(warehouse, source, DAY, tmp_path)
        assert_every_object_accounted_for(warehouse, tmp_path, source, valid, csv=header is not None)

    check()


def test_a_gzip_bomb_streams_in_bounded_memory(warehouse, tmp_path):
    """A small object that expands a thousandfold is read in capped steps, never whole."""
    import tracemalloc

    line = VALID_EVENT_LINES[0]
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    blob = compressor.compress(b"".join(line + b"\n" for _ in range(200_000))) + compressor.flush()
    write_partition(tmp_path, "events", {"events-0000-001.jsonl.gz": blob})
    tracemalloc.start()
    result = load_partition(warehouse, "events", DAY, tmp_path)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    expanded = 200_000 * (len(line) + 1)
    assert result.rows_loaded == 200_000 and expanded > 50 * len(blob)
    assert peak < expanded / 4, f"peak {peak:,} bytes for {expanded:,} expanded bytes"
