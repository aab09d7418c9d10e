"""Settings: the one place every ``GROWTHFLOW_*`` variable is read, defaulted and validated.

Everything a deployment changes is an environment variable (listed in
docs/configuration.md) or an Airflow connection (``growthflow.connections``);
nothing here is specific to one machine. Paths default to folders under the
project-local state directory ``.local/``. A bad value is one line:
:class:`~growthflow.errors.ConfigError` naming the variable and what to set.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from growthflow.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parents[2]

#: Default port of the project-local PostgreSQL: not 5432, so it never clashes
#: with a server the machine may already run.
DEFAULT_PG_PORT = 54329
DEFAULT_AIRFLOW_PORT = 8080
DEFAULT_BI_PORT = 8088
#: The project-local Redis (Celery's broker with GROWTHFLOW_EXECUTOR=celery): not 6379, for the same reason.
DEFAULT_REDIS_PORT = 63799
DEFAULT_FLOWER_PORT = 5555

WAREHOUSE_DATABASE = "growthflow"
AIRFLOW_DATABASE = "airflow"
OWNER_ROLE = "growthflow"
BI_ROLE = "bi_reader"
AIRFLOW_ROLE = "airflow"

#: Fit methods of the nightly LTV job (``models_ltv.fit.METHODS``; named here so reading
#: a setting never imports PyMC).
LTV_METHODS = ("nuts", "map")
#: How Airflow runs tasks: ``local`` (LocalExecutor, forked from the scheduler) or ``celery``
#: (CeleryExecutor: a Redis broker and ``GROWTHFLOW_CELERY_WORKERS`` worker processes).
EXECUTORS = ("local", "celery")
#: Celery queues. Loads, dbt and checks go to Airflow's default queue; the LTV fit to its own,
#: so a deployment can serve it from a worker with memory to spare.
DEFAULT_QUEUE = "default"
LTV_QUEUE = "ltv"
#: What the scheduler imports before it forks task processes (see ``growthflow.preload``).
DEFAULT_PRELOAD = ("psycopg", "great_expectations", "dbt.cli.main", "dbt.adapters.postgres", "cosmos",
                   # what every task process imports when it loads its DAG file and runs its task
                   "airflow.sdk", "growthflow.assets", "growthflow.airflow_support", "growthflow.ingest.tasks",
                   "growthflow.quality.checks")


def _int_env(name: str, default: int, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a whole number; set it to e.g. {default} or unset it") from None
    if minimum is not None and value < minimum:
        raise ConfigError(f"{name}={raw!r} is below {minimum}; set it to e.g. {default} or unset it")
    return value


def _float_env(name: str, default: float, low: float, high: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not low <= value < high:
        raise ConfigError(f"{name}={raw!r}: use a number in [{low}, {high}), e.g. {default}")
    return value


def _choice_env(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = (os.environ.get(name) or default).strip()
    if value not in choices:
        raise ConfigError(f"{name}={value!r}: use one of {', '.join(choices)}")
    return value


def _list_env(name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return tuple(item.strip() for item in raw.split(",") if item.strip())


def _path_env(name: str, default: Path) -> Path:
    raw = os.environ.get(name)
    return Path(raw).expanduser().resolve() if raw else default


def _path_or_url_env(name: str, default: Path) -> str:
    """A local folder (made absolute) or an object-store URL such as ``s3://bucket/prefix`` (kept as is)."""
    raw = (os.environ.get(name) or "").strip()
    if "://" in raw:
        scheme, _, rest = raw.partition("://")
        if not scheme.isidentifier() or not rest.strip("/"):
            raise ConfigError(f"{name}={raw[:80]!r} is not a URL like s3://bucket/prefix; "
                              "set it to a bucket URL or a local folder")
        if "@" in rest.split("/")[0]:
            raise ConfigError(f"{name} must not carry credentials in the URL; put them in the Airflow connection "
                              "GROWTHFLOW_LANDING_CONN_ID names, or in the AWS_* variables")
        return raw.rstrip("/")
    return str(Path(raw).expanduser().resolve()) if raw else str(default)


@dataclass(frozen=True)
class Settings:
    """Resolved settings; build with :func:`load_settings`."""

    home: Path
    landing_root: str  #: a local folder, or a URL such as s3://bucket/prefix
    landing_conn_id: str | None  #: the Airflow connection with the object store's credentials
    truth_root: Path
    artifacts_dir: Path
    pg_port: int
    pg_bin_dir: str | None
    pg_os_user: str
    warehouse_url: str | None
    admin_url: str | None
    airflow_database_url: str | None
    airflow_port: int
    bi_port: int
    bi_url: str  #: where Superset answers (GROWTHFLOW_BI_URL; default the project-local server)
    max_line_bytes: int
    # Schedule and retries of the DAGs
    partition_timeout_seconds: int  #: how long the ingest sensor waits for a _SUCCESS marker
    partition_poke_seconds: int  #: how often it looks
    max_staleness_days: int  #: builds/forecasts wait while the newest delivery is further behind
    retry_delay_seconds: int  #: first retry delay of every task (doubles per try)
    # Alerts
    alert_window_minutes: int  #: the same alert is sent at most once per window
    slack_conn_id: str  #: Airflow connection of the Slack Incoming Webhook
    # The nightly LTV fit
    ltv_method: str
    ltv_seed: int
    ltv_draws: int
    ltv_tune: int
    ltv_target_accept: float
    ltv_unit_days: int
    # Executor
    executor: str  #: local or celery
    celery_workers: int  #: worker processes the local stack starts with executor celery
    redis_port: int  #: the project-local Redis (celery's broker)
    redis_bin: str | None  #: a redis-server binary to use instead of the one on PATH
    flower_port: int  #: Celery's Flower UI (bin/growthflow up --flower)
    # Process start-up and tooling
    preload: tuple[str, ...]  #: modules the scheduler and Celery workers import before they fork tasks
    demo_days: int  #: delivery dates the demo generates and loads
    inject_fault: str | None  #: test hook: make a load fail at a named stage
    python: str | None  #: the Python 3.12 for tool environments (Superset's); default this one

    @property
    def uses_external_warehouse(self) -> bool:
        """True when the user pointed growthflow at a server it must not start."""
        return bool(self.warehouse_url) or bool(os.environ.get("PGHOST"))

    @property
    def pg_dir(self) -> Path:
        return self.home / "pg"

    @property
    def redis_dir(self) -> Path:
        return self.home / "redis"

    @property
    def airflow_home(self) -> Path:
        return self.home / "airflow"

    @property
    def credentials_file(self) -> Path:
        return self.home / "credentials.env"


