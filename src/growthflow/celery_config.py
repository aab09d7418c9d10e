"""Celery's configuration for growthflow's workers: Airflow's defaults, plus warm workers.

Airflow reads it through ``[celery] celery_config_options``
(``AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS=growthflow.celery_config.CELERY_CONFIG``), which
both the local stack (``GROWTHFLOW_EXECUTOR=celery``) and compose's ``celery`` profile set.

**Warm workers.** With LocalExecutor the scheduler imports GX, dbt and cosmos once and
every task process it forks inherits them (``growthflow.preload``). A Celery worker is not
forked from the scheduler, so without this each task imported them again (about 7 s of CPU
per task). Celery's ``worker_init`` signal imports them in the worker's main process before
it forks its pool, so every pool process, and every task process a pool process forks
through Airflow's supervisor, starts with them loaded. ``worker_process_init`` repeats the
preload in each pool process, which costs nothing when they were inherited and covers pools
that do not fork from the main process. ``GROWTHFLOW_PRELOAD`` chooses the modules, as for
the scheduler; an empty value turns preloading off.

**Which worker ran a task.** ``result_extended`` makes the result backend (the ``airflow``
database, table ``celery_taskmeta``) record the worker and queue of every Celery task, so a
task instance's ``external_executor_id`` leads to the worker that ran it.
"""

from __future__ import annotations

import os
import time

from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG
from celery.signals import worker_init, worker_process_init

from growthflow.preload import preload, preload_modules

CELERY_CONFIG = {**DEFAULT_CELERY_CONFIG, "result_extended": True}


@worker_init.connect
def _preload_in_the_main_process(**_) -> None:
    started = time.monotonic()
    modules = preload_modules()
    failed = preload(modules)
    print(f"growthflow preload: {len(modules) - len(failed)} modules imported in the Celery worker "
          f"(pid {os.getpid()}) in {time.monotonic() - started:.1f}s", flush=True)


@worker_process_init.connect
def _preload_in_each_pool_process(**_) -> None:
    preload(preload_modules())
