"""Shared fixtures: a real PostgreSQL database per test module, generated landing zones.

`bin/growthflow test` starts the project-local cluster (or uses WAREHOUSE_URL
plus GROWTHFLOW_ADMIN_URL) and exports the Airflow environment before pytest
starts. Each fixture database is created fresh, migrated, and dropped after.
"""

from __future__ import annotations

import datetime as dt
import http.server
import json
import os
import threading
import uuid
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from growthflow.config import OWNER_ROLE, load_settings
from growthflow_tools.generator.generate import generate
from growthflow_tools.generator.settings import GeneratorSettings
from growthflow.localpg import Credentials
from growthflow.migrate import migrate
from growthflow.warehouse import create_database, resolve_targets

if "AIRFLOW_HOME" not in os.environ:
    # Plain `pytest` (not through `bin/growthflow test`): give Airflow the same
    # project-local environment before anything imports it.
    from growthflow_tools.airflow_env import airflow_environment

    os.environ.update(airflow_environment(load_settings(), resolve_targets(load_settings())))

#: A small dataset where every defect kind occurs (rates scaled up 8x).
DEFECTIVE = GeneratorSettings(start=dt.date(2026, 3, 1), days=4, seed=11, daily_new_users=400, campaigns=6)
DEFECT_SCALE = 8.0


@pytest.fixture(scope="session")
def targets():
    settings = load_settings()
    t = resolve_targets(settings)
    if not t.admin_conninfo:
        pytest.fail("tests need an admin connection: run them with `bin/growthflow test` "
                    "(or set GROWTHFLOW_ADMIN_URL with WAREHOUSE_URL)")
    return t


def _database_url(owner_url: str, dbname: str) -> str:
    head, _, _ = owner_url.rpartition("/")
    return f"{head}/{dbname}"


@pytest.fixture(scope="session")
def database_factory(targets):
    """Create fresh, migrated warehouse databases; drop them at the end of the session."""
    created: list[str] = []

    def make() -> str:
        name = f"gf_test_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(targets.admin_conninfo, autocommit=True) as admin:
            create_database(admin, name, OWNER_ROLE)
        created.append(name)
        url = _database_url(targets.owner_url, name)
        migrate(url)
        return url

    yield make
    with psycopg.connect(targets.admin_conninfo, autocommit=True) as admin:
        for name in created:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="module")
def warehouse(database_factory) -> str:
    return database_factory()


@pytest.fixture(scope="session")
def bi_password() -> str:
    return Credentials.load_or_create(load_settings().credentials_file).bi_password


@pytest.fixture(scope="session")
def defective_dataset(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("defective")
    generate(DEFECTIVE.scaled_defects(DEFECT_SCALE), root / "landing", root / "truth")
    return root / "landing", root / "truth"


@pytest.fixture(scope="session")
def clean_dataset(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("clean")
    generate(DEFECTIVE.scaled_defects(0.0), root / "landing", root / "truth")
    return root / "landing", root / "truth"


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    """A real S3 API server (moto in server mode) on 127.0.0.1, started once for the session.

    Yields the environment a client needs: the endpoint and a key pair the server accepts.
    Nothing is patched: every test talks HTTP to this process through boto3/s3fs.
    """
    from growthflow_tools.s3_server import S3Server

    server = S3Server(tmp_path_factory.mktemp("s3"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


# A Slack Incoming Webhook stand-in: a real HTTP server on 127.0.0.1 that records what it receives.
class _Webhook(http.server.BaseHTTPRequestHandler):
    statuses: list[int] = []
    received: list[str] = []

    def do_POST(self):  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append(json.loads(body)["text"])
        status = type(self).statuses.pop(0) if type(self).statuses else 200
        self.send_response(status)
        self.end_headers()
        self.wfile.write(b"ok" if status == 200 else b"server_error")

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook(monkeypatch):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Webhook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Webhook.statuses, _Webhook.received = [], []
    url = f"http://127.0.0.1:{server.server_address[1]}/services/T0/B0/x"
    monkeypatch.setenv("AIRFLOW_CONN_GROWTHFLOW_SLACK", json.dumps({"conn_type": "slackwebhook", "password": url}))
    yield _Webhook
    server.shutdown()
