"""Data-quality cost: the events suites for one day against one hand-written SQL query.

Loads one generated day (defects at their default rates), builds the warehouse,
then grows raw.events, staging.stg_events_checked and marts.fct_events to
``--rows`` rows each by copying that day onto earlier delivery dates with new ids.
Then, for the newest day, times (best of ``--repeat``):

- GX: the suites a day runs on events - raw_events (after the load) and
  stg_events_checked + fct_events (after the build), with report, history and Data Docs;
- SQL: one hand-written query computing the same counts in a single pass per table.

Prints both, their ratio (target <= 3x) and checks that both found the same counts.

    .venv/bin/python bench/quality_checks.py [--rows 10000000] [--day-users 40000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import psycopg  # noqa: E402

from growthflow_tools.bench import scratch_database, table  # noqa: E402
from growthflow.dbt_runner import run_dbt  # noqa: E402
from growthflow_tools.generator.generate import generate  # noqa: E402
from growthflow_tools.generator.settings import GeneratorSettings  # noqa: E402
from growthflow.ingest.loader import load_partition  # noqa: E402
from growthflow.landing import SOURCES  # noqa: E402
from growthflow.quality import history, report  # noqa: E402
from growthflow.quality.checks import check_delivery  # noqa: E402
from growthflow.quality.parameters import project_parameters  # noqa: E402
from growthflow.quality.runner import Period, QualityRun  # noqa: E402
from growthflow.quality.suites import load_suites  # noqa: E402

HAND_SQL = """
with
raw_lines as (
    select null::text as reason from raw.events where delivery_date = %(day)s
    union all
    select reason from raw.quarantine where source = 'events' and delivery_date = %(day)s
),
raw_counts as (
    select count(*) as raw_lines,
           count(reason) as raw_quarantined,
           count(*) filter (where reason = 'empty_line') as q_empty_line,
           count(*) filter (where reason = 'line_too_long') as q_line_too_long,
           count(*) filter (where reason = 'invalid_utf8') as q_invalid_utf8,
           count(*) filter (where reason = 'invalid_json') as q_invalid_json,
           count(*) filter (where reason = 'not_an_object') as q_not_an_object,
           count(*) filter (where reason = 'missing_field') as q_missing_field,
           count(*) filter (where reason = 'bad_type') as q_bad_type,
           count(*) filter (where reason = 'unstorable_text') as q_unstorable_text,
           count(*) filter (where reason = 'truncated_file') as q_truncated_file,
           count(*) filter (where reason = 'wrong_column_count') as q_wrong_column_count,
           count(*) filter (where reason = 'bad_header') as q_bad_header
    from raw_lines
),
staged as (
    select c.*, extract(epoch from c.event_at - c.received_at) / 3600.0 as hours,
           exists (select 1 from staging.stg_events_checked e
                   where e.event_date = c.event_date and e.event_id = c.event_id
                   and (e.delivery_date, e.source_file, e.line_number) < (c.delivery_date, c.source_file, c.line_number))
               as delivered_before
    from staging.stg_events_checked c where c.delivery_date = %(day)s
),
staged_counts as (
    select count(*) as stg_rows,
           count(*) filter (where event_id is null) as stg_no_event_id,
           count(*) filter (where anonymous_id is null) as stg_no_anonymous_id,
           count(*) filter (where event_at is null) as stg_no_event_at,
           count(*) filter (where event_name <> all(%(names)s)) as stg_unknown_name,
           count(*) filter (where platform <> all(%(platforms)s)) as stg_unknown_platform,
           count(*) filter (where channel <> all(%(channels)s)) as stg_unknown_channel,
           count(*) filter (where hours > %(future)s) as stg_future,
           count(*) filter (where hours < %(stale)s) as stg_stale,
           count(*) filter (where delivered_before) as stg_duplicates
    from staged
),
published as (
    select f.*, extract(epoch from f.event_at - f.received_at) / 3600.0 as hours,
           f.campaign_id is null or d.campaign_id is not null as campaign_known
    from marts.fct_events f left join marts.dim_campaigns d on d.campaign_id = f.campaign_id
    where f.delivery_date = %(day)s
),
published_counts as (
    select count(*) as fct_rows,
           count(*) - count(distinct event_id) as fct_duplicate_ids,
           count(*) filter (where event_date is null) as fct_no_date,
           count(*) filter (where anonymous_id is null) as fct_no_anonymous_id,
           count(*) filter (where event_name <> all(%(names)s)) as fct_unknown_name,
           count(*) filter (where platform <> all(%(platforms)s)) as fct_unknown_platform,
           count(*) filter (where hours > %(future)s or hours < %(stale)s) as fct_implausible_time,
           count(*) filter (where not campaign_known) as fct_unknown_campaign
    from published
)
select * from raw_counts, staged_counts, published_counts
"""


def grow(url: str, day: dt.date, rows: int) -> int:
    """Copy ``day`` onto earlier delivery dates until each events table holds ``rows`` rows."""
    with psycopg.connect(url, autocommit=True) as conn:
        per_day = conn.execute("select count(*) from staging.stg_events_checked").fetchone()[0]
        copies = max(0, -(-rows // per_day) - 1)
        for k in range(1, copies + 1):
            earlier = day - dt.timedelta(days=k)
            conn.execute("select raw.ensure_partition('events', %s)", (earlier,))
            conn.execute("""insert into raw.events (delivery_date, source_file, line_number, load_id, loaded_at, record)
                            select %(d)s, source_file, line_number, load_id, loaded_at,
                                   jsonb_set(record, '{event_id}', to_jsonb(md5(record->>'event_id' || %(k)s)))
                            from raw.events where delivery_date = %(day)s""", {"d": earlier, "k": k, "day": day})
            for target in ("staging.stg_events_checked", "marts.fct_events"):
                columns = [r[0] for r in conn.execute(
                    "select column_name from information_schema.columns where table_schema || '.' || table_name = %s"
                    " order by ordinal_position", (target,))]
                select = ", ".join("md5(event_id || %(k)s)" if c == "event_id" else "%(d)s" if c == "delivery_date"
                                   else c for c in columns)
                conn.execute(f"insert into {target} ({', '.join(columns)}) select {select} from {target}"
                             " where delivery_date = %(day)s", {"d": earlier, "k": k, "day": day})
            if k % 10 == 0:
                print(f"  grown to {per_day * (k + 1):,} rows", flush=True)
        conn.execute("analyze raw.events; analyze staging.stg_events_checked; analyze marts.fct_events")
        return conn.execute("select count(*) from staging.stg_events_checked").fetchone()[0]


def run_gx(url: str, day: dt.date) -> tuple[dict, list]:
    suites = {s.name: s for s in load_suites()}
    raw = check_delivery(url, "events", day, "bench", raise_on_fail=False, out=io.StringIO())
    run = QualityRun(url, docs_dir=Path(tempfile.mkdtemp()) / "docs")
    period = Period(day, day)
    results = raw.results
    for name in ("stg_events_checked", "fct_events"):
        results = results + run.run_suite(suites[name], period, {})
    run.build_docs()
    history.save_results(url, "bench", None, results)
    report.render(results, "bench")
    return {(r.suite, r.check_id): r.unexpected_count for r in results}, results


def best_of(n: int, fn):
    times, value = [], None
    for _ in range(n):
        started = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - started)
    return min(times), value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--day-users", type=int, default=40_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    day = dt.date(2026, 6, 30)
    with tempfile.TemporaryDirectory() as tmp, scratch_database() as url:
        generate(GeneratorSettings(start=day, days=1, daily_new_users=args.day_users), Path(tmp) / "landing",
                 Path(tmp) / "truth")
        for source in SOURCES:
            load_partition(url, source, day, Path(tmp) / "landing")
        build = run_dbt(url, "build", capture=True, target_path=Path(tmp) / "target")
        if build.returncode != 0:
            raise SystemExit(build.stdout[-3000:])
        total = grow(url, day, args.rows)
        with psycopg.connect(url) as conn:
            day_rows = conn.execute("select count(*) from staging.stg_events_checked where delivery_date = %s",
                                    (day,)).fetchone()[0]
        print(f"events tables: {total:,} rows each; the checked day: {day_rows:,} rows")
        params = project_parameters()
        sql_args = {"day": day, "names": params["known_event_names"], "platforms": params["known_platforms"],
                    "channels": params["known_channels"], "future": params["future_tolerance_hours"],
                    "stale": params["stale_tolerance_hours_negative"]}

        def hand_sql():
            with psycopg.connect(url) as conn:
                cur = conn.execute(HAND_SQL, sql_args)
                return dict(zip([c.name for c in cur.description], cur.fetchone()))

        run_gx(url, day)  # warm GX imports and caches
        gx_seconds, (gx_counts, results) = best_of(args.repeat, lambda: run_gx(url, day))
        sql_seconds, sql_counts = best_of(args.repeat, hand_sql)
        agree = (gx_counts[("stg_events_checked", "event_name_known")] == sql_counts["stg_unknown_name"]
                 and gx_counts[("stg_events_checked", "delivered_once")] == sql_counts["stg_duplicates"]
                 and gx_counts[("raw_events", "loaded_share")] == sql_counts["raw_quarantined"]
                 and gx_counts[("fct_events", "event_id_unique")] == 2 * sql_counts["fct_duplicate_ids"])
        ratio = gx_seconds / sql_seconds
        print(table([("GX suites (raw_events, stg_events_checked, fct_events)", len(results), f"{gx_seconds:.2f}"),
                     ("hand-written SQL, one query", len(sql_counts), f"{sql_seconds:.2f}")],
                    ("run", "checks/counts", "seconds")))
        print(f"ratio GX / SQL: {ratio:.2f}x (target <= 3x: {'PASS' if ratio <= 3 else 'FAIL'}); "
              f"counts agree: {agree}")


if __name__ == "__main__":
    main()
