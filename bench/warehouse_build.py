"""Warehouse build cost: a daily incremental dbt build on 30 versus 180 days of history.

Generates LONG + 1 delivery dates once. The new day is always the last one;
for each history length H it loads the H days before it into a scratch
warehouse, runs a full build, loads the new day and times the daily
incremental build (`dbt build --vars window_start=<new day>`), i.e. what the
warehouse DAG does each morning. Between the full build and the daily run the
warehouse is vacuumed and analyzed, as autovacuum leaves it by the next
morning. Both runs build the same new day, so the
ratio measures what history alone costs (the generator's user pool grows, so
day 31 would be much smaller than day 181). Prints the times, the slowest
steps, the cost per 100k new events and the ratio.
Target: 180-day daily run <= 1.5x the 30-day one.

    .venv/bin/python bench/warehouse_build.py [--daily-new-users 7000] [--short 30] [--long 180] [--landing DIR]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import psycopg  # noqa: E402

from growthflow_tools.bench import scratch_database, table  # noqa: E402
from growthflow_tools.services import ensure_warehouse  # noqa: E402
from growthflow.dbt_runner import run_dbt  # noqa: E402
from growthflow_tools.generator.generate import generate  # noqa: E402
from growthflow_tools.generator.settings import GeneratorSettings  # noqa: E402
from growthflow.ingest.loader import load_partition  # noqa: E402
from growthflow.landing import SOURCES  # noqa: E402


def dbt(url: str, target: Path, *args: str) -> float:
    started = time.perf_counter()
    result = run_dbt(url, *args, capture=True, target_path=target)
    if result.returncode != 0:
        raise SystemExit(result.stdout[-3000:])
    return time.perf_counter() - started


def settle(url: str) -> None:
    """Bring the warehouse to rest after the full build, as a morning run finds it: autovacuum
    has set hint bits and visibility maps and refreshed statistics, and the writes are flushed.
    Without this the daily run pays for writing back the full build's pages."""
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    admin = ensure_warehouse(quiet=True)[0].admin_conninfo
    with psycopg.connect(admin, dbname=url.rsplit("/", 1)[1], autocommit=True) as conn:
        conn.execute("CHECKPOINT")  # superuser only
    print(f"  vacuum analyze and checkpoint after the full build: {time.perf_counter() - started:.0f}s", flush=True)


def load(url: str, landing: Path, days: list[dt.date]) -> int:
    events = 0
    for day in days:
        for source in SOURCES:
            result = load_partition(url, source, day, landing)
            if source == "events":
                events += result.rows_loaded
    return events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--daily-new-users", type=int, default=7000, help="installs a day (7000: about 290k events on the new day)")
    parser.add_argument("--short", type=int, default=30, help="days of history of the short run")
    parser.add_argument("--long", type=int, default=180, help="days of history of the long run")
    parser.add_argument("--landing", type=Path, help="reuse a landing zone that an earlier run with the same settings "
                                                     "generated into this directory (it is generated there if empty)")
    parser.add_argument("--keep", action="store_true", help="keep the two warehouses (databases gf_bench_<history>d) "
                                                              "to inspect or rerun a daily build on")
    args = parser.parse_args()
    start = dt.date(2026, 1, 1)
    rows, daily = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        landing = args.landing or tmp / "landing"
        if not (landing / "events").exists():
            t = time.perf_counter()
            generate(GeneratorSettings(start=start, days=args.long + 1, seed=3, daily_new_users=args.daily_new_users,
                                       campaigns=30), landing, tmp / "truth")
            print(f"generated {args.long + 1} days in {time.perf_counter() - t:.0f}s", flush=True)
        for history in (args.short, args.long):
            days = [start + dt.timedelta(days=i) for i in range(args.long - history, args.long + 1)]
            with scratch_database(f"gf_bench_{history}d" if args.keep else None) as url:
                t = time.perf_counter()
                history_events = load(url, landing, days[:-1])
                print(f"{history} days: loaded {history_events:,} events in {time.perf_counter() - t:.0f}s", flush=True)
                full = dbt(url, tmp / "target", "build", "--full-refresh")
                settle(url)
                new_events = load(url, landing, days[-1:])
                incremental = dbt(url, tmp / "target", "build", "--vars",
                                  json.dumps({"window_start": days[-1].isoformat()}))
                with psycopg.connect(url) as conn:
                    fct = conn.execute("SELECT count(*) FROM marts.fct_events").fetchone()[0]
                print(f"{history} days: full build {full:.1f}s, daily build {incremental:.1f}s", flush=True)
                results = json.loads((tmp / "target" / "run_results.json").read_text())["results"]
                slowest = sorted(results, key=lambda r: r["execution_time"], reverse=True)[:8]
                print("  slowest steps of the daily build: " + ", ".join(
                    f"{r['unique_id'].split('.')[-1]} {r['execution_time']:.1f}s" for r in slowest), flush=True)
                daily[history] = (incremental, new_events)
                rows.append((f"{history} days", f"{history_events:,}", f"{fct:,}", f"{new_events:,}",
                             f"{full:.1f}s", f"{incremental:.1f}s", f"{incremental / new_events * 1e5:.2f}s"))
    print(f"\nWarehouse build, {args.daily_new_users:,} installs a day, 2 cores:")
    print(table(rows, ("history", "events loaded", "fct_events rows", "new day's events", "full build",
                       "daily build", "per 100k new events")))
    (short_s, _), (long_s, _) = daily[args.short], daily[args.long]
    print(f"daily build {args.long} vs {args.short} days of history: {long_s / short_s:.2f}x; target <= 1.5x")


if __name__ == "__main__":
    main()
