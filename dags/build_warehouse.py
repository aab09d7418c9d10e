"""
### Build the warehouse (dbt)

Runs the dbt project (staging -> core -> marts) with astronomer-cosmos, one
Airflow task per model, each running `dbt build` for its model and the model's tests.

**Reads** `raw.events`, `raw.payments`, `raw.ad_spend`, `raw.campaigns`.
**Writes** `staging.*` (typed, de-duplicated), `dq.rejected_*` (rows kept out with a
reason), and `marts.*` (facts, dimensions and KPI marts that BI reads as `bi_reader`).
Then the data-quality suites of `expectations/` check staging and core on the
window and every mart whole (report in the `check_quality` task log, results in
`dq.validation_results`, trend in `marts.dq_daily`). Publishes the `marts` Asset
only when every model, dbt test and blocking (`fail`) check passed. Beside the checks,
`check_anomalies` watches the KPI series of `marts.kpi_segments_daily` per segment for
metric rot (`expectations/anomalies/`): findings are warnings in the task log, in
`dq.validation_results` and `marts.dq_anomalies`, with one alert per incident.

**Schedule**: when all four raw Assets have new events. Reprocessing starts at the
earliest delivery date those events loaded (a late file rebuilds from its date on),
or the day after the newest date already built if that is earlier; incremental
models touch only those dates. The run is skipped, with the reason in the
`plan_window` log, while a delivery date in or up to a week before its window is not
loaded for every source (a backfill still loading; a missing partition has already
alerted from the ingest sensor), or while the newest delivery loaded is more than 3
days behind the run's day (`GROWTHFLOW_MAX_STALENESS_DAYS`). The first run once the
dates are in builds every date loaded meanwhile.

**Rerun**: trigger with `window_start` (a delivery date) to rebuild from that date on,
e.g. `bin/growthflow airflow dags trigger build_warehouse -c '{"window_start": "2026-09-10"}'`.
A full rebuild: `bin/growthflow dbt build --full-refresh`. **Queue** (Celery): `default`.
"""

from __future__ import annotations

from airflow.sdk import AssetAll, Param, dag, task
from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
from cosmos.constants import InvocationMode, LoadMode, TestBehavior
from cosmos.profiles import PostgresUserPasswordProfileMapping

from growthflow.airflow_support import DEFAULT_ARGS, plan_build_window, quality_gate
from growthflow.assets import MARTS_ASSET, RAW_ASSETS
from growthflow.connections import WAREHOUSE_CONN_ID, warehouse_conninfo
from growthflow.dbt_runner import DBT_PROJECT_DIR, MANIFEST, WINDOW_START_ENV
from growthflow.schedule import START_DATE

PROFILE = ProfileConfig(
    profile_name="growthflow",
    target_name="warehouse",
    profile_mapping=PostgresUserPasswordProfileMapping(conn_id=WAREHOUSE_CONN_ID, profile_args={"schema": "staging"}),
)


@dag(
    dag_id="build_warehouse",
    schedule=AssetAll(*RAW_ASSETS.values()),  # every source of the landing contract
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["growthflow", "dbt", "marts"],
    doc_md=__doc__,
    params={"window_start": Param(None, type=["null", "string"], format="date",
                                  description="Rebuild from this delivery date on; empty = from the triggering loads")},
)
def build_warehouse():
    @task
    def plan_window(**context) -> str:
        start = plan_build_window(warehouse_conninfo(), context)  # skips the run while dates are missing
        print(f"reprocessing delivery dates from {start or 'the newest built date minus the lookback'}")
        return start

    window = plan_window()
    dbt = DbtTaskGroup(
        group_id="dbt",
        # No dbt packages: nothing to install before a task runs.
        project_config=ProjectConfig(dbt_project_path=DBT_PROJECT_DIR, manifest_path=MANIFEST, install_dbt_deps=False),
        profile_config=PROFILE,
        render_config=RenderConfig(
            load_method=LoadMode.DBT_MANIFEST,
            test_behavior=TestBehavior.BUILD,
            # Reconciliation tests span several models: run them once their parents are all built.
            should_detach_multiple_parents_tests=True,
            # The DAG publishes one `marts` Asset after the checks, not one per model. (This is
            # RenderConfig's setting: it overrides an `emit_datasets` in operator_args.)
            emit_datasets=False,
        ),
        execution_config=ExecutionConfig(invocation_mode=InvocationMode.DBT_RUNNER),
        # The window as an environment variable, not a dbt var, so that dbt keeps partial parsing.
        operator_args={"env": {WINDOW_START_ENV: "{{ ti.xcom_pull(task_ids='plan_window') or '' }}"}},
        default_args=DEFAULT_ARGS,
    )

    @task
    def check_quality(window_start: str | None, **context) -> dict:
        from growthflow.quality.checks import check_warehouse
        from growthflow.schedule import parse_date

        start = parse_date(window_start, "window_start") if window_start else None
        return quality_gate(check_warehouse, warehouse_conninfo(), start, run_id=context["run_id"],
                            dag_id=context["dag"].dag_id)

    @task
    def check_anomalies(window_start: str | None, **context) -> dict:
        from growthflow.quality.metric_rot import check_anomalies as detect_metric_rot
        from growthflow.schedule import parse_date

        start = parse_date(window_start, "window_start") if window_start else None
        return detect_metric_rot(warehouse_conninfo(), start, run_id=context["run_id"],
                                 dag_id=context["dag"].dag_id).summary()

    @task(outlets=[MARTS_ASSET])
    def publish_marts() -> None:
        print("marts built, tested and checked: publishing the marts Asset")

    window >> dbt >> check_quality(window) >> publish_marts()
    dbt >> check_anomalies(window)  # reports (warn) and alerts; never holds the marts back


build_warehouse()
