"""Where an Airflow run's time goes: per task kind, the wait from queued to started (the
executor picking it up) and the run time (process start-up, DAG parse, the work), read
from Airflow's metadata database after a run of the main command.

    .venv/bin/python bench/airflow_tasks.py [--dag ingest_raw_logs] [--since 2026-12-06T00:00Z]

Prints medians and 90th percentiles per task kind (the task id without the source),
the tasks per minute of the busiest stretch, and the block the docs paste.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
from pathlib import Path

import psycopg

from growthflow.config import load_settings
from growthflow.warehouse import resolve_targets
from growthflow_tools.bench import table


def _kind(task_id: str) -> str:
    return re.sub(r"_(events|payments|ad_spend|campaigns)$", "_<source>", task_id.split(".")[0] if
                  not task_id.startswith("dbt.") else "dbt.<model>")


def _p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dag", default="ingest_raw_logs")
    parser.add_argument("--since", help="only runs started at or after this time (ISO 8601)")
    args = parser.parse_args()
    url = resolve_targets(load_settings()).airflow_url.replace("postgresql+psycopg2://", "postgresql://", 1)
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            """select task_id, extract(epoch from start_date - queued_dttm), extract(epoch from end_date - start_date),
                      start_date, end_date
               from task_instance
               where dag_id = %s and state = 'success' and queued_dttm is not null
                 and (%s::timestamptz is null or start_date >= %s::timestamptz)""",
            (args.dag, args.since, args.since)).fetchall()
    if not rows:
        sys.exit(f"no finished tasks of {args.dag} in the metadata database; run `bin/growthflow demo` first")
    kinds: dict[str, list[tuple[float, float]]] = {}
    for task_id, waited, ran, _, _ in rows:
        kinds.setdefault(_kind(task_id), []).append((float(waited), float(ran)))
    out = []
    for kind, values in sorted(kinds.items()):
        waits, runs = [w for w, _ in values], [r for _, r in values]
        out.append((kind, len(values), f"{statistics.median(waits):.1f}", f"{_p90(waits):.1f}",
                    f"{statistics.median(runs):.1f}", f"{_p90(runs):.1f}"))
    first, last = min(r[3] for r in rows), max(r[4] for r in rows)
    minutes = (last - first).total_seconds() / 60
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=Path(__file__).parent).stdout.strip()
    print(f"{args.dag}: {len(rows)} tasks in {minutes:.1f} min ({len(rows) / minutes:.0f} tasks/min), "
          f"commit {commit}, {__import__('os').cpu_count()} cores")
    print(table(out, ("task", "n", "queued->start p50 s", "p90", "run p50 s", "p90")))


if __name__ == "__main__":
    main()
