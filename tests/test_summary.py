"""The main command's closing summaries: data-quality verdicts and the ROAS ranking."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import psycopg

from growthflow.ltv.show import ranking
from growthflow.summary import quality_summary


def _result(conn, run_id: str, suite: str, check: str, layer: str, severity: str, success: bool, unexpected: int,
            day: dt.date, at: str) -> None:
    conn.execute(
        "INSERT INTO dq.validation_results (run_id, layer, suite, table_name, check_id, expectation_type, category,"
        " severity, success, period_start, period_end, unexpected_count, checked_at)"
        " VALUES (%s, %s, %s, 't', %s, 'x', 'missing', %s, %s, %s, %s, %s, %s)",
        (run_id, layer, suite, check, severity, success, day, day, unexpected, at))


def test_quality_summary_counts_the_newest_verdicts_and_the_failures_they_cleared(warehouse):
    d1, d2 = dt.date(2026, 5, 1), dt.date(2026, 5, 2)
    with psycopg.connect(warehouse) as conn:
        # raw suites: one verdict per delivery date, both kept
        _result(conn, "r1", "raw_events", "quarantined_bad_type", "raw", "warn", False, 7, d1, "2026-05-02 01:00+00")
        _result(conn, "r2", "raw_events", "quarantined_bad_type", "raw", "warn", False, 5, d2, "2026-05-03 01:00+00")
        # a window suite: a failing build, then a passing one that supersedes it
        _result(conn, "b1", "raw_deliveries", "partition_loaded", "raw", "fail", False, 3, d1, "2026-05-02 02:00+00")
        _result(conn, "b2", "raw_deliveries", "partition_loaded", "raw", "fail", True, 0, d2, "2026-05-03 02:00+00")
        _result(conn, "b2", "fct_events", "event_id_unique", "core", "fail", True, 0, d2, "2026-05-03 02:00+00")
    text = quality_summary(warehouse)
    lines = text.splitlines()
    assert lines[0].startswith("data quality: WARN, 0 blocking failure(s)")
    assert lines[2].split() == ["raw", "3", "0", "2", "12"]  # 2 raw dates + the newest deliveries verdict
    assert lines[3].split() == ["core", "1", "0", "0", "0"]
    assert "1 earlier blocking failure(s) were cleared by later runs" in text
    assert "raw_events.quarantined_bad_type (warn, 12 rows)" in text
    with psycopg.connect(warehouse) as conn:
        _result(conn, "b3", "fct_events", "event_id_unique", "core", "fail", False, 4, d2, "2026-05-04 02:00+00")
    assert quality_summary(warehouse).startswith("data quality: FAIL, 1 blocking failure(s)")
    assert quality_summary(warehouse, since=dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)) == \
        "data quality: no checks have run yet"


def test_quality_summary_reports_metric_rot_apart_from_the_row_checks(warehouse):
    def anomaly(run_id, series, day, flagged, at):
        with psycopg.connect(warehouse) as conn:
            conn.execute(
                "INSERT INTO dq.validation_results (run_id, layer, suite, table_name, check_id, expectation_type,"
                " category, severity, success, period_start, period_end, segment, checked_at)"
                " VALUES (%s, 'marts', 'anomalies', 'marts.kpi_segments_daily', %s, 'seasonal_baseline', 'anomaly',"
                " 'warn', %s, %s, %s, 'method=card', %s)", (run_id, series, not flagged, day, day, at))

    d1, d2 = dt.date(2026, 7, 1), dt.date(2026, 7, 2)
    anomaly("a1", "charges[method=card]", d1, True, "2026-07-03 02:00+00")
    anomaly("a1", "charges[method=card]", d2, True, "2026-07-03 02:00+00")
    anomaly("a1", "charges[method=mobile]", d2, False, "2026-07-03 02:00+00")
    anomaly("a2", "charges[method=card]", d2, False, "2026-07-04 02:00+00")  # a later build clears one day
    text = quality_summary(warehouse, since=dt.datetime(2026, 7, 1, tzinfo=dt.timezone.utc))
    assert text.splitlines()[0].startswith("data quality: WARN")  # the warn findings, not blocking
    assert "metric rot: 1 anomalous day(s) in 1 KPI series between 2026-07-01 and 2026-07-01" in text
    assert "marts " not in text  # anomalies are not counted as mart checks


def test_ranking_lists_the_best_and_worst_campaigns_by_median_roas_with_a_verdict():
    rows = [{"as_of_date": dt.date(2026, 6, 1), "campaign_id": f"cmp_{i}", "basis": "since_acquisition",
             "horizon_days": 365, "users": 100 * (i + 1), "roas_p10": low, "roas_p50": mid, "roas_p90": high}
            for i, (low, mid, high) in enumerate([(1.2, 1.5, 1.9), (0.3, 0.5, 0.8), (0.8, 1.1, 1.4), (2.0, 3.0, 4.0),
                                                  (0.1, 0.2, 0.3), (0.9, 1.0, 1.2), (None, None, None)])]
    rows.append({**rows[0], "basis": "from_as_of", "roas_p50": 99.0})  # another basis: not ranked
    text = ranking(pd.DataFrame(rows), top=2)
    lines = text.splitlines()
    assert lines[1:4] == ["  top:",
                          "  cmp_3      ROAS 3.00 [2.00, 4.00]      400 users  pays back",
                          "  cmp_0      ROAS 1.50 [1.20, 1.90]      100 users  pays back"]
    assert lines[4:] == ["  bottom:",
                         "  cmp_1      ROAS 0.50 [0.30, 0.80]      200 users  does not pay back",
                         "  cmp_4      ROAS 0.20 [0.10, 0.30]      500 users  does not pay back"]
    middle = ranking(pd.DataFrame(rows), top=3)
    assert "cmp_2      ROAS 1.10 [0.80, 1.40]      300 users  uncertain" in middle
