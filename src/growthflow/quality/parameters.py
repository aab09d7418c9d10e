"""Values the expectations compare against, from one source of truth each.

Value sets and tolerances come from the dbt project's vars, so a new event name
is added in one place and both the staging rules and the checks follow. The
raw row-count floor comes from the trailing delivery history.
"""

from __future__ import annotations

import datetime as dt
import re
from functools import lru_cache
from statistics import median
from typing import Any

import psycopg
import yaml

from growthflow.dbt_runner import DBT_PROJECT_DIR
from growthflow.errors import ConfigError

#: A delivery with fewer lines than this share of the trailing median is "missing data".
ROW_COUNT_FLOOR = 0.5
TRAILING_DAYS = 7

_INTERVAL = re.compile(r"^\s*(\d+)\s+(hour|day)s?\s*$")


def _hours(interval: str) -> float:
    match = _INTERVAL.match(interval)
    if not match:
        raise ConfigError(f"dbt var tolerance {interval!r} must read like '1 day' or '12 hours'")
    return float(match[1]) * (24 if match[2] == "day" else 1)


@lru_cache(maxsize=1)
def project_parameters() -> dict[str, Any]:
    """Value sets and tolerances shared with the dbt project (``dbt_project.yml`` vars)."""
    variables = yaml.safe_load((DBT_PROJECT_DIR / "dbt_project.yml").read_text())["vars"]
    return {
        "lookback_days": int(variables["lookback_days"]),
        "known_event_names": list(variables["known_event_names"]),
        "known_currencies": list(variables["known_currencies"]),
        "known_platforms": list(variables["known_platforms"]),
        "known_paid_channels": list(variables["known_paid_channels"]),
        "known_channels": list(variables["known_paid_channels"]) + list(variables["known_unpaid_channels"]),
        "future_tolerance_hours": _hours(variables["future_event_tolerance"]),
        "stale_tolerance_hours_negative": -_hours(variables["stale_event_tolerance"]),
    }


def min_delivered_lines(conn: psycopg.Connection, source: str, day: dt.date) -> int:
    """Half the median of lines delivered on the previous 7 delivery dates (0 without history)."""
    rows = conn.execute(
        """select lines_read from raw.partition_loads
           where source = %s and delivery_date < %s and delivery_date >= %s""",
        (source, day, day - dt.timedelta(days=TRAILING_DAYS)),
    ).fetchall()
    if not rows:
        return 0
    return int(ROW_COUNT_FLOOR * median(r[0] for r in rows))


def parameter_names(value: Any) -> set[str]:
    """Names of the suite parameters (GX's ``{"$PARAMETER": name}``) an expectation's kwargs use."""
    if isinstance(value, dict):
        if set(value) == {"$PARAMETER"}:
            return {value["$PARAMETER"]}
        return set().union(*(parameter_names(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(parameter_names(v) for v in value)) if value else set()
    return set()
