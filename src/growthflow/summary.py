"""Readable summaries of what the pipeline did, for the end of the main command."""

from __future__ import annotations

import datetime as dt

from growthflow.landing import SOURCES
from growthflow.warehouse import connect


def load_summary(conninfo: str, start: dt.date | None = None, end: dt.date | None = None) -> str:
    """Per delivery date: loaded/quarantined per source; then quarantine reasons per source."""
    where, params = "", []
    if start and end:
        where, params = "WHERE delivery_date BETWEEN %s AND %s", [start, end]
    with connect(conninfo) as conn:
        rows = conn.execute(
            f"SELECT delivery_date, source, lines_read, rows_loaded, rows_quarantined FROM raw.partition_loads {where}"
            " ORDER BY delivery_date, source", params).fetchall()
        reasons = conn.execute(
            f"SELECT source, reason, count(*) FROM raw.quarantine {where} GROUP BY 1, 2 ORDER BY 1, 3 DESC",
            params).fetchall()
        refused = conn.execute(
            "SELECT source, refusal_reason, count(*) FROM raw.load_audit"
            f" {where + ' AND' if where else 'WHERE'} status = 'refused' GROUP BY 1, 2 ORDER BY 1, 3 DESC",
            params).fetchall()
    if not rows:
        return "nothing loaded yet"
    by_day: dict[dt.date, dict[str, tuple[int, int, int]]] = {}
    for day, source, lines, loaded, quarantined in rows:
        by_day.setdefault(day, {})[source] = (lines, loaded, quarantined)
    width = 25
    out = ["delivery date  " + "".join(f"{s + ' loaded/quar.':>{width}}" for s in SOURCES)]
    totals = {s: [0, 0, 0] for s in SOURCES}
    for day in sorted(by_day):
        cells = []
        for source in SOURCES:
            if source in by_day[day]:
                lines, loaded, quarantined = by_day[day][source]
                for i, value in enumerate((lines, loaded, quarantined)):
                    totals[source][i] += value
                cells.append(f"{loaded:,}/{quarantined:,}".rjust(width))
            else:
                cells.append("missing".rjust(width))
        out.append(f"{day}     " + "".join(cells))
    out.append("total          " + "".join(f"{totals[s][1]:,}/{totals[s][2]:,}".rjust(width) for s in SOURCES))
    out.append("")
    out.append("lines read = loaded + quarantined for every file (checked at load, and by a constraint); "
               "objects the contract does not allow are refused, each with its reason")
    by_source: dict[str, list[str]] = {}
    for source, reason, count in reasons:
        by_source.setdefault(source, []).append(f"{reason} {count:,}")
    refused_by_source: dict[str, list[str]] = {}
    for source, reason, count in refused:
        refused_by_source.setdefault(source, []).append(f"{reason} {count:,}")
    for source in SOURCES:
        line = f"quarantined {source}: {', '.join(by_source.get(source, ['none']))}"
        if source in refused_by_source:
            line += f"; objects refused: {', '.join(refused_by_source[source])}"
        out.append(line)
    return "\n".join(out)


LAYERS = (
    ("raw", ("raw.events", "raw.payments", "raw.ad_spend", "raw.campaigns", "raw.quarantine")),
    ("staging", ("staging.stg_events", "staging.stg_payments", "staging.stg_ad_spend", "staging.stg_campaigns")),
    ("dq", ("dq.rejected_events", "dq.rejected_payments", "dq.rejected_ad_spend")),
    ("marts", ("marts.fct_events", "marts.fct_payments", "marts.fct_ad_spend", "marts.dim_users",
               "marts.dim_campaigns", "marts.kpi_daily", "marts.kpi_weekly", "marts.kpi_acquisition_daily",
               "marts.funnel_cohort_weekly", "marts.retention_cohort_weekly", "marts.campaign_performance")),
    ("ltv", ("ltv.campaign_forecasts", "ltv.model_runs")),
)


