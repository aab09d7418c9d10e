"""Forecasts and run metadata into ``ltv``: one transaction per night.

Readers keep seeing the previous forecasts of an as-of date until the new ones
are committed; a rejected or failed run records itself and changes no forecast.
"""

from __future__ import annotations

import json
import math

import pandas as pd
import psycopg

RUN_COLUMNS = ("run_id", "as_of_date", "model_version", "status", "reason", "settings", "data_snapshot", "customers",
               "input_rows", "campaigns", "diagnostics", "library_versions", "fit_seconds", "posterior_path",
               "finished_at")
FORECAST_COLUMNS = ("as_of_date", "campaign_id", "basis", "horizon_days", "users", "expected_purchases",
                    "revenue_observed_krw", "revenue_p10_krw", "revenue_p50_krw", "revenue_p90_krw",
                    "revenue_per_user_p10_krw", "revenue_per_user_p50_krw", "revenue_per_user_p90_krw", "spend_krw",
                    "roas_p10", "roas_p50", "roas_p90", "payback_day", "model_version", "run_id")


def _clean(value):
    if value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    return value


def _upsert_run(conn: psycopg.Connection, run: dict) -> None:
    values = [json.dumps(run[c], default=str) if c in ("settings", "diagnostics", "library_versions") else run.get(c)
              for c in RUN_COLUMNS[:-1]]
    conn.execute(
        f"insert into ltv.model_runs ({', '.join(RUN_COLUMNS)}) values ({', '.join(['%s'] * (len(RUN_COLUMNS) - 1))}, now())"
        " on conflict (run_id) do update set " + ", ".join(f"{c} = excluded.{c}" for c in RUN_COLUMNS[1:]),
        values,
    )


def record_run(conninfo: str, run: dict) -> None:
    with psycopg.connect(conninfo) as conn:
        _upsert_run(conn, run)


def publish(conninfo: str, run: dict, forecasts: pd.DataFrame) -> int:
    """Replace the as-of date's forecasts with ``forecasts`` and record the run, atomically."""
    rows = forecasts.rename(columns={
        "campaign": "campaign_id", "revenue_observed": "revenue_observed_krw", "revenue_p10": "revenue_p10_krw",
        "revenue_p50": "revenue_p50_krw", "revenue_p90": "revenue_p90_krw", "spend": "spend_krw",
        "revenue_per_user_p10": "revenue_per_user_p10_krw", "revenue_per_user_p50": "revenue_per_user_p50_krw",
        "revenue_per_user_p90": "revenue_per_user_p90_krw",
    }).assign(as_of_date=run["as_of_date"], model_version=run["model_version"], run_id=run["run_id"])
    rows["payback_day"] = rows["payback_day"].astype("Int64")  # NaN (no payback within a year) -> NULL
    with psycopg.connect(conninfo) as conn, conn.transaction():
        _upsert_run(conn, run)
        conn.execute("delete from ltv.campaign_forecasts where as_of_date = %s", (run["as_of_date"],))
        with conn.cursor().copy(f"copy ltv.campaign_forecasts ({', '.join(FORECAST_COLUMNS)}) from stdin") as copy:
            for record in rows[list(FORECAST_COLUMNS)].itertuples(index=False):
                copy.write_row([_clean(v.item() if hasattr(v, "item") else v) for v in record])
    return len(rows)
