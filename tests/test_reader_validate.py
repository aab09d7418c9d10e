"""Line reading and classification, without a database."""

from __future__ import annotations

import gzip

import pytest

from growthflow.ingest.reader import Break, Undecodable, iter_lines
from growthflow.ingest.validate import CsvLineValidator, JsonLineValidator

GOOD_EVENT = (b'{"event_id":"e1","event_name":"signup","event_time":"2026-03-01T10:00:00+09:00",'
              b'"received_at":"2026-03-01T01:00:05Z","anonymous_id":"a1","user_id":"u1","platform":"ios"}')
GOOD_PAYMENT = (b'{"payment_id":"p1","type":"charge","user_id":"u1","amount":"12000","currency":"KRW",'
                b'"method":"card","product":"credits_10","occurred_at":"2026-03-01T10:00:00+09:00"}')


def lines_of(path, **kw):
    with open(path, "rb") as stream:
        return list(iter_lines(stream, kw.pop("max_line_bytes", 1 << 20), gzipped=str(path).endswith(".gz")))


def test_plain_lines_with_and_without_trailing_newline(tmp_path):
    path = tmp_path / "a.csv"
    path.write_bytes(b"h\nx\n\ny")
    got = [(i.number, i.data) for i in lines_of(path)]
    assert got == [(1, b"h"), (2, b"x"), (3, b""), (4, b"y")]


def test_lines_spanning_chunk_boundaries(tmp_path, monkeypatch):
    import growthflow.ingest.reader as reader

    monkeypatch.setattr(reader, "CHUNK_BYTES", 7)
    path = tmp_path / "a.jsonl.gz"
    content = [b"a" * 20, b"bb", b"", b"c" * 13]
    path.write_bytes(gzip.compress(b"\n".join(content) + b"\n"))
    assert [i.data for i in lines_of(path)] == content


