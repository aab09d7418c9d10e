"""Bringing up what a command needs: the warehouse (started, bootstrapped, migrated)
and Airflow's environment (metadata database migrated, dbt manifest built).

Shared by the CLI, the demo, the benchmarks and the tests.
"""

from __future__ import annotations

from growthflow.config import load_settings


def say(message: str) -> None:
    print(f"growthflow: {message}", flush=True)


def ensure_warehouse(quiet: bool = False) -> tuple[object, bool]:
    """Start (local) or reach (external) the warehouse, create roles, migrate. Returns (targets, started)."""
    from growthflow.localpg import Credentials, LocalCluster
    from growthflow.migrate import migrate
    from growthflow.warehouse import bootstrap_roles_and_databases, resolve_targets

    settings = load_settings()
    targets = resolve_targets(settings)
    started = False
    if targets.local:
        cluster = LocalCluster(settings)
        started = cluster.start()
        if started and not quiet:
            say(f"started the local PostgreSQL on 127.0.0.1:{settings.pg_port} (data in {cluster.data_dir})")
        bootstrap_roles_and_databases(targets.admin_conninfo, Credentials.load_or_create(settings.credentials_file))
    elif targets.admin_conninfo:
        from growthflow.localpg import Credentials

        bootstrap_roles_and_databases(targets.admin_conninfo, Credentials.load_or_create(settings.credentials_file))
    applied = migrate(targets.owner_url)
    if applied and not quiet:
        say(f"applied warehouse migrations {', '.join(applied)}")
    return targets, started


def prepared_airflow_env():
    """Settings and the environment every Airflow command of growthflow runs with."""
    from growthflow_tools.airflow_env import airflow_environment, migrate_metadata

    settings = load_settings()
    targets, _ = ensure_warehouse(quiet=True)
    env = airflow_environment(settings, targets)
    from concurrent.futures import ThreadPoolExecutor

    from growthflow.dbt_runner import ensure_manifest

    # Two independent processes (dbt parse, airflow db migrate): run them side by side.
    with ThreadPoolExecutor(max_workers=1) as pool:
        manifest = pool.submit(ensure_manifest, targets.owner_url)
        if migrate_metadata(settings, env):
            say("migrated the Airflow metadata database")
        if manifest.result():
            say("built the dbt manifest the warehouse DAG is rendered from")
    return settings, env
