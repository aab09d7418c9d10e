"""The same DAGs on Airflow's CeleryExecutor, end to end: the main command with
``GROWTHFLOW_EXECUTOR=celery`` runs a project-local Redis and two real `airflow celery worker`
processes. While its 7-day backfill runs:

1. the worker running one load, caught with the load's rows written and its transaction not
   yet committed, is killed with SIGKILL (its task process too, as when a machine dies), and
   `bin/growthflow up` starts it again;
2. Redis is stopped and started again.

The run must still complete, and its tables must equal a straight-through run of the same
landing zone: nothing partial, nothing twice. Every task of the run is traced to the worker
that ran it through the Celery result backend in the metadata database. At the end
`up --flower` adds Flower to the running stack.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from growthflow.config import load_settings
from growthflow.schedule import latest_complete_delivery_date
from growthflow_tools.airflow_env import ADMIN_USER, admin_password
from growthflow_tools.isolated_stack import environment, isolated_stack_env, metadata_url
from growthflow_tools.processes import free_port
from growthflow_tools.redis_server import LocalRedis

from support import every_table_checksum, straight_through

pytestmark = [pytest.mark.airflow, pytest.mark.celery]

DAYS, USERS, SEED = 7, 250, 11
HOLD_SECONDS = 20


@dataclass
class CeleryRun:
    env: dict
    returncode: int
    output: str
    dates: list[dt.date]
    held: dict  #: the load whose worker was killed: run_id, worker, what was committed right after
    redis: dict  #: pids before and after the restart, unfinished runs at that moment, when
    flower: dict  #: what Flower answered, with and without the login


def _cli(env: dict, *args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "growthflow_tools.cli", *args], env=env, capture_output=True,
                          text=True, **kwargs)


def _stat(pid: int) -> tuple[int, int]:
    """(parent pid, process group) of a process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[1]), int(fields[2])


def _wait_for(condition, what: str, demo: subprocess.Popen, log: Path, timeout: float = 600):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert demo.poll() is None, f"the main command ended before {what}:\n{log.read_text()[-3000:]}"
        found = condition()
        if found:
            return found
        time.sleep(0.5)
    pytest.fail(f"timed out waiting for {what}:\n{log.read_text()[-3000:]}")


def _held_load(env: dict, warehouse: str, day: dt.date):
    """The running load_events task of ``day`` once its transaction is open and idle (rows written)."""
    with psycopg.connect(warehouse) as conn:
        holding = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                               " AND state = 'idle in transaction' AND now() - state_change > interval '2 seconds'"
                               ).fetchone()[0]
    if not holding:
        return None
    with psycopg.connect(metadata_url(env)) as conn:
        return conn.execute(
            "SELECT ti.run_id, ti.pid, ti.try_number FROM task_instance ti"
            " JOIN xcom x ON x.dag_id = ti.dag_id AND x.run_id = ti.run_id"
            "  AND x.task_id = 'wait_for_partitions' AND x.key = 'return_value'"
            " WHERE ti.dag_id = 'ingest_raw_logs' AND ti.task_id = 'load_events' AND ti.state = 'running'"
            "  AND ti.pid IS NOT NULL AND x.value::text = %s", (json.dumps(day.isoformat()),)).fetchone()


def _kill_worker_of(env: dict, task_pid: int) -> str:
    """SIGKILL the task process and the whole Celery worker it runs under; returns the worker's name."""
    supervisor, _ = _stat(task_pid)
    _, worker_group = _stat(supervisor)
    run_dir = Path(env["GROWTHFLOW_HOME"]) / "airflow" / "run"
    workers = {int(p.read_text()): p.stem for p in run_dir.glob("celery-worker-*.pid")}
    assert worker_group in workers, f"task {task_pid} is not under a Celery worker ({workers})"
    os.killpg(task_pid, signal.SIGKILL)
    os.killpg(worker_group, signal.SIGKILL)
    return workers[worker_group]


def _restart_redis(env: dict) -> tuple[int, int]:
    with environment(env):
        redis = LocalRedis(load_settings())
        before = redis.pid()
        assert redis.stop()
        time.sleep(2)
        assert redis.start()
        return before, redis.pid()


