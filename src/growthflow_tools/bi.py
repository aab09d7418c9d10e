"""The BI server: Apache Superset over the warehouse's marts, run project-locally.

Superset lives in an environment of its own (``bi/pyproject.toml``, ``bi/uv.lock``):
it pins SQLAlchemy < 2 and older pandas and numpy than the pipeline's lock. Its
metadata database is a database and role of its own on the same PostgreSQL server
(never SQLite); its only connection to the warehouse is the read-only ``bi_reader``
login. The secret key and the admin password are generated into ``.local/bi/``.

Dashboards, charts, datasets and the database connection are YAML files under
``bi/assets/`` and are imported through Superset's own asset import
(``/api/v1/assets/import/``, overwrite on): importing twice changes nothing, and a
changed file updates its dashboard.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit

import yaml
from psycopg import sql

from growthflow.config import PROJECT_ROOT, Settings
from growthflow.errors import ConfigError, ServiceUnavailable
from growthflow.warehouse import Targets, connect
from growthflow_tools.debian import ensure_debian_packages

BI_ROOT = PROJECT_ROOT / "bi"
ASSETS_DIR = BI_ROOT / "assets"
SUPERSET_ROLE = "superset"
SUPERSET_DATABASE = "superset"
ADMIN_USER = "admin"
#: The one database connection the assets define (its YAML file under bi/assets/databases/).
DATABASE_ASSET = "databases/growthflow_marts.yaml"
MASKED_PASSWORD = "X" * 10  # Superset's own placeholder for a password it does not export


@dataclass(frozen=True)
class BiStatus:
    running: bool
    pid: int | None
    url: str


class SupersetServer:
    """Install, migrate, start, stop and load assets into the project-local Superset."""

    def __init__(self, settings: Settings, targets: Targets, name: str = "bi", port: int | None = None):
        """``name`` keeps a second server apart (the tests'): its own state folder and metadata database."""
        self.settings = settings
        self.targets = targets
        self.state = settings.home / name
        self.venv = BI_ROOT / ".venv"
        self.port = port or settings.bi_port
        self.url = f"http://127.0.0.1:{self.port}" if port else settings.bi_url
        self.metadata_database = SUPERSET_DATABASE if name == "bi" else f"{SUPERSET_DATABASE}_{name}"

    # -- secrets and environment -----------------------------------------------------
    def _secret(self, name: str) -> str:
        path = (self.settings.home / "bi" if name == "metadata_password" else self.state) / f".{name}"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(32))
            path.chmod(0o600)
        return path.read_text().strip()

    def admin_password(self) -> str:
        return os.environ.get("SUPERSET_ADMIN_PASSWORD") or self._secret("admin_password")

    def metadata_url(self) -> str:
        explicit = os.environ.get("SUPERSET_DATABASE_URL")
        if explicit:
            return explicit
        if not self.targets.local:
            raise ConfigError("set SUPERSET_DATABASE_URL (a PostgreSQL database for Superset's metadata) when the "
                              "warehouse is external")
        password = os.environ.get("SUPERSET_DB_PASSWORD") or self._secret("metadata_password")
        return (f"postgresql+psycopg2://{SUPERSET_ROLE}:{quote(password, safe='')}@127.0.0.1:"
                f"{self.settings.pg_port}/{self.metadata_database}")

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update({
            "SUPERSET_CONFIG_PATH": str(BI_ROOT / "superset_config.py"),
            "SUPERSET_HOME": str(self.state / "home"),
            "SUPERSET_SECRET_KEY": os.environ.get("SUPERSET_SECRET_KEY") or self._secret("secret_key"),
            "SUPERSET_DATABASE_URL": self.metadata_url(),
            "SUPERSET_PORT": str(self.port),
            "FLASK_APP": "superset",
            "PATH": str(self.venv / "bin") + os.pathsep + os.environ.get("PATH", ""),
            "SCARF_ANALYTICS": "false",
            "PYTHONWARNINGS": "ignore",
        })
        # The pipeline's own Python path must not leak into Superset's interpreter.
        for key in ("PYTHONPATH", "VIRTUAL_ENV", "AIRFLOW_HOME"):
            env.pop(key, None)
        return env

    # -- install and migrate ---------------------------------------------------------
    #: Niceness for the install and migration commands: the main command prepares Superset
    #: while the pipeline runs, on CPU the pipeline leaves idle (0: normal priority).
    niceness: int = 0

    def _nice_prefix(self) -> list[str]:
        nice = shutil.which("nice") if self.niceness else None
        return [nice, "-n", str(self.niceness)] if nice else []

    def ensure_environment(self) -> bool:
        """Install Superset's locked environment (``bi/uv.lock``); True when it ran ``uv sync``."""
        stamp = self.venv / ".growthflow-lock"
        digest = hashlib.sha256((BI_ROOT / "uv.lock").read_bytes()).hexdigest()
        if (self.venv / "bin" / "superset").exists() and stamp.exists() and stamp.read_text() == digest:
            return False
        uv = shutil.which("uv") or str(Path.home() / ".local" / "bin" / "uv")
        python = self.settings.python or sys.executable
        result = subprocess.run([*self._nice_prefix(), uv, "sync", "--frozen", "--quiet", "--project", str(BI_ROOT),
                                 "--python", python],
                                capture_output=True, text=True)
        if result.returncode != 0:
            tail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
            raise ServiceUnavailable(f"installing Superset's environment (bi/uv.lock) failed: {tail[0]}; "
                                     "check the network to PyPI and rerun")
        stamp.write_text(digest)
        return True

    def ensure_metadata_database(self) -> None:
        """Superset's own role and database on the warehouse's server (idempotent; needs the admin login:
        the local cluster's, or GROWTHFLOW_ADMIN_URL's)."""
        if not self.targets.admin_conninfo:
            return
        password = os.environ.get("SUPERSET_DB_PASSWORD") or self._secret("metadata_password")
        with connect(self.targets.admin_conninfo, autocommit=True, purpose="the PostgreSQL server (admin)") as conn:
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (SUPERSET_ROLE,)).fetchone()
            conn.execute(sql.SQL("{} ROLE {} LOGIN PASSWORD {}").format(
                sql.SQL("ALTER" if exists else "CREATE"), sql.Identifier(SUPERSET_ROLE), sql.Literal(password)))
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (self.metadata_database,)).fetchone():
                conn.execute(sql.SQL("CREATE DATABASE {} OWNER {} TEMPLATE template0 ENCODING 'UTF8'").format(
                    sql.Identifier(self.metadata_database), sql.Identifier(SUPERSET_ROLE)))
                conn.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(
                    sql.Identifier(self.metadata_database)))

    def _superset(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run([*self._nice_prefix(), str(self.venv / "bin" / "superset"), *args], env=self.environment(),
                                capture_output=True, text=True, cwd=self.state)
        if check and result.returncode != 0:
            log = self.state / "setup.log"
            log.write_text(result.stdout + result.stderr)
            raise ServiceUnavailable(f"`superset {args[0]}` failed; see {log}")
        return result

    def migrate(self, progress=lambda message: None) -> bool:
        """Migrate Superset's metadata database and create the roles once per locked version and database;
        create the admin user, or reset its password when it changed. True when it migrated."""
        self.state.mkdir(parents=True, exist_ok=True)
        (self.state / "home").mkdir(exist_ok=True)
        migrated, admin = self.state / ".migrated", self.state / ".admin_applied"
        version = hashlib.sha256((BI_ROOT / "uv.lock").read_bytes()).hexdigest()[:16]
        wanted = f"{version}:{self.metadata_url().rsplit('@', 1)[-1]}"
        password_digest = hashlib.sha256(self.admin_password().encode()).hexdigest()
        ran = False
        if not (migrated.exists() and migrated.read_text() == wanted):
            progress("migrating Superset's metadata database (first run: about half a minute)")
            self._superset("db", "upgrade")
            self._superset("init")
            migrated.write_text(wanted)
            admin.unlink(missing_ok=True)
            ran = True
        if not (admin.exists() and admin.read_text() == password_digest):
            created = self._superset("fab", "create-admin", "--username", ADMIN_USER, "--firstname", "growthflow",
                                     "--lastname", "admin", "--email", "admin@growthflow.local",
                                     "--password", self.admin_password(), check=False)
            if "already exist" in created.stdout + created.stderr:
                self._superset("fab", "reset-password", "--username", ADMIN_USER, "--password",
                               self.admin_password())
            elif created.returncode != 0:
                (self.state / "setup.log").write_text(created.stdout + created.stderr)
                raise ServiceUnavailable(f"creating Superset's admin user failed; see {self.state / 'setup.log'}")
            admin.write_text(password_digest)
        return ran

    # -- run --------------------------------------------------------------------------
    @property
    def _pid_file(self) -> Path:
        return self.state / "superset.pid"

    def status(self) -> BiStatus:
        pid = None
        if self._pid_file.exists():
            try:
                pid = int(self._pid_file.read_text())
                os.kill(pid, 0)
            except (ValueError, OSError):
                pid = None
        return BiStatus(running=pid is not None and self.healthy(), pid=pid, url=self.url)

    def healthy(self) -> bool:
        import urllib.request

        try:
            with urllib.request.urlopen(f"{self.url}/health", timeout=3) as response:
                return response.read().strip() == b"OK"
        except OSError:
            return False

    def start(self, wait_seconds: int = 120) -> bool:
        """Start the server in the background (gunicorn, one worker with threads); False if it already ran."""
        if self.status().running:
            return False
        log = self.state / "superset.log"
        command = [str(self.venv / "bin" / "gunicorn"), "--bind", f"127.0.0.1:{self.port}", "--workers", "1",
                   "--worker-class", "gthread", "--threads", "8", "--timeout", "120", "--limit-request-line", "0",
                   "--limit-request-field_size", "0", "superset.app:create_app()"]
        with open(log, "ab") as out:
            proc = subprocess.Popen(command, env=self.environment(), stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True, cwd=self.state)
        self._pid_file.write_text(str(proc.pid))
        deadline = time.monotonic() + wait_seconds
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise ServiceUnavailable(f"Superset exited at start; see {log} (is port {self.port} taken? "
                                         "set GROWTHFLOW_BI_PORT)")
            if self.healthy():
                return True
            time.sleep(1)
        raise ServiceUnavailable(f"Superset not healthy at {self.url} after {wait_seconds}s; see {log}")

    def stop(self, timeout: float = 20) -> bool:
        status = self.status()
        if status.pid is None:
            self._pid_file.unlink(missing_ok=True)
            return False
        try:
            os.killpg(status.pid, signal.SIGTERM)
        except OSError:
            pass
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.kill(status.pid, 0)
            except OSError:
                break
            time.sleep(0.3)
        else:
            try:
                os.killpg(status.pid, signal.SIGKILL)
            except OSError:
                pass
        self._pid_file.unlink(missing_ok=True)
        return True

    # -- assets -----------------------------------------------------------------------
    def api(self) -> "SupersetApi":
        return SupersetApi(self.url, ADMIN_USER, self.admin_password())

    def import_assets(self, assets_dir: Path = ASSETS_DIR) -> dict:
        """Import every YAML asset (overwrite on). Returns what the bundle held, by kind."""
        bundle, counts = asset_bundle(assets_dir, self.warehouse_uri())
        self.api().import_bundle(bundle, {DATABASE_ASSET: self._bi_password()})
        return counts

    def warehouse_uri(self) -> str:
        """The ``bi_reader`` login as Superset's SQLAlchemy URI, password masked (it is passed apart)."""
        url = self.targets.bi_url
        if not url:
            raise ConfigError("the BI server needs the bi_reader login: set BI_READER_PASSWORD and WAREHOUSE_URL, "
                              "or use the local warehouse")
        parts = urlsplit(url)
        host = f"{parts.hostname}:{parts.port or 5432}"
        return f"postgresql+psycopg2://{parts.username}:{MASKED_PASSWORD}@{host}{parts.path}"

    def _bi_password(self) -> str:
        from urllib.parse import unquote

        return unquote(urlsplit(self.targets.bi_url or "").password or "")

    def dashboard_urls(self) -> dict[str, str]:
        """Dashboard title -> URL (by slug), as the assets define them."""
        out = {}
        for path in sorted((ASSETS_DIR / "dashboards").glob("*.yaml")):
            doc = yaml.safe_load(path.read_text())
            out[doc["dashboard_title"]] = f"{self.url}/superset/dashboard/{doc['slug']}/"
        return out


#: Debian's Chromium and its WebDriver: what the BI tests and the render benchmark drive
#: (a system browser, never a downloaded build).
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")


def ensure_headless_browser(say=lambda message: None) -> None:
    """Install Debian's chromium and chromium-driver when they are missing and we may (root, apt)."""
    if CHROMIUM.exists() and CHROMEDRIVER.exists():
        return
    ensure_debian_packages(("chromium", "chromium-driver"), "the BI browser tests", say)


def prepare(server: SupersetServer, say=lambda message: None) -> None:
    """Install Superset's environment, create its metadata database and migrate it (no server yet)."""
    if server.ensure_environment():
        say("installed Superset's environment (bi/uv.lock)")
    server.ensure_metadata_database()
    server.migrate(progress=say)


def bring_up(settings: Settings, targets: Targets, say=lambda message: None,
             server: SupersetServer | None = None) -> SupersetServer:
    """Everything `bi up` does: install, migrate, start, import the assets; say what happened.
    With a ``server`` already prepared (``prepare``), what is left: start and import."""
    started = time.monotonic()
    if server is None:
        server = SupersetServer(settings, targets)
        prepare(server, say)
    if server.start():
        say(f"started Superset on {server.url}")
    counts = server.import_assets()
    say("imported " + ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items())) + " from bi/assets/")
    say(f"BI: {server.url}  login: {ADMIN_USER} / {server.admin_password()}  "
        f"(ready in {time.monotonic() - started:.0f}s)")
    for title, url in server.dashboard_urls().items():
        say(f"  {title}: {url}")
    return server


