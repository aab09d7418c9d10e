"""``growthflow``: set up, run and inspect the pipeline.

Run through ``bin/growthflow`` (which first syncs the locked environment).
Every failure the user can fix prints one line saying what and how, and exits 1.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

from growthflow.config import PROJECT_ROOT, load_settings
from growthflow.errors import ConfigError, GrowthflowError
from growthflow.landing import SOURCES
from growthflow_tools.services import ensure_warehouse, prepared_airflow_env, say

log = logging.getLogger("growthflow")


def cmd_warehouse(args) -> int:
    from growthflow.localpg import LocalCluster
    from growthflow.warehouse import redact, resolve_targets

    settings = load_settings()
    targets = resolve_targets(settings)
    cluster = LocalCluster(settings)
    if args.action == "start":
        ensure_warehouse()
        say(f"warehouse ready: {redact(targets.owner_url) or 'PG* environment'}")
    elif args.action == "stop":
        if not targets.local:
            say("WAREHOUSE_URL is set: growthflow does not manage that server")
        else:
            say("stopped the local PostgreSQL" if cluster.stop() else "the local PostgreSQL was not running")
    elif args.action == "status":
        if not targets.local:
            say(f"external warehouse {redact(targets.owner_url)}")
        else:
            state = "running" if cluster.is_running() else "stopped"
            say(f"local PostgreSQL {state} on 127.0.0.1:{settings.pg_port}, data in {cluster.data_dir}")
    elif args.action == "migrate":
        ensure_warehouse()
    elif args.action == "url":
        url = targets.bi_url if args.bi else targets.owner_url
        print(url if args.show_password else redact(url or ""))
    elif args.action == "psql":
        url = targets.bi_url if args.bi else targets.owner_url
        os.execvp("psql", ["psql", url])
    return 0


# -- generator ---------------------------------------------------------------------
def default_demo_range(days: int) -> tuple[dt.date, int]:
    """Demo range ending yesterday (UTC): the newest scheduled run then has data."""
    end = dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=1)
    return end - dt.timedelta(days=days - 1), days


def cmd_generate(args) -> int:
    from growthflow_tools.generator.generate import generate
    from growthflow_tools.generator.settings import GeneratorSettings

    settings = load_settings()
    start = args.start or default_demo_range(args.days)[0]
    gen = GeneratorSettings(start=start, days=args.days, seed=args.seed, daily_new_users=args.daily_new_users,
                            campaigns=args.campaigns, event_files_per_day=args.event_files_per_day,
                            missing_partitions=tuple(args.missing_partition or ()))
    if args.channels:
        gen.channels = tuple(args.channels.split(","))
    gen = gen.scaled_defects(0.0 if args.no_defects else args.defect_scale)
    if args.no_incidents or args.incident_rate is not None:
        rate = 0.0 if args.no_incidents else args.incident_rate
        gen.incident_rates = dict.fromkeys(gen.incident_rates, rate)
    landing = args.landing or settings.landing_root
    truth = Path(args.truth or settings.truth_root)
    say(f"generating {gen.days} days from {gen.start} (seed {gen.seed}) into {landing}")
    progress = say if args.verbose else _every(10, gen.days)
    report = generate(gen, landing, truth, progress=progress, conn_id=settings.landing_conn_id)
    say(report.summary())
    say(f"ground truth, the defect manifest and the incidents (incidents.jsonl) are in {truth}")
    return 0


def _every(n: int, total: int):
    count = {"i": 0}

    def progress(message: str) -> None:
        count["i"] += 1
        if count["i"] % n == 0 or count["i"] == total:
            say(message)

    return progress


def _channels_ok(value: str) -> str:
    from growthflow_tools.generator.settings import PAID_CHANNELS

    unknown = [c for c in value.split(",") if c not in PAID_CHANNELS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown channel(s) {unknown}; choose from {','.join(PAID_CHANNELS)}")
    return value


# -- loading without Airflow ----------------------------------------------------------
def cmd_load(args) -> int:
    from growthflow.ingest.tasks import load_delivery

    targets, _ = ensure_warehouse(quiet=True)
    for source in ([args.source] if args.source != "all" else SOURCES):
        load_delivery(targets.owner_url, source, args.date)
    return 0


def cmd_check(args) -> int:
    """Run data-quality suites by hand; exit 2 when a blocking check failed."""
    from growthflow.quality.checks import check_delivery, check_warehouse
    from growthflow.quality.metric_rot import check_anomalies

    targets, _ = ensure_warehouse(quiet=True)
    run_id = f"cli__{dt.datetime.now(dt.timezone.utc):%Y-%m-%dT%H:%M:%S}"
    blocking = 0
    if args.what == "anomalies":
        # Findings are warnings: printed and kept, not alerted from a terminal, exit 0.
        check_anomalies(targets.owner_url, None, run_id, days=[args.date] if args.date else None, alert=False)
        return 0
    if args.what == "delivery":
        if args.date is None:
            raise ConfigError("`check delivery` needs --date YYYY-MM-DD (the delivery date to check)")
        for source in ([args.source] if args.source != "all" else SOURCES):
            blocking += len(check_delivery(targets.owner_url, source, args.date, run_id, raise_on_fail=False).blocking)
    else:
        blocking = len(check_warehouse(targets.owner_url, args.date, run_id, raise_on_fail=False).blocking)
    return 2 if blocking else 0


def cmd_ltv(args) -> int:
    from growthflow.ltv import show

    for path, suffix in ((args.csv, ".csv"), (args.xlsx, ".xlsx"), (args.chart, ".png")):
        if path and path.suffix.lower() != suffix:
            raise ConfigError(f"{path} should end in {suffix}")
    targets, _ = ensure_warehouse(quiet=True)
    if args.action == "backtest":
        return _ltv_backtest(args, targets)
    if args.action == "run":
        from growthflow.ltv.job import run_nightly
        from growthflow.ltv.reader import latest_as_of

        as_of = args.as_of or latest_as_of(targets.owner_url)
        run_nightly(targets.owner_url, as_of, f"cli__{dt.datetime.now(dt.timezone.utc):%Y-%m-%dT%H:%M:%S}")
        args.as_of = as_of
    frame = show.read_forecasts(targets.owner_url, args.as_of, args.campaign)
    print(show.format_table(frame, args.horizon))
    for path in (args.csv, args.xlsx):
        if path:
            say(f"wrote {show.export(frame, path)}")
    if args.chart:
        say(f"fan chart: {show.fan_chart(frame, args.chart)}")
    return 0


def _ltv_backtest(args, targets) -> int:
    from growthflow_tools.backtest import run_backtest, write_report
    from models_ltv.backtest import format_summary
    from models_ltv.fit import FitSettings

    settings = load_settings()
    as_of_dates = [args.as_of] if args.as_of else None
    table, summary = run_backtest(targets.owner_url, args.truth or settings.truth_root, as_of_dates,
                                  origins=args.origins, every_days=args.every,
                                  fit_settings=FitSettings(method=args.method), peer_method=args.peer, progress=say)
    print(format_summary(summary))
    say(f"per-campaign table, summary and plot in {write_report(table, summary)}")
    return 0


def cmd_summary(args) -> int:
    from growthflow.summary import load_summary
    from growthflow.warehouse import resolve_targets

    print(load_summary(resolve_targets(load_settings()).owner_url, args.start, args.end))
    return 0


# -- Airflow -------------------------------------------------------------------------
def cmd_dbt(args) -> int:
    from growthflow.dbt_runner import run_dbt

    targets, _ = ensure_warehouse(quiet=True)
    return run_dbt(targets.owner_url, *args.args).returncode


def cmd_airflow(args) -> int:
    from growthflow_tools.airflow_env import airflow_cli

    _, env = prepared_airflow_env()
    os.execvpe(airflow_cli(env)[0], [*airflow_cli(env), *args.args], env)


def cmd_up(args) -> int:
    from growthflow_tools.airflow_env import ADMIN_USER, admin_password, describe_stack, start_stack

    if args.flower and load_settings().executor != "celery":  # before anything starts
        raise ConfigError("--flower needs the Celery executor: set GROWTHFLOW_EXECUTOR=celery")
    settings, env = prepared_airflow_env()
    say(f"starting Airflow ({describe_stack(settings, args.flower)})...")
    url = start_stack(settings, env, flower=args.flower)
    say(f"Airflow UI: {url}  login: {ADMIN_USER} / {admin_password(settings)}")
    if args.flower:
        say(f"Flower: http://127.0.0.1:{settings.flower_port}  login: {ADMIN_USER} / {admin_password(settings)}")
    say("stop it with: bin/growthflow down")
    return 0


def cmd_down(args) -> int:
    from growthflow_tools.airflow_env import stop_stack
    from growthflow_tools.bi import SupersetServer
    from growthflow.warehouse import resolve_targets

    settings = load_settings()
    stopped = stop_stack(settings)
    say(f"stopped Airflow {', '.join(stopped)}" if stopped else "Airflow was not running")
    if SupersetServer(settings, resolve_targets(settings)).stop():
        say("stopped Superset")
    if args.all:
        from growthflow.localpg import LocalCluster

        if LocalCluster(settings).stop():
            say("stopped the local PostgreSQL")
    return 0


def cmd_bi(args) -> int:
    """The BI server (Superset) over the marts: up, down, status, import."""
    from growthflow_tools.bi import SupersetServer, bring_up
    from growthflow.warehouse import resolve_targets

    settings = load_settings()
    if args.action == "up":
        targets, _ = ensure_warehouse(quiet=True)
        bring_up(settings, targets, say)
        return 0
    server = SupersetServer(settings, resolve_targets(settings))
    if args.action == "down":
        say("stopped Superset" if server.stop() else "Superset was not running")
        return 0
    if args.action == "status":
        state = server.status()
        say(f"Superset {'running at ' + state.url if state.running else 'stopped'}")
        return 0 if state.running else 3
    # import: into a Superset that runs elsewhere (compose's bi profile), at GROWTHFLOW_BI_URL.
    counts = server.import_assets()
    say("imported " + ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items())) + f" into {server.url}")
    return 0


def cmd_setup(args) -> int:
    from growthflow_tools.bi import SupersetServer
    from growthflow.warehouse import resolve_targets

    started = time.monotonic()
    settings, _ = prepared_airflow_env()
    SupersetServer(settings, resolve_targets(settings)).ensure_metadata_database()
    say(f"setup complete in {time.monotonic() - started:.0f}s")
    return 0


def cmd_demo(args) -> int:
    from growthflow_tools.demo import run_demo

    return run_demo(args)


def cmd_test(args) -> int:
    """Start what the tests need, run pytest, stop what was started."""
    from growthflow_tools.bi import SupersetServer, ensure_headless_browser
    from growthflow_tools.redis_server import ensure_redis_server
    from growthflow.localpg import LocalCluster
    from growthflow.warehouse import resolve_targets

    settings = load_settings()
    _, started = ensure_warehouse()
    _, env = prepared_airflow_env()  # tests run `airflow` for real, against the project-local metadata DB
    # The BI tests run Superset (its own locked environment) and open it in Debian's Chromium.
    ensure_headless_browser(say)
    # The Celery tests start a Redis broker and real workers.
    ensure_redis_server(settings, say)
    if SupersetServer(settings, resolve_targets(settings)).ensure_environment():
        say("installed Superset's environment (bi/uv.lock) for the BI tests")
    try:
        return subprocess.call([sys.executable, "-m", "pytest", *args.pytest_args], cwd=PROJECT_ROOT, env=env)
    finally:
        if started:
            LocalCluster(settings).stop()
            say("stopped the local PostgreSQL started for the tests")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="growthflow",
        description="growthflow: raw logs -> PostgreSQL warehouse -> dbt marts -> data-quality checks -> LTV forecasts.",
        epilog="Main commands: `bin/growthflow demo` (set up and run everything), `bin/growthflow test`.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="more progress output")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("demo", help="set up, generate the demo range and run the pipeline through Airflow")
    p.add_argument("--days", type=int, default=load_settings().demo_days,
                   help="days of raw logs to generate and process (default 60, env GROWTHFLOW_DEMO_DAYS)")
    p.add_argument("--daily-new-users", type=int, default=1000, help="installs per day (default 1000)")
    p.add_argument("--seed", type=int, default=7, help="generator seed (default 7)")
    p.add_argument("--skip-generate", action="store_true", help="reuse the landing zone already generated")
    p.add_argument("--stop-after", action="store_true", help="stop Airflow at the end instead of leaving the UI up")
    p.add_argument("--no-bi", dest="bi", action="store_false", help="do not start the BI server (Superset) at the end")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("test", help="start the local services, run the test suite, stop them",
                       description="Start the local services, run pytest, stop what was started. "
                                   "Arguments after `test` go to pytest unchanged, e.g. `test -k loader -x`.")
    p.set_defaults(func=cmd_test)

    p = sub.add_parser("setup", help="start the warehouse, create roles and schemas, migrate Airflow's database")
    p.set_defaults(func=cmd_setup)

    p = sub.add_parser("warehouse", help="manage the warehouse (local PostgreSQL by default)")
    p.add_argument("action", choices=["start", "stop", "status", "migrate", "url", "psql"])
    p.add_argument("--bi", action="store_true", help="use the read-only bi_reader login (url, psql)")
    p.add_argument("--show-password", action="store_true", help="print the URL with its password (url)")
    p.set_defaults(func=cmd_warehouse)

    p = sub.add_parser("generate", help="write synthetic raw logs (landing zone) and their ground truth")
    p.add_argument("--start", type=dt.date.fromisoformat, help="first delivery date (default: DAYS before yesterday)")
    p.add_argument("--days", type=int, default=60, help="number of delivery dates (default 60)")
    p.add_argument("--seed", type=int, default=7, help="random seed; same seed, same files (default 7)")
    p.add_argument("--daily-new-users", type=int, default=1000, help="installs per day (default 1000)")
    p.add_argument("--campaigns", type=int, default=12, help="paid campaigns (default 12)")
    p.add_argument("--channels", type=_channels_ok, help="comma-separated paid channels (default all five)")
    p.add_argument("--event-files-per-day", type=int, default=4, help="event files per delivery date (default 4)")
    p.add_argument("--defect-scale", type=float, default=1.0, help="multiply every defect rate (default 1)")
    p.add_argument("--no-defects", action="store_true", help="clean data: every defect rate 0")
    p.add_argument("--incident-rate", type=float,
                   help="metric-rot incidents of each kind per 30 days after the 28-day warm-up (default 0.5)")
    p.add_argument("--no-incidents", action="store_true", help="no metric-rot incidents: the control")
    p.add_argument("--missing-partition", type=dt.date.fromisoformat, action="append",
                   help="a delivery date that never arrives (no _SUCCESS); repeatable")
    p.add_argument("--landing", help="landing root: a folder or a URL such as s3://bucket/prefix "
                                     "(default GROWTHFLOW_LANDING_ROOT)")
    p.add_argument("--truth", help="ground-truth folder (default GROWTHFLOW_TRUTH_ROOT)")
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("load", help="load one delivery date without Airflow (operations, debugging)")
    p.add_argument("source", choices=[*SOURCES, "all"])
    p.add_argument("date", type=dt.date.fromisoformat, help="delivery date YYYY-MM-DD")
    p.set_defaults(func=cmd_load)

    p = sub.add_parser("check", help="run the data-quality suites (expectations/) and print the report",
                       description="Run GX suites (or the metric-rot detection) by hand and print the report the DAGs "
                                   "log. Results go to dq.validation_results. Exit status 2 when a blocking (fail) "
                                   "check failed.")
    p.add_argument("what", choices=["delivery", "warehouse", "anomalies"],
                   help="delivery: the raw suite of one delivery date; warehouse: staging, core and mart suites; "
                        "anomalies: metric rot in the KPI series per segment (warnings, exit 0)")
    p.add_argument("--date", type=dt.date.fromisoformat,
                   help="delivery date to check (delivery), first date of the window (warehouse; "
                        "default: newest delivery minus the lookback), or the Seoul day to judge (anomalies; "
                        "default: the days a daily build judges)")
    p.add_argument("--source", choices=[*SOURCES, "all"], default="all",
                   help="raw source (delivery; default all)")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("ltv", help="campaign LTV forecasts: fit and publish (run), print and export (show), "
                                    "backtest against the ground truth",
                       description="`run` fits the LTV model as of a date and publishes its forecasts, like the "
                                   "forecast_ltv DAG (settings from GROWTHFLOW_LTV_*). `show` prints the published "
                                   "forecast table (per campaign, revenue and ROAS with 10/50/90% intervals and "
                                   "payback day) and can export it to CSV/Excel and draw a fan chart; it never refits. "
                                   "`backtest` refits at past as-of dates and scores the forecasts against the "
                                   "generator's ground truth (generated data only); it publishes nothing.")
    p.add_argument("action", choices=["run", "show", "backtest"])
    p.add_argument("--as-of", type=dt.date.fromisoformat,
                   help="as-of date (run/show default: newest; backtest: this one date instead of rolling origins)")
    p.add_argument("--campaign", help="show: one campaign only (e.g. cmp_0003)")
    p.add_argument("--horizon", type=int, choices=[30, 90, 180, 365], default=365,
                   help="show: days after acquisition in the table (default 365)")
    p.add_argument("--csv", type=Path, help="show: also write every horizon and basis to this CSV file")
    p.add_argument("--xlsx", type=Path, help="show: also write them to this Excel file")
    p.add_argument("--chart", type=Path, help="show: draw the fan chart (PNG) of revenue per user against spend")
    p.add_argument("--origins", type=int, default=4, help="backtest: number of as-of dates (default 4)")
    p.add_argument("--every", type=int, default=14, help="backtest: days between as-of dates (default 14)")
    p.add_argument("--method", choices=["nuts", "map"], default="nuts", help="backtest: fit method (default nuts)")
    p.add_argument("--peer", choices=["mcmc", "map", "none"], default="mcmc",
                   help="backtest: fit the no-pooling peer with MCMC (default), MAP, or not at all")
    p.add_argument("--truth", type=Path, help="backtest: ground-truth folder (default GROWTHFLOW_TRUTH_ROOT)")
    p.set_defaults(func=cmd_ltv)

    p = sub.add_parser("summary", help="per source and day: lines loaded and quarantined, by reason")
    p.add_argument("--start", type=dt.date.fromisoformat)
    p.add_argument("--end", type=dt.date.fromisoformat)
    p.set_defaults(func=cmd_summary)

    p = sub.add_parser("up", help="start the Airflow UI stack in the background and print its URL and login",
                       description="Start what is not running of api-server, scheduler, dag-processor and triggerer; "
                                   "with GROWTHFLOW_EXECUTOR=celery also the project-local Redis and "
                                   "GROWTHFLOW_CELERY_WORKERS Celery workers (default 2).")
    p.add_argument("--flower", action="store_true",
                   help="also start Celery's Flower UI on GROWTHFLOW_FLOWER_PORT (default 5555); celery only")
    p.set_defaults(func=cmd_up)
    p = sub.add_parser("down", help="stop the Airflow stack (and its Celery workers and Redis) and the BI server "
                                    "started by `up`, `bi up` or `demo`")
    p.add_argument("--all", action="store_true", help="also stop the local PostgreSQL")
    p.set_defaults(func=cmd_down)

    p = sub.add_parser("bi", help="the BI server (Superset) with the dashboards in bi/assets/: up, down, status",
                       description="`up` installs Superset's own environment (bi/uv.lock) if needed, migrates its "
                                   "metadata database (in the project PostgreSQL), starts it on 127.0.0.1 "
                                   "(GROWTHFLOW_BI_PORT, default 8088), imports the dashboards, charts, datasets and "
                                   "the bi_reader connection from bi/assets/, and prints the URL and login. "
                                   "`down` stops it; `status` exits 0 when it is up.")
    p.add_argument("action", choices=["up", "down", "status", "import"],
                   help="import: only load bi/assets/ into the Superset at GROWTHFLOW_BI_URL")
    p.set_defaults(func=cmd_bi)

    p = sub.add_parser("dbt", help="run dbt in dbt_project/ against the warehouse (e.g. dbt build --full-refresh)",
                       prefix_chars="\0")
    p.add_argument("args", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_dbt)

    p = sub.add_parser("airflow", help="run the airflow CLI with growthflow's environment",
                       prefix_chars="\0")
    p.add_argument("args", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_airflow)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        return run(argv)
    except GrowthflowError as exc:  # bad input, bad settings, a service that is down: one line
        print(f"growthflow: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("growthflow: interrupted", file=sys.stderr)
        return 130


def run(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    pytest_args: list[str] = []
    if argv[:1] == ["test"] and argv[1:] not in (["-h"], ["--help"]):
        argv, pytest_args = ["test"], argv[1:]  # everything after `test` goes to pytest as is
    args = parser.parse_args(argv)
    if args.command == "test":
        args.pytest_args = pytest_args
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not args.verbose:
        # Object-store clients log where they found credentials and endpoints at INFO on every
        # connection: useful with -v, noise in a command's output.
        for name in ("botocore", "aiobotocore", "s3fs", "airflow.providers.amazon", "growthflow"):
            logging.getLogger(name).setLevel(logging.WARNING)
    return args.func(args) or 0


if __name__ == "__main__":
    sys.exit(main())
