"""Load one source's delivery-date partition into ``raw.*``, all or nothing.

One transaction per (source, delivery date): truncate that date's partition,
clear its quarantine and audit rows, stream and COPY every object, write the
audit, check that every object balances (lines read = loaded + quarantined),
commit. A rerun replaces the date exactly; an attempt that dies midway leaves
the previous state untouched, because nothing is visible before the commit.

Every object of the partition but the ``_SUCCESS`` marker gets one audit row:
``loaded``, or ``refused`` with a reason (a name the contract does not allow,
an unknown compression, an object that cannot be read). Objects are streamed:
nothing is downloaded whole, and each is hashed (SHA-256) as it streams by.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

from psycopg import sql

from growthflow.config import load_settings
from growthflow.errors import BadInput, ServiceUnavailable
from growthflow.ingest.reader import Break, Tally, Undecodable, iter_lines
from growthflow.ingest.records import JSON_SOURCES
from growthflow.ingest.validate import CsvLineValidator, JsonLineValidator
from growthflow.landing import REFUSALS, SOURCES, LandedObject, partition_dir, partition_objects, partition_ready
from growthflow.warehouse import connect

log = logging.getLogger(__name__)

_BATCH_BYTES = 4 << 20

#: Set to a stage name to make the load fail there (used by the crash tests):
#: ``after_copy`` raises after every row is written but before the commit.
FAULT_ENV = "GROWTHFLOW_INJECT_FAULT"


@dataclass
class FileLoad:
    source_file: str
    file_bytes: int
    object_url: str
    object_version: str | None = None
    file_sha256: str | None = None
    lines_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    truncated: bool = False
    refusal: str | None = None  #: why the object was not loaded at all
    refusal_detail: str | None = None
    reasons: Counter = field(default_factory=Counter)

    @property
    def status(self) -> str:
        return "refused" if self.refusal else "loaded"

    @property
    def balanced(self) -> bool:
        return self.lines_read == self.rows_loaded + self.rows_quarantined


@dataclass
class PartitionLoad:
    source: str
    delivery_date: dt.date
    load_id: str
    files: list[FileLoad]
    seconds: float

    @property
    def lines_read(self) -> int:
        return sum(f.lines_read for f in self.files)

    @property
    def rows_loaded(self) -> int:
        return sum(f.rows_loaded for f in self.files)

    @property
    def rows_quarantined(self) -> int:
        return sum(f.rows_quarantined for f in self.files)

    @property
    def reasons(self) -> Counter:
        total: Counter = Counter()
        for f in self.files:
            total.update(f.reasons)
        return total

    @property
    def refused(self) -> list[FileLoad]:
        return [f for f in self.files if f.refusal]

    def summary(self) -> str:
        reasons = ", ".join(f"{k} {v}" for k, v in self.reasons.most_common()) or "none"
        refused = ""
        if self.refused:
            refused = "; refused " + ", ".join(f"{f.source_file} ({f.refusal})" for f in self.refused[:5])
            refused += f" and {len(self.refused) - 5} more" if len(self.refused) > 5 else ""
        return (f"{self.source} {self.delivery_date}: {len(self.files) - len(self.refused)} files, "
                f"{self.lines_read:,} lines, {self.rows_loaded:,} loaded, {self.rows_quarantined:,} quarantined "
                f"({reasons}){refused} in {self.seconds:.1f}s")


def _copy_escape(value: bytes) -> bytes:
    """Escape a value for COPY's text format (backslash, tab, CR, LF)."""
    if b"\\" in value:
        value = value.replace(b"\\", b"\\\\")
    if b"\t" in value:
        value = value.replace(b"\t", b"\\t")
    if b"\r" in value:
        value = value.replace(b"\r", b"\\r")
    if b"\n" in value:
        value = value.replace(b"\n", b"\\n")
    return value


class _Quarantine:
    """Quarantined lines spooled to disk, then COPYed after the file (bounded memory)."""

    def __init__(self, source: str, delivery_date: dt.date, source_file: str, load_id: str):
        self._prefix = "\t".join((source, delivery_date.isoformat(), source_file)).encode() + b"\t"
        self._load_id = load_id.encode()
        self.spool = tempfile.SpooledTemporaryFile(max_size=16 << 20)
        self.count = 0

    def add(self, line_number: int, reason: str, detail: str, data: bytes, length: int) -> None:
        self.count += 1
        detail_b = _copy_escape(detail.encode("utf-8", errors="replace"))
        self.spool.write(b"".join((
            self._prefix, str(line_number).encode(), b"\t", self._load_id, b"\t", reason.encode(), b"\t",
            detail_b, b"\t\\\\x", data.hex().encode(), b"\t", str(length).encode(), b"\n",
        )))

    def copy_into(self, cursor) -> None:
        if not self.count:
            return
        self.spool.seek(0)
        with cursor.copy(
            "COPY raw.quarantine (source, delivery_date, source_file, line_number, load_id, reason, detail,"
            " raw_line, raw_bytes) FROM STDIN"
        ) as copy:
            while chunk := self.spool.read(_BATCH_BYTES):
                copy.write(chunk)


