"""LocalExecutor against the CeleryExecutor with 1 and 2 workers: the same backfill of
ingest_raw_logs (30 delivery dates by default) on this machine, in one run.

Generates one landing zone, then for each configuration starts a stack of its own (its own
home, Airflow metadata database, warehouse and ports; with Celery a Redis of its own), backfills
the dates through Airflow's API and reads Airflow's metadata database. Per configuration:

- wall: from creating the backfill until the last run of the dates finished;
- tasks/min: the task instances of those runs (the backfill's, and the one run the DAG's
  schedule makes for the newest date when it is unpaused) per minute of wall time;
- queued->start p50: the median wait from a task being queued to it running (the executor
  handing it to a process, and that process starting);
- check run p50 / load run p50: the median run of the check and load tasks, which includes
  the task process's imports that were not preloaded;
- raw checksum: every raw table's content, which must be the same for every configuration.

``celery-2-cold`` repeats Celery with 2 workers and preloading off (``GROWTHFLOW_PRELOAD=""``):
its check-task runs against ``celery-2``'s show what warm workers save per task.

    .venv/bin/python bench/executors.py [--days 30] [--users 1000] [--configs local,celery-1,celery-2,celery-2-cold]
                                        [--set AIRFLOW__SECTION__KEY=VALUE ...]   # the same setting in every configuration
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

from growthflow.config import load_settings
from growthflow.schedule import latest_complete_delivery_date, run_window
from growthflow_tools.airflow_api import AirflowAPI
from growthflow_tools.airflow_env import ADMIN_USER, TASK_SLOTS, admin_password
from growthflow_tools.bench import scratch_database, table
from growthflow_tools.checksums import every_table_checksum
from growthflow_tools.demo import INGEST_DAG, follow_runs
from growthflow_tools.isolated_stack import environment, isolated_stack_env, metadata_url
from growthflow_tools.services import ensure_warehouse

CONFIGS = {
    "local": {"GROWTHFLOW_EXECUTOR": "local"},
    "celery-1": {"GROWTHFLOW_EXECUTOR": "celery", "GROWTHFLOW_CELERY_WORKERS": "1"},
    "celery-2": {"GROWTHFLOW_EXECUTOR": "celery", "GROWTHFLOW_CELERY_WORKERS": "2"},
    "celery-2-cold": {"GROWTHFLOW_EXECUTOR": "celery", "GROWTHFLOW_CELERY_WORKERS": "2", "GROWTHFLOW_PRELOAD": ""},
}

TASKS = """
select ti.task_id, extract(epoch from ti.start_date - ti.queued_dttm), extract(epoch from ti.end_date - ti.start_date)
from task_instance ti
where ti.dag_id = %s and ti.state = 'success'
"""


def _p50(values: list[float]) -> str:
    return f"{statistics.median(values):.1f}" if values else "-"


def run_config(name: str, extra: dict, landing: Path, start: dt.date, end: dt.date, days: int) -> dict:
    targets, _ = ensure_warehouse(quiet=True)
    with scratch_database() as warehouse, isolated_stack_env(
            warehouse, targets.admin_conninfo, targets.owner_url, GROWTHFLOW_LANDING_ROOT=str(landing),
            **extra) as env:
        started = time.monotonic()
        up = subprocess.run([sys.executable, "-m", "growthflow_tools.cli", "up"], env=env, capture_output=True,
                            text=True)
        if up.returncode != 0:
            raise SystemExit(f"{name}: `growthflow up` failed: {up.stderr.strip()[-500:]}")
        stack_seconds = time.monotonic() - started
        with environment(env):
            settings = load_settings()
            api = AirflowAPI(f"http://127.0.0.1:{settings.airflow_port}", ADMIN_USER, admin_password(settings))
            api.wait_for_dag(INGEST_DAG)
            api.set_paused(INGEST_DAG, False)
            began = time.monotonic()
            api.create_backfill(INGEST_DAG, *run_window(start, end))
            result = follow_runs(api, INGEST_DAG, run_window(start, end), expected=days)
            wall = time.monotonic() - began
        with psycopg.connect(metadata_url(env)) as conn:
            rows = conn.execute(TASKS, (INGEST_DAG,)).fetchall()
        raw = {k: v for k, v in every_table_checksum(warehouse).items() if k.startswith("raw.")}
    waits = [float(w) for _, w, _ in rows if w is not None]  # a sensor's last poke may not record its queueing
    checks = [float(r) for task, _, r in rows if task.startswith("check_")]
    loads = [float(r) for task, _, r in rows if task.startswith("load_")]
    workers = int(extra.get("GROWTHFLOW_CELERY_WORKERS", 0))
    return {
        "config": name, "workers": workers or "-", "stack up s": f"{stack_seconds:.0f}",
        "wall s": f"{wall:.0f}", "tasks": len(rows), "tasks/min": f"{len(rows) / (wall / 60):.0f}",
        "queued->start p50 s": _p50(waits), "check run p50 s": _p50(checks), "load run p50 s": _p50(loads),
        "failed runs": result["states"].get("failed", 0),
        "raw checksum": hashlib.sha256(json.dumps(raw, sort_keys=True).encode()).hexdigest()[:10],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=30, help="delivery dates to backfill (default 30)")
    parser.add_argument("--users", type=int, default=1000, help="installs per day (default 1000, as the demo)")
    parser.add_argument("--configs", default=",".join(CONFIGS), help=f"comma-separated, of {', '.join(CONFIGS)}")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="an environment variable for every configuration's stack (repeatable)")
    args = parser.parse_args()
    common = dict(item.split("=", 1) for item in args.set)
    names = [n.strip() for n in args.configs.split(",") if n.strip()]
    unknown = set(names) - set(CONFIGS)
    if unknown:
        raise SystemExit(f"unknown configuration(s) {', '.join(sorted(unknown))}: use {', '.join(CONFIGS)}")
    end = latest_complete_delivery_date()
    start = end - dt.timedelta(days=args.days - 1)
    rows = []
    with tempfile.TemporaryDirectory(dir=load_settings().home) as tmp:
        landing = Path(tmp) / "landing"
        subprocess.run([sys.executable, "-m", "growthflow_tools.cli", "generate", "--start", start.isoformat(),
                        "--days", str(args.days), "--daily-new-users", str(args.users), "--landing", str(landing),
                        "--truth", str(Path(tmp) / "truth")], check=True, capture_output=True)
        for name in names:
            print(f"== {name}: backfilling {args.days} delivery dates ({start} .. {end})", flush=True)
            rows.append(run_config(name, {**common, **CONFIGS[name]}, landing, start, end, args.days))
            print(table([tuple(r.values()) for r in rows[-1:]], tuple(rows[0])), flush=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=Path(__file__).parent).stdout.strip()
    print(f"\n{INGEST_DAG} backfill of {args.days} dates x {args.users} installs/day, {TASK_SLOTS} task slots in "
          f"every configuration, commit {commit}, {os.cpu_count()} cores, {dt.date.today()}"
          + "".join(f", {item}" for item in args.set))
    print(table([tuple(r.values()) for r in rows], tuple(rows[0])))
    if len({r["raw checksum"] for r in rows}) != 1:
        raise SystemExit("the raw tables differ between configurations")
    print("raw tables: the same checksum in every configuration")


if __name__ == "__main__":
    main()
