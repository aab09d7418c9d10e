"""Loading into a real PostgreSQL: every line accounted for, reruns exact, crashes harmless."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from pathlib import Path

import psycopg
import pytest

from growthflow.errors import BadInput
from growthflow.ingest.loader import FAULT_ENV, load_partition
from growthflow.landing import SOURCES, delivered_dates

from conftest import DEFECTIVE
from support import decode_object

RAW_TABLES = ("events", "payments", "ad_spend", "campaigns")


def load_all(url: str, landing: Path) -> None:
    for source in SOURCES:
        for day in delivered_dates(landing, source):
            load_partition(url, source, day, landing)


def count_lines(path: Path) -> int:
    """Records in a landed file, counted by the independent reference reader, not the loader's."""
    n = decode_object(path.read_bytes(), gzipped=path.suffix == ".gz").records
    return n - (1 if path.suffix == ".csv" else 0)  # CSV header is not a record


def checksums(url: str) -> dict[str, str]:
    """Content checksum of every raw table, ignoring load ids and timestamps."""
    out = {}
    with psycopg.connect(url) as conn:
        for table in RAW_TABLES:
            out[table] = conn.execute(
                f"SELECT md5(coalesce(string_agg(delivery_date || source_file || line_number || record::text, '|'"
                f" ORDER BY delivery_date, source_file, line_number), '')) FROM raw.{table}").fetchone()[0]
        out["quarantine"] = conn.execute(
            "SELECT md5(coalesce(string_agg(source || delivery_date || source_file || line_number || reason"
            " || encode(raw_line, 'hex'), '|' ORDER BY source, delivery_date, source_file, line_number), ''))"
            " FROM raw.quarantine").fetchone()[0]
        out["audit"] = conn.execute(
            "SELECT md5(coalesce(string_agg(concat_ws(',', source, delivery_date, source_file, file_sha256, lines_read,"
            " rows_loaded, rows_quarantined, truncated), '|' ORDER BY source, delivery_date, source_file), ''))"
            " FROM raw.load_audit").fetchone()[0]
    return out


@pytest.fixture(scope="module")
def loaded(warehouse, defective_dataset):
    landing, truth = defective_dataset
    load_all(warehouse, landing)
    return warehouse, landing, truth


def test_every_file_balances_against_an_independent_line_count(loaded):
    url, landing, _ = loaded
    with psycopg.connect(url) as conn:
        audit = {(s, str(d), f): (r, l, q) for s, d, f, r, l, q in conn.execute(
            "SELECT source, delivery_date, source_file, lines_read, rows_loaded, rows_quarantined FROM raw.load_audit")}
        actual_loaded = Counter()
        for table in RAW_TABLES:
            for d, f, n in conn.execute(f"SELECT delivery_date, source_file, count(*) FROM raw.{table} GROUP BY 1, 2"):
                actual_loaded[(table, str(d), f)] = n
        actual_quarantined = Counter({(s, str(d), f): n for s, d, f, n in conn.execute(
            "SELECT source, delivery_date, source_file, count(*) FROM raw.quarantine GROUP BY 1, 2, 3")})
    files = [p for source in SOURCES for p in (landing / source).rglob("*") if p.name != "_SUCCESS" and p.is_file()]
    assert len(audit) == len(files) > 20
    for path in files:
        key = (path.parent.parent.name, path.parent.name[3:], path.name)
        lines_read, rows_loaded, rows_quarantined = audit[key]
        assert lines_read == count_lines(path), key
        assert rows_loaded == actual_loaded[key], key
        assert rows_quarantined == actual_quarantined[key], key
        assert lines_read == rows_loaded + rows_quarantined, key


def test_each_manifest_defect_is_quarantined_or_loaded_as_expected(loaded):
    url, _, truth = loaded
    entries = [json.loads(line) for line in (truth / "defects.jsonl").read_text().splitlines()]
    with psycopg.connect(url) as conn:
        quarantined = {(s, str(d), f, n): r for s, d, f, n, r in conn.execute(
            "SELECT source, delivery_date, source_file, line_number, reason FROM raw.quarantine")}
        stored = set()
        for table in RAW_TABLES:
            stored |= {(table, str(d), f, n) for d, f, n in conn.execute(
                f"SELECT delivery_date, source_file, line_number FROM raw.{table}")}
    checked = Counter()
    for entry in entries:
        key = (entry["source"], entry["delivery_date"], entry["file"], entry["line"])
        action, _, reason = entry["expected"].partition(":")
        if action == "quarantine":
            assert quarantined.get(key) == reason, entry
        elif action in ("reject", "duplicate", "load"):
            assert key in stored and key not in quarantined, entry
        checked[entry["kind"]] += 1
    assert len(checked) >= 22  # every line-level kind the generator injects


def test_quarantine_keeps_original_bytes(loaded):
    url, landing, _ = loaded
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT source, delivery_date, source_file, line_number, raw_line, raw_bytes"
                            " FROM raw.quarantine WHERE reason IN ('invalid_utf8', 'invalid_json') LIMIT 20").fetchall()
    assert rows
    for source, day, name, number, raw_line, raw_bytes in rows:
        path = landing / source / f"dt={day}" / name
        original = decode_object(path.read_bytes(), gzipped=path.suffix == ".gz").lines[number - 1]
        assert bytes(raw_line) == original and raw_bytes == len(original)