def asset_bundle(assets_dir: Path, warehouse_uri: str) -> tuple[bytes, dict]:
    """Superset's import format: a ZIP with ``bundle/metadata.yaml`` and the asset folders."""
    buffer = io.BytesIO()
    counts: dict[str, int] = {}
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
        bundle.writestr("bundle/metadata.yaml", yaml.safe_dump(
            {"version": "1.0.0", "type": "assets", "timestamp": "2026-01-01T00:00:00+00:00"}))
        for path in sorted(assets_dir.rglob("*.yaml")):
            relative = path.relative_to(assets_dir).as_posix()
            text = path.read_text()
            if relative == DATABASE_ASSET:
                doc = yaml.safe_load(text)
                doc["sqlalchemy_uri"] = warehouse_uri
                text = yaml.safe_dump(doc, sort_keys=False)
            bundle.writestr(f"bundle/{relative}", text)
            kind = relative.split("/", 1)[0]
            counts[kind] = counts.get(kind, 0) + 1
    return buffer.getvalue(), counts


class SupersetApi:
    """A logged-in session on Superset's REST API (JWT plus the CSRF token its forms need)."""

    def __init__(self, url: str, username: str, password: str):
        import requests

        self.url = url
        self.session = requests.Session()
        response = self.session.post(f"{url}/api/v1/security/login", json={
            "username": username, "password": password, "provider": "db", "refresh": True}, timeout=30)
        if response.status_code != 200:
            raise ServiceUnavailable(f"Superset at {url} refused the admin login ({response.status_code}); "
                                     "run `bin/growthflow bi up` again to reset it")
        self.session.headers["Authorization"] = f"Bearer {response.json()['access_token']}"
        token = self.session.get(f"{url}/api/v1/security/csrf_token/", timeout=30)
        token.raise_for_status()
        self.session.headers["X-CSRFToken"] = token.json()["result"]
        self.session.headers["Referer"] = url

    def get(self, path: str, **params):
        response = self.session.get(f"{self.url}{path}", params=params, timeout=120)
        response.raise_for_status()
        return response

    def post(self, path: str, **kwargs):
        return self.session.post(f"{self.url}{path}", timeout=120, **kwargs)

    def import_bundle(self, bundle: bytes, passwords: dict[str, str]) -> None:
        response = self.post("/api/v1/assets/import/", files={"bundle": ("growthflow.zip", bundle, "application/zip")},
                             data={"passwords": json.dumps(passwords), "overwrite": "true"})
        if response.status_code != 200:
            raise ServiceUnavailable(f"Superset refused the assets in bi/assets/ ({response.status_code}): "
                                     f"{response.text[:400]}")