def _load_object(cursor, partition: sql.Composable, source: str, delivery_date: dt.date, obj: LandedObject,
                 load_id: str, max_line_bytes: int) -> FileLoad:
    """Stream one object into the partition and the quarantine; refuse it if it cannot be opened."""
    result = FileLoad(source_file=obj.name, file_bytes=obj.size, object_url=obj.url, object_version=obj.version)
    if obj.refusal:
        result.refusal, result.refusal_detail = obj.refusal, REFUSALS[obj.refusal]
        return result
    try:
        stream = obj.open()
    except (PermissionError, FileNotFoundError, IsADirectoryError) as exc:
        result.refusal, result.refusal_detail = "unreadable", f"{type(exc).__name__}: {str(exc)[:200]}"
        return result
    with stream:
        tally = Tally(stream)
        try:
            _copy_lines(cursor, partition, source, delivery_date, tally, obj, load_id, max_line_bytes, result)
            tally.drain()
        except OSError as exc:
            raise ServiceUnavailable(f"{obj.url}: reading failed after {tally.bytes:,} bytes ({str(exc)[:200]}); "
                                     "the load was rolled back, rerun it") from None
    result.file_bytes, result.file_sha256 = tally.bytes, tally.sha256
    return result


def _copy_lines(cursor, partition: sql.Composable, source: str, delivery_date: dt.date, stream, obj: LandedObject,
                load_id: str, max_line_bytes: int, result: FileLoad) -> None:
    quarantine = _Quarantine(source, delivery_date, obj.name, load_id)
    prefix = "\t".join((delivery_date.isoformat(), obj.name)).encode() + b"\t"
    suffix_load = b"\t" + load_id.encode() + b"\t"
    is_json = source in JSON_SOURCES  # the line format of each source: ingest.records
    json_validator = JsonLineValidator(source, max_line_bytes) if is_json else None
    csv_validator = None if is_json else CsvLineValidator(source, max_line_bytes)
    copy_sql = sql.SQL("COPY {} (delivery_date, source_file, line_number, load_id, record) FROM STDIN (FREEZE)").format(partition)

    batch: list[bytes] = []
    batch_bytes = 0
    loaded = 0
    header_seen = is_json
    with cursor.copy(copy_sql) as copy:
        for item in iter_lines(stream, max_line_bytes, gzipped=obj.gzipped):
            if isinstance(item, (Break, Undecodable)):
                # The readable lines before this point are kept; what follows cannot be decoded.
                reason = "truncated_file" if isinstance(item, Break) else "undecodable_bytes"
                result.truncated = True
                result.lines_read += 1
                quarantine.add(item.number, reason, item.detail, item.data, item.length)
                result.reasons[reason] += 1
                continue
            if not header_seen:
                # CSV header: checked, not counted as a data line.
                header_seen = True
                verdict = csv_validator.check_header(item.data)
                if verdict:
                    log.warning("%s: %s", obj.name, verdict[1])
                continue
            result.lines_read += 1
            if is_json:
                verdict = json_validator.check(item.data, item.length)
                record = item.data if verdict is None else None
            else:
                row, verdict = csv_validator.parse(item.data, item.length)
                record = json.dumps(row, ensure_ascii=False).encode() if verdict is None else None
            if verdict is not None:
                quarantine.add(item.number, verdict[0], verdict[1], item.data, item.length)
                result.reasons[verdict[0]] += 1
                continue
            row_bytes = b"".join((prefix, str(item.number).encode(), suffix_load, _copy_escape(record), b"\n"))
            batch.append(row_bytes)
            batch_bytes += len(row_bytes)
            loaded += 1
            if batch_bytes >= _BATCH_BYTES:
                copy.write(b"".join(batch))
                batch, batch_bytes = [], 0
        if batch:
            copy.write(b"".join(batch))
    quarantine.copy_into(cursor)
    result.rows_loaded = loaded
    result.rows_quarantined = quarantine.count