@pytest.fixture(scope="module")
def celery_run(database_factory, targets, tmp_path_factory) -> CeleryRun:
    end = latest_complete_delivery_date()
    dates = [end - dt.timedelta(days=DAYS - 1 - i) for i in range(DAYS)]
    held_day = dates[DAYS // 2]
    log = tmp_path_factory.mktemp("celery") / "demo.log"
    extra = {"GROWTHFLOW_EXECUTOR": "celery", "GROWTHFLOW_CELERY_WORKERS": "2",
             "GROWTHFLOW_RETRY_DELAY_SECONDS": "5", "GROWTHFLOW_FLOWER_PORT": str(free_port()),
             "GROWTHFLOW_INJECT_FAULT": f"hold:events:{held_day}:{HOLD_SECONDS}"}
    with isolated_stack_env(database_factory(), targets.admin_conninfo, targets.owner_url, **extra) as env:
        warehouse = env["WAREHOUSE_URL"]
        demo = subprocess.Popen([sys.executable, "-m", "growthflow_tools.cli", "demo", "--days", str(DAYS),
                                 "--daily-new-users", str(USERS), "--seed", str(SEED), "--no-bi"],
                                env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, text=True)
        try:
            # 1. A worker lost while its load holds written, uncommitted rows.
            run_id, task_pid, try_number = _wait_for(lambda: _held_load(env, warehouse, held_day),
                                                     "the held load", demo, log)
            worker = _kill_worker_of(env, task_pid)
            time.sleep(3)  # the server notices the dead connection and rolls its transaction back
            with psycopg.connect(warehouse) as conn:
                committed = conn.execute("SELECT count(*) FROM raw.partition_loads WHERE source = 'events'"
                                         " AND delivery_date = %s", (held_day,)).fetchone()[0]
            up = _cli(env, "up", timeout=300)
            assert up.returncode == 0, up.stderr[-2000:]
            restarted = int((Path(env["GROWTHFLOW_HOME"]) / "airflow" / "run" / f"{worker}.pid").read_text())
            held = {"run_id": run_id, "try_number": try_number, "worker": worker, "committed_after_kill": committed,
                    "restarted_pid": restarted}

            # 2. The broker restarted while the backfill still runs (the killed load's run at least).
            with psycopg.connect(metadata_url(env)) as conn:
                unfinished = conn.execute("SELECT count(*) FROM dag_run WHERE dag_id = 'ingest_raw_logs'"
                                          " AND state IN ('queued', 'running')").fetchone()[0]
            restarted_at = dt.datetime.now(dt.timezone.utc)
            before, after = _restart_redis(env)
            redis = {"before": before, "after": after, "unfinished_runs": unfinished, "at": restarted_at}

            returncode = demo.wait(timeout=1500)
            flower = _flower(env)
        finally:
            if demo.poll() is None:
                demo.kill()
        yield CeleryRun(env, returncode, log.read_text(), dates, held, redis, flower)


def _flower(env: dict) -> dict:
    """`up --flower` on the running stack: the workers Flower sees, and its answer to a request without the login."""
    up = _cli(env, "up", "--flower", timeout=300)
    assert up.returncode == 0, up.stderr[-2000:]
    with environment(env):
        settings = load_settings()
        login = base64.b64encode(f"{ADMIN_USER}:{admin_password(settings)}".encode()).decode()
    url = f"http://127.0.0.1:{settings.flower_port}/api/workers?refresh=1"
    workers, deadline = [], time.monotonic() + 90
    while time.monotonic() < deadline and len(workers) < 2:
        try:
            request = urllib.request.Request(url, headers={"Authorization": f"Basic {login}"})
            with urllib.request.urlopen(request, timeout=10) as response:
                workers = sorted(json.loads(response.read()))
        except OSError:
            time.sleep(2)
    try:
        urllib.request.urlopen(url, timeout=10)
        anonymous = 200
    except urllib.error.HTTPError as exc:
        anonymous = exc.code
    return {"workers": workers, "anonymous": anonymous}


def _task_workers(env: dict, dag_id: str) -> list[tuple[str, str, str, str, str]]:
    """(task id, state, Airflow queue, Celery queue, worker) of the final try of every task of ``dag_id``."""
    with psycopg.connect(metadata_url(env)) as conn:
        return conn.execute(
            "SELECT ti.task_id, ti.state, ti.queue, m.queue, m.worker FROM task_instance ti"
            " JOIN celery_taskmeta m ON m.task_id = ti.external_executor_id WHERE ti.dag_id = %s",
            (dag_id,)).fetchall()


def test_the_run_completes_with_tables_equal_to_a_straight_through_run(celery_run, database_factory, tmp_path):
    assert celery_run.returncode == 0, celery_run.output[-4000:]
    assert "2 Celery workers on Redis" in celery_run.output
    landing = Path(celery_run.env["GROWTHFLOW_HOME"]) / "landing"
    reference = straight_through(database_factory(), landing, celery_run.dates, tmp_path)
    assert every_table_checksum(celery_run.env["WAREHOUSE_URL"]) == every_table_checksum(reference)
    with psycopg.connect(celery_run.env["WAREHOUSE_URL"]) as conn:
        loads = conn.execute("SELECT count(*) FROM raw.partition_loads").fetchone()[0]
    assert loads == DAYS * 4  # one committed load per partition: the killed one left none


def test_the_work_was_spread_over_both_workers(celery_run):
    rows = _task_workers(celery_run.env, "ingest_raw_logs")
    assert len(rows) == DAYS * 9 and {state for _, state, *_ in rows} == {"success"}
    per_worker = {}
    for _, _, _, _, worker in rows:
        name = worker.split("@")[0]
        per_worker[name] = per_worker.get(name, 0) + 1
    assert set(per_worker) == {"worker-1", "worker-2"}, per_worker
    assert min(per_worker.values()) >= DAYS, per_worker


def test_a_load_whose_worker_was_killed_is_retried_and_leaves_nothing_partial(celery_run):
    held = celery_run.held
    assert held["committed_after_kill"] == 0
    os.kill(held["restarted_pid"], 0)  # `up` started the killed worker again (raises if it is not running)
    with psycopg.connect(metadata_url(celery_run.env)) as conn:
        state, tries, worker = conn.execute(
            "SELECT ti.state, ti.try_number, m.worker FROM task_instance ti"
            " LEFT JOIN celery_taskmeta m ON m.task_id = ti.external_executor_id"
            " WHERE ti.dag_id = 'ingest_raw_logs' AND ti.task_id = 'load_events' AND ti.run_id = %s",
            (held["run_id"],)).fetchone()
        earlier = conn.execute(
            "SELECT try_number, state FROM task_instance_history WHERE dag_id = 'ingest_raw_logs'"
            " AND task_id = 'load_events' AND run_id = %s ORDER BY try_number", (held["run_id"],)).fetchall()
    assert state == "success" and tries > held["try_number"], (state, tries, held)
    assert (held["try_number"], "failed") in earlier, earlier
    assert worker and worker.startswith("worker-"), worker


def test_a_redis_restart_during_the_run_is_survived(celery_run):
    redis = celery_run.redis
    assert redis["before"] and redis["after"] and redis["before"] != redis["after"]
    assert redis["unfinished_runs"] > 0
    with psycopg.connect(metadata_url(celery_run.env)) as conn:
        after = conn.execute("SELECT count(*) FROM task_instance WHERE state = 'success' AND start_date > %s",
                             (redis["at"],)).fetchone()[0]
    assert after > 0 and celery_run.returncode == 0


def test_flower_shows_both_workers_behind_the_login(celery_run):
    assert [name.split("@")[0] for name in celery_run.flower["workers"]] == ["worker-1", "worker-2"]
    assert celery_run.flower["anonymous"] == 401


def test_the_ltv_fit_ran_on_its_own_queue(celery_run):
    rows = _task_workers(celery_run.env, "forecast_ltv")
    fits = [row for row in rows if row[0] == "fit_and_publish"]
    assert fits, rows
    for _, state, airflow_queue, celery_queue, worker in fits:
        assert (state, airflow_queue, celery_queue) == ("success", "ltv", "ltv")
        assert worker.startswith("worker-1@")  # the one local worker that takes the ltv queue
    others = _task_workers(celery_run.env, "build_warehouse")
    assert others and {queue for _, _, queue, _, _ in others} == {"default"}
