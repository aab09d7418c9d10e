"""The BI server for real: Superset (its own locked environment) over a built warehouse, with
the dashboards imported from bi/assets/, opened in Debian's headless Chromium.

One Superset start is shared by the module's tests. The warehouse is generated, loaded,
built with dbt, checked with GX and forecast (MAP, to keep the fit short) first, so every
dashboard has real data to show.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import json
import shutil

import psycopg
import pytest
import yaml

from growthflow_tools.bi import ADMIN_USER, ASSETS_DIR, SupersetServer
from growthflow.config import load_settings
from growthflow_tools.generator.generate import generate
from growthflow_tools.generator.incidents import Incident
from growthflow_tools.generator.settings import GeneratorSettings
from growthflow.landing import SOURCES, delivered_dates

from growthflow_tools.browser import chrome, full_page_screenshot, login, open_dashboard, table_rows
from growthflow_tools.processes import free_port
from support import dbt, load_dates

#: Starts on a Monday: three full Seoul weeks and a partial one. In its last days an app version
#: stops sending session_start, for the data-quality dashboard's metric-rot table.
DATA = GeneratorSettings(start=dt.date(2026, 3, 2), days=24, seed=31, daily_new_users=300, campaigns=6, incidents=(
    Incident("event_dropped", dt.date(2026, 3, 23), 2, 1.0,
             (("event_name", "session_start"), ("platform", "ios"), ("app_version", "3.14.0"))),))
DASHBOARDS = {doc["slug"]: doc for doc in (yaml.safe_load(p.read_text())
                                           for p in sorted((ASSETS_DIR / "dashboards").glob("*.yaml")))}
ARTIFACTS = load_settings().artifacts_dir / "test-artifacts" / "bi"


def chart_count(dashboard: dict) -> int:
    return sum(1 for item in dashboard["position"].values() if isinstance(item, dict) and item.get("type") == "CHART")


@pytest.fixture(scope="module")
def built_warehouse(warehouse, tmp_path_factory, targets):
    from growthflow.ltv.job import run_nightly
    from growthflow.quality.checks import check_warehouse
    from growthflow.quality.metric_rot import check_anomalies
    from models_ltv.fit import FitSettings

    root = tmp_path_factory.mktemp("bi_data")
    generate(DATA, root / "landing", root / "truth")
    load_dates(warehouse, root / "landing", delivered_dates(root / "landing", SOURCES[0]))
    dbt(warehouse, root, "build")
    as_of = DATA.start + dt.timedelta(days=DATA.days - 1)
    run_nightly(warehouse, as_of, "bi-test-night", FitSettings(method="map", draws=100, chains=1), unit_days=7,
                forecast_draws=60, progress=lambda _: None)
    check_warehouse(warehouse, None, "bi-test-checks", raise_on_fail=False, out=io.StringIO())
    check_anomalies(warehouse, DATA.start, "bi-test-anomalies", alert=False, out=io.StringIO())
    return warehouse


@pytest.fixture(scope="module")
def superset(built_warehouse, targets):
    """One Superset for the module, its metadata in a database of its own, reading the test warehouse."""
    dbname = built_warehouse.rsplit("/", 1)[1]
    bi_url = targets.bi_url.rsplit("/", 1)[0] + f"/{dbname}"
    server = SupersetServer(load_settings(), dataclasses.replace(targets, bi_url=bi_url), name="bi_test",
                            port=free_port())
    server.ensure_environment()
    server.ensure_metadata_database()
    server.migrate()
    server.start()
    try:
        server.import_assets()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser(superset):
    driver = chrome()
    try:
        login(driver, superset.url, ADMIN_USER, superset.admin_password())
        yield driver
    finally:
        driver.quit()


def query(url: str, sql: str, params=()) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchall()


@pytest.mark.parametrize("slug", sorted(DASHBOARDS))
def test_every_chart_of_every_dashboard_draws_without_error(superset, browser, slug):
    dashboard = DASHBOARDS[slug]
    rendered = open_dashboard(browser, f"{superset.url}/superset/dashboard/{slug}/", chart_count(dashboard))
    full_page_screenshot(browser, ARTIFACTS / f"{slug}.png")
    assert len(rendered.charts) == chart_count(dashboard)
    assert rendered.errors == [], rendered.errors
    assert rendered.empty == [], f"charts with no data: {rendered.empty}"
    assert (ARTIFACTS / f"{slug}.png").stat().st_size > 20_000


def test_figures_on_the_dashboards_equal_the_marts(superset, browser, built_warehouse):
    growth = open_dashboard(browser, f"{superset.url}/superset/dashboard/growth-kpis/",
                            chart_count(DASHBOARDS["growth-kpis"]))
    ((signups,),) = query(built_warehouse, "select signups from marts.kpi_weekly where days_in_data = 7"
                                           " order by week_start desc limit 1")
    title, figure, *_ = growth.charts["Sign-ups, last full week"].splitlines()
    assert figure == f"{int(signups):,}"

    ltv = open_dashboard(browser, f"{superset.url}/superset/dashboard/campaign-ltv/",
                         chart_count(DASHBOARDS["campaign-ltv"]))
    name, roas = query(built_warehouse, "select campaign_name, roas_365_p50 from marts.campaign_ltv_forecasts"
                                        " where is_latest and roas_365_p50 is not null"
                                        " order by roas_365_p50 desc limit 1")[0]
    assert not ltv.errors and not ltv.empty
    shown = dict(table_rows(browser, "LTV per user by campaign", ["campaign_name", "roas_365_p50"]))
    assert shown[name] == f"{roas:.2f}", (name, roas, shown)

    # The incident of DATA, on the on-call dashboard: the day, the segment, observed 0.
    open_dashboard(browser, f"{superset.url}/superset/dashboard/data-quality/", chart_count(DASHBOARDS["data-quality"]))
    anomalies = table_rows(browser, "Metric rot: anomalies by day and segment", ["anomaly_date", "segment"])
    assert ["2026-03-23", "event_name=session_start platform=ios app_version=3.14.0"] in (anomalies or []), anomalies


def superset_sql(superset, database_id: int, sql: str) -> tuple[int, dict]:
    response = superset.api().post("/api/v1/sqllab/execute/", json={
        "database_id": database_id, "sql": sql, "schema": "marts", "runAsync": False, "select_as_cta": False,
        "client_id": f"t{abs(hash(sql)) % 10**8}", "queryLimit": 100})
    return response.status_code, response.json()


def test_superset_reads_marts_and_is_refused_on_raw_and_on_every_write(superset, built_warehouse):
    databases = superset.api().get("/api/v1/database/").json()["result"]
    (database_id,) = [d["id"] for d in databases if d["database_name"] == "growthflow marts"]
    status, body = superset_sql(superset, database_id, "select count(*) as n from marts.kpi_daily")
    assert status == 200 and body["data"][0]["n"] == query(built_warehouse, "select count(*) from marts.kpi_daily")[0][0]
    status, body = superset_sql(superset, database_id, "select * from raw.events limit 1")
    assert status != 200 and "permission denied" in json.dumps(body).lower()
    for write in ("insert into marts.kpi_daily (date_day) values (date '2000-01-01')",
                  "delete from marts.kpi_daily", "create table marts.scratch (x int)"):
        status, body = superset_sql(superset, database_id, write)
        assert status != 200, write
    assert query(built_warehouse, "select count(*) from marts.kpi_daily where date_day = date '2000-01-01'") == [(0,)]


def test_csv_export_of_a_table_chart_returns_the_marts_rows(superset, built_warehouse):
    api = superset.api()
    charts = api.get("/api/v1/chart/", q="(page_size:100)").json()["result"]
    (chart,) = [c for c in charts if c["slice_name"] == "Weekly sign-ups and activation"]
    detail = api.get(f"/api/v1/chart/{chart['id']}").json()["result"]
    form_data = json.loads(detail["params"])
    dataset_id = detail["query_context"] and json.loads(detail["query_context"])["datasource"]["id"]
    dataset_id = dataset_id or int(form_data["datasource"].split("__")[0])
    # What the chart menu's Download > Export to .CSV sends: the chart's own query, as CSV.
    response = api.post("/api/v1/chart/data", json={
        "datasource": {"id": dataset_id, "type": "table"}, "force": True, "result_format": "csv",
        "result_type": "full", "form_data": form_data,
        "queries": [{"columns": form_data["all_columns"], "orderby": [["week_start", False]],
                     "row_limit": form_data["row_limit"], "filters": [], "extras": {}}]})
    assert response.status_code == 200, response.text[:300]
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    header, body = rows[0], rows[1:]
    dataset = yaml.safe_load((ASSETS_DIR / "datasets" / "growthflow_marts" / "kpi_weekly.yaml").read_text())
    labels = {c["column_name"]: c.get("verbose_name") or c["column_name"] for c in dataset["columns"]}
    labels.update({m["metric_name"]: m["verbose_name"] for m in dataset["metrics"]})  # Superset labels by both
    assert header == [labels[c] for c in form_data["all_columns"]]
    mart = query(built_warehouse, "select week_start, days_in_data, signups, signups_wow, activations, activations_wow,"
                                  " activations::numeric / nullif(signups, 0) from marts.kpi_weekly"
                                  " order by week_start desc")
    assert len(body) == len(mart) >= 2
    for exported, row in zip(body, mart):
        assert exported[0] == row[0].isoformat()
        assert [int(float(exported[i])) for i in (1, 2, 4)] == [int(row[i]) for i in (1, 2, 4)]
        for i in (3, 5, 6):
            assert (exported[i] == "") == (row[i] is None)
            if row[i] is not None:
                assert abs(float(exported[i]) - float(row[i])) < 1e-9


def asset_state(superset) -> dict:
    """What the assets define, as Superset holds them (ids, timestamps and owners aside)."""
    api = superset.api()
    charts = {c["slice_name"]: (c["viz_type"], json.loads(api.get(f"/api/v1/chart/{c['id']}").json()["result"]["params"]))
              for c in api.get("/api/v1/chart/", q="(page_size:100)").json()["result"]}
    dashboards = {}
    for d in api.get("/api/v1/dashboard/", q="(page_size:100)").json()["result"]:
        full = api.get(f"/api/v1/dashboard/{d['id']}").json()["result"]
        dashboards[full["slug"]] = (full["dashboard_title"], json.loads(full["position_json"]),
                                    json.loads(full["json_metadata"]).get("native_filter_configuration"))
    datasets = {d["table_name"]: d["id"] for d in api.get("/api/v1/dataset/", q="(page_size:100)").json()["result"]}
    return {"charts": charts, "dashboards": dashboards, "datasets": datasets}


def test_importing_again_changes_nothing_and_a_changed_yaml_updates_its_dashboard(superset, tmp_path):
    before = asset_state(superset)
    assert len(before["charts"]) == len(list((ASSETS_DIR / "charts").glob("*.yaml")))
    superset.import_assets()
    assert asset_state(superset) == before
    changed = tmp_path / "assets"
    shutil.copytree(ASSETS_DIR, changed)
    path = changed / "dashboards" / "growth-kpis.yaml"
    path.write_text(path.read_text().replace("dashboard_title: Growth KPIs", "dashboard_title: Growth KPIs (renamed)"))
    chart = next((changed / "charts").glob("03_*.yaml"))
    chart.write_text(chart.read_text().replace("slice_name: Daily active users", "slice_name: Daily actives"))
    try:
        superset.import_assets(changed)
        after = asset_state(superset)
        assert after["dashboards"]["growth-kpis"][0] == "Growth KPIs (renamed)"
        assert "Daily actives" in after["charts"] and "Daily active users" not in after["charts"]
        assert after["datasets"] == before["datasets"]
    finally:
        superset.import_assets()
    assert asset_state(superset) == before