def test_hostile_text_is_stored_verbatim(loaded):
    url, _, truth = loaded
    injected = [json.loads(line) for line in (truth / "defects.jsonl").read_text().splitlines()
                if '"injection_text"' in line]
    with psycopg.connect(url) as conn:
        screens = [r[0] for r in conn.execute(
            "SELECT record->'properties'->>'screen' FROM raw.events WHERE record->>'event_id' = ANY(%s)",
            ([e["key"] for e in injected],))]
        assert conn.execute("SELECT to_regclass('raw.events')").fetchone()[0] == "raw.events"
    assert len(screens) >= len(injected) > 0
    assert any("DROP TABLE" in s or "rm -rf" in s for s in screens)


def test_a_file_name_with_sql_and_shell_text_is_stored_as_data(database_factory, loaded, tmp_path):
    """Hostile file names reach SQL only as bound parameters, and no shell: the contract does not
    allow the name, so the object is refused and its name kept verbatim in the audit."""
    import shutil

    _, landing, _ = loaded
    url = database_factory()
    day = DEFECTIVE.start
    copy = tmp_path / "landing"
    shutil.copytree(landing / "events" / f"dt={day}", copy / "events" / f"dt={day}")
    hostile = "events-x'); DROP TABLE raw.events; --$(touch pwned)`touch pwned`;touch pwned.jsonl.gz"
    first = sorted((copy / "events" / f"dt={day}").glob("events-*.jsonl.gz"))[0]
    first.rename(first.with_name(hostile))
    load_partition(url, "events", day, copy)
    with psycopg.connect(url) as conn:
        names = {r[0] for r in conn.execute("SELECT DISTINCT source_file FROM raw.events")}
        audited = dict(conn.execute("SELECT source_file, refusal_reason FROM raw.load_audit").fetchall())
        assert conn.execute("SELECT to_regclass('raw.events') IS NOT NULL").fetchone()[0]
    assert audited[hostile] == "name_not_allowed" and hostile not in names and len(names) == len(audited) - 1
    assert not (Path.cwd() / "pwned").exists() and not (copy / "events" / f"dt={day}" / "pwned").exists()


@pytest.mark.parametrize("source, day", [("../../etc", dt.date(2026, 3, 1)), ("events", "2026-03-01/../../x"),
                                         ("events", "2026-03-01'; DROP TABLE raw.events; --")])
def test_only_a_known_source_and_a_real_date_become_a_path(warehouse, source, day):
    with pytest.raises(BadInput, match="unknown source|not a date"):
        load_partition(warehouse, source, day, Path("/nonexistent"))


def test_rerunning_a_date_leaves_every_table_identical(loaded):
    url, landing, _ = loaded
    before = checksums(url)
    day = DEFECTIVE.start + dt.timedelta(days=2)
    for source in SOURCES:
        load_partition(url, source, day, landing)
    assert checksums(url) == before


def test_a_load_that_dies_before_commit_leaves_nothing_and_the_retry_matches(loaded, monkeypatch):
    url, landing, _ = loaded
    before = checksums(url)
    day = DEFECTIVE.start + dt.timedelta(days=1)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("TRUNCATE raw.events_20260302")  # make the partition differ from a clean load
        conn.execute("DELETE FROM raw.quarantine WHERE source = 'events' AND delivery_date = %s", (day,))
        conn.execute("DELETE FROM raw.load_audit WHERE source = 'events' AND delivery_date = %s", (day,))
    emptied = checksums(url)
    monkeypatch.setenv(FAULT_ENV, "after_copy")
    with pytest.raises(RuntimeError, match="injected failure"):
        load_partition(url, "events", day, landing)
    assert checksums(url) == emptied, "a failed attempt leaves the previous state untouched"
    monkeypatch.delenv(FAULT_ENV)
    load_partition(url, "events", day, landing)
    assert checksums(url) == before


def test_two_dates_loaded_concurrently_equal_sequential(database_factory, defective_dataset):
    from concurrent.futures import ThreadPoolExecutor

    landing, _ = defective_dataset
    sequential, parallel = database_factory(), database_factory()
    days = delivered_dates(landing, "events")[:2]
    for day in days:
        load_partition(sequential, "events", day, landing)
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda d: load_partition(parallel, "events", d, landing), days))
    assert checksums(sequential) == checksums(parallel)


def test_incomplete_partition_is_a_clear_error(warehouse, tmp_path):
    (tmp_path / "events" / "dt=2026-01-01").mkdir(parents=True)
    with pytest.raises(BadInput, match="no _SUCCESS marker"):
        load_partition(warehouse, "events", dt.date(2026, 1, 1), tmp_path)


def test_database_constraint_rejects_unbalanced_audit(warehouse):
    with psycopg.connect(warehouse) as conn, pytest.raises(psycopg.errors.CheckViolation):
        conn.execute("INSERT INTO raw.load_audit (source, delivery_date, source_file, load_id, file_bytes,"
                     " file_sha256, lines_read, rows_loaded, rows_quarantined) VALUES"
                     " ('events', '2026-01-01', 'x', gen_random_uuid(), 1, 'x', 10, 5, 4)")


@pytest.mark.parametrize("name, reason", [
    ("late/events-0000-001.jsonl.gz", "nested_object"),
    ("events-0000-001.jsonl.zst", "unknown_compression"),
    ("events.jsonl.gz", "name_not_allowed"),
    ("events-0000-001.jsonl.gz", None),
])
def test_every_refusal_reason_has_its_explanation_beside_it(name, reason):
    from growthflow.landing import REFUSALS, refusal_reason

    assert refusal_reason("events", name) == reason
    assert reason is None or REFUSALS[reason]
