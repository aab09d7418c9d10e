"""An Airflow stack of its own, beside the project's: its own ``GROWTHFLOW_HOME``, Airflow
metadata database, ports and warehouse. The end-to-end tests and the executor benchmark run
the real commands (`growthflow demo`, `up`, `down`) in it, each with its own settings."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg import sql

from growthflow.config import AIRFLOW_ROLE, load_settings
from growthflow.localpg import Credentials
from growthflow.warehouse import create_database
from growthflow_tools.processes import free_port


@contextmanager
def isolated_stack_env(warehouse_url: str, admin_conninfo: str, owner_url: str, **extra: str):
    """The environment for the stack (nothing of the caller's Airflow settings), ``extra`` on
    top. Stops what the stack started and drops its metadata database afterwards."""
    home = Path(tempfile.mkdtemp(prefix="stack-", dir=load_settings().home))
    metadata_db = f"gf_airflow_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_conninfo, autocommit=True) as admin:
        create_database(admin, metadata_db, AIRFLOW_ROLE)
    login = Credentials.load_or_create(load_settings().credentials_file).airflow_password
    port = owner_url.rsplit(":", 1)[1].split("/")[0]
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AIRFLOW__", "AIRFLOW_CONN_", "GROWTHFLOW_")) and k != "AIRFLOW_HOME"}
    env.update({
        "GROWTHFLOW_HOME": str(home), "WAREHOUSE_URL": warehouse_url,
        "AIRFLOW_DATABASE_URL": f"postgresql+psycopg2://{AIRFLOW_ROLE}:{login}@127.0.0.1:{port}/{metadata_db}",
        "GROWTHFLOW_AIRFLOW_PORT": str(free_port()), "GROWTHFLOW_REDIS_PORT": str(free_port()),
        "GROWTHFLOW_LTV_METHOD": "map",
        # A component killed on purpose must not hold its tasks for the default 5 minutes.
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "60",
        **extra,
    })
    try:
        yield env
    finally:
        subprocess.run([sys.executable, "-m", "growthflow_tools.cli", "down"], env=env, capture_output=True,
                       timeout=180)
        with psycopg.connect(admin_conninfo, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(metadata_db)))
        shutil.rmtree(home, ignore_errors=True)


@contextmanager
def environment(env: dict[str, str]):
    """This process's environment replaced by ``env`` for the block (settings read it)."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def metadata_url(env: dict[str, str]) -> str:
    """The stack's Airflow metadata database, as psycopg takes it."""
    return env["AIRFLOW_DATABASE_URL"].replace("postgresql+psycopg2://", "postgresql://", 1)
