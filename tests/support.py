"""Helpers shared by test modules: load generated deliveries, run dbt."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from growthflow.dbt_runner import run_dbt
from growthflow.ingest.loader import load_partition
from growthflow.landing import SOURCES


def dbt(url: str, tmp: Path, *args: str) -> str:
    result = run_dbt(url, *args, capture=True, target_path=tmp / "dbt-target")
    assert result.returncode == 0, result.stdout[-4000:]
    return result.stdout


def load_dates(url: str, landing: Path, dates: list[dt.date]) -> None:
    for day in dates:
        for source in SOURCES:
            load_partition(url, source, day, landing)
