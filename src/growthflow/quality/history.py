"""Validation results kept in ``dq.validation_results`` (read by the ``dq_daily`` mart).

A rerun of the same Airflow run replaces its own rows, so retries never double-count.
"""

from __future__ import annotations

import json

import psycopg

from growthflow.quality.runner import CheckResult

COLUMNS = ("run_id", "dag_id", "layer", "suite", "table_name", "check_id", "expectation_type", "column_name",
           "category", "severity", "success", "period_start", "period_end", "element_count", "unexpected_count",
           "unexpected_percent", "observed_value", "sample_values", "exception", "segment", "expected_value",
           "expected_low", "expected_high")


def _row(run_id: str, dag_id: str | None, r: CheckResult) -> tuple:
    observed = None if r.observed_value is None else json.dumps(r.observed_value, default=str)[:1000]
    return (run_id, dag_id, r.layer, r.suite, r.table, r.check_id, r.expectation_type, r.column, r.category,
            r.severity, r.success, r.period.start, r.period.end, r.element_count, r.unexpected_count,
            r.unexpected_percent, observed, json.dumps(r.samples), r.exception, r.segment, r.expected_value,
            r.expected_low, r.expected_high)


def save_results(conninfo: str, run_id: str, dag_id: str | None, results: list[CheckResult]) -> int:
    if not results:
        return 0
    suites = sorted({r.suite for r in results})
    starts = sorted({r.period.start for r in results})
    with psycopg.connect(conninfo) as conn, conn.transaction():
        conn.execute("delete from dq.validation_results where run_id = %s and suite = any(%s) and period_start = any(%s)",
                     (run_id, suites, starts))
        with conn.cursor().copy(f"copy dq.validation_results ({', '.join(COLUMNS)}) from stdin") as copy:
            for r in results:
                copy.write_row(_row(run_id, dag_id, r))
    return len(results)
