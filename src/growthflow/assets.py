"""Airflow Assets for what growthflow publishes, shared by every DAG.

URIs name the warehouse table; DAGs downstream schedule on them.
"""

from __future__ import annotations

from airflow.sdk import Asset

from growthflow.landing import SOURCES

RAW_ASSETS = {source: Asset(name=f"raw.{source}", uri=f"growthflow://warehouse/raw/{source}") for source in SOURCES}

#: The dbt-built marts: updated only after the build (and its blocking checks) succeed.
MARTS_ASSET = Asset(name="marts", uri="growthflow://warehouse/marts")
