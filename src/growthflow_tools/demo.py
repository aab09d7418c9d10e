"""The main command: set up, generate the demo range, run the DAGs through the
real Airflow scheduler, and print what happened.

DAGs run as Airflow runs them in production (a scheduler, LocalExecutor, a
backfill over the range), not by calling task functions directly.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from concurrent.futures import Future


from growthflow.errors import GrowthflowError
from growthflow.schedule import latest_complete_delivery_date, run_window
from growthflow_tools.services import say

INGEST_DAG = "ingest_raw_logs"
#: DAGs downstream of ingest, in data-flow order; each runs when its input Assets update.
ASSET_CHAIN = ("build_warehouse", "forecast_ltv")


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
        # Done when every run has finished and the backfill has created all it will (a rerun's
        # backfill creates only the runs that are missing or failed, so fewer may exist).
        if done == len(runs) and (len(runs) >= expected or api.running_backfill(dag_id) is None):
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


class Stages:
    """Wall time per stage of the main command, printed at the end."""

    def __init__(self):
        self.seconds: dict[str, float] = {}
        self._began = time.monotonic()

    def done(self, name: str) -> None:
        now = time.monotonic()
        self.seconds[name] = self.seconds.get(name, 0.0) + now - self._began
        self._began = now

    def table(self) -> str:
        total = sum(self.seconds.values())
        width = max(len(name) for name in self.seconds)
        lines = [f"  {name:<{width}}  {seconds:6.0f} s" for name, seconds in self.seconds.items()]
        return "\n".join(["time per stage:", *lines, f"  {'total':<{width}}  {total:6.0f} s"])


def ensure_landing(args, settings, api, start: dt.date, say=say) -> str:
    """Generate the demo range unless the landing zone already holds exactly it."""
    from growthflow_tools.generator.generate import already_generated, generate
    from growthflow_tools.generator.settings import GeneratorSettings

    gen = GeneratorSettings(start=start, days=args.days, seed=args.seed, daily_new_users=args.daily_new_users)
    if args.skip_generate or already_generated(gen, settings.landing_root, settings.truth_root, settings.landing_conn_id):
        say(f"the landing zone already holds seed {args.seed}'s {args.days} days from {start}: left as it is")
        return "kept"
    running = api.running_backfill(INGEST_DAG)
    if running:
        # Its loads read the files a new generation would replace: stop it, and let its runs end.
        say(f"cancelling backfill {running['id']} of {INGEST_DAG} (it ran over other data)")
        api.cancel_backfill(running["id"])
        wait_until_idle(api, INGEST_DAG)
    say(f"generating raw logs for {start} .. {gen.end} into {settings.landing_root}")
    report = generate(gen, settings.landing_root, settings.truth_root, conn_id=settings.landing_conn_id)
    say(report.summary())
    return "generated"


def wait_until_idle(api, dag_id: str, timeout: float = 900) -> None:
    started = time.monotonic()
    while any(r["state"] in ("queued", "running") for r in api.recent_runs(dag_id, limit=100)):
        if time.monotonic() - started > timeout:
            raise GrowthflowError(f"{dag_id} still has runs in progress after {timeout:.0f}s; see the Airflow UI")
        time.sleep(5)


def ingest_range(args, api, conninfo: str, start: dt.date, end: dt.date, url: str) -> dict:
    """Load every delivery date of the range: follow a backfill that is already running, or
    backfill the dates not loaded yet (runs that succeeded are not repeated)."""
    from growthflow.ingest.tasks import loaded_delivery_dates

    window = run_window(start, end)
    running = api.running_backfill(INGEST_DAG)
    if running:
        say(f"following backfill {running['id']} of {INGEST_DAG}, still running from an earlier start")
    else:
        missing = sorted(set(start + dt.timedelta(days=i) for i in range(args.days))
                         - loaded_delivery_dates(conninfo, start, end))
        if not missing:
            say(f"all {args.days} delivery dates are loaded already: no backfill")
            return {"states": {}}
        api.create_backfill(INGEST_DAG, *run_window(missing[0], end))
        say(f"backfill of {INGEST_DAG} created for {len(missing)} delivery date(s) from {missing[0]}; following it "
            f"(watch it live at {url}/dags/{INGEST_DAG})")
    return follow_runs(api, INGEST_DAG, window, expected=args.days)


def build_and_forecast(api, conninfo: str, start: dt.date, end: dt.date) -> dict[str, str]:
    """Exactly one build over every date not built yet, then the forecast it triggers."""
    from growthflow.build_window import newest_built_delivery
    from growthflow.ltv.show import newest_forecast_date

    built = newest_built_delivery(conninfo)
    if built is not None and built >= end and (newest_forecast_date(conninfo) or dt.date.min) >= end:
        say(f"the warehouse is built and forecast through {end} already")
        return {}
    for dag_id in ASSET_CHAIN:
        api.set_paused(dag_id, False)
    window_start = max(start, built + dt.timedelta(days=1)) if built else start
    if built is not None and built >= end:
        window_start = end  # built, but the forecast is missing: a cheap rebuild publishes marts again
    api.trigger(ASSET_CHAIN[0], {"window_start": window_start.isoformat()})
    say(f"{ASSET_CHAIN[0]} triggered once for delivery dates {window_start} .. {end}; "
        f"{ASSET_CHAIN[1]} follows when it publishes the marts")
    return {dag_id: follow_asset_chain(api, dag_id)["state"] for dag_id in ASSET_CHAIN}


def prepare_bi_in_background(settings, targets) -> Future:
    """Install and migrate Superset while the pipeline runs, at low priority so it takes only
    CPU the pipeline leaves idle; the server starts once the marts are published. A daemon
    thread, so a demo that fails or is interrupted exits without waiting for it; the
    future's ``result()`` re-raises what it raised."""
    from growthflow_tools.bi import SupersetServer, prepare

    server = SupersetServer(settings, targets)
    server.niceness = 15
    say("preparing the BI server (Superset) in the background, at low priority")
    prepared: Future = Future()

    def run() -> None:
        try:
            prepare(server, say)
        except BaseException as exc:  # handed to the caller of result()
            prepared.set_exception(exc)
        else:
            prepared.set_result(server)

    threading.Thread(target=run, daemon=True).start()
    return prepared


