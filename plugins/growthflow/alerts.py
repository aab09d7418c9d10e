"""One failure notifier shared by every DAG.

Writes a single, greppable alert line to the task log. Kept free of network
calls so a broken notifier can never fail the pipeline.
"""

from __future__ import annotations

import logging

log = logging.getLogger("growthflow.alerts")


def format_alert(context) -> str:
    ti = context.get("task_instance") or context.get("ti")
    dag_id = getattr(ti, "dag_id", "?")
    task_id = getattr(ti, "task_id", "?")
    run_id = getattr(ti, "run_id", context.get("run_id", "?"))
    try_number = getattr(ti, "try_number", "?")
    exc = context.get("exception")
    reason = str(exc).strip().splitlines()[-1] if exc and str(exc).strip() else type(exc).__name__ if exc else "failed"
    return f"ALERT {dag_id}.{task_id} run={run_id} try={try_number}: {reason}"


def notify_failure(context) -> None:
    """Airflow ``on_failure_callback``; never raises."""
    try:
        log.error("%s", format_alert(context))
    except Exception:  # noqa: BLE001 - a notifier must not fail the task it reports on
        log.exception("growthflow alert could not be formatted")
