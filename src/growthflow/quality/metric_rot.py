"""The metric-rot check a build runs: read the KPI series, judge them, keep, report and alert.

The judging itself is ``anomalies.detect`` (pure computation); this module is its I/O:
``marts.kpi_segments_daily`` in, verdicts to ``dq.validation_results``, the report to the
task log, one alert per incident through the shared notifier.
"""

from __future__ import annotations

import datetime as dt
import sys
import time
from dataclasses import dataclass

import psycopg

from growthflow.errors import GrowthflowError
from growthflow.quality import history, report
from growthflow.quality.checks import warehouse_period
from growthflow.quality.runner import CheckResult, Period


#: An incident's alert key names its series and first day: the same key is never sent twice in this time.
ANOMALY_ALERT_WINDOW_MINUTES = 30 * 24 * 60


def anomaly_days(conninfo: str, window_start: dt.date | None, rules) -> list[dt.date]:
    """The Seoul days a build's window can judge: from the day before its first delivery date
    to the newest delivery minus ``settle_days`` (later days still get late events)."""
    period = warehouse_period(conninfo, window_start)
    first = period.start - dt.timedelta(days=1)
    last = period.end - dt.timedelta(days=rules.settle_days)
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


def read_series(conninfo: str, first: dt.date, last: dt.date):
    import pandas as pd

    with psycopg.connect(conninfo) as conn:
        try:
            cursor = conn.execute(
                "select metric_date, kpi, segment, value, denominator, repeats_previous_day"
                " from marts.kpi_segments_daily where metric_date between %s and %s", (first, last))
        except psycopg.errors.UndefinedTable:
            raise GrowthflowError("marts.kpi_segments_daily does not exist yet: build the warehouse first "
                                  "(the build_warehouse DAG, or `bin/growthflow dbt build`)") from None
        return pd.DataFrame(cursor.fetchall(), columns=[c.name for c in cursor.description])


def _flagged_before(conninfo: str, first: dt.date, run_id: str) -> set[tuple[str, dt.date]]:
    """(check_id, day) pairs whose newest earlier verdict was an anomaly."""
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute(
            """select check_id, period_end from (
                   select distinct on (check_id, period_end) check_id, period_end, success
                   from dq.validation_results
                   where category = 'anomaly' and period_end >= %s and run_id <> %s
                   order by check_id, period_end, checked_at desc) latest
               where not success""", (first, run_id)).fetchall()
    return {(check_id, day) for check_id, day in rows}


def _as_result(f) -> CheckResult:
    from growthflow.quality import anomalies

    return CheckResult(
        suite=anomalies.SUITE, layer="marts", table=anomalies.TABLE, check_id=f.check_id, expectation_type=f.rule,
        column=f.kpi, category="anomaly", severity="warn", success=not f.flagged, period=Period(f.day, f.day),
        element_count=f.history_days or None, observed_value=f.observed, segment=f.segment,
        expected_value=f.expected, expected_low=f.low, expected_high=f.high)


def _describe(r: CheckResult) -> str:
    where = (f"expected {r.expected_low:,.0f}..{r.expected_high:,.0f}" if r.expected_low is not None
             else "the same row as the day before")
    return f"{r.column} [{r.segment}] {r.observed_value:,.0f} on {r.period.end}, {where}"


def alert_anomalies(conninfo: str, results: list[CheckResult], run_id: str, first: dt.date, dag_id: str | None) -> int:
    """One alert per incident, through the shared notifier.

    An incident is what starts going wrong on one day: every series whose run of
    consecutive anomalous days (across builds too) begins that day. One fault usually
    moves several series at once (an attribution loss: each campaign of the channel down,
    organic up, the unattributed share up), and on call wants one message for it, not one
    per series or per day. The alert key names that first day, so a later build that
    re-checks the same days sends nothing again.
    """
    from growthflow.alerts import Alert, deliver
    from growthflow.quality.anomalies import episodes

    flagged = [r for r in results if not r.success]
    if not flagged:
        return 0
    before = _flagged_before(conninfo, first - dt.timedelta(days=30), run_id)
    starts = episodes([(r.check_id, r.period.end) for r in flagged], before)
    by_start: dict[dt.date, dict[str, CheckResult]] = {}
    for r in sorted(flagged, key=lambda r: r.period.end):
        by_start.setdefault(starts[(r.check_id, r.period.end)], {}).setdefault(r.check_id, r)
    for start, series in sorted(by_start.items()):
        shown = sorted(series.values(), key=lambda r: (r.column or "", r.segment or ""))
        listed = "; ".join(_describe(r) for r in shown[:8]) + (f"; and {len(shown) - 8} more" if len(shown) > 8 else "")
        text = (f"ANOMALY since {start}: {len(shown)} KPI series off their expected range: {listed} "
                f"(dag {dag_id or '-'}, run {run_id}); `bin/growthflow check anomalies --date {start}`")
        deliver(Alert(key=f"anomaly:{start}", text=text), conninfo, window_minutes=ANOMALY_ALERT_WINDOW_MINUTES)
    return len(by_start)


@dataclass
class AnomalyOutcome:
    results: list[CheckResult]
    report: str
    incidents: int
    seconds: float

    def summary(self) -> dict:
        return {"series_days": len(self.results), "anomalies": sum(not r.success for r in self.results),
                "incidents": self.incidents, "seconds": round(self.seconds, 1)}


def check_anomalies(conninfo: str, window_start: dt.date | None, run_id: str, dag_id: str | None = None,
                    days: list[dt.date] | None = None, alert: bool = True, out=None) -> AnomalyOutcome:
    """Metric-rot detection on ``marts.kpi_segments_daily`` for a build's window (or ``days``).

    Every verdict goes to ``dq.validation_results`` (category ``anomaly``, severity ``warn``);
    the report goes to ``out``; each new incident alerts once. Never raises for a finding.
    """
    from growthflow.quality.anomalies import detect, load_rules

    out = out or sys.stdout  # per call: see checks._run
    started = time.perf_counter()
    rules = load_rules()
    days = days or anomaly_days(conninfo, window_start, rules)
    if not days:
        print("METRIC ROT: no complete day to check yet", file=out)
        return AnomalyOutcome([], "", 0, time.perf_counter() - started)
    frame = read_series(conninfo, min(days) - dt.timedelta(days=rules.history_days), max(days))
    results = [_as_result(f) for f in detect(frame, days, rules)]
    history.save_results(conninfo, run_id, dag_id, results)
    text = report.render_anomalies(results, f"KPI series {min(days)}..{max(days)}")
    print(text, file=out)
    incidents = alert_anomalies(conninfo, results, run_id, min(days), dag_id) if alert else 0
    return AnomalyOutcome(results, text, incidents, time.perf_counter() - started)
