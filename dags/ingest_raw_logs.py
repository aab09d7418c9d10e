"""
### Ingest raw logs

Lands one delivery date of every source in the warehouse's `raw` schema.

**Reads** `$GROWTHFLOW_LANDING_ROOT/<source>/dt=<delivery date>/` (events, payments,
ad_spend, campaigns) once the partition's `_SUCCESS` marker exists.
**Writes** `raw.events`, `raw.payments`, `raw.ad_spend`, `raw.campaigns` (one partition
per delivery date), bad lines to `raw.quarantine` with a reason, and per-file counts
to `raw.load_audit`. Then the `raw_<source>` data-quality suite (`expectations/raw_lines.yml`)
checks the partition: its report is in the `check_<source>` task log, its results in
`dq.validation_results`. Each raw table is published as an Asset only when no blocking
(`fail`) check failed; warnings are reported and do not block.

**Schedule**: daily at 10:00 Asia/Seoul, for the previous day's deliveries.
The sensor waits up to 6 hours for a late partition (`GROWTHFLOW_PARTITION_TIMEOUT_SECONDS`),
then fails with one alert, and nothing downstream runs.

**Queue**: `default` (`GROWTHFLOW_EXECUTOR=celery`): a date's four loads can run on four workers.
**Rerun a date**: clear the run in the UI, or trigger with the `delivery_date`
param (`bin/growthflow airflow dags trigger ingest_raw_logs -c '{"delivery_date": "2026-09-14"}'`).
A rerun replaces that date's rows in one transaction.
"""

from __future__ import annotations

from airflow.sdk import Param, PokeReturnValue, dag, task

from growthflow.airflow_support import (
    DEFAULT_ARGS,
    PARTITION_POKE_SECONDS,
    PARTITION_TIMEOUT_SECONDS,
    quality_gate,
    run_delivery_date,
)
from growthflow.assets import RAW_ASSETS
from growthflow.connections import warehouse_conninfo
from growthflow.landing import SOURCES
from growthflow.schedule import START_DATE, ingest_timetable


@dag(
    dag_id="ingest_raw_logs",
    schedule=ingest_timetable(),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=4,
    default_args=DEFAULT_ARGS,
    tags=["growthflow", "ingest", "raw"],
    doc_md=__doc__,
    params={"delivery_date": Param(None, type=["null", "string"], format="date",
                                   description="Delivery date to (re)load; empty = the day before the run")},
)
def ingest_raw_logs():
    @task.sensor(task_id="wait_for_partitions", poke_interval=PARTITION_POKE_SECONDS, timeout=PARTITION_TIMEOUT_SECONDS,
                 mode="reschedule")
    def wait_for_partitions(**context) -> PokeReturnValue:
        from growthflow.ingest.tasks import missing_partitions

        day = run_delivery_date(context)
        missing = missing_partitions(day)
        if missing:
            print(f"waiting for {day}: no _SUCCESS yet in {', '.join(missing)}")
        return PokeReturnValue(is_done=not missing, xcom_value=day.isoformat())

    ready = wait_for_partitions()
    for source in SOURCES:

        @task(task_id=f"load_{source}")
        def load(delivery_date: str, source: str = source, **context) -> str:
            from growthflow.ingest.tasks import load_delivery

            load_delivery(warehouse_conninfo(), source, delivery_date, run_id=context["run_id"])
            return delivery_date

        @task(task_id=f"check_{source}", outlets=[RAW_ASSETS[source]])
        def check(delivery_date: str, source: str = source, **context) -> dict:
            from growthflow.quality.checks import check_delivery
            from growthflow.schedule import parse_date

            summary = quality_gate(check_delivery, warehouse_conninfo(), source, parse_date(delivery_date, "delivery date"),
                                   run_id=context["run_id"], dag_id=context["dag"].dag_id)
            # Downstream builds read which delivery date this asset event is about.
            context["outlet_events"][RAW_ASSETS[source]].extra = {"delivery_date": delivery_date}
            return summary

        check(load(ready))


ingest_raw_logs()
