"""Running the dbt project against a warehouse URL.

The profile (``dbt_project/profiles.yml``) reads ``GROWTHFLOW_DBT_*`` variables;
this module derives them from a libpq URL so every caller (CLI, tests, Airflow
through cosmos) reaches the same warehouse the same way.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlsplit

from growthflow.config import PROJECT_ROOT
from growthflow.errors import ConfigError

DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
MANIFEST = DBT_PROJECT_DIR / "target" / "manifest.json"
#: How the warehouse DAG hands dbt the window's first delivery date (read by the
#: ``window_start_value`` macro). An environment variable, not a ``--vars`` value: dbt parses
#: the whole project again when the vars differ from the last run's, but re-parses only
#: the files that read an environment variable whose value changed.
WINDOW_START_ENV = "GROWTHFLOW_DBT_WINDOW_START"


def dbt_env(conninfo: str) -> dict[str, str]:
    """GROWTHFLOW_DBT_* variables for a ``postgresql://user:pw@host:port/db`` URL."""
    if not conninfo.startswith(("postgresql://", "postgres://")):
        raise ConfigError("dbt needs the warehouse as a postgresql:// URL; set WAREHOUSE_URL in that form")
    parts = urlsplit(conninfo)
    return {
        "GROWTHFLOW_DBT_HOST": parts.hostname or "localhost",
        "GROWTHFLOW_DBT_PORT": str(parts.port or 5432),
        "GROWTHFLOW_DBT_USER": unquote(parts.username or ""),
        "GROWTHFLOW_DBT_PASSWORD": unquote(parts.password or ""),
        "GROWTHFLOW_DBT_DBNAME": parts.path.lstrip("/") or "growthflow",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DBT_VERSION_CHECK": "false",
    }


def run_dbt(conninfo: str, *args: str, capture: bool = False, target_path: Path | None = None,
            window_start: str | None = None) -> subprocess.CompletedProcess:
    """Run ``dbt ARGS`` in the project against ``conninfo`` (a separate process, like cosmos);
    ``window_start`` is passed the way the warehouse DAG passes it."""
    env = {**os.environ, **dbt_env(conninfo)}
    if window_start is not None:
        env[WINDOW_START_ENV] = window_start
    cmd = [str(Path(sys.executable).parent / "dbt"), *args, "--project-dir", str(DBT_PROJECT_DIR),
           "--profiles-dir", str(DBT_PROJECT_DIR)]
    if target_path is not None:
        cmd += ["--target-path", str(target_path)]
    return subprocess.run(cmd, env=env, text=True, capture_output=capture, cwd=DBT_PROJECT_DIR)


def _newest_source_mtime() -> float:
    newest = 0.0
    for folder in ("models", "macros", "seeds", "tests"):
        for path in (DBT_PROJECT_DIR / folder).rglob("*"):
            if path.is_file():
                newest = max(newest, path.stat().st_mtime)
    for name in ("dbt_project.yml", "profiles.yml"):
        newest = max(newest, (DBT_PROJECT_DIR / name).stat().st_mtime)
    return newest


def ensure_manifest(conninfo: str) -> bool:
    """Build ``target/manifest.json`` (``dbt parse``) when missing or older than the project.

    The warehouse DAG renders its tasks from this manifest (cosmos' manifest load
    mode), so DAG parsing never has to run dbt.
    """
    if MANIFEST.exists() and MANIFEST.stat().st_mtime >= _newest_source_mtime():
        return False
    result = run_dbt(conninfo, "parse", capture=True)
    if result.returncode != 0:
        lines = [ln for ln in result.stdout.splitlines() if "rror" in ln] or result.stdout.splitlines()[-1:]
        raise ConfigError(f"`dbt parse` failed: {lines[-1].strip() if lines else 'no output'}; "
                          "run `bin/growthflow dbt parse` to see the whole message")
    return True
