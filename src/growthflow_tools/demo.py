"""The main command: set up, generate the demo range, run the DAGs through the
real Airflow scheduler, and print what happened.

DAGs run as Airflow runs them in production (a scheduler, LocalExecutor, a
backfill over the range), not by calling task functions directly.
"""

from __future__ import annotations

import datetime as dt
import time

import pendulum

from growthflow.errors import GrowthflowError
from growthflow.schedule import latest_complete_delivery_date
from growthflow_tools.services import say

INGEST_DAG = "ingest_raw_logs"
#: DAGs downstream of ingest, in data-flow order; each runs when its input Assets update.
ASSET_CHAIN = ("build_warehouse", "forecast_ltv")


def _run_window(start: dt.date, end: dt.date) -> tuple[str, str]:
    """Logical dates of the ingest runs that process delivery dates start..end."""
    first = pendulum.datetime(start.year, start.month, start.day, tz="UTC").add(days=1)
    last = pendulum.datetime(end.year, end.month, end.day, tz="UTC").add(days=1, hours=23, minutes=59)
    return first.to_iso8601_string(), last.to_iso8601_string()


def follow_runs(api, dag_id: str, window: tuple[str, str], expected: int, timeout: float = 3600) -> dict:
    """Print progress until every run in the window has finished; return counts by state."""
    started = time.monotonic()
    last_line, last_done = "", -1
    while True:
        runs = api.dag_runs(dag_id, *window)
        states: dict[str, int] = {}
        for run in runs:
            states[run["state"]] = states.get(run["state"], 0) + 1
        done = states.get("success", 0) + states.get("failed", 0)
        line = (f"{dag_id}: {done}/{expected} runs finished ({states.get('success', 0)} ok, "
                f"{states.get('failed', 0)} failed, {states.get('running', 0) + states.get('queued', 0)} in progress)")
        step = max(1, expected // 10)  # progress every tenth, not every run
        if line != last_line and (done // step != last_done // step or done == expected):
            last_done = done
            say(f"{line} after {time.monotonic() - started:.0f}s")
            last_line = line
        if len(runs) >= expected and done == len(runs):
            return {"states": states, "runs": runs}
        if time.monotonic() - started > timeout:
            raise GrowthflowError(f"{dag_id} did not finish within {timeout:.0f}s; see the Airflow UI")
        time.sleep(5)


def schedule_satisfied(expression: dict | None, queued: set[str]) -> bool:
    """Whether assets with queued events are enough to trigger a run of this Asset schedule."""
    if not expression:
        return False
    if "asset" in expression:
        return expression["asset"]["name"] in queued
    if "all" in expression:
        return all(schedule_satisfied(part, queued) for part in expression["all"])
    if "any" in expression:
        return any(schedule_satisfied(part, queued) for part in expression["any"])
    return False


def follow_asset_chain(api, dag_id: str, timeout: float = 3600) -> dict:
    """Wait until ``dag_id`` has acted on every asset event that can trigger it.

    It has caught up when no run is queued or running and the events still
    queued for it (if any) are not enough to trigger another run: for an
    all-of-these-assets schedule, a source whose check failed on the last
    date leaves the others queued for the next day.
    """
    expression = api.schedule_expression(dag_id)
    started = time.monotonic()
    last_line = ""
    while True:
        runs = api.recent_runs(dag_id)
        active = [r for r in runs if r["state"] in ("queued", "running")]
        names = api.asset_names()
        queued = {names.get(asset_id, "") for asset_id in api.queued_asset_ids(dag_id)}
        done = [r for r in runs if r["state"] in ("success", "failed")]
        line = f"{dag_id}: {len(done)} run(s) finished, {len(active)} in progress"
        if line != last_line:
            say(f"{line} after {time.monotonic() - started:.0f}s")
            last_line = line
        if not active and not schedule_satisfied(expression, queued):
            newest = runs[0] if runs else {"state": "none"}
            return {"state": newest["state"], "runs": runs}
        if time.monotonic() - started > timeout:
            raise GrowthflowError(f"{dag_id} did not catch up within {timeout:.0f}s; see the Airflow UI")
        time.sleep(5)


def forecast_summary(conninfo: str, artifacts_dir) -> str:
    """Top and bottom campaigns by predicted ROAS, the fan chart, and where the reports are."""
    from growthflow.ltv.show import fan_chart, ranking, read_forecasts

    lines = [f"Data Docs: {artifacts_dir / 'data_docs' / 'warehouse' / 'index.html'}"
             f" (raw sources: {artifacts_dir / 'data_docs'}/raw_<source>/index.html)"]
    try:
        frame = read_forecasts(conninfo)
    except GrowthflowError as exc:
        return "\n".join([str(exc), *lines])
    folder = artifacts_dir / "ltv" / str(frame["as_of_date"].iloc[0])
    chart = fan_chart(frame, folder / "fan_chart.png")
    return "\n".join([ranking(frame), f"LTV fan chart: {chart}",
                      f"LTV posterior and ROAS plot: {folder}/", *lines,
                      "more: bin/growthflow ltv show [--campaign ID] [--csv F] [--xlsx F] [--chart F]"])


def run_demo(args) -> int:
    from growthflow_tools.airflow_api import AirflowAPI
    from growthflow_tools.airflow_env import ADMIN_USER, admin_password, start_stack
    from growthflow_tools.services import prepared_airflow_env
    from growthflow_tools.generator.generate import generate
    from growthflow_tools.generator.settings import GeneratorSettings
    from growthflow.summary import layer_summary, load_summary, quality_summary
    from growthflow.warehouse import resolve_targets

    began = time.monotonic()
    demo_started_at = dt.datetime.now(dt.timezone.utc)
    settings, env = prepared_airflow_env()
    end = latest_complete_delivery_date()
    start = end - dt.timedelta(days=args.days - 1)
    if not args.skip_generate:
        gen = GeneratorSettings(start=start, days=args.days, seed=args.seed, daily_new_users=args.daily_new_users)
        say(f"generating raw logs for {start} .. {end} into {settings.landing_root}")
        report = generate(gen, settings.landing_root, settings.truth_root, conn_id=settings.landing_conn_id)
        say(report.summary())

    say("starting Airflow (api-server, scheduler, dag-processor, triggerer)...")
    url = start_stack(settings, env)
    api = AirflowAPI(url, ADMIN_USER, admin_password(settings))
    api.wait_for_dag(INGEST_DAG)
    errors = api.import_errors()
    if errors:
        raise GrowthflowError(f"DAG import error in {errors[0].get('filename')}: "
                              f"{errors[0].get('stack_trace', '').strip().splitlines()[-1]}")
    for dag_id in (INGEST_DAG, *ASSET_CHAIN):
        api.wait_for_dag(dag_id)
        api.set_paused(dag_id, False)
    window = _run_window(start, end)
    api.create_backfill(INGEST_DAG, *window)
    say(f"backfill of {INGEST_DAG} created for {args.days} delivery dates; following it "
        f"(watch it live at {url}/dags/{INGEST_DAG})")
    result = follow_runs(api, INGEST_DAG, window, expected=args.days)
    chain_states = {}
    for dag_id in ASSET_CHAIN:
        chain_states[dag_id] = follow_asset_chain(api, dag_id)["state"]

    targets = resolve_targets(settings)
    from growthflow_tools.bi import ADMIN_USER as BI_ADMIN, bring_up

    say("starting the BI server (Superset) on the published marts...")
    bi = bring_up(settings, targets, say)
    print()
    print(load_summary(targets.owner_url, start, end))
    print()
    print(layer_summary(targets.owner_url))
    print()
    print(quality_summary(targets.owner_url, since=demo_started_at))
    print()
    print(forecast_summary(targets.owner_url, settings.artifacts_dir))
    print()
    failed = result["states"].get("failed", 0)
    if failed:
        say(f"{failed} run(s) failed: open {url}/dags/{INGEST_DAG} to see which task and why")
    for dag_id, state in chain_states.items():
        if state != "success":
            failed += 1
            say(f"the newest {dag_id} run {state}: open {url}/dags/{dag_id} to see which task and why")
    say(f"done in {time.monotonic() - began:.0f}s")
    say(f"Airflow UI: {url}  login: {ADMIN_USER} / {admin_password(settings)}")
    say(f"BI (Superset): {bi.url}  login: {BI_ADMIN} / {bi.admin_password()}")
    for title, dashboard_url in bi.dashboard_urls().items():
        say(f"  {title}: {dashboard_url}")
    say("stop everything with: bin/growthflow down --all")
    if args.stop_after:
        from growthflow_tools.airflow_env import stop_stack

        stop_stack(settings)
        bi.stop()
    return 1 if failed else 0
