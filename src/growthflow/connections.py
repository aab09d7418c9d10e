"""Where the warehouse is, seen from a task: the one home of connection names and URLs.

Tasks reach the warehouse through the Airflow connection ``growthflow_warehouse``
(``AIRFLOW_CONN_GROWTHFLOW_WAREHOUSE`` in the environment, or the metadata
database) and the landing zone's object store through the connection
``GROWTHFLOW_LANDING_CONN_ID`` names. The CLI, outside Airflow, resolves the same
warehouse from settings (``growthflow.warehouse.resolve_targets``).
"""

from __future__ import annotations

from urllib.parse import quote

#: Name of the Airflow connection every task uses to reach the warehouse.
WAREHOUSE_CONN_ID = "growthflow_warehouse"


def warehouse_conninfo(conn_id: str = WAREHOUSE_CONN_ID) -> str:
    """A libpq URL built from the Airflow connection (env: AIRFLOW_CONN_GROWTHFLOW_WAREHOUSE)."""
    from airflow.sdk import BaseHook

    conn = BaseHook.get_connection(conn_id)
    auth = ""
    if conn.login:
        auth = quote(conn.login, safe="")
        if conn.password:
            auth += ":" + quote(conn.password, safe="")
        auth += "@"
    host = conn.host or "localhost"
    port = f":{conn.port}" if conn.port else ""
    return f"postgresql://{auth}{host}{port}/{conn.schema or 'growthflow'}"
