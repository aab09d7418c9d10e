"""Idempotent schema migrations for the warehouse.

Plain numbered SQL files in ``growthflow/migrations/``, applied in order, each
in its own transaction, recorded with a checksum in ``meta.schema_migrations``.
An advisory lock makes concurrent runs (two Airflow tasks, CI) safe. A file
that changed after it was applied is an error: add a new migration instead.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from growthflow.errors import ConfigError
from growthflow.warehouse import connect

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_LOCK_KEY = 0x67726F77  # arbitrary constant shared by every migrator


@dataclass(frozen=True)
class Migration:
    version: str
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    migrations = []
    for path in sorted(directory.glob("*.sql")):
        version, _, name = path.stem.partition("_")
        migrations.append(Migration(version=version, name=name, sql=path.read_text()))
    return migrations


def migrate(conninfo: str, directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply pending migrations; returns the versions applied now."""
    applied_now: list[str] = []
    with connect(conninfo, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
        try:
            conn.execute("CREATE SCHEMA IF NOT EXISTS meta")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS meta.schema_migrations ("
                " version text PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = dict(conn.execute("SELECT version, checksum FROM meta.schema_migrations").fetchall())
            for migration in discover(directory):
                if migration.version in done:
                    if done[migration.version] != migration.checksum:
                        raise ConfigError(
                            f"migration {migration.version}_{migration.name} changed after it was applied; "
                            "restore it and add a new numbered migration instead"
                        )
                    continue
                with conn.transaction():
                    conn.execute(migration.sql)
                    conn.execute(
                        "INSERT INTO meta.schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                        (migration.version, migration.name, migration.checksum),
                    )
                applied_now.append(migration.version)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
    return applied_now