def test_truncated_gzip_keeps_lines_before_the_break(tmp_path):
    body = b"".join(b'{"n":%d}\n' % i for i in range(5000))
    blob = gzip.compress(body)
    path = tmp_path / "t.jsonl.gz"
    path.write_bytes(blob[: len(blob) // 2])
    items = lines_of(path)
    assert isinstance(items[-1], Break) and "truncated" in items[-1].detail
    complete = items[:-1]
    assert 0 < len(complete) < 5000
    assert [i.data for i in complete] == body.split(b"\n")[: len(complete)]
    # The break carries the partial line after the last newline, as its original bytes.
    assert body.split(b"\n")[len(complete)].startswith(items[-1].data)
    assert items[-1].number == len(complete) + 1


def test_corrupt_gzip_keeps_its_bytes_and_their_offset(tmp_path):
    blob = bytearray(gzip.compress(b"x\n" * 1000))
    blob[20:40] = b"\x00" * 20
    path = tmp_path / "c.jsonl.gz"
    path.write_bytes(bytes(blob))
    items = lines_of(path)
    bad = items[-1]
    assert isinstance(bad, Undecodable) and "corrupt gzip data" in bad.detail
    assert bad.offset + bad.length == len(blob) and bytes(blob).endswith(bad.data)
    assert bad.number == len(items)


@pytest.mark.parametrize("trailer", [b"GARBAGE", b"\x00" * 512, b"\x1f", b"\x1f\x8b\x08junk"])
def test_bytes_after_the_last_member_never_cost_the_records_before_them(tmp_path, trailer):
    body = b"".join(b'{"n":%d}\n' % i for i in range(3000))
    path = tmp_path / "g.jsonl.gz"
    path.write_bytes(gzip.compress(body) + trailer)
    items = lines_of(path)
    assert [i.data for i in items[:-1]] == body.split(b"\n")[:-1]
    bad = items[-1]
    # The undecodable bytes run from the first byte zlib refuses to the end of the object.
    assert isinstance(bad, Undecodable) and bad.offset + bad.length == path.stat().st_size
    assert 0 < bad.length <= len(trailer) and trailer.endswith(bad.data)


def test_not_gzip_at_all_is_kept_as_undecodable_bytes(tmp_path):
    path = tmp_path / "plain.jsonl.gz"
    path.write_bytes(b'{"n": 1}\n')
    (item,) = lines_of(path)
    assert isinstance(item, Undecodable) and item.offset == 0 and item.data == b'{"n": 1}\n'


def test_a_byte_order_mark_is_not_content(tmp_path):
    path = tmp_path / "bom.jsonl.gz"
    path.write_bytes(gzip.compress(b"\xef\xbb\xbf{}\r\n{}"))
    assert [i.data for i in lines_of(path)] == [b"{}\r", b"{}"]


def test_concatenated_gzip_members_are_read_whole(tmp_path):
    path = tmp_path / "m.jsonl.gz"
    path.write_bytes(gzip.compress(b"a\nb\n") + gzip.compress(b"c\n"))
    assert [i.data for i in lines_of(path)] == [b"a", b"b", b"c"]


def test_oversized_line_is_capped_but_measured(tmp_path):
    path = tmp_path / "big.jsonl.gz"
    path.write_bytes(gzip.compress(b"x" * 5000 + b"\nok\n"))
    first, second = lines_of(path, max_line_bytes=100)
    assert first.length == 5000 and len(first.data) == 400 and first.oversized
    assert second.data == b"ok"


@pytest.mark.parametrize("line, reason", [
    (GOOD_EVENT, None),
    (b"", "empty_line"),
    (b"   ", "empty_line"),
    (b"\xff" + GOOD_EVENT, "invalid_utf8"),
    (GOOD_EVENT.replace(b'"ios"', b'"io\xc3"'), "invalid_utf8"),
    (GOOD_EVENT[:40], "invalid_json"),
    (b"[1, 2]", "not_an_object"),
    (b'"text"', "not_an_object"),
    (GOOD_EVENT.replace(b'"event_id":"e1",', b""), "missing_field"),
    (GOOD_EVENT.replace(b'"anonymous_id":"a1"', b'"anonymous_id":null'), "missing_field"),
    (GOOD_EVENT.replace(b'"2026-03-01T10:00:00+09:00"', b'"yesterday"'), "bad_type"),
    (GOOD_EVENT.replace(b'"2026-03-01T10:00:00+09:00"', b'"2026-03-01T10:00:00"'), "bad_type"),
    (GOOD_EVENT.replace(b'"ios"', b"3"), "bad_type"),
    (GOOD_EVENT.replace(b'"platform":"ios"', b'"platform":"ios","properties":{"s":"a\\u0000"}'), "unstorable_text"),
    (GOOD_EVENT.replace(b'"platform":"ios"', b'"platform":"ios","x":"\\ud800"'), "unstorable_text"),
    # Well-formed but wrong values are stored and judged downstream:
    (GOOD_EVENT.replace(b'"signup"', b'"push_opened"'), None),
    (GOOD_EVENT.replace(b'"platform":"ios"', b'"platform":"ios","app_version":"1\'; DROP TABLE x;--"'), None),
])
def test_event_line_verdicts(line, reason):
    verdict = JsonLineValidator("events", max_line_bytes=1 << 20).check(line, len(line))
    assert (verdict[0] if verdict else None) == reason


@pytest.mark.parametrize("line, reason", [
    (GOOD_PAYMENT, None),
    (GOOD_PAYMENT.replace(b'"12000"', b'"abc"'), "bad_type"),
    (GOOD_PAYMENT.replace(b'"12000"', b"12000"), "bad_type"),
    (GOOD_PAYMENT.replace(b'"12000"', b'"-5"'), None),  # non-positive: rejected in staging
    (GOOD_PAYMENT.replace(b'"KRW"', b'"JPY"'), None),  # unknown currency: rejected in staging
    (GOOD_PAYMENT.replace(b'"charge"', b'"cancel"'), "missing_field"),  # cancel without its charge id
    (GOOD_PAYMENT.replace(b'"user_id":"u1",', b""), "missing_field"),
])
def test_payment_line_verdicts(line, reason):
    verdict = JsonLineValidator("payments", max_line_bytes=1 << 20).check(line, len(line))
    assert (verdict[0] if verdict else None) == reason


def test_line_too_long_uses_true_length():
    verdict = JsonLineValidator("events", max_line_bytes=100).check(GOOD_EVENT[:50], 5_000_000)
    assert verdict[0] == "line_too_long"


@pytest.mark.parametrize("row, reason", [
    (b"2026-03-01,meta,cmp_0001,Spring,1000,20,12.50,USD", None),
    (b"2026-03-01,meta,cmp_0001,\"Spring, big\",1000,20,12.50,USD", None),
    (b"2026-03-01,meta,cmp_0001,Spring,1000,20,-12.50,USD", None),  # negative: rejected in staging
    (b"2026-03-01,meta,cmp_0001,Spring,1000,20,N/A,USD", "bad_type"),
    (b"2026-03-01,meta,cmp_0001,Spring,1000,20,\"1,234.50\",USD", "bad_type"),
    (b"2026-03-01,meta,cmp_0001,Spring,1000,20", "wrong_column_count"),
    (b"2026-03-01,meta,cmp_0001,Spring,1000,20,1,USD,extra", "wrong_column_count"),
    (b"2026-02-30,meta,cmp_0001,Spring,1000,20,1,USD", "bad_type"),
    (b"2026-03-01,meta,,Spring,1000,20,1,USD", "missing_field"),
    (b"2026-03-01,meta,cmp_0001,Spr\xffing,1000,20,1,USD", "invalid_utf8"),
    (b"", "empty_line"),
])
def test_ad_spend_row_verdicts(row, reason):
    validator = CsvLineValidator("ad_spend", max_line_bytes=1 << 20)
    assert validator.check_header(b"date,channel,campaign_id,campaign_name,impressions,clicks,spend,currency") is None
    record, verdict = validator.parse(row, len(row))
    assert (verdict[0] if verdict else None) == reason
    assert (record is None) == (reason is not None)


def test_bad_csv_header_quarantines_every_row():
    validator = CsvLineValidator("campaigns", max_line_bytes=1 << 20)
    assert validator.check_header(b"id,name")[0] == "bad_header"
    _, verdict = validator.parse(b"cmp_1,x,meta,installs,2026-01-01,", 30)
    assert verdict[0] == "bad_header"
