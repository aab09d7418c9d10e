"""The project-local Airflow: its environment, metadata database and UI stack.

Airflow reads all of its configuration from the environment built here:
``AIRFLOW_HOME`` inside ``.local/``, metadata on the local PostgreSQL,
LocalExecutor sized for 2 cores, the repo's ``dags/`` and ``plugins/``, and the
warehouse connection as ``AIRFLOW_CONN_GROWTHFLOW_WAREHOUSE``. Any variable
already set in the caller's environment wins, so deployments override freely.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import quote, urlsplit

from growthflow.config import PROJECT_ROOT, Settings
from growthflow.connections import WAREHOUSE_CONN_ID
from growthflow.errors import ServiceUnavailable
from growthflow.warehouse import Targets

STACK = ("api-server", "scheduler", "dag-processor", "triggerer")
ADMIN_USER = "admin"


def _airflow_conn_uri(owner_url: str) -> str:
    """The warehouse URL in the form Airflow connections take (scheme ``postgres``)."""
    if not owner_url:
        host = os.environ.get("PGHOST", "localhost")
        port = os.environ.get("PGPORT", "5432")
        user = quote(os.environ.get("PGUSER", "growthflow"), safe="")
        password = quote(os.environ.get("PGPASSWORD", ""), safe="")
        database = os.environ.get("PGDATABASE", "growthflow")
        return f"postgres://{user}:{password}@{host}:{port}/{database}"
    parts = urlsplit(owner_url)
    return parts._replace(scheme="postgres").geturl()


def _secret(settings: Settings, name: str) -> str:
    """A random secret generated once and kept in .local (JWT signing, admin password)."""
    path = settings.airflow_home / f".{name}"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(24))
        path.chmod(0o600)
    return path.read_text().strip()


def admin_password(settings: Settings) -> str:
    return os.environ.get("AIRFLOW_ADMIN_PASSWORD") or _secret(settings, "admin_password")


def airflow_environment(settings: Settings, targets: Targets) -> dict[str, str]:
    home = settings.airflow_home
    home.mkdir(parents=True, exist_ok=True)
    passwords_file = home / "simple_auth_manager_passwords.json"
    passwords_file.write_text(json.dumps({ADMIN_USER: admin_password(settings)}))
    passwords_file.chmod(0o600)
    venv_bin = str(Path(sys.executable).parent)
    defaults = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        # Most of a short task's life is start-up and waiting on the API server and the
        # database, not CPU: on 2 cores 8 slots ran an ingest backfill at 146 tasks/min
        # against 89 with 4 (bench/airflow_tasks.py, docs/benchmarks.md).
        "AIRFLOW__CORE__PARALLELISM": "8",
        "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": "8",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{settings.airflow_port}/execution/",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords_file),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": targets.airflow_url,
        "AIRFLOW__API__PORT": str(settings.airflow_port),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API_AUTH__JWT_SECRET": _secret(settings, "jwt_secret"),
        "AIRFLOW__SCHEDULER__STANDALONE_DAG_PROCESSOR": "True",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
        "DO_NOT_TRACK": "1",
        "GX_ANALYTICS_ENABLED": "false",
        # `airflow dags ...` warns about graphviz on every call; it only matters for `dags show`.
        "PYTHONWARNINGS": "ignore:Could not import graphviz",
        f"AIRFLOW_CONN_{WAREHOUSE_CONN_ID.upper()}": _airflow_conn_uri(targets.owner_url),
        "GROWTHFLOW_HOME": str(settings.home),
        "GROWTHFLOW_LANDING_ROOT": str(settings.landing_root),
        "GROWTHFLOW_TRUTH_ROOT": str(settings.truth_root),
        "GROWTHFLOW_ARTIFACTS_DIR": str(settings.artifacts_dir),
        # Child processes are started as plain `airflow`: the venv must be on PATH.
        "PATH": venv_bin + os.pathsep + os.environ.get("PATH", ""),
    }
    env = dict(os.environ)
    for key, value in defaults.items():
        if key == "PATH" or key not in os.environ:
            env[key] = value
    return env


def airflow_cli(env: dict[str, str]) -> list[str]:
    return [str(Path(sys.executable).parent / "airflow")]


def component_command(env: dict[str, str], name: str) -> list[str]:
    """The command that starts one stack component.

    The scheduler starts through ``growthflow.preload`` so the tasks it forks
    inherit the heavy libraries instead of importing them each time.
    """
    if name == "scheduler":
        return [sys.executable, "-m", "growthflow.preload", name]
    return [*airflow_cli(env), name]


def run_airflow(env: dict[str, str], *args: str, check: bool = True, capture: bool = False) -> subprocess.CompletedProcess:
    result = subprocess.run([*airflow_cli(env), *args], env=env, text=True,
                            capture_output=capture)
    if check and result.returncode != 0:
        detail = ""
        if capture:
            lines = [ln for ln in (result.stderr or result.stdout or "").splitlines() if ln.strip()]
            detail = f": {lines[-1].strip()}" if lines else ""
        raise ServiceUnavailable(f"`airflow {' '.join(args)}` failed (exit {result.returncode}){detail}")
    return result


def migrate_metadata(settings: Settings, env: dict[str, str]) -> bool:
    """``airflow db migrate`` once per Airflow version (it is idempotent, but slow)."""
    import airflow

    stamp = settings.airflow_home / f".migrated-{airflow.__version__}-{_fingerprint(env)}"
    if stamp.exists():
        return False
    run_airflow(env, "db", "migrate", capture=True)
    stamp.touch()
    return True


def _fingerprint(env: dict[str, str]) -> str:
    import hashlib

    return hashlib.sha256(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].encode()).hexdigest()[:10]


# -- the UI stack ------------------------------------------------------------------
def _pid_file(settings: Settings, name: str) -> Path:
    return settings.airflow_home / "run" / f"{name}.pid"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    # A component that exited but was not reaped yet (its parent is gone) is a zombie: not running.
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def stack_status(settings: Settings) -> dict[str, int | None]:
    status = {}
    for name in STACK:
        path = _pid_file(settings, name)
        pid = int(path.read_text()) if path.exists() else None
        status[name] = pid if pid and _alive(pid) else None
    return status


def start_stack(settings: Settings, env: dict[str, str], wait_seconds: int = 180) -> str:
    """Start api-server, scheduler, dag-processor and triggerer in the background."""
    (settings.airflow_home / "run").mkdir(parents=True, exist_ok=True)
    log_dir = settings.airflow_home / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    running = stack_status(settings)
    for name in STACK:
        if running[name]:
            continue
        with open(log_dir / f"{name}.log", "ab") as log:
            proc = subprocess.Popen(component_command(env, name), env=env, stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True, cwd=settings.airflow_home)
        _pid_file(settings, name).write_text(str(proc.pid))
    url = f"http://127.0.0.1:{settings.airflow_port}"
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        dead = [name for name, pid in stack_status(settings).items() if not pid]
        if dead:
            raise ServiceUnavailable(f"Airflow {', '.join(dead)} exited at start; see {log_dir}/{dead[0]}.log "
                                     f"(is port {settings.airflow_port} taken? set GROWTHFLOW_AIRFLOW_PORT)")
        if _healthy(url):
            return url
        time.sleep(2)
    raise ServiceUnavailable(f"Airflow UI not healthy at {url} after {wait_seconds}s; see {log_dir}/api-server.log")


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/api/v2/monitor/health", timeout=3) as response:
            body = json.loads(response.read())
        return body.get("metadatabase", {}).get("status") == "healthy"
    except (OSError, ValueError):
        return False


def stop_stack(settings: Settings, timeout: float = 30) -> list[str]:
    stopped = []
    running = {name: pid for name, pid in stack_status(settings).items() if pid}
    for name, pid in running.items():
        try:
            os.killpg(pid, signal.SIGTERM)
        except OSError:
            pass
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(_alive(pid) for pid in running.values()):
        time.sleep(0.5)
    for name, pid in running.items():
        if _alive(pid):
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass
        _pid_file(settings, name).unlink(missing_ok=True)
        stopped.append(name)
    return stopped
