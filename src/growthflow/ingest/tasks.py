"""Entry points the ingest DAG calls; plain functions, testable without Airflow."""

from __future__ import annotations

import datetime as dt

from growthflow.config import load_settings
from growthflow.ingest.loader import load_partition
from growthflow.landing import SOURCES, partition_dir, partition_ready
from growthflow.schedule import parse_date


def newest_loaded_delivery(conninfo: str) -> dt.date | None:
    """The newest delivery date any load has completed (None before the first load)."""
    import psycopg

    with psycopg.connect(conninfo) as conn:
        return conn.execute("select max(delivery_date) from raw.partition_loads").fetchone()[0]


def unloaded_partitions(conninfo: str, since: dt.date | None = None) -> list[tuple[dt.date, str]]:
    """(delivery date, source) pairs with no completed load between ``since`` (default:
    the first load) and the newest delivery date loaded: holes a build must not cover."""
    import psycopg

    query = """
        with bounds as (
            select greatest(min(delivery_date), coalesce(%(since)s::date, min(delivery_date))) as first_day,
                   max(delivery_date) as last_day
            from raw.partition_loads
        )
        select day::date, sources.source
        from bounds
        cross join unnest(%(sources)s::text[]) as sources (source)
        cross join generate_series(bounds.first_day, bounds.last_day, interval '1 day') as days (day)
        where not exists (select 1 from raw.partition_loads as loads
                          where loads.source = sources.source and loads.delivery_date = days.day::date)
        order by 1, 2
    """
    with psycopg.connect(conninfo) as conn:
        return conn.execute(query, {"since": since, "sources": list(SOURCES)}).fetchall()


def missing_partitions(delivery_date: dt.date) -> list[str]:
    """Partitions of ``delivery_date`` that are not complete yet (no ``_SUCCESS``)."""
    settings = load_settings()
    root, conn_id = settings.landing_root, settings.landing_conn_id
    return [str(partition_dir(root, source, delivery_date, conn_id))
            for source in SOURCES if not partition_ready(root, source, delivery_date, conn_id)]


def load_delivery(conninfo: str, source: str, delivery_date: str | dt.date, run_id: str | None = None) -> dict:
    """Load one source's partition and return its counts (kept as the task's XCom)."""
    settings = load_settings()
    day = parse_date(delivery_date, "delivery date")
    result = load_partition(conninfo, source, day, settings.landing_root, run_id=run_id,
                            max_line_bytes=settings.max_line_bytes, conn_id=settings.landing_conn_id)
    print(result.summary())
    return {"source": source, "delivery_date": day.isoformat(), "files": len(result.files) - len(result.refused),
            "lines_read": result.lines_read, "rows_loaded": result.rows_loaded,
            "rows_quarantined": result.rows_quarantined, "reasons": dict(result.reasons),
            "objects_refused": {f.source_file: f.refusal for f in result.refused}}


def loaded_delivery_dates(conninfo: str, start: dt.date, end: dt.date) -> set[dt.date]:
    """Delivery dates in ``start..end`` whose partitions of every source are loaded."""
    import psycopg

    with psycopg.connect(conninfo) as conn:
        rows = conn.execute(
            """select delivery_date from raw.partition_loads
               where delivery_date between %(start)s and %(end)s and source = any(%(sources)s)
               group by delivery_date having count(distinct source) = %(count)s""",
            {"start": start, "end": end, "sources": list(SOURCES), "count": len(SOURCES)}).fetchall()
    return {row[0] for row in rows}
