"""The landing zone layout from the raw-log contract.

``<landing>/<source>/dt=YYYY-MM-DD/<files>``; a partition is complete when its
``_SUCCESS`` marker exists. Delivery dates are UTC dates.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from growthflow.errors import BadInput

SOURCES = ("events", "payments", "ad_spend", "campaigns")
SUCCESS_MARKER = "_SUCCESS"

_FILE_PATTERNS = {
    "events": "events-*.jsonl.gz",
    "payments": "payments-*.jsonl.gz",
    "ad_spend": "*.csv",
    "campaigns": "campaigns.csv",
}


def partition_dir(landing_root: Path, source: str, delivery_date: dt.date) -> Path:
    """The partition's folder; only a known source and a real date ever become part of a path."""
    if source not in SOURCES:
        raise BadInput(f"unknown source {str(source)[:40]!r}; use one of {', '.join(SOURCES)}")
    if not isinstance(delivery_date, dt.date):
        raise BadInput(f"delivery date {str(delivery_date)[:40]!r} is not a date; pass one like 2026-09-14")
    return Path(landing_root) / source / f"dt={delivery_date.isoformat()}"


def partition_ready(landing_root: Path, source: str, delivery_date: dt.date) -> bool:
    return (partition_dir(landing_root, source, delivery_date) / SUCCESS_MARKER).exists()


def partition_files(landing_root: Path, source: str, delivery_date: dt.date) -> list[Path]:
    """Data files of one partition, in name order (which is delivery order)."""
    directory = partition_dir(landing_root, source, delivery_date)
    return sorted(p for p in directory.glob(_FILE_PATTERNS[source]) if p.is_file())


def delivered_dates(landing_root: Path, source: str) -> list[dt.date]:
    """Every delivery date that has a complete partition for ``source``."""
    dates = []
    for directory in sorted((Path(landing_root) / source).glob("dt=*")):
        try:
            day = dt.date.fromisoformat(directory.name[3:])
        except ValueError:
            continue
        if (directory / SUCCESS_MARKER).exists():
            dates.append(day)
    return dates
