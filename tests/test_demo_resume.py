"""The main command resumes: stopped while its backfill runs and run again, it follows the
backfill that is still running, leaves the landing zone alone, and ends with the tables an uninterrupted run
gives; a third run changes nothing.

The real command (`growthflow demo`) against a real Airflow stack (scheduler,
LocalExecutor, backfill) on a metadata database of its own, without the BI server.
"""

from __future__ import annotations

import datetime as dt
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from growthflow.schedule import latest_complete_delivery_date

from growthflow_tools.isolated_stack import isolated_stack_env, metadata_url

from support import every_table_checksum, straight_through

pytestmark = pytest.mark.airflow

DAYS, USERS, SEED = 4, 250, 11


@pytest.fixture(scope="module")
def demo_env(database_factory, targets):
    """Environment for `growthflow demo` on a warehouse, Airflow home and metadata DB of its own."""
    with isolated_stack_env(database_factory(), targets.admin_conninfo, targets.owner_url) as env:
        yield env


def _demo(env: dict, log: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "growthflow_tools.cli", "demo", "--days", str(DAYS), "--daily-new-users", str(USERS),
           "--seed", str(SEED), "--no-bi"]
    # The test stops it as Ctrl-C would. A shell starts background jobs with SIGINT ignored, and
    # a child inherits that: restore the default so the test does not depend on how it was launched.
    return subprocess.Popen(cmd, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def _landed_files(landing: Path) -> dict[str, int]:
    return {str(p.relative_to(landing)): p.stat().st_mtime_ns for p in landing.rglob("*") if p.is_file()}


def test_the_main_command_resumes_after_being_stopped_and_changes_nothing_when_run_again(demo_env, database_factory,
                                                                                          tmp_path):
    warehouse, landing = demo_env["WAREHOUSE_URL"], Path(demo_env["GROWTHFLOW_HOME"]) / "landing"

    # 1. Stopped partway: as soon as the backfill is under way.
    first = _demo(demo_env, tmp_path / "first.log")
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and first.poll() is None:
        if "backfill of ingest_raw_logs created" in (tmp_path / "first.log").read_text():
            break
        time.sleep(0.5)
    assert first.poll() is None, (tmp_path / "first.log").read_text()[-3000:]
    first.send_signal(signal.SIGINT)
    assert first.wait(timeout=60) == 130
    with psycopg.connect(metadata_url(demo_env)) as conn:
        unfinished = conn.execute("select count(*) from dag_run where dag_id = 'ingest_raw_logs'"
                                  " and state in ('queued', 'running')").fetchone()[0]
    assert unfinished, "the backfill had finished before the command was stopped: nothing to resume"
    files = _landed_files(landing)
    assert files and not [name for name in files if name.endswith(".partial")]

    # 2. Run again: the landing zone is left as it is, the running backfill followed to the end.
    second = _demo(demo_env, tmp_path / "second.log")
    assert second.wait(timeout=1500) == 0, (tmp_path / "second.log").read_text()[-4000:]
    output = (tmp_path / "second.log").read_text()
    assert "left as it is" in output and "generating raw logs" not in output
    assert "following backfill" in output
    assert _landed_files(landing) == files
    assert "time per stage:" in output

    # 3. The tables equal an uninterrupted load, build and forecast of the same landing zone.
    reference = _reference(database_factory(), landing, tmp_path)
    assert every_table_checksum(warehouse) == every_table_checksum(reference)

    # 4. A third run loads, builds and fits nothing.
    third = _demo(demo_env, tmp_path / "third.log")
    assert third.wait(timeout=600) == 0, (tmp_path / "third.log").read_text()[-3000:]
    output = (tmp_path / "third.log").read_text()
    assert "no backfill" in output and "built and forecast through" in output
    with psycopg.connect(warehouse) as conn:
        loads = conn.execute("select count(*) from raw.partition_loads").fetchone()[0]
    assert loads == DAYS * 4


def _reference(url: str, landing: Path, tmp_path: Path) -> str:
    """The same landing zone loaded, built and forecast straight through, in a fresh database."""
    end = latest_complete_delivery_date()
    return straight_through(url, landing, [end - dt.timedelta(days=DAYS - 1 - i) for i in range(DAYS)], tmp_path)
