"""The project-local Airflow: its environment, metadata database and UI stack.

Airflow reads all of its configuration from the environment built here:
``AIRFLOW_HOME`` inside ``.local/``, metadata on the local PostgreSQL,
LocalExecutor sized for 2 cores (or, with ``GROWTHFLOW_EXECUTOR=celery``, the
CeleryExecutor with a project-local Redis and ``GROWTHFLOW_CELERY_WORKERS`` workers),
the repo's ``dags/`` and ``plugins/``, and the warehouse connection as
``AIRFLOW_CONN_GROWTHFLOW_WAREHOUSE``. Any variable already set in the caller's
environment wins, so deployments override freely.
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

from growthflow.config import DEFAULT_QUEUE, LTV_QUEUE, PROJECT_ROOT, Settings
from growthflow.connections import WAREHOUSE_CONN_ID
from growthflow.errors import ServiceUnavailable
from growthflow.warehouse import Targets
from growthflow_tools.processes import alive

STACK = ("api-server", "scheduler", "dag-processor", "triggerer")
ADMIN_USER = "admin"
#: Task slots on the machine, whichever executor runs them. Most of a short task's life is
#: start-up and waiting on the API server and the database, not CPU: on 2 cores 8 slots ran an
#: ingest backfill at 146 tasks/min against 89 with 4 (bench/airflow_tasks.py, docs/benchmarks.md).
TASK_SLOTS = 8
#: How often a running task's supervisor heartbeats, and so the longest it can take to
#: notice that its task process has exited.
MIN_HEARTBEAT_SECONDS = 1
#: How long Redis holds a taken, unacknowledged message before giving it to another worker:
#: longer than the longest task (the LTV fit's execution_timeout is 2 hours).
VISIBILITY_TIMEOUT_SECONDS = 6 * 3600


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
        "AIRFLOW__CORE__PARALLELISM": str(TASK_SLOTS),
        "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": str(TASK_SLOTS),
        "AIRFLOW__OPERATORS__DEFAULT_QUEUE": DEFAULT_QUEUE,
        # A task's supervisor can miss its process's exit and notice it only at its next
        # heartbeat: with the default 5 s, about half the tasks held their slot 5 s after
        # finishing. At 1 s a 30-day ingest backfill took 76 s instead of 91 (LocalExecutor)
        # and 123 s instead of 162 (Celery, 2 workers): bench/executors.py, docs/scaling.md.
        "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": str(MIN_HEARTBEAT_SECONDS),
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
    if settings.executor == "celery":
        defaults.update(celery_environment(settings, targets))
    env = dict(os.environ)
    for key, value in defaults.items():
        if key == "PATH" or key not in os.environ:
            env[key] = value
    return env


def uses_local_broker(settings: Settings) -> bool:
    """Celery with no broker of the deployment's own: growthflow runs the project-local Redis."""
    return settings.executor == "celery" and "AIRFLOW__CELERY__BROKER_URL" not in os.environ


