"""Which delivery dates a warehouse build must (re)process.

The build DAG runs when the raw Assets have new events; each event carries the
delivery date it loaded. Reprocessing starts at the earliest of them, so a late
or re-delivered partition rebuilds everything from its date on, and several
ingest runs collapsed into one build are all covered. It starts no later than
the day after the newest date already built, so dates loaded while builds were
skipped (a backfill catching up) or failing are built too.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Iterable, Mapping

from growthflow.schedule import parse_date


def _event_dates(events: Iterable[Any]) -> list[dt.date]:
    dates = []
    for event in events:
        extra = getattr(event, "extra", None) or (event.get("extra") if isinstance(event, Mapping) else None) or {}
        value = extra.get("delivery_date")
        if value:
            dates.append(parse_date(value, "an asset event's delivery_date"))
    return dates


def newest_built_delivery(conninfo: str) -> dt.date | None:
    """The newest delivery date in the core event fact (None before the first build)."""
    import psycopg

    with psycopg.connect(conninfo) as conn:
        if conn.execute("select to_regclass('marts.fct_events')").fetchone()[0] is None:
            return None
        return conn.execute("select max(delivery_date) from marts.fct_events").fetchone()[0]


def window_start(triggering_asset_events: Mapping[Any, Iterable[Any]] | None,
                 explicit: str | None = None, built_through: dt.date | None = None) -> str:
    """ISO date to pass as dbt's ``window_start`` var, or '' to let dbt use its lookback.

    ``explicit`` (the DAG's ``window_start`` param) wins; it is validated here so
    that nothing but a date ever reaches the SQL.
    """
    if explicit:
        return parse_date(explicit, "window_start").isoformat()
    dates: list[dt.date] = []
    for events in (triggering_asset_events or {}).values():
        dates.extend(_event_dates(events))
    if not dates:
        return ""
    start = min(dates)
    if built_through is not None:
        start = min(start, built_through + dt.timedelta(days=1))
    return start.isoformat()