def run_demo(args) -> int:
    from growthflow_tools.airflow_api import AirflowAPI
    from growthflow_tools.airflow_env import ADMIN_USER, admin_password, describe_stack, start_stack
    from growthflow_tools.bi import ADMIN_USER as BI_ADMIN
    from growthflow_tools.bi import bring_up
    from growthflow_tools.services import prepared_airflow_env
    from growthflow.summary import layer_summary, load_summary, quality_summary
    from growthflow.warehouse import resolve_targets

    stages = Stages()
    demo_started_at = dt.datetime.now(dt.timezone.utc)
    settings, env = prepared_airflow_env()
    targets = resolve_targets(settings)
    end = latest_complete_delivery_date()
    start = end - dt.timedelta(days=args.days - 1)
    stages.done("set-up")

    say(f"starting Airflow ({describe_stack(settings)})...")
    url = start_stack(settings, env)
    api = AirflowAPI(url, ADMIN_USER, admin_password(settings))
    api.wait_for_dag(INGEST_DAG)
    errors = api.import_errors()
    if errors:
        raise GrowthflowError(f"DAG import error in {errors[0].get('filename')}: "
                              f"{errors[0].get('stack_trace', '').strip().splitlines()[-1]}")
    for dag_id in ASSET_CHAIN:
        # Paused while the backfill loads: the build the last date would trigger is triggered
        # once, over the whole range, when every date is in.
        api.wait_for_dag(dag_id)
        api.set_paused(dag_id, True)
    stages.done("Airflow start")

    bi_prepared = None
    if args.bi:
        bi_prepared = prepare_bi_in_background(settings, targets)
    ensure_landing(args, settings, api, start)
    api.set_paused(INGEST_DAG, False)
    stages.done("raw logs")
    result = ingest_range(args, api, targets.owner_url, start, end, url)
    stages.done("ingest")
    chain_states = build_and_forecast(api, targets.owner_url, start, end)
    stages.done("build + forecast")

    bi = None
    if bi_prepared is not None:
        say("starting the BI server (Superset) on the published marts...")
        bi = bring_up(settings, targets, say, server=bi_prepared.result())
        stages.done("BI server")
    print()
    print(load_summary(targets.owner_url, start, end))
    print()
    print(layer_summary(targets.owner_url))
    print()
    print(quality_summary(targets.owner_url, since=demo_started_at))
    print()
    print(forecast_summary(targets.owner_url, settings.artifacts_dir))
    print()
    stages.done("summary")
    failed = result["states"].get("failed", 0)
    if failed:
        say(f"{failed} run(s) failed: open {url}/dags/{INGEST_DAG} to see which task and why")
    for dag_id, state in chain_states.items():
        if state != "success":
            failed += 1
            say(f"the newest {dag_id} run {state}: open {url}/dags/{dag_id} to see which task and why")
    print(stages.table())
    say(f"Airflow UI: {url}  login: {ADMIN_USER} / {admin_password(settings)}")
    if bi is not None:
        say(f"BI (Superset): {bi.url}  login: {BI_ADMIN} / {bi.admin_password()}")
        for title, dashboard_url in bi.dashboard_urls().items():
            say(f"  {title}: {dashboard_url}")
    say("stop everything with: bin/growthflow down --all")
    if args.stop_after:
        from growthflow_tools.airflow_env import stop_stack

        stop_stack(settings)
        if bi is not None:
            bi.stop()
    return 1 if failed else 0
