"""
### Nightly campaign LTV forecasts (PyMC)

Fits the hierarchical BG/NBD + Gamma-Gamma model (`models_ltv/`) to per-customer
summaries computed in SQL from the marts, gates on the fit's diagnostics (R-hat,
bulk ESS, divergences) and publishes forecasts per campaign and horizon with
10/50/90% predictive intervals.

**Reads** `marts.dim_users`, `marts.fct_payments`, `marts.fct_ad_spend`, `marts.dim_campaigns`.
**Writes** `ltv.campaign_forecasts` (replaced per as-of date in one transaction: last
night's rows stay readable until tonight's are complete), `ltv.model_runs` (settings,
seed, data snapshot, library versions, diagnostics; rejected runs too), and under
`$GROWTHFLOW_ARTIFACTS_DIR/ltv/<as-of>/` the thinned posterior (NetCDF) and a ROAS plot.
BI reads `marts.campaign_ltv` (campaign performance beside the latest forecast).

**Schedule**: when the `marts` Asset is updated (after a successful, checked build).
While the newest delivery loaded is more than 3 days behind the run's day
(`GROWTHFLOW_MAX_STALENESS_DAYS`), as during a backfill, the run is skipped with the reason
in the log: a forecast as of an old date would be published as tonight's.
**Queue**: `ltv` (`GROWTHFLOW_EXECUTOR=celery`): the fit holds the posterior in memory, so a
deployment can serve it from a worker with memory to spare (`airflow celery worker --queues ltv`).
Every other growthflow task uses Airflow's `default` queue.
**Rerun or backfill**: trigger with `as_of_date`, e.g.
`bin/growthflow airflow dags trigger forecast_ltv -c '{"as_of_date": "2026-09-30"}'`, or
without Airflow: `bin/growthflow ltv run --as-of 2026-09-30`. Same data, settings and
seed give the same numbers.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Param, dag, task

from growthflow.airflow_support import DEFAULT_ARGS, fail_without_retry, skip_if_stale
from growthflow.assets import MARTS_ASSET
from growthflow.config import LTV_QUEUE
from growthflow.connections import warehouse_conninfo
from growthflow.schedule import START_DATE


@dag(
    dag_id="forecast_ltv",
    schedule=MARTS_ASSET,
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["growthflow", "ltv", "pymc"],
    doc_md=__doc__,
    params={"as_of_date": Param(None, type=["null", "string"], format="date",
                                description="Forecast as of this date; empty = the newest delivery date loaded")},
)
def forecast_ltv():
    @task(execution_timeout=pendulum.duration(hours=2), queue=LTV_QUEUE)
    def fit_and_publish(**context) -> dict:
        from growthflow.ltv.job import run_nightly
        from growthflow.ltv.reader import latest_as_of
        from growthflow.schedule import parse_date

        conninfo = warehouse_conninfo()
        requested = context["params"].get("as_of_date")
        if requested:
            as_of = parse_date(requested, "as_of")
        else:
            as_of = latest_as_of(conninfo)
            skip_if_stale(as_of, context)
        return fail_without_retry(run_nightly, conninfo, as_of, run_id=context["run_id"])

    fit_and_publish()


forecast_ltv()
