"""dbt on generated data: green builds, incremental = full refresh, ground truth, rejects."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import json
from collections import Counter
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
import yaml

from growthflow_tools.generator.generate import generate
from growthflow_tools.generator.settings import GeneratorSettings
from growthflow.landing import delivered_dates

from support import dbt, load_dates

SETTINGS = GeneratorSettings(start=dt.date(2026, 4, 6), days=10, seed=21, daily_new_users=300, campaigns=6)
MODEL_TABLES = (
    "staging.stg_events_checked", "staging.stg_payments_checked", "staging.stg_ad_spend_checked",
    "staging.stg_campaigns", "staging.int_acquisition_events", "staging.int_user_activity_daily",
    "staging.int_user_activity_weekly", "staging.int_daily_actives", "marts.fct_events", "marts.fct_payments", "marts.fct_ad_spend",
    "marts.dim_users", "marts.dim_campaigns", "marts.kpi_daily", "marts.kpi_weekly", "marts.kpi_acquisition_daily",
    "marts.funnel_cohort_weekly", "marts.retention_cohort_weekly", "marts.campaign_performance",
    "marts.kpi_segments_daily",
)


def table_checksums(url: str) -> dict[str, tuple[int, str]]:
    out = {}
    with psycopg.connect(url) as conn:
        for table in MODEL_TABLES:
            out[table] = conn.execute(
                # load_id names the load transaction: it differs between two databases by design.
                f"SELECT count(*), md5(coalesce(string_agg(r::text, '|' ORDER BY r::text), ''))"
                f" FROM (SELECT to_jsonb(t) - 'load_id' AS r FROM {table} AS t) AS rows"
            ).fetchone()
    return out


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("dbt-data")
    generate(SETTINGS.scaled_defects(5.0), root / "landing", root / "truth")
    return root / "landing", root / "truth"


@pytest.fixture(scope="module")
def full_build(database_factory, dataset, tmp_path_factory):
    """Everything loaded, then one full-refresh build."""
    landing, _ = dataset
    url = database_factory()
    load_dates(url, landing, delivered_dates(landing, "events"))
    dbt(url, tmp_path_factory.mktemp("full"), "build", "--full-refresh")
    return url


@pytest.fixture(scope="module")
def incremental_build(database_factory, dataset, tmp_path_factory):
    """Loaded and built day by day in batches, as the DAGs do, with a late re-delivery at the end."""
    landing, _ = dataset
    url = database_factory()
    tmp = tmp_path_factory.mktemp("incremental")
    dates = delivered_dates(landing, "events")
    for number, batch in enumerate((dates[:4], dates[4:5], dates[5:8], dates[8:])):
        load_dates(url, landing, batch)
        # The window as the warehouse DAG passes it: dbt keeps its partial parse between runs.
        output = dbt(url, tmp, "build", window_start=batch[0].isoformat())
        assert number == 0 or "Unable to do partial parsing" not in output, output[:2000]
    # A partition re-delivered late: reload it and rebuild from its date on (the CLI's way, a var).
    load_dates(url, landing, [dates[2]])
    dbt(url, tmp, "build", "--vars", json.dumps({"window_start": dates[2].isoformat()}))
    # A plain daily run with the default lookback changes nothing either.
    dbt(url, tmp, "build")
    return url


def test_incremental_history_equals_a_full_refresh(full_build, incremental_build):
    full, incremental = table_checksums(full_build), table_checksums(incremental_build)
    assert full["marts.fct_events"][0] > 10_000
    assert {t: v for t, v in incremental.items() if v != full[t]} == {}


def test_every_raw_row_is_staged_rejected_or_a_duplicate(full_build):
    with psycopg.connect(full_build) as conn:
        for source in ("events", "payments", "ad_spend"):
            raw = conn.execute(f"SELECT count(*) FROM raw.{source}").fetchone()[0]
            staged = conn.execute(f"SELECT count(*) FROM staging.stg_{source}").fetchone()[0]
            kept_out = dict(conn.execute(f"SELECT row_status, count(*) FROM dq.rejected_{source} GROUP BY 1").fetchall())
            assert raw == staged + sum(kept_out.values()) and staged > 0, (source, raw, staged, kept_out)


def test_each_injected_reject_and_duplicate_gets_its_verdict(full_build, dataset):
    _, truth = dataset
    entries = [json.loads(line) for line in (truth / "defects.jsonl").read_text().splitlines()]
    with psycopg.connect(full_build) as conn:
        verdicts = {}
        for source in ("events", "payments", "ad_spend"):
            for day, name, line, status, reason in conn.execute(
                    f"SELECT delivery_date, source_file, line_number, row_status, reject_reason "
                    f"FROM staging.stg_{source}_checked"):
                verdicts[(source, str(day), name, line)] = (status, reason)
    checked = Counter()
    for entry in entries:
        action, _, reason = entry["expected"].partition(":")
        key = (entry["source"], entry["delivery_date"], entry["file"], entry["line"])
        if action == "reject":
            assert verdicts[key] == ("rejected", reason), entry
        elif action == "duplicate":
            assert verdicts[key][0] == "duplicate", entry
        elif action == "load" and entry["source"] in ("events", "payments"):
            assert verdicts[key] == ("staged", None), entry
        else:
            continue
        checked[entry["kind"]] += 1
    assert {"unknown_event_name", "future_event_time", "stale_event_time", "non_positive_amount",
            "unknown_currency", "orphan_cancel", "excessive_cancel", "negative_spend", "unknown_campaign",
            "duplicate_event", "duplicate_payment"} <= set(checked)


def _seoul_date(text: str) -> dt.date:
    return (dt.datetime.fromisoformat(text) + dt.timedelta(hours=9)).date()


def test_signups_per_campaign_per_day_match_ground_truth(full_build, dataset):
    _, truth = dataset
    window_end = dt.datetime.fromisoformat(json.loads((truth / "settings.json").read_text())["window_end_utc"])
    expected = Counter()
    with gzip.open(truth / "users.csv.gz", "rt") as handle:
        for row in csv.DictReader(handle):
            if row["signup_at"] and dt.datetime.fromisoformat(row["signup_at"]) < window_end:
                expected[(_seoul_date(row["signup_at"]), row["campaign_id"] or None, row["channel"])] += 1
    with psycopg.connect(full_build) as conn:
        actual = Counter({(d, c, ch): n for d, c, ch, n in conn.execute(
            "SELECT date_day, campaign_id, channel, signups FROM marts.kpi_acquisition_daily WHERE signups > 0")})
    assert sum(expected.values()) > 500
    assert actual == expected


def _truth_payments(truth: Path) -> list[dict]:
    with gzip.open(truth / "purchases.csv.gz", "rt") as handle:
        return [row for row in csv.DictReader(handle) if row["in_window"] == "True"]


def test_first_purchases_per_day_match_ground_truth(full_build, dataset):
    _, truth = dataset
    expected = Counter(_seoul_date(r["occurred_at"]) for r in _truth_payments(truth)
                       if r["type"] == "charge" and r["is_first"] == "True")
    with psycopg.connect(full_build) as conn:
        actual = Counter({d: n for d, n in conn.execute(
            "SELECT date_day, first_purchases FROM marts.kpi_daily WHERE first_purchases > 0")})
    assert sum(expected.values()) > 50
    assert actual == expected


def test_net_revenue_per_day_matches_ground_truth(full_build, dataset):
    """Charges minus their cancels, by the Seoul day of the charge, in KRW at the seed's rate."""
    _, truth = dataset
    rows = _truth_payments(truth)
    charge_day = {r["payment_id"]: _seoul_date(r["occurred_at"]) for r in rows if r["type"] == "charge"}
    with psycopg.connect(full_build) as conn:
        rates = {(d, c): r for d, c, r in conn.execute("SELECT rate_date, currency, rate_to_krw FROM staging.fx_rates")}
        expected: Counter = Counter()
        for r in rows:
            day = charge_day[r["payment_id"] if r["type"] == "charge" else r["original_payment_id"]]
            rate = Decimal(1) if r["currency"] == "KRW" else rates[(day, r["currency"])]
            krw = round(Decimal(r["amount"]) * rate, 2)
            expected[day] += krw if r["type"] == "charge" else -krw
        actual = {d: v for d, v in conn.execute("SELECT date_day, net_revenue_krw FROM marts.kpi_daily")}
        cancels = sum(1 for r in rows if r["type"] == "cancel")
    assert cancels > 10
    assert {d: v for d, v in expected.items()} == {d: v for d, v in actual.items() if v or d in expected}


