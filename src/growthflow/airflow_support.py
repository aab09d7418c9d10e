"""What every growthflow DAG shares: default arguments, the alert callback, the
checks that skip a run while history is still loading, and the gate that turns a
failure retrying cannot fix into a final one.

The schedule lives in ``growthflow.schedule``, settings in ``growthflow.config``,
connection names in ``growthflow.connections``; DAG files import this module and
call plain functions from the rest of the package.
"""

from __future__ import annotations

import datetime as dt
from datetime import timedelta

from growthflow.alerts import notify_failure
from growthflow.config import load_settings
from growthflow.schedule import delivery_date_for, parse_date

_settings = load_settings()
#: How long the ingest sensor waits for a partition's _SUCCESS marker, and how often it looks.
PARTITION_TIMEOUT_SECONDS = _settings.partition_timeout_seconds
PARTITION_POKE_SECONDS = _settings.partition_poke_seconds
#: Builds and forecasts wait while the newest delivery loaded is further behind the run's
#: day than this (the lateness contract): a backfill of history is still catching up.
MAX_STALENESS_DAYS = _settings.max_staleness_days

DEFAULT_ARGS = {
    "owner": "growth-data",
    "retries": 2,
    # A warehouse restart or a network blip outlasts a few seconds; the wait doubles per try.
    "retry_delay": timedelta(seconds=_settings.retry_delay_seconds),
    "retry_exponential_backoff": True,
    "on_failure_callback": notify_failure,
}


def run_delivery_date(context) -> dt.date:
    """The ``delivery_date`` param if given (reruns of any date), else from the logical date."""
    override = (context.get("params") or {}).get("delivery_date")
    if override:
        return parse_date(override, "delivery date")
    return delivery_date_for(context["logical_date"])


def stale_deliveries(newest: dt.date, run_after: dt.datetime, max_days: int = MAX_STALENESS_DAYS) -> str | None:
    """Why work on deliveries up to ``newest`` would be stale for a run due at ``run_after`` (None if not)."""
    expected = delivery_date_for(run_after)
    behind = (expected - newest).days
    if behind <= max_days:
        return None
    return (f"the newest delivery loaded is {newest}, {behind} days behind {expected} (a backfill catching up, or "
            f"deliveries missing): skipped, nothing is published; the first run once deliveries are within "
            f"{max_days} days (GROWTHFLOW_MAX_STALENESS_DAYS) covers everything loaded meanwhile")


def skip_if_stale(newest: dt.date | None, context) -> None:
    """Skip (not fail) a build or forecast while a backfill of history is still loading."""
    # Asset-triggered runs have no logical date: they are due when they were triggered.
    due = context.get("logical_date") or context["dag_run"].run_after
    _skip_if(newest and stale_deliveries(newest, due))


def incomplete_deliveries(unloaded: list[tuple[dt.date, str]]) -> str | None:
    """Why a build over these holes would publish a quiet day that was not (None if no holes)."""
    if not unloaded:
        return None
    day, source = unloaded[0]
    days = len({d for d, _ in unloaded})
    return (f"{len(unloaded)} partition(s) on {days} delivery date(s) are not loaded yet, the first {source} "
            f"{day} (a backfill still loading, or a delivery missing): skipped, nothing is published; "
            "the first build once they are loaded covers every date loaded meanwhile")


def skip_if_incomplete(unloaded: list[tuple[dt.date, str]]) -> None:
    """Skip (not fail) a build whose window has dates that are not loaded yet."""
    _skip_if(incomplete_deliveries(unloaded))


def _skip_if(reason: str | None) -> None:
    if reason:
        from airflow.sdk.exceptions import AirflowSkipException

        raise AirflowSkipException(reason)


def plan_build_window(conninfo: str, context) -> str:
    """The window start of a build run (see ``build_window``), skipping the run while it
    would build over deliveries that are not loaded yet or are days behind."""
    from growthflow.build_window import newest_built_delivery, window_start
    from growthflow.ingest.tasks import newest_loaded_delivery, unloaded_partitions

    explicit = context["params"].get("window_start")
    built = newest_built_delivery(conninfo)
    start = window_start(context.get("triggering_asset_events"), explicit, built)
    if not explicit:  # an explicit rebuild runs whenever it is asked for
        skip_if_stale(newest_loaded_delivery(conninfo), context)
        # Holes from a week before the window (all history before the first build), as the
        # blocking raw_deliveries check sees them: wait for them instead of failing on them.
        since = parse_date(start) - timedelta(days=7) if built and start else None
        skip_if_incomplete(unloaded_partitions(conninfo, since))
    return start


def fail_without_retry(job, *args, **kwargs):
    """Run ``job``; a failure that retrying cannot fix (a blocking data-quality check, an
    LTV fit that fails its diagnostics, a malformed param or setting) fails the task at
    once, so the Asset it would publish is not updated and the shared notifier alerts once."""
    from airflow.sdk.exceptions import AirflowFailException

    from growthflow.errors import BadInput, ConfigError
    from growthflow.ltv.job import ForecastRejected
    from growthflow.quality.checks import DataQualityFailed

    try:
        return job(*args, **kwargs)
    except (DataQualityFailed, ForecastRejected, BadInput, ConfigError) as exc:
        raise AirflowFailException(str(exc)) from None


def quality_gate(check, *args, **kwargs) -> dict:
    """A data-quality check from a task: its summary as the XCom, blocking failures final."""
    return fail_without_retry(check, *args, **kwargs).summary()
