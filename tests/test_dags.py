"""DAG integrity (DagBag) and the ingest DAG run end to end by real Airflow."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from pathlib import Path

import pendulum
import psycopg
import pytest

from growthflow.airflow_support import run_delivery_date
from growthflow.schedule import delivery_date_for
from growthflow.config import PROJECT_ROOT
from growthflow.landing import SOURCES

from conftest import DEFECTIVE
from support import airflow_dags_test, asset_events_of_latest_run


@pytest.fixture(scope="module")
def dagbag():
    import psycopg2

    from airflow.dag_processing.dagbag import DagBag

    def tripwire(*args, **kwargs):
        raise AssertionError("a DAG file opened a database connection while being parsed")

    mp = pytest.MonkeyPatch()
    mp.setattr(psycopg, "connect", tripwire)
    mp.setattr(psycopg2, "connect", tripwire)
    try:
        return DagBag(dag_folder=str(PROJECT_ROOT / "dags"))
    finally:
        mp.undo()


def test_every_dag_imports_without_touching_a_database(dagbag):
    assert dagbag.import_errors == {}
    assert "ingest_raw_logs" in dagbag.dag_ids


def test_every_dag_is_documented_owned_tagged_and_retried(dagbag):
    for dag_id, dag in dagbag.dags.items():
        assert dag.tags and "growthflow" in dag.tags, dag_id
        assert dag.doc_md and "Reads" in dag.doc_md and "Writes" in dag.doc_md, dag_id
        for task in dag.tasks:
            assert task.owner not in ("", "airflow"), (dag_id, task.task_id)
            assert task.retries >= 1, (dag_id, task.task_id)
            assert task.on_failure_callback, (dag_id, task.task_id)


def test_the_build_plans_its_window_before_dbt_and_publishes_after_the_checks(dagbag):
    dag = dagbag.dags["build_warehouse"]
    dbt_tasks = [t for t in dag.tasks if t.task_id.startswith("dbt.")]
    assert dbt_tasks and all("plan_window" in t.upstream_task_ids or t.upstream_task_ids & {d.task_id for d in dbt_tasks}
                             for t in dbt_tasks)
    assert dag.get_task("check_quality").upstream_task_ids >= {"plan_window"}
    assert dag.get_task("publish_marts").upstream_task_ids == {"check_quality"}
    # Metric-rot detection reads the marts after every model, and never holds their publishing back.
    anomalies = dag.get_task("check_anomalies")
    assert {t.task_id for t in dbt_tasks if not t.downstream_task_ids - {"check_quality", "check_anomalies"}} \
        <= anomalies.upstream_task_ids
    assert not anomalies.downstream_task_ids
    ingest = dagbag.dags["ingest_raw_logs"]
    for source in SOURCES:
        assert [a.name for a in ingest.get_task(f"check_{source}").outlets] == [f"raw.{source}"]
        assert not ingest.get_task(f"load_{source}").outlets


def test_the_main_command_reads_the_build_schedule_as_all_four_raw_assets(dagbag):
    from airflow.serialization.serialized_objects import LazyDeserializedDAG

    from growthflow_tools.demo import schedule_satisfied

    def stored_expression(dag_id):  # what the API's /details answers: the serialised schedule
        return LazyDeserializedDAG.from_dag(dagbag.dags[dag_id]).timetable.asset_condition.as_expression()

    expression = stored_expression("build_warehouse")
    raw = {f"raw.{source}" for source in SOURCES}
    assert schedule_satisfied(expression, raw)
    for missing in raw:  # one source whose check failed on the last date: no build is coming
        assert not schedule_satisfied(expression, raw - {missing})
    marts = stored_expression("forecast_ltv")
    assert schedule_satisfied(marts, {"marts"}) and not schedule_satisfied(marts, raw)


def test_dbt_tasks_install_no_packages_and_emit_no_per_model_assets(dagbag):
    dbt_tasks = [task for task in dagbag.dags["build_warehouse"].tasks if task.task_id.startswith("dbt.")]
    assert len(dbt_tasks) > 20
    assert not [task.task_id for task in dbt_tasks if task.emit_datasets or task.install_deps or task.outlets]


def test_dbt_tasks_get_the_window_as_an_environment_variable_not_a_var(dagbag):
    """A dbt var that changes each run would make every model task parse the whole project again."""
    from growthflow.dbt_runner import WINDOW_START_ENV

    dbt_tasks = [task for task in dagbag.dags["build_warehouse"].tasks if task.task_id.startswith("dbt.")]
    assert {task.env.get(WINDOW_START_ENV) for task in dbt_tasks} == {
        "{{ ti.xcom_pull(task_ids='plan_window') or '' }}"}
    assert not [task.task_id for task in dbt_tasks if task.vars]


def test_the_ltv_fit_has_its_own_queue_and_every_other_task_the_default(dagbag):
    from growthflow.config import DEFAULT_QUEUE, LTV_QUEUE

    queues = {(dag_id, task.task_id): task.queue for dag_id, dag in dagbag.dags.items() for task in dag.tasks}
    assert queues.pop(("forecast_ltv", "fit_and_publish")) == LTV_QUEUE
    assert set(queues.values()) == {DEFAULT_QUEUE} and len(queues) > 30


def test_dag_files_only_wire_tasks():
    """Logic lives in src/growthflow; a DAG file stays short and imports no database driver."""
    for path in (PROJECT_ROOT / "dags").glob("*.py"):
        text = path.read_text()
        assert "import psycopg" not in text and "sqlalchemy" not in text, path.name
        assert len(text.splitlines()) < 120, f"{path.name} is growing logic; move it to src/growthflow"


@pytest.mark.parametrize("logical, expected", [
    ("2026-03-05T01:00:00+00:00", "2026-03-04"),  # the scheduled 10:00 KST run
    ("2026-03-05T00:00:00+00:00", "2026-03-04"),  # `airflow dags test ingest_raw_logs 2026-03-05`
    ("2026-03-04T16:00:00+00:00", "2026-03-04"),  # 01:00 KST on the 5th
])
def test_delivery_date_is_the_seoul_day_before_the_run(logical, expected):
    assert delivery_date_for(pendulum.parse(logical)) == dt.date.fromisoformat(expected)


HOSTILE_DATES = ("2026-09-14'; DROP TABLE raw.events; --", "2026-09-14 && rm -rf /", "../../etc/passwd", "yesterday")


@pytest.mark.parametrize("dag_id, param", [("ingest_raw_logs", "delivery_date"), ("build_warehouse", "window_start"),
                                           ("forecast_ltv", "as_of_date")])
def test_dag_params_take_a_date_and_refuse_anything_else(dagbag, dag_id, param):
    from airflow.sdk.exceptions import ParamValidationError

    spec = dagbag.dags[dag_id].params.get_param(param)
    assert spec.resolve("2026-09-14") == "2026-09-14"
    for value in HOSTILE_DATES:
        with pytest.raises(ParamValidationError):
            spec.resolve(value)


def test_a_hostile_date_is_refused_before_sql_or_a_path_even_past_the_param():
    """Params can be skipped (a cleared run keeps its old conf; the CLI's -c is not checked
    everywhere), so the task code validates again, with one line."""
    from growthflow.build_window import window_start
    from growthflow.errors import BadInput

    for value in HOSTILE_DATES:
        with pytest.raises(BadInput, match="not a YYYY-MM-DD date") as refused:
            run_delivery_date({"params": {"delivery_date": value}})
        assert "\n" not in str(refused.value)
        with pytest.raises(BadInput, match="window_start .* not a YYYY-MM-DD date"):
            window_start(None, value)
        with pytest.raises(BadInput, match="delivery_date .* not a YYYY-MM-DD date"):
            window_start({"raw.events": [{"extra": {"delivery_date": value}}]})


def test_the_build_window_covers_dates_loaded_since_the_newest_built_one():
    from growthflow.build_window import window_start

    def events(*days):
        return {"raw.events": [{"extra": {"delivery_date": day}} for day in days]}

    built = dt.date(2026, 3, 10)
    # The usual night: the day after the newest built date.
    assert window_start(events("2026-03-11"), built_through=built) == "2026-03-11"
    # A late file for an earlier date rebuilds from that date.
    assert window_start(events("2026-03-11", "2026-03-08"), built_through=built) == "2026-03-08"
    # Builds skipped while a backfill loaded 03-11..03-20: the next build starts at 03-11, not 03-20.
    assert window_start(events("2026-03-20"), built_through=built) == "2026-03-11"
    # Nothing built yet: the dates the events carry (the first build is a full build anyway).
    assert window_start(events("2026-03-20")) == "2026-03-20"
    # An explicit rebuild wins; no events means dbt's own lookback.
    assert window_start(events("2026-03-20"), "2026-01-01", built_through=built) == "2026-01-01"
    assert window_start(None, built_through=built) == ""


def test_a_build_waits_for_deliveries_that_are_not_loaded_yet(warehouse):
    from growthflow.airflow_support import incomplete_deliveries
    from growthflow.ingest.tasks import unloaded_partitions

    def loaded(day: str, sources=SOURCES):
        with psycopg.connect(warehouse) as conn:
            for source in sources:
                conn.execute("INSERT INTO raw.partition_loads (source, delivery_date, load_id, files, lines_read,"
                             " rows_loaded, rows_quarantined, seconds) VALUES (%s, %s, gen_random_uuid(), 1, 1, 1,"
                             " 0, 0)", (source, day))

    assert unloaded_partitions(warehouse) == []  # nothing loaded, nothing missing
    loaded("2026-03-01")
    loaded("2026-03-05")  # a backfill that runs several dates at once, or yesterday's scheduled run
    loaded("2026-03-03", [s for s in SOURCES if s != "payments"])
    holes = unloaded_partitions(warehouse)
    day = dt.date.fromisoformat
    assert holes == ([(day("2026-03-02"), s) for s in sorted(SOURCES)] + [(day("2026-03-03"), "payments")]
                     + [(day("2026-03-04"), s) for s in sorted(SOURCES)])
    assert unloaded_partitions(warehouse, since=day("2026-03-04")) == [(day("2026-03-04"), s) for s in sorted(SOURCES)]
    reason = incomplete_deliveries(holes)
    assert reason.startswith("9 partition(s) on 3 delivery date(s) are not loaded yet, the first ad_spend 2026-03-02")
    loaded("2026-03-02")
    loaded("2026-03-03", ["payments"])
    loaded("2026-03-04")
    assert unloaded_partitions(warehouse) == [] and incomplete_deliveries([]) is None


def test_delivery_date_param_overrides_the_logical_date():
    context = {"params": {"delivery_date": "2026-01-09"}, "logical_date": pendulum.parse("2026-03-05T01:00:00Z")}
    assert run_delivery_date(context) == dt.date(2026, 1, 9)


@pytest.fixture(scope="module")
def airflow_run(database_factory, defective_dataset):
    """`airflow dags test DAG DATE [-c CONF]` against a fresh warehouse database."""
    url = database_factory()
    landing, _ = defective_dataset

    def run(dag_id: str, logical: str, conf: dict | None = None, landing_root: Path | None = None,
            expect_success: bool = True, extra_env: dict | None = None) -> subprocess.CompletedProcess:
        result = airflow_dags_test(dag_id, logical, url, landing_root or landing, conf, extra_env)
        if expect_success:
            assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        return result

    run.url = url
    return run


def test_ingest_dag_runs_end_to_end_in_airflow(airflow_run):
    delivery = DEFECTIVE.start + dt.timedelta(days=1)
    airflow_run("ingest_raw_logs", (delivery + dt.timedelta(days=1)).isoformat())
    url = airflow_run.url
    with psycopg.connect(url) as conn:
        loads = conn.execute("SELECT source, delivery_date, run_id, lines_read, rows_loaded + rows_quarantined"
                             " FROM raw.partition_loads ORDER BY source").fetchall()
    assert sorted(row[0] for row in loads) == sorted(SOURCES)
    for source, day, run_id, lines_read, accounted in loads:
        assert day == delivery and run_id.startswith("manual__")
        assert lines_read == accounted > 0


def test_build_dag_runs_dbt_through_cosmos_in_airflow(airflow_run):
    """After the ingest test: the warehouse DAG builds and tests every model, then publishes."""
    delivery = DEFECTIVE.start + dt.timedelta(days=1)
    result = airflow_run("build_warehouse", (delivery + dt.timedelta(days=1)).isoformat(),
                         {"window_start": delivery.isoformat()})
    output = result.stdout + result.stderr
    assert "marts built, tested and checked" in output
    assert "DATA QUALITY WARN (warehouse" in output  # the injected defects are reported, not blocking
    assert "METRIC ROT PASS" in output  # four days: every series too young to judge, none alarmed
    with psycopg.connect(airflow_run.url) as conn:
        staged = conn.execute("SELECT count(*) FROM staging.stg_events").fetchone()[0]
        raw = conn.execute("SELECT count(*) FROM raw.events").fetchone()[0]
        days = conn.execute("SELECT count(*) FROM marts.kpi_daily").fetchone()[0]
    assert 0 < staged < raw and days >= 1
    # One Asset for the Assets view: the marts, published after the checks; no event per dbt model.
    assert set(asset_events_of_latest_run("build_warehouse")) == {"marts"}


def test_ltv_dag_publishes_forecasts_after_the_build(airflow_run):
    """After the build test: the nightly LTV DAG fits (the quick `map` method here) and publishes."""
    delivery = DEFECTIVE.start + dt.timedelta(days=1)
    result = airflow_run("forecast_ltv", (delivery + dt.timedelta(days=1)).isoformat(),
                         {"as_of_date": delivery.isoformat()}, extra_env={"GROWTHFLOW_LTV_METHOD": "map"})
    assert "published" in result.stdout + result.stderr
    with psycopg.connect(airflow_run.url) as conn:
        runs = conn.execute("SELECT as_of_date, status FROM ltv.model_runs").fetchall()
        forecasts = conn.execute("SELECT count(*) FROM ltv.campaign_forecasts WHERE as_of_date = %s",
                                 (delivery,)).fetchone()[0]
    assert runs == [(delivery, "published")] and forecasts > 0


@pytest.mark.parametrize("dag_id, written_by_a_run", [("build_warehouse", "dq.validation_results"),
                                                     ("forecast_ltv", "ltv.model_runs")])
def test_a_run_triggered_while_deliveries_are_behind_skips_whole(airflow_run, dag_id, written_by_a_run):
    """Due weeks after the newest loaded date (a backfill still catching up): skipped with the
    reason, before any model is built, check run or fit attempted."""
    count = f"SELECT count(*) FROM {written_by_a_run}"
    with psycopg.connect(airflow_run.url) as conn:
        newest = conn.execute("SELECT max(delivery_date) FROM raw.partition_loads").fetchone()[0]
        before = conn.execute(count).fetchone()[0]
    result = airflow_run(dag_id, (newest + dt.timedelta(days=30)).isoformat())
    output = result.stdout + result.stderr
    assert f"the newest delivery loaded is {newest}, 29 days behind" in output
    assert "marts built, tested and checked" not in output  # the build's publish_marts was skipped too
    with psycopg.connect(airflow_run.url) as conn:
        assert conn.execute(count).fetchone()[0] == before


@pytest.mark.parametrize("as_of, run_after, stale", [
    ("2026-03-04", "2026-03-05T01:00:00+00:00", False),  # the usual night: yesterday's delivery
    ("2026-03-01", "2026-03-05T01:00:00+00:00", False),  # 3 days late: within the contract
    ("2026-02-28", "2026-03-05T01:00:00+00:00", True),
])
def test_marts_older_than_the_lateness_contract_are_stale(as_of, run_after, stale):
    from growthflow.airflow_support import stale_deliveries

    reason = stale_deliveries(dt.date.fromisoformat(as_of), dt.datetime.fromisoformat(run_after), max_days=3)
    assert (reason is not None) == stale
    if stale:
        assert "GROWTHFLOW_MAX_STALENESS_DAYS" in reason


def test_a_fail_check_stops_its_asset_and_a_warning_does_not(airflow_run, defective_dataset, tmp_path):
    """Ad spend flooded with unreadable rows fails its blocking check: raw.ad_spend is not
    published. Events with a few bad lines only warn: raw.events is published."""
    landing, _ = defective_dataset
    delivery = DEFECTIVE.start + dt.timedelta(days=2)
    copy = tmp_path / "landing"
    shutil.copytree(landing, copy)
    spend_file = sorted((copy / "ad_spend" / f"dt={delivery}").glob("*.csv"))[0]
    with spend_file.open("a") as out:
        out.writelines("not,a,row\n" for _ in range(200))
    result = airflow_run("ingest_raw_logs", (delivery + dt.timedelta(days=1)).isoformat(), landing_root=copy,
                         expect_success=False)
    output = result.stdout + result.stderr
    assert "DATA QUALITY FAIL (ad_spend delivery" in output and "raw_ad_spend" in output
    assert "DATA QUALITY WARN (events delivery" in output
    events = asset_events_of_latest_run("ingest_raw_logs")
    assert "raw.ad_spend" not in events
    assert {"raw.events", "raw.payments", "raw.campaigns"} <= set(events)
    assert events["raw.events"] == {"delivery_date": delivery.isoformat()}
