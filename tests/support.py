"""Helpers shared by test modules: load generated deliveries, run dbt and Airflow, checksum tables."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import zlib
from dataclasses import dataclass
from pathlib import Path

import psycopg

from growthflow.config import PROJECT_ROOT
from growthflow.connections import WAREHOUSE_CONN_ID
from growthflow.dbt_runner import run_dbt
from growthflow.ingest.loader import load_partition
from growthflow.landing import SOURCES
from growthflow_tools.checksums import every_table_checksum  # noqa: F401 - the tests import it from here


@dataclass
class Decoded:
    """A landed object read independently of the loader: its lines, and how its stream ended."""

    lines: list[bytes]  #: complete lines, then the partial last line if the content does not end in a newline
    cut: bool  #: a gzip stream ends before its end-of-stream marker
    undecodable: int  #: bytes from the first byte that cannot be decoded to the end

    @property
    def records(self) -> int:
        """What the loader must account for: every line, plus one row for a cut stream (with the
        partial line it holds) or one for the undecodable bytes (plus the partial line, if any)."""
        n = len(self.lines)
        partial = 1 if (self.cut or self.undecodable) and self.lines and not self.complete_last else 0
        if self.cut:
            return n - partial + 1
        if self.undecodable:
            return n + 1
        return n

    complete_last: bool = True


def decode_object(blob: bytes, gzipped: bool) -> Decoded:
    """Independent reference reader: whole-blob zlib, member by member, replaying byte by byte only
    to find where a corrupt member stops decoding. Memory is no concern here (test data is small)."""
    content, cut, undecodable, pos = [], False, 0, 0
    if not gzipped:
        content.append(blob)
    elif not blob:
        cut = True
    while gzipped and pos < len(blob):
        if blob[pos:pos + 2] != b"\x1f\x8b":
            undecodable = len(blob) - pos
            break
        member = zlib.decompressobj(wbits=31)
        try:
            content.append(member.decompress(blob[pos:]))
        except zlib.error:
            member, i = zlib.decompressobj(wbits=31), pos
            while True:
                try:
                    content.append(member.decompress(blob[i:i + 1]))
                except zlib.error:
                    undecodable = len(blob) - i
                    break
                i += 1
            break
        if not member.eof:
            content.append(member.flush())
            cut = True
            break
        pos = len(blob) - len(member.unused_data)
    text = b"".join(content)
    if text.startswith(b"\xef\xbb\xbf"):
        text = text[3:]
    lines = text.split(b"\n")
    complete_last = lines[-1] == b""
    if complete_last:
        lines.pop()
    return Decoded(lines, cut, undecodable, complete_last)


def dbt(url: str, tmp: Path, *args: str, window_start: str | None = None) -> str:
    result = run_dbt(url, *args, capture=True, target_path=tmp / "dbt-target", window_start=window_start)
    assert result.returncode == 0, result.stdout[-4000:]
    return result.stdout


def load_dates(url: str, landing: Path, dates: list[dt.date]) -> None:
    for day in dates:
        for source in SOURCES:
            load_partition(url, source, day, landing)


def airflow_dags_test(dag_id: str, logical: str, warehouse_url: str, landing: Path, conf: dict | None = None,
                      extra_env: dict | None = None, timeout: int = 900) -> subprocess.CompletedProcess:
    """`airflow dags test DAG DATE [-c CONF]` with the warehouse connection pointed at ``warehouse_url``."""
    env = dict(os.environ, GROWTHFLOW_LANDING_ROOT=str(landing), **(extra_env or {}))
    env[f"AIRFLOW_CONN_{WAREHOUSE_CONN_ID.upper()}"] = warehouse_url.replace("postgresql://", "postgres://", 1)
    cmd = ["airflow", "dags", "test", dag_id, logical]
    if conf:
        cmd += ["-c", json.dumps(conf, default=str)]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, cwd=PROJECT_ROOT)


def asset_events_of_latest_run(dag_id: str) -> dict[str, dict]:
    """Asset events the newest run of ``dag_id`` emitted, read from Airflow's metadata database."""
    url = os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].replace("postgresql+psycopg2://", "postgresql://", 1)
    with psycopg.connect(url) as conn:
        (run_id,) = conn.execute("SELECT run_id FROM dag_run WHERE dag_id = %s ORDER BY id DESC LIMIT 1",
                                 (dag_id,)).fetchone()
        rows = conn.execute("SELECT a.name, e.extra FROM asset_event e JOIN asset a ON a.id = e.asset_id"
                            " WHERE e.source_dag_id = %s AND e.source_run_id = %s", (dag_id, run_id)).fetchall()
    return {name: extra for name, extra in rows}


def straight_through(url: str, landing: Path, dates: list[dt.date], tmp_path: Path) -> str:
    """The landing zone's ``dates`` loaded, built and forecast (MAP) without Airflow, in ``url``."""
    import pytest

    from growthflow.ltv.job import run_nightly

    load_dates(url, landing, dates)
    dbt(url, tmp_path, "build")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GROWTHFLOW_LTV_METHOD", "map")
        mp.setenv("GROWTHFLOW_ARTIFACTS_DIR", str(tmp_path / "artifacts"))
        run_nightly(url, dates[-1], run_id="reference", progress=lambda line: None)
    return url