def celery_environment(settings: Settings, targets: Targets) -> dict[str, str]:
    """CeleryExecutor: the broker (the project-local Redis unless AIRFLOW__CELERY__BROKER_URL is
    set), results in the metadata database, the same task slots shared among the workers."""
    from growthflow_tools.redis_server import LocalRedis

    env = {
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{targets.airflow_url}",
        "AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS": "growthflow.celery_config.CELERY_CONFIG",
        # Each worker takes its share of the slots, rounded up; AIRFLOW__CORE__PARALLELISM caps the total.
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(-(-TASK_SLOTS // settings.celery_workers)),
        "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT_SECONDS),
    }
    if uses_local_broker(settings):
        env["AIRFLOW__CELERY__BROKER_URL"] = LocalRedis(settings).url
    return env


def worker_queues(index: int) -> str:
    """Every local worker takes the default queue; the first also takes the LTV fit's."""
    return ",".join((DEFAULT_QUEUE, LTV_QUEUE) if index == 1 else (DEFAULT_QUEUE,))


def stack_components(settings: Settings, flower: bool = False) -> tuple[str, ...]:
    """The processes ``bin/growthflow up`` runs: Airflow's four, plus the Celery workers."""
    if settings.executor != "celery":
        return STACK
    workers = tuple(f"celery-worker-{i}" for i in range(1, settings.celery_workers + 1))
    return STACK + workers + (("flower",) if flower else ())


def describe_stack(settings: Settings, flower: bool = False) -> str:
    """What ``start_stack`` starts, for the progress line."""
    if settings.executor != "celery":
        return ", ".join(STACK)
    broker = "Redis" if uses_local_broker(settings) else "the broker at AIRFLOW__CELERY__BROKER_URL"
    workers = f"{settings.celery_workers} Celery worker{'s' if settings.celery_workers > 1 else ''}"
    return ", ".join(STACK) + f", {workers} on {broker}" + (", Flower" if flower else "")


def airflow_cli(env: dict[str, str]) -> list[str]:
    return [str(Path(sys.executable).parent / "airflow")]


def component_command(env: dict[str, str], name: str, settings: Settings) -> list[str]:
    """The command that starts one stack component.

    With LocalExecutor the scheduler starts through ``growthflow.preload`` so the tasks it
    forks inherit the heavy libraries instead of importing them each time. Celery workers
    preload through ``growthflow.celery_config`` (Celery's ``worker_init``); their logs are on
    this machine's disk, where the api-server reads them, so they serve none of their own.
    """
    if name == "scheduler" and env.get("AIRFLOW__CORE__EXECUTOR") == "LocalExecutor":
        return [sys.executable, "-m", "growthflow.preload", name]
    if name.startswith("celery-worker-"):
        index = int(name.rsplit("-", 1)[1])
        return [*airflow_cli(env), "celery", "worker", "--celery-hostname", f"worker-{index}@%h",
                "--queues", worker_queues(index), "--skip-serve-logs"]
    if name == "flower":
        return [*airflow_cli(env), "celery", "flower", "--hostname", "127.0.0.1", "--port", str(settings.flower_port),
                "--basic-auth", f"{ADMIN_USER}:{admin_password(settings)}"]
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


def stack_status(settings: Settings, components: tuple[str, ...] | None = None) -> dict[str, int | None]:
    """Pid of each component (None when it is not running): those of the configured stack by default."""
    status = {}
    for name in stack_components(settings) if components is None else components:
        path = _pid_file(settings, name)
        pid = int(path.read_text()) if path.exists() else None
        status[name] = pid if pid and alive(pid) else None
    return status


def _recorded_components(settings: Settings) -> tuple[str, ...]:
    """Every component a pid file names, whatever the executor is now set to."""
    return tuple(sorted(path.stem for path in (settings.airflow_home / "run").glob("*.pid")))


def start_stack(settings: Settings, env: dict[str, str], wait_seconds: int = 180, flower: bool = False) -> str:
    """Start api-server, scheduler, dag-processor and triggerer in the background (with the
    CeleryExecutor also Redis, unless the broker is elsewhere, and the workers); start only
    what is not running, so it also restarts a component that died."""
    (settings.airflow_home / "run").mkdir(parents=True, exist_ok=True)
    log_dir = settings.airflow_home / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    if uses_local_broker(settings):
        from growthflow_tools.redis_server import LocalRedis

        LocalRedis(settings).start()
    components = stack_components(settings, flower)
    running = stack_status(settings, components)
    for name in components:
        if running[name]:
            continue
        with open(log_dir / f"{name}.log", "ab") as log:
            proc = subprocess.Popen(component_command(env, name, settings), env=env, stdout=log,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                                    cwd=settings.airflow_home)
        _pid_file(settings, name).write_text(str(proc.pid))
    url = f"http://127.0.0.1:{settings.airflow_port}"
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        dead = [name for name, pid in stack_status(settings, components).items() if not pid]
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
    """Stop every component that runs (a Celery worker first finishes its tasks, for up to
    ``timeout`` seconds), then the project-local Redis if it runs."""
    stopped = []
    recorded = _recorded_components(settings)
    running = {name: pid for name, pid in stack_status(settings, recorded).items() if pid}
    for name, pid in running.items():
        try:
            os.killpg(pid, signal.SIGTERM)
        except OSError:
            pass
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(alive(pid) for pid in running.values()):
        time.sleep(0.5)
    for name in recorded:
        pid = running.get(name)
        if pid and alive(pid):
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass
        _pid_file(settings, name).unlink(missing_ok=True)
        if pid:
            stopped.append(name)
    from growthflow_tools.redis_server import LocalRedis

    if LocalRedis(settings).stop():
        stopped.append("redis")
    return stopped
