"""Start an Airflow component with the libraries its tasks need already imported.

LocalExecutor forks its workers from the scheduler, and each worker forks
every task it runs. A module the scheduler imported before it forked is
therefore already in every task's memory: importing Great Expectations costs
about 4.5 s of CPU and dbt with its PostgreSQL adapter about 3 s, once per
task otherwise. On 2 cores that start-up was most of an ingest run.

    python -m growthflow.preload scheduler      # how `bin/growthflow up` starts the scheduler

``GROWTHFLOW_PRELOAD`` (comma-separated module names) replaces the default
list; an empty value preloads nothing. With the CeleryExecutor, tasks run in
Celery's worker processes, which this does not reach: each worker preloads the
same list itself (``growthflow.celery_config``).
"""

from __future__ import annotations

import importlib
import sys

from growthflow.config import load_settings


def preload_modules() -> tuple[str, ...]:
    return load_settings().preload


def preload(modules: tuple[str, ...]) -> list[str]:
    """Import each module; a missing one is reported and skipped (the task would import it anyway)."""
    failed = []
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            failed.append(f"{name} ({exc})")
    if failed:
        print(f"growthflow preload: not preloaded: {', '.join(failed)}", file=sys.stderr, flush=True)
    return failed


def main(argv: list[str] | None = None) -> None:
    preload(preload_modules())
    from airflow.__main__ import main as airflow_main

    sys.argv = ["airflow", *(sys.argv[1:] if argv is None else argv)]
    airflow_main()


if __name__ == "__main__":
    main()
