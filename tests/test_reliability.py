"""Reliability under reruns, crashes, a warehouse restart and a missing partition.

Real PostgreSQL and real Airflow (`airflow dags test`): a month of generated deliveries
is loaded and built, then single days are rerun through each DAG; a forecast write is
killed halfway; the warehouse server is stopped while a run is underway; a partition
never arrives.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import psycopg
import pytest

from growthflow.config import OWNER_ROLE, WAREHOUSE_DATABASE, load_settings
from growthflow_tools.generator.generate import generate
from growthflow_tools.generator.settings import GeneratorSettings
from growthflow.landing import SOURCES, delivered_dates
from growthflow.localpg import Credentials, LocalCluster
from growthflow.ltv.writer import publish
from growthflow.migrate import migrate
from growthflow.warehouse import bootstrap_roles_and_databases, postgres_url

from conftest import DEFECTIVE
from growthflow_tools.processes import free_port

from support import airflow_dags_test, asset_events_of_latest_run, dbt, every_table_checksum, load_dates

#: A month of small days: long enough for incremental windows, cohorts and an LTV fit.
MONTH = GeneratorSettings(start=dt.date(2026, 5, 4), days=30, seed=31, daily_new_users=150, campaigns=4)
LTV_MAP = {"GROWTHFLOW_LTV_METHOD": "map"}


def _next_day(day: dt.date) -> str:
    """Logical date of the daily ingest run that processes delivery date ``day``."""
    return (day + dt.timedelta(days=1)).isoformat()


@pytest.fixture(scope="module")
def month(database_factory, tmp_path_factory):
    """30 delivery dates loaded and built as of the last one, and its LTV night published."""
    from growthflow.ltv.job import run_nightly

    root = tmp_path_factory.mktemp("month")
    landing = root / "landing"
    generate(MONTH, landing, root / "truth")
    url = database_factory()
    dates = delivered_dates(landing, "events")
    load_dates(url, landing, dates)
    dbt(url, root, "build")
    with pytest.MonkeyPatch.context() as mp:
        for name, value in LTV_MAP.items():
            mp.setenv(name, value)
        mp.setenv("GROWTHFLOW_ARTIFACTS_DIR", str(root / "artifacts"))
        run_nightly(url, dates[-1], run_id="first_night", progress=lambda line: None)
    return url, landing, dates


def test_rerunning_a_day_of_any_dag_leaves_every_table_unchanged(month, tmp_path):
    url, landing, dates = month
    before = every_table_checksum(url)
    assert before["marts.fct_events"][0] > 50_000 and before["ltv.campaign_forecasts"][0] > 0
    day = dates[len(dates) // 2]
    runs = (
        ("ingest_raw_logs", {"delivery_date": day.isoformat()}, {}),
        ("build_warehouse", {"window_start": day.isoformat()}, {}),
        ("forecast_ltv", {"as_of_date": dates[-1].isoformat()},
         {**LTV_MAP, "GROWTHFLOW_ARTIFACTS_DIR": str(tmp_path)}),
    )
    for dag_id, conf, env in runs:
        result = airflow_dags_test(dag_id, _next_day(dates[-1]), url, landing, conf, env)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        after = every_table_checksum(url)
        assert {t: (before[t], after.get(t)) for t in before if after.get(t) != before[t]} == {}, dag_id
    with psycopg.connect(url) as conn:
        reloaded = conn.execute("SELECT count(*) FROM raw.partition_loads WHERE delivery_date = %s"
                                " AND run_id LIKE 'manual__%%'", (day,)).fetchone()[0]
    assert reloaded == len(SOURCES), "the rerun really reloaded the day"


# -- the LTV write ---------------------------------------------------------------------

def _night(run_id: str, as_of: dt.date) -> dict:
    return {"run_id": run_id, "as_of_date": as_of, "model_version": "test", "status": "published", "reason": None,
            "settings": {}, "data_snapshot": run_id, "customers": 1, "input_rows": 1, "campaigns": 1,
            "diagnostics": {}, "library_versions": {}, "fit_seconds": 1.0, "posterior_path": None}


def _forecasts(revenue: float, campaigns: int = 40) -> pd.DataFrame:
    rows = [{"campaign": f"cmp_{c:04d}", "basis": basis, "horizon_days": h, "users": 100, "expected_purchases": 1.0,
             "revenue_observed": revenue, "revenue_p10": revenue, "revenue_p50": revenue, "revenue_p90": revenue,
             "revenue_per_user_p10": revenue / 100, "revenue_per_user_p50": revenue / 100,
             "revenue_per_user_p90": revenue / 100, "spend": 1.0, "roas_p10": 1.0, "roas_p50": 1.0, "roas_p90": 1.0,
             "payback_day": None}
            for c in range(campaigns) for basis in ("since_acquisition", "from_as_of") for h in (30, 90, 180, 365)]
    return pd.DataFrame(rows)


def _published(url: str, as_of: dt.date) -> tuple:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT count(*), sum(revenue_p50_krw), min(run_id), max(run_id)"
                            " FROM ltv.campaign_forecasts WHERE as_of_date = %s", (as_of,)).fetchone()


WRITER_KILLED_MIDWAY = r"""
import sys, time, pathlib, datetime as dt
sys.path.insert(0, {tests!r})
import growthflow.ltv.writer as writer
from test_reliability import _forecasts, _night
marker, written = pathlib.Path({marker!r}), []
original = writer._clean
def clean_then_stall(value):
    written.append(1)
    if len(written) == 200:  # halfway through the COPY of tonight's rows
        marker.write_text("stalled")
        time.sleep(600)
    return original(value)
