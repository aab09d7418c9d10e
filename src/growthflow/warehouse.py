"""Reaching the warehouse: connection targets, connecting with clear errors, bootstrap.

Knows PostgreSQL and nothing of Airflow, dbt or PyMC. Tasks receive a
conninfo/URL string (from the Airflow connection) and call these helpers.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

import psycopg
from psycopg import sql

from growthflow.config import (
    AIRFLOW_DATABASE,
    AIRFLOW_ROLE,
    BI_ROLE,
    OWNER_ROLE,
    WAREHOUSE_DATABASE,
    Settings,
)
from growthflow.errors import ServiceUnavailable
from growthflow.localpg import Credentials, LocalCluster


@dataclass(frozen=True)
class Targets:
    """Where each part of the pipeline connects."""

    owner_url: str  #: loads and transforms (owner of raw/staging/marts/dq/ltv)
    bi_url: str | None  #: read-only BI login, when its password is known
    airflow_url: str  #: Airflow metadata database (SQLAlchemy URL)
    admin_conninfo: str | None  #: superuser, only for creating roles/databases
    local: bool  #: True when growthflow runs the server itself


def postgres_url(user: str, password: str, host: str, port: int, dbname: str, driver: str = "postgresql") -> str:
    return f"{driver}://{quote(user)}:{quote(password, safe='')}@{host}:{port}/{dbname}"


def resolve_targets(settings: Settings) -> Targets:
    """Local cluster by default; WAREHOUSE_URL (or PG* variables) to use an existing server."""
    if settings.uses_external_warehouse:
        owner = settings.warehouse_url or ""  # "" lets libpq read PGHOST, PGUSER, ...
        airflow_url = settings.airflow_database_url or _sibling_database(owner, AIRFLOW_DATABASE)
        return Targets(owner_url=owner, bi_url=_bi_login(owner), airflow_url=airflow_url,
                       admin_conninfo=settings.admin_url, local=False)
    creds = Credentials.load_or_create(settings.credentials_file)
    cluster = LocalCluster(settings)
    host, port = "127.0.0.1", settings.pg_port
    return Targets(
        owner_url=postgres_url(OWNER_ROLE, creds.owner_password, host, port, WAREHOUSE_DATABASE),
        bi_url=postgres_url(BI_ROLE, creds.bi_password, host, port, WAREHOUSE_DATABASE),
        airflow_url=settings.airflow_database_url
        or postgres_url(AIRFLOW_ROLE, creds.airflow_password, host, port, AIRFLOW_DATABASE, "postgresql+psycopg2"),
        admin_conninfo=cluster.admin_conninfo(),
        local=True,
    )


def _bi_login(owner_url: str) -> str | None:
    """The read-only login on the same server and database, when its password is given."""
    password = os.environ.get("BI_READER_PASSWORD")
    if not password or "://" not in owner_url:
        return None
    parts = urlsplit(owner_url)
    return postgres_url(BI_ROLE, password, parts.hostname or "localhost", parts.port or 5432, parts.path.lstrip("/"))


def _sibling_database(url: str, dbname: str) -> str:
    if not url:
        return f"postgresql+psycopg2:///{dbname}"
    parts = urlsplit(url)
    return parts._replace(scheme="postgresql+psycopg2", path=f"/{dbname}").geturl()


def redact(conninfo: str) -> str:
    """Hide passwords in URLs and key=value conninfo strings before printing."""
    conninfo = re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", conninfo)
    return re.sub(r"(password=)\S+", r"\1***", conninfo)


def describe_target(conninfo: str) -> str:
    if "://" in conninfo:
        parts = urlsplit(conninfo)
        return f"{parts.hostname or 'localhost'}:{parts.port or 5432}{parts.path or ''}"
    return redact(conninfo) or "the server named by the PG* environment variables"


def connect(conninfo: str, *, autocommit: bool = False, purpose: str = "the warehouse") -> psycopg.Connection:
    """Open a psycopg connection, turning connection failures into one clear line."""
    try:
        return psycopg.connect(conninfo, autocommit=autocommit, connect_timeout=10,
                               application_name="growthflow")
    except psycopg.OperationalError as exc:
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise ServiceUnavailable(
            f"cannot connect to {purpose} at {describe_target(conninfo)} ({redact(reason)}): "
            "start the local warehouse with `bin/growthflow warehouse start`, or check WAREHOUSE_URL"
        ) from None


def bootstrap_roles_and_databases(admin_conninfo: str, creds: Credentials) -> None:
    """Create roles and databases (idempotent). Needs a superuser; run once per server."""
    with connect(admin_conninfo, autocommit=True, purpose="the PostgreSQL server (admin)") as conn:
        for role, password in ((OWNER_ROLE, creds.owner_password), (BI_ROLE, creds.bi_password),
                               (AIRFLOW_ROLE, creds.airflow_password)):
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
            verb = "ALTER" if exists else "CREATE"
            conn.execute(sql.SQL("{} ROLE {} LOGIN PASSWORD {}").format(
                sql.SQL(verb), sql.Identifier(role), sql.Literal(password)))
        # The BI login can never write, even where a grant slips through.
        conn.execute(sql.SQL("ALTER ROLE {} SET default_transaction_read_only = on").format(sql.Identifier(BI_ROLE)))
        for database, owner in ((WAREHOUSE_DATABASE, OWNER_ROLE), (AIRFLOW_DATABASE, AIRFLOW_ROLE)):
            create_database(conn, database, owner)
        conn.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(sql.Identifier(AIRFLOW_DATABASE)))


def create_database(admin: psycopg.Connection, database: str, owner: str) -> bool:
    """CREATE DATABASE if missing, owned by ``owner``, connectable only by the app roles."""
    if admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone():
        return False
    admin.execute(sql.SQL("CREATE DATABASE {} OWNER {} TEMPLATE template0 ENCODING 'UTF8'").format(
        sql.Identifier(database), sql.Identifier(owner)))
    admin.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(sql.Identifier(database)))
    if owner == OWNER_ROLE:
        admin.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(
            sql.Identifier(database), sql.Identifier(BI_ROLE)))
    return True