def layer_summary(conninfo: str) -> str:
    """Rows per table, layer by layer (tables not built yet are left out)."""
    out = ["rows per layer:"]
    with connect(conninfo) as conn:
        for layer, tables in LAYERS:
            cells = []
            for table in tables:
                if conn.execute("SELECT to_regclass(%s)", (table,)).fetchone()[0] is None:
                    continue
                count = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # names are constants above
                cells.append(f"{table.split('.', 1)[1]} {count:,}")
            if cells:
                out.append(f"  {layer:<8} " + ", ".join(cells))
    return "\n".join(out)


#: The newest verdict of each check: per delivery date for the raw suites, which check one
#: partition each; the newest run for the window and mart suites, which supersede earlier ones.
NEWEST_VERDICTS = """
SELECT DISTINCT ON (suite, check_id, per_partition) *
FROM (SELECT *, CASE WHEN layer = 'raw' AND suite <> 'raw_deliveries' THEN period_start END AS per_partition
      FROM dq.validation_results WHERE checked_at >= %(since)s AND category <> 'anomaly') AS results
ORDER BY suite, check_id, per_partition, checked_at DESC
"""


def quality_summary(conninfo: str, since: dt.datetime | None = None) -> str:
    """Data-quality verdicts per layer (the newest verdict of each check, from runs since
    ``since``): checks, blocking failures, warnings and the rows they flagged; then the
    findings that flagged the most rows. Earlier failures a later run superseded are counted."""
    params = {"since": since or dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)}
    with connect(conninfo) as conn:
        per_layer = conn.execute(
            "SELECT layer, count(*), count(*) FILTER (WHERE NOT success AND severity = 'fail'),"
            " count(*) FILTER (WHERE NOT success AND severity = 'warn'),"
            " coalesce(sum(unexpected_count) FILTER (WHERE NOT success), 0)"
            f" FROM ({NEWEST_VERDICTS}) AS newest GROUP BY layer"
            " ORDER BY array_position(ARRAY['raw', 'staging', 'core', 'marts'], layer)", params).fetchall()
        worst = conn.execute(
            "SELECT suite, check_id, severity, coalesce(sum(unexpected_count), 0)"
            f" FROM ({NEWEST_VERDICTS}) AS newest WHERE NOT success"
            " GROUP BY 1, 2, 3 ORDER BY (severity = 'fail') DESC, 4 DESC LIMIT 6", params).fetchall()
        anomalies = conn.execute(
            "SELECT count(*), count(DISTINCT check_id), min(period_end), max(period_end) FROM ("
            " SELECT DISTINCT ON (check_id, period_end) check_id, period_end, success FROM dq.validation_results"
            " WHERE checked_at >= %(since)s AND category = 'anomaly' ORDER BY check_id, period_end, checked_at DESC)"
            " AS newest WHERE NOT success", params).fetchone()
        superseded = conn.execute(
            "SELECT count(*) FROM dq.validation_results WHERE checked_at >= %(since)s"
            " AND NOT success AND severity = 'fail' AND category <> 'anomaly'", params).fetchone()[0]
    if not per_layer and not anomalies[1]:
        return "data quality: no checks have run yet"
    blocking = sum(row[2] for row in per_layer)
    warned = any(row[3] for row in per_layer) or anomalies[0]
    verdict = "FAIL" if blocking else ("WARN" if warned else "PASS")
    out = [f"data quality: {verdict}, {blocking} blocking failure(s) in the newest verdicts"
           " (history in dq.validation_results, trend in marts.dq_daily)",
           f"  {'layer':<8} {'checks':>7} {'blocking':>9} {'warnings':>9} {'rows flagged':>13}"]
    for layer, checks, failed, warned, rows in per_layer:
        out.append(f"  {layer:<8} {checks:>7,} {failed:>9,} {warned:>9,} {rows:>13,}")
    if superseded > blocking:
        out.append(f"  {superseded - blocking} earlier blocking failure(s) were cleared by later runs"
                   " (e.g. a build that met a partition still loading)")
    if worst:
        out.append("  biggest findings: " + "; ".join(
            f"{suite}.{check} ({severity}, {rows:,} rows)" for suite, check, severity, rows in worst))
    days, series, first, last = anomalies
    if days:
        out.append(f"  metric rot: {days} anomalous day(s) in {series} KPI series between {first} and {last}"
                   " (warnings; per day and segment in marts.dq_anomalies, `bin/growthflow check anomalies`)")
    return "\n".join(out)