writer._clean = clean_then_stall
writer.publish({url!r}, _night("night-2", dt.date(2026, 6, 2)), _forecasts(2000.0))
"""


def test_a_forecast_write_killed_midway_keeps_last_night_readable_and_intact(warehouse, tmp_path):
    as_of = dt.date(2026, 6, 2)
    publish(warehouse, _night("night-1", as_of), _forecasts(1000.0))
    last_night = _published(warehouse, as_of)
    assert last_night == (320, 320_000.0, "night-1", "night-1")
    marker = tmp_path / "stalled"
    code = WRITER_KILLED_MIDWAY.format(tests=str(Path(__file__).parent), marker=str(marker), url=warehouse)
    child = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not marker.exists():
        assert child.poll() is None, child.stderr.read()[-2000:]
        assert time.monotonic() < deadline, "the writer never reached the middle of its COPY"
        time.sleep(0.2)
    assert _published(warehouse, as_of) == last_night, "readers see last night while tonight's rows are written"
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    assert _published(warehouse, as_of) == last_night, "a killed write leaves nothing of tonight behind"
    with psycopg.connect(warehouse) as conn:
        assert conn.execute("SELECT count(*) FROM ltv.model_runs WHERE run_id = 'night-2'").fetchone()[0] == 0
    publish(warehouse, _night("night-2", as_of), _forecasts(2000.0))  # the retry
    assert _published(warehouse, as_of) == (320, 640_000.0, "night-2", "night-2")


# -- a warehouse restart during a run --------------------------------------------------



@pytest.fixture
def own_warehouse_server():
    """A warehouse on a PostgreSQL server of its own, which this test may stop and start
    (the shared test server also holds Airflow's metadata database)."""
    base = load_settings()
    settings = dataclasses.replace(base, home=base.home / "restart-test", pg_port=free_port())
    shutil.rmtree(settings.home, ignore_errors=True)
    cluster = LocalCluster(settings)
    cluster.start()
    creds = Credentials.load_or_create(settings.credentials_file)
    bootstrap_roles_and_databases(cluster.admin_conninfo(), creds)
    url = postgres_url(OWNER_ROLE, creds.owner_password, "127.0.0.1", settings.pg_port, WAREHOUSE_DATABASE)
    migrate(url)
    yield cluster, url
    cluster.stop()
    shutil.rmtree(settings.home, ignore_errors=True)


def test_a_warehouse_restart_during_a_run_fails_tasks_that_retry_and_complete(own_warehouse_server,
                                                                             defective_dataset, tmp_path):
    cluster, url = own_warehouse_server
    landing, _ = defective_dataset
    delivery = DEFECTIVE.start + dt.timedelta(days=3)
    log = tmp_path / "run.log"
    env = dict(os.environ, GROWTHFLOW_LANDING_ROOT=str(landing), GROWTHFLOW_RETRY_DELAY_SECONDS="4",
               PYTHONUNBUFFERED="1", AIRFLOW_CONN_GROWTHFLOW_WAREHOUSE=url.replace("postgresql://", "postgres://", 1))
    with log.open("w") as out:
        run = subprocess.Popen(["airflow", "dags", "test", "ingest_raw_logs", _next_day(delivery)],
                               env=env, stdout=out, stderr=subprocess.STDOUT)
        cluster.stop()  # Airflow takes seconds to start: the run's first tasks meet a stopped server
        deadline = time.monotonic() + 300
        while "cannot connect to the warehouse" not in log.read_text(errors="replace"):
            assert run.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, "no task met the stopped warehouse"
            time.sleep(0.3)
        cluster.start()
        assert run.wait(timeout=900) == 0, log.read_text()[-3000:]
    with psycopg.connect(url) as conn:
        loads = conn.execute("SELECT source, lines_read, rows_loaded + rows_quarantined FROM raw.partition_loads"
                             " WHERE delivery_date = %s ORDER BY source", (delivery,)).fetchall()
    assert sorted(source for source, _, _ in loads) == sorted(SOURCES)
    assert all(read == accounted > 0 for _, read, accounted in loads)
    tries = _load_tries_of_latest_run()
    assert tries and max(tries.values()) >= 2, f"some load failed and was retried: {tries}"


def _load_tries_of_latest_run() -> dict[str, int]:
    url = os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].replace("postgresql+psycopg2://", "postgresql://", 1)
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT ti.task_id, ti.try_number, ti.state FROM task_instance ti WHERE ti.dag_id = 'ingest_raw_logs'"
            " AND ti.run_id = (SELECT run_id FROM dag_run WHERE dag_id = 'ingest_raw_logs' ORDER BY id DESC LIMIT 1)"
            " AND ti.task_id LIKE 'load_%%'").fetchall()
    assert all(state == "success" for _, _, state in rows), rows
    return {task: tries for task, tries, _ in rows}


# -- a partition that never arrives ----------------------------------------------------

def test_a_missing_partition_times_out_with_one_alert_and_publishes_nothing(warehouse, tmp_path):
    never = dt.date(2026, 7, 1)
    (tmp_path / "events" / f"dt={never}").mkdir(parents=True)  # started, never completed: no _SUCCESS
    result = airflow_dags_test("ingest_raw_logs", _next_day(never), warehouse, tmp_path,
                               extra_env={"GROWTHFLOW_PARTITION_TIMEOUT_SECONDS": "6",
                                          "GROWTHFLOW_PARTITION_POKE_SECONDS": "2"}, timeout=600)
    output = result.stdout + result.stderr
    alerts = [line for line in output.splitlines() if "ALERT ingest_raw_logs." in line]
    assert len(alerts) == 1 and "wait_for_partitions" in alerts[0] and "timed out" in alerts[0].lower(), alerts
    assert f"waiting for {never}" in output
    assert asset_events_of_latest_run("ingest_raw_logs") == {}, "nothing downstream may run on stale data"
    with psycopg.connect(warehouse) as conn:
        assert conn.execute("SELECT count(*) FROM raw.partition_loads").fetchone()[0] == 0