def test_bi_reader_reads_marts_but_not_staging(full_build, bi_password):
    scheme, _, rest = full_build.partition("://")
    bi = f"{scheme}://bi_reader:{bi_password}@{rest.split('@', 1)[1]}"
    with psycopg.connect(bi) as conn:
        # UTC delivery days 1..N cover Seoul days 1..N+1 (the last evening in Seoul is the next day).
        assert conn.execute("SELECT count(*) FROM marts.kpi_daily").fetchone()[0] == SETTINGS.days + 1
        for table in ("staging.stg_events", "staging.stg_events_checked", "dq.rejected_events", "raw.events"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(f"SELECT 1 FROM {table} LIMIT 1")
            conn.rollback()


def test_docs_generate_documents_every_model(full_build, tmp_path):
    dbt(full_build, tmp_path, "docs", "generate")
    manifest = json.loads((tmp_path / "dbt-target" / "manifest.json").read_text())
    catalog = json.loads((tmp_path / "dbt-target" / "catalog.json").read_text())
    models = [n for n in manifest["nodes"].values() if n["resource_type"] == "model"]
    assert len(models) >= 20
    for node in models:
        assert node["description"], node["name"]
        built = catalog["nodes"][node["unique_id"]]["columns"]
        undocumented = [c for c in built if not node["columns"].get(c, {}).get("description")]
        assert not undocumented, (node["name"], undocumented)
    # One exposure per Superset dashboard in bi/assets/, pointing at that dashboard's URL.
    from growthflow_tools.bi import ASSETS_DIR

    slugs = {yaml.safe_load(p.read_text())["slug"] for p in (ASSETS_DIR / "dashboards").glob("*.yaml")}
    exposures = {e["name"]: e for e in manifest["exposures"].values()}
    assert set(exposures) == {"growth_kpi_dashboard", "campaign_ltv_dashboard", "data_quality_dashboard"}
    assert {e["url"].rstrip("/").rsplit("/", 1)[1] for e in exposures.values()} == slugs


def test_the_window_reaches_models_and_tests_through_the_environment(full_build, tmp_path):
    """The warehouse DAG passes the window as GROWTHFLOW_DBT_WINDOW_START: a model and a test
    filter on each run's date, and a new date re-parses only the files that read it."""
    import shutil

    compiled_dir = tmp_path / "dbt-target" / "compiled"

    def compile_with(window: str) -> tuple[str, dict[str, str]]:
        output = dbt(full_build, tmp_path, "compile", "--select",
                     "int_acquisition_events unique_int_acquisition_events_event_id", window_start=window)
        sql = {path.stem: path.read_text() for path in compiled_dir.rglob("*.sql")}
        shutil.rmtree(compiled_dir)
        return output, sql

    _, first = compile_with("2026-04-08")
    output, second = compile_with("2026-04-11")
    assert "Unable to do partial parsing" not in output, output[:2000]
    # The model and its tests (each with a window `where`).
    assert set(first) == set(second) >= {"int_acquisition_events", "unique_int_acquisition_events_event_id"}
    assert all("2026-04-08" in sql and "2026-04-11" not in sql for sql in first.values())
    assert all("2026-04-11" in sql and "2026-04-08" not in sql for sql in second.values())
