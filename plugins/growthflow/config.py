"""Settings read from environment variables, with defaults for a local run.

Everything a deployment changes is an environment variable (documented in the
README's configuration table); nothing here is specific to one machine. Paths
default to folders under the project-local state directory ``.local/``.
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

WAREHOUSE_DATABASE = "growthflow"
AIRFLOW_DATABASE = "airflow"
OWNER_ROLE = "growthflow"
BI_ROLE = "bi_reader"
AIRFLOW_ROLE = "airflow"

#: Name of the Airflow connection every task uses to reach the warehouse.
WAREHOUSE_CONN_ID = "growthflow_warehouse"


def int_env(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a whole number; set it to e.g. {default} or unset it") from None


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

    @property
    def uses_external_warehouse(self) -> bool:
        """True when the user pointed growthflow at a server it must not start."""
        return bool(self.warehouse_url) or bool(os.environ.get("PGHOST"))

    @property
    def pg_dir(self) -> Path:
        return self.home / "pg"

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
        pg_port=int_env("GROWTHFLOW_PG_PORT", DEFAULT_PG_PORT),
        pg_bin_dir=os.environ.get("GROWTHFLOW_PG_BIN") or None,
        pg_os_user=os.environ.get("GROWTHFLOW_PG_OS_USER", "postgres"),
        warehouse_url=os.environ.get("WAREHOUSE_URL") or None,
        admin_url=os.environ.get("GROWTHFLOW_ADMIN_URL") or None,
        airflow_database_url=os.environ.get("AIRFLOW_DATABASE_URL") or None,
        airflow_port=int_env("GROWTHFLOW_AIRFLOW_PORT", DEFAULT_AIRFLOW_PORT),
        bi_port=int_env("GROWTHFLOW_BI_PORT", DEFAULT_BI_PORT),
        bi_url=(os.environ.get("GROWTHFLOW_BI_URL") or
                f"http://127.0.0.1:{int_env('GROWTHFLOW_BI_PORT', DEFAULT_BI_PORT)}").rstrip("/"),
        max_line_bytes=int_env("GROWTHFLOW_MAX_LINE_BYTES", 1_048_576),
    )
