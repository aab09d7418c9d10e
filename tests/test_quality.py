"""Data-quality suites on real data: every injected defect reported with its exact count
at the right layer and severity, no false alarm on clean data, a pinned report format."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import json
from collections import Counter
from pathlib import Path

import psycopg
import pytest

from growthflow.errors import ConfigError
from growthflow_tools.generator.generate import generate
from growthflow.ingest.validate import QUARANTINE_REASONS
from growthflow.landing import SOURCES, delivered_dates
from growthflow.quality import report
from growthflow.quality.checks import DataQualityFailed, check_delivery, check_warehouse
from growthflow.quality.runner import CheckResult, Period
from growthflow.quality.suites import load_suites, parse_suite_file

from conftest import DEFECTIVE
from support import dbt, load_dates

#: Which check reports each defect kind of the generator's manifest: (suite, check id, layer, severity).
#: ``raw_{source}`` suites run per delivery date; the others on the build's window.
DEFECT_CHECKS = {
    "invalid_utf8": ("raw_{source}", "quarantined_invalid_utf8", "raw", "warn"),
    "invalid_json": ("raw_{source}", "quarantined_invalid_json", "raw", "warn"),
    "not_an_object": ("raw_{source}", "quarantined_not_an_object", "raw", "warn"),
    "empty_line": ("raw_{source}", "quarantined_empty_line", "raw", "warn"),
    "missing_field": ("raw_{source}", "quarantined_missing_field", "raw", "warn"),
    "bad_type": ("raw_{source}", "quarantined_bad_type", "raw", "warn"),
    "non_numeric_spend": ("raw_{source}", "quarantined_bad_type", "raw", "warn"),
    "unstorable_text": ("raw_{source}", "quarantined_unstorable_text", "raw", "warn"),
    "oversized_line": ("raw_{source}", "quarantined_line_too_long", "raw", "warn"),
    "truncated_gzip": ("raw_{source}", "quarantined_truncated_file", "raw", "warn"),
    "wrong_column_count": ("raw_{source}", "quarantined_wrong_column_count", "raw", "warn"),
    "unknown_event_name": ("stg_events_checked", "event_name_known", "staging", "warn"),
    "future_event_time": ("stg_events_checked", "event_time_not_in_future", "staging", "warn"),
    "stale_event_time": ("stg_events_checked", "event_time_not_years_back", "staging", "warn"),
    "duplicate_event": ("stg_events_checked", "delivered_once", "staging", "warn"),
    "non_positive_amount": ("stg_payments_checked", "amount_positive", "staging", "warn"),
    "unknown_currency": ("stg_payments_checked", "currency_known", "staging", "warn"),
    "orphan_cancel": ("stg_payments_checked", "cancel_has_charge", "staging", "warn"),
    "excessive_cancel": ("stg_payments_checked", "cancel_within_charge", "staging", "warn"),
    "duplicate_payment": ("stg_payments_checked", "delivered_once", "staging", "warn"),
    "negative_spend": ("stg_ad_spend_checked", "spend_not_negative", "staging", "warn"),
    "unknown_campaign": ("stg_ad_spend_checked", "campaign_in_catalogue", "staging", "warn"),
    "missing_partition": ("raw_deliveries", "partition_loaded", "raw", "fail"),
    "injection_text": None,  # SQL and shell text in a field is data: loaded, nothing to report
}
#: Checks that measure totals rather than one kind of defect.
AGGREGATE_CHECKS = {"loaded_share", "delivered_lines_vs_7_day_median"}


def _manifest(truth: Path) -> list[dict]:
    return [json.loads(line) for line in (truth / "defects.jsonl").read_text().splitlines()]


def _check_everything(url: str, landing: Path) -> list[CheckResult]:
    dates = delivered_dates(landing, "events")
    results = []
    for day in dates:
        for source in SOURCES:
            results += check_delivery(url, source, day, "test-run", raise_on_fail=False, out=io.StringIO()).results
    results += check_warehouse(url, dates[0], "test-run", raise_on_fail=False, out=io.StringIO()).results
    return results


def _built_and_checked(url: str, dataset: tuple[Path, Path], dbt_dir: Path):
    """Load every delivery date, build the warehouse, run every suite: (url, results, manifest)."""
    landing, truth = dataset
    load_dates(url, landing, delivered_dates(landing, "events"))
    dbt(url, dbt_dir, "build", "--full-refresh")
    return url, _check_everything(url, landing), _manifest(truth)


@pytest.fixture(scope="module")
def defective_checks(database_factory, defective_dataset, tmp_path_factory):
    return _built_and_checked(database_factory(), defective_dataset, tmp_path_factory.mktemp("dq-defective"))


@pytest.fixture(scope="module")
def clean_checks(database_factory, clean_dataset, tmp_path_factory):
    return _built_and_checked(database_factory(), clean_dataset, tmp_path_factory.mktemp("dq-clean"))


def test_every_defect_kind_is_reported_with_its_exact_count_layer_and_severity(defective_checks):
    _, results, manifest = defective_checks
    expected: Counter = Counter()
    for entry in manifest:
        target = DEFECT_CHECKS[entry["kind"]]
        if target is not None:
            expected[(target[0].format(source=entry["source"]), target[1])] += 1
    reported: Counter = Counter()
    for r in results:
        reported[(r.suite, r.check_id)] += r.unexpected_count or 0
    assert len(expected) >= 20, "the defective dataset should exercise nearly every kind"
    assert {key: reported[key] for key in expected} == dict(expected)

    by_key = {(r.suite, r.check_id): r for r in results}
    for suite, check_id, layer, severity in filter(None, DEFECT_CHECKS.values()):
        for key in [(suite.format(source=s), check_id) for s in SOURCES] if "{source}" in suite else [(suite, check_id)]:
            if key in by_key:
                assert (by_key[key].layer, by_key[key].severity) == (layer, severity), key
    # Nothing else fires: every check no defect maps to finds no bad row.
    mapped = set(expected)
    stray = {(r.suite, r.check_id, r.unexpected_count) for r in results
             if (r.suite, r.check_id) not in mapped and r.check_id not in AGGREGATE_CHECKS
             and (not r.success or r.unexpected_count)}
    assert stray == set()


def test_loaded_share_counts_every_quarantined_line(defective_checks):
    url, results, _ = defective_checks
    with psycopg.connect(url) as conn:
        quarantined = dict(conn.execute("select source, count(*) from raw.quarantine group by source").fetchall())
    shares = Counter()
    for r in results:
        if r.check_id == "loaded_share":
            shares[r.suite.removeprefix("raw_")] += r.unexpected_count
    assert dict(shares) == {s: n for s, n in quarantined.items()}


def test_a_clean_dataset_passes_every_suite(clean_checks):
    _, results, manifest = clean_checks
    assert manifest == []
    assert len(results) > 100
    alarms = [(r.suite, r.check_id, r.unexpected_count, r.exception) for r in results if not r.success]
    assert alarms == []
    assert all(r.unexpected_count in (0, None) for r in results)


def test_every_result_is_kept_and_dq_daily_summarises_the_newest(defective_checks):
    url, results, _ = defective_checks
    with psycopg.connect(url) as conn:
        stored = conn.execute("select count(*), count(*) filter (where not success) from dq.validation_results"
                              " where run_id = 'test-run'").fetchone()
        daily = conn.execute("select sum(checks), sum(failed_checks) from marts.dq_daily").fetchone()
    assert stored == (len(results), sum(not r.success for r in results))
    assert tuple(int(v) for v in daily) == stored


def test_a_missing_partition_blocks_with_one_row_per_source(database_factory, tmp_path_factory, capsys):
    gap = DEFECTIVE.start + dt.timedelta(days=2)
    settings = dataclasses.replace(DEFECTIVE.scaled_defects(0.0), missing_partitions=(gap,), days=4)
    root = tmp_path_factory.mktemp("gap")
    generate(settings, root / "landing", root / "truth")
    url = database_factory()
    load_dates(url, root / "landing", [d for d in delivered_dates(root / "landing", "events") if d != gap])
    manifest = [e for e in _manifest(root / "truth") if e["kind"] == "missing_partition"]
    with pytest.raises(DataQualityFailed, match="raw_deliveries.partition_loaded"):
        check_warehouse(url, DEFECTIVE.start, "gap-run", layers=("raw",), out=io.StringIO())
    capsys.readouterr()
    outcome = check_warehouse(url, DEFECTIVE.start, "gap-run", layers=("raw",), raise_on_fail=False)
    # The report goes to the stdout of the moment (the task's), not to the one of when the module was
    # imported: a Celery worker preloads it, then the task process replaces stdout.
    assert "raw_deliveries" in capsys.readouterr().out
    (result,) = outcome.blocking
    assert result.unexpected_count == len(manifest) == len(SOURCES)
    assert all(f"delivery_date={gap}" in sample for sample in result.samples)


def _result(suite, check_id, severity, success, unexpected=None, percent=None, samples=(), observed=None,
            column="c"):
    return CheckResult(suite=suite, layer="staging", table="t", check_id=check_id, expectation_type="X",
                       column=column, category="wrong", severity=severity, success=success,
                       period=Period(dt.date(2026, 3, 1), dt.date(2026, 3, 4)), element_count=1000,
                       unexpected_count=unexpected, unexpected_percent=percent, observed_value=observed,
                       samples=list(samples))


def test_report_format_is_pinned():
    results = [
        _result("kpi_daily", "one_row_per_day", "fail", True, 0, 0.0, column="date_day"),
        _result("stg_events_checked", "event_name_known", "warn", False, 12, 1.2, ["push_opened", "app_open_v2"],
                column="event_name"),
        _result("raw_deliveries", "partition_loaded", "fail", False, 4, 25.0,
                ["source=events delivery_date=2026-03-03"], column="loaded"),
        _result("raw_events", "delivered_lines_vs_7_day_median", "fail", True, observed=3120, column=None),
    ]
    assert report.render(results, "warehouse 2026-03-01..2026-03-04") == "\n".join([
        "DATA QUALITY FAIL (warehouse 2026-03-01..2026-03-04): 1 blocking, 1 warning, 2 passed of 4 checks",
        "suite                     check                               column                  sev   status  unexpected         %  samples",
        "------------------------  ----------------------------------  ----------------------  ----  ------  ----------  --------  -------",
        "raw_deliveries            partition_loaded                    loaded                  fail  FAIL             4     25.00  source=events delivery_date=2026-03-03",
        "stg_events_checked        event_name_known                    event_name              warn  WARN            12      1.20  push_opened, app_open_v2",
        "kpi_daily                 one_row_per_day                     date_day                fail  pass             0      0.00",
        "raw_events                delivered_lines_vs_7_day_median     -                       fail  pass             -         -  observed 3120",
    ])


def test_raw_suite_reports_every_quarantine_reason():
    raw = [s for s in load_suites() if s.name == "raw_events"][0]
    reported = {c.kwargs["value_set"][0] for c in raw.checks if c.id.startswith("quarantined_")}
    assert reported == set(QUARANTINE_REASONS)


@pytest.mark.parametrize("mutation, message", [
    (("severity: warn", "severity: loud"), "severity 'loud' is not one of fail, warn"),
    (("ExpectColumnValuesToBeInSet", "ExpectColumnValuesToBeFabulous"), "is not a GX Core expectation class"),
])
def test_a_bad_suite_file_is_a_one_line_config_error(tmp_path, mutation, message):
    source = Path(__file__).parent.parent / "expectations" / "stg_events_checked.yml"
    broken = tmp_path / "stg_events_checked.yml"
    broken.write_text(source.read_text().replace(*mutation, 1))
    with pytest.raises(ConfigError, match=message):
        parse_suite_file(broken)


def test_data_docs_views_compile_each_template_once(tmp_path, monkeypatch):
    """GX makes a new Jinja environment per Data Docs page; with the shared cache a second one compiles nothing."""
    import jinja2
    from great_expectations.render.view.view import DefaultJinjaView

    from growthflow.quality import templates

    templates.share_compiled_templates()
    monkeypatch.setattr(templates, "_CACHE", jinja2.FileSystemBytecodeCache(str(tmp_path)))
    compiled: list[str] = []
    real_compile = jinja2.Environment.compile

    def counting_compile(self, source, name=None, *args, **kwargs):
        compiled.append(name)
        return real_compile(self, source, name, *args, **kwargs)

    monkeypatch.setattr(jinja2.Environment, "compile", counting_compile)
    DefaultJinjaView().env.get_template("page.j2")
    assert compiled == ["page.j2"]
    second = DefaultJinjaView()
    assert second.env.bytecode_cache is templates._CACHE
    second.env.get_template("page.j2")
    assert compiled == ["page.j2"], "the second view compiled the template again"
    assert [p.name for p in tmp_path.iterdir()], "nothing was written to the bytecode cache"