def load_partition(conninfo: str, source: str, delivery_date: dt.date, landing_root, *,
                   run_id: str | None = None, max_line_bytes: int = 1_048_576,
                   conn_id: str | None = None) -> PartitionLoad:
    """Replace ``raw.<source>``'s rows for ``delivery_date`` with the landed objects.

    ``landing_root`` is a local folder or a URL (``s3://bucket/prefix``); ``conn_id`` names the
    Airflow connection with its credentials (None: the standard AWS variables).
    """
    if source not in SOURCES:
        raise BadInput(f"unknown source {source!r}; expected one of {', '.join(SOURCES)}")
    if not partition_ready(landing_root, source, delivery_date, conn_id):
        raise BadInput(
            f"{partition_dir(landing_root, source, delivery_date, conn_id)} has no _SUCCESS marker: the partition "
            "is not complete; wait for the delivery or check GROWTHFLOW_LANDING_ROOT"
        )
    objects = partition_objects(landing_root, source, delivery_date, conn_id)
    load_id = str(uuid.uuid4())
    started = time.monotonic()
    with connect(conninfo, autocommit=True) as conn:
        # Creating the partition is DDL on the parent: done and committed on its own.
        partition_name = conn.execute("SELECT raw.ensure_partition(%s, %s)", (source, delivery_date)).fetchone()[0]
        schema, _, table = partition_name.partition(".")
        partition = sql.Identifier(schema, table.strip('"'))
        with conn.transaction():
            # Serialise loads of the same partition; different dates run in parallel.
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"raw.{source}/{delivery_date}",))
            conn.execute(sql.SQL("TRUNCATE {}").format(partition))
            for table_name in ("quarantine", "load_audit", "partition_loads"):
                conn.execute(
                    sql.SQL("DELETE FROM raw.{} WHERE source = %s AND delivery_date = %s").format(sql.Identifier(table_name)),
                    (source, delivery_date),
                )
            loads: list[FileLoad] = []
            with conn.cursor() as cursor:
                for obj in objects:
                    file_started = time.monotonic()
                    file_load = _load_object(cursor, partition, source, delivery_date, obj, load_id, max_line_bytes)
                    loads.append(file_load)
                    if file_load.refusal:
                        log.warning("%s/%s: refused (%s): %s", source, obj.name, file_load.refusal,
                                    file_load.refusal_detail)
                    else:
                        log.info("%s/%s: %s lines, %s loaded, %s quarantined%s in %.1fs", source, obj.name,
                                 f"{file_load.lines_read:,}", f"{file_load.rows_loaded:,}",
                                 f"{file_load.rows_quarantined:,}", " (truncated)" if file_load.truncated else "",
                                 time.monotonic() - file_started)
                    if not file_load.balanced:
                        raise BadInput(f"{obj.url}: counts do not balance ({file_load.lines_read} read, "
                                       f"{file_load.rows_loaded} loaded, {file_load.rows_quarantined} quarantined)")
                    cursor.execute(
                        "INSERT INTO raw.load_audit (source, delivery_date, source_file, load_id, file_bytes,"
                        " file_sha256, lines_read, rows_loaded, rows_quarantined, truncated, object_url,"
                        " object_version, status, refusal_reason, refusal_detail)"
                        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                        (source, delivery_date, obj.name, load_id, file_load.file_bytes, file_load.file_sha256,
                         file_load.lines_read, file_load.rows_loaded, file_load.rows_quarantined, file_load.truncated,
                         file_load.object_url, file_load.object_version, file_load.status, file_load.refusal,
                         file_load.refusal_detail),
                    )
            result = PartitionLoad(source, delivery_date, load_id, loads, time.monotonic() - started)
            _verify_in_database(conn, partition, result)
            conn.execute(
                "INSERT INTO raw.partition_loads (source, delivery_date, load_id, run_id, files, lines_read,"
                " rows_loaded, rows_quarantined, seconds, objects_refused)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (source, delivery_date, load_id, run_id, len(loads) - len(result.refused), result.lines_read,
                 result.rows_loaded, result.rows_quarantined, round(result.seconds, 3), len(result.refused)),
            )
            _injected_fault(source, delivery_date)
    log.info("%s", result.summary())
    return result


def _injected_fault(source: str, delivery_date: dt.date) -> None:
    """Test hooks, at the last moment before the commit (every row written):
    ``after_copy`` fails every load; ``hold:<source>:<date>:<seconds>`` keeps that one
    partition's transaction open, so a test can kill the process that holds it."""
    fault = load_settings().inject_fault or ""
    if fault == "after_copy":
        raise RuntimeError(f"{FAULT_ENV}=after_copy: injected failure before commit")
    if fault.startswith("hold:"):
        _, held_source, held_date, seconds = fault.split(":")
        if (held_source, held_date) == (source, delivery_date.isoformat()):
            log.info("%s: holding the transaction of %s %s open for %s s", FAULT_ENV, source, delivery_date, seconds)
            time.sleep(float(seconds))


def _verify_in_database(conn, partition: sql.Composable, result: PartitionLoad) -> None:
    """Count what the transaction actually wrote, not what we think we wrote."""
    loaded = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(partition)).fetchone()[0]
    quarantined = conn.execute(
        "SELECT count(*) FROM raw.quarantine WHERE source = %s AND delivery_date = %s",
        (result.source, result.delivery_date),
    ).fetchone()[0]
    if loaded != result.rows_loaded or quarantined != result.rows_quarantined:
        raise BadInput(
            f"{result.source} {result.delivery_date}: the database holds {loaded} loaded and {quarantined} "
            f"quarantined rows, the loader counted {result.rows_loaded} and {result.rows_quarantined}"
        )