def load_settings() -> Settings:
    home = _path_env("GROWTHFLOW_HOME", PROJECT_ROOT / ".local")
    return Settings(
        home=home,
        landing_root=_path_or_url_env("GROWTHFLOW_LANDING_ROOT", home / "landing"),
        landing_conn_id=os.environ.get("GROWTHFLOW_LANDING_CONN_ID") or None,
        truth_root=_path_env("GROWTHFLOW_TRUTH_ROOT", home / "truth"),
        artifacts_dir=_path_env("GROWTHFLOW_ARTIFACTS_DIR", home / "artifacts"),
        pg_port=_int_env("GROWTHFLOW_PG_PORT", DEFAULT_PG_PORT),
        pg_bin_dir=os.environ.get("GROWTHFLOW_PG_BIN") or None,
        pg_os_user=os.environ.get("GROWTHFLOW_PG_OS_USER", "postgres"),
        warehouse_url=os.environ.get("WAREHOUSE_URL") or None,
        admin_url=os.environ.get("GROWTHFLOW_ADMIN_URL") or None,
        airflow_database_url=os.environ.get("AIRFLOW_DATABASE_URL") or None,
        airflow_port=_int_env("GROWTHFLOW_AIRFLOW_PORT", DEFAULT_AIRFLOW_PORT),
        bi_port=_int_env("GROWTHFLOW_BI_PORT", DEFAULT_BI_PORT),
        bi_url=(os.environ.get("GROWTHFLOW_BI_URL") or
                f"http://127.0.0.1:{_int_env('GROWTHFLOW_BI_PORT', DEFAULT_BI_PORT)}").rstrip("/"),
        max_line_bytes=_int_env("GROWTHFLOW_MAX_LINE_BYTES", 1_048_576, minimum=1),
        partition_timeout_seconds=_int_env("GROWTHFLOW_PARTITION_TIMEOUT_SECONDS", 6 * 3600, minimum=1),
        partition_poke_seconds=_int_env("GROWTHFLOW_PARTITION_POKE_SECONDS", 60, minimum=1),
        max_staleness_days=_int_env("GROWTHFLOW_MAX_STALENESS_DAYS", 3, minimum=0),
        retry_delay_seconds=_int_env("GROWTHFLOW_RETRY_DELAY_SECONDS", 120, minimum=0),
        alert_window_minutes=_int_env("GROWTHFLOW_ALERT_WINDOW_MINUTES", 60, minimum=0),
        slack_conn_id=os.environ.get("GROWTHFLOW_SLACK_CONN_ID") or "growthflow_slack",
        ltv_method=_choice_env("GROWTHFLOW_LTV_METHOD", "nuts", LTV_METHODS),
        ltv_seed=_int_env("GROWTHFLOW_LTV_SEED", 20261122, minimum=0),
        ltv_draws=_int_env("GROWTHFLOW_LTV_DRAWS", 500, minimum=1),
        ltv_tune=_int_env("GROWTHFLOW_LTV_TUNE", 500, minimum=0),
        ltv_target_accept=_float_env("GROWTHFLOW_LTV_TARGET_ACCEPT", 0.98, 0.5, 1.0),
        ltv_unit_days=_int_env("GROWTHFLOW_LTV_UNIT_DAYS", 7, minimum=1),
        executor=_choice_env("GROWTHFLOW_EXECUTOR", "local", EXECUTORS),
        celery_workers=_int_env("GROWTHFLOW_CELERY_WORKERS", 2, minimum=1),
        redis_port=_int_env("GROWTHFLOW_REDIS_PORT", DEFAULT_REDIS_PORT, minimum=1),
        redis_bin=os.environ.get("GROWTHFLOW_REDIS_BIN") or None,
        flower_port=_int_env("GROWTHFLOW_FLOWER_PORT", DEFAULT_FLOWER_PORT, minimum=1),
        preload=_list_env("GROWTHFLOW_PRELOAD", DEFAULT_PRELOAD),
        demo_days=_int_env("GROWTHFLOW_DEMO_DAYS", 60, minimum=1),
        inject_fault=os.environ.get("GROWTHFLOW_INJECT_FAULT") or None,
        python=os.environ.get("GROWTHFLOW_PYTHON") or None,
    )
