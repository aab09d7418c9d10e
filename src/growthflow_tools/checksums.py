"""What "the same tables" means when two runs are compared: a checksum of every table's content."""

from __future__ import annotations

import psycopg
from psycopg import sql

#: Tables that log every run by design (a rerun adds its own rows), and the view that
#: summarises one of them: not part of "the data".
RUN_LOGS = ("dq.validation_results", "dq.alert_log", "ltv.model_runs", "raw.partition_loads", "marts.dq_daily")
#: Columns that name a run or a moment, not data: they differ between two runs by design.
RUN_COLUMNS = ("load_id", "loaded_at", "quarantined_at", "run_id")


def every_table_checksum(url: str) -> dict[str, tuple[int, str]]:
    """Row count and content checksum of every table and view in the warehouse's schemas
    (partitions through their parent), ignoring run logs and run-naming columns."""
    out = {}
    with psycopg.connect(url) as conn:
        relations = conn.execute(
            "SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname IN ('raw', 'staging', 'dq', 'marts', 'ltv') AND c.relkind IN ('r', 'p', 'v', 'm')"
            " AND NOT c.relispartition ORDER BY 1").fetchall()
        for (name,) in relations:
            if name in RUN_LOGS:
                continue
            schema, table = name.split(".")
            out[name] = conn.execute(sql.SQL(
                "SELECT count(*), md5(coalesce(string_agg(r::text, '|' ORDER BY r::text), ''))"
                " FROM (SELECT to_jsonb(t) - {}::text[] AS r FROM {}.{} AS t) AS rows").format(
                    sql.Literal(list(RUN_COLUMNS)), sql.Identifier(schema), sql.Identifier(table))).fetchone()
    return out
