"""When growthflow runs and which data a run is about: the one home of the schedule.

The business day is Seoul's (``BUSINESS_TZ``; dbt's ``seoul_date`` macro uses the
same zone). Apps deliver a UTC day's logs shortly after it ends; the ingest DAG
runs at 10:00 Seoul (01:00 UTC) and loads the day before its own Seoul day. The
DAGs, the demo and the build window all read these names from here.
"""

from __future__ import annotations

import datetime as dt

import pendulum

from growthflow.errors import BadInput

BUSINESS_TZ = "Asia/Seoul"
#: The ingest DAG's cron expression, in BUSINESS_TZ: daily at 10:00.
INGEST_CRON = "0 10 * * *"
#: Every DAG's start date (no catch-up: history is loaded by an explicit backfill).
START_DATE = pendulum.datetime(2020, 1, 1, tz=BUSINESS_TZ)


def ingest_trigger_utc_hour() -> int:
    """The UTC hour at which the daily ingest run is due (01 for 10:00 Seoul)."""
    minute, hour = INGEST_CRON.split()[:2]
    local = pendulum.datetime(2026, 1, 1, int(hour), int(minute), tz=BUSINESS_TZ)
    return local.in_timezone("UTC").hour


def ingest_timetable():
    """The ingest DAG's timetable (imported lazily: only DAG files need Airflow)."""
    from airflow.sdk import CronTriggerTimetable

    return CronTriggerTimetable(INGEST_CRON, timezone=BUSINESS_TZ)


def delivery_date_for(logical_date: dt.datetime) -> dt.date:
    """The delivery date a daily run processes: the Seoul day before the run's day.

    The run of Seoul day D (10:00 Seoul, 01:00 UTC) comes after the UTC day D-1's
    partitions are complete, so it loads D-1.
    """
    seoul_day = pendulum.instance(logical_date).in_timezone(BUSINESS_TZ).date()
    return seoul_day - dt.timedelta(days=1)


def latest_complete_delivery_date(now: dt.datetime | None = None) -> dt.date:
    """The newest delivery date whose scheduled ingest run has already been due."""
    now = now or dt.datetime.now(dt.timezone.utc)
    trigger_day = now.date() if now.hour >= ingest_trigger_utc_hour() else now.date() - dt.timedelta(days=1)
    return trigger_day - dt.timedelta(days=1)


def run_window(first_delivery: dt.date, last_delivery: dt.date) -> tuple[str, str]:
    """Logical dates (UTC, ISO 8601) bracketing the ingest runs that load ``first_delivery`` to
    ``last_delivery``: the run of delivery date D is due on the UTC day D+1."""
    first = dt.datetime.combine(first_delivery + dt.timedelta(days=1), dt.time(0), tzinfo=dt.timezone.utc)
    last = dt.datetime.combine(last_delivery + dt.timedelta(days=1), dt.time(23, 59), tzinfo=dt.timezone.utc)
    return first.isoformat(), last.isoformat()


def parse_date(value: str | dt.date, what: str = "date") -> dt.date:
    """The one date parser: a ``YYYY-MM-DD`` from a param, an XCom, a setting or the command line.

    Anything else is refused with one line (:class:`BadInput`) before it reaches SQL or a path.
    """
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError:
        raise BadInput(f"{what} {str(value)[:40]!r} is not a YYYY-MM-DD date; pass one like 2026-09-14") from None
