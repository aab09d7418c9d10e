"""Ingest throughput: growthflow's loader versus PostgreSQL's own COPY of the same rows.

For a generated day of N events (default 1M) it measures, on this machine:
  * the loader: gunzip, per-line UTF-8/JSON/type validation, quarantine, COPY, audit, commit;
  * the baseline: COPY of the already-prepared rows as plain text into an identical table;
and prints both throughputs, their ratio (target >= 0.5) and the loader's peak memory at
several file sizes (target: flat). Each measurement runs in its own process and reports
its own peak RSS.

    .venv/bin/python bench/ingest_throughput.py [--events 1000000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import psycopg  # noqa: E402

from growthflow_tools.bench import run_measured, scratch_database, table  # noqa: E402
from growthflow_tools.generator.settings import GeneratorSettings  # noqa: E402

EVENTS_PER_NEW_USER = 3.8  # a new user's first day: install, session, views, funnel steps

LOAD = """
import datetime as dt, json, time
from pathlib import Path
from growthflow.ingest.loader import load_partition
t = time.perf_counter()
r = load_partition({url!r}, "events", dt.date.fromisoformat({day!r}), Path({landing!r}))
print(json.dumps({{"seconds": time.perf_counter() - t, "lines": r.lines_read, "loaded": r.rows_loaded,
                  "quarantined": r.rows_quarantined}}))
"""

BASELINE = """
import json, time, psycopg
with psycopg.connect({url!r}) as conn:
    # Same table definition (primary key, jsonb) and the same FREEZE fast path the loader uses.
    conn.execute("CREATE TABLE raw.copy_baseline (LIKE raw.events_{stamp} INCLUDING ALL)")
    t = time.perf_counter()
    with conn.cursor() as cur, open({path!r}, "rb") as handle:
        with cur.copy("COPY raw.copy_baseline (delivery_date, source_file, line_number, load_id, record) FROM STDIN (FREEZE)") as copy:
            while chunk := handle.read(4 << 20):
                copy.write(chunk)
    conn.commit()
    print(json.dumps({{"seconds": time.perf_counter() - t}}))
"""


def generate_day(root: Path, events: int) -> tuple[Path, dt.date, float, float]:
    start = dt.date(2026, 6, 1)
    settings = GeneratorSettings(start=start, days=1, seed=5, daily_new_users=int(events / EVENTS_PER_NEW_USER),
                                 campaigns=20)
    code = (f"from growthflow_tools.generator.generate import generate\n"
            f"from growthflow_tools.generator.settings import GeneratorSettings\nimport datetime as dt, json\n"
            f"r = generate(GeneratorSettings(start=dt.date(2026, 6, 1), days=1, seed=5, "
            f"daily_new_users={settings.daily_new_users}, campaigns=20), {str(root / 'landing')!r}, "
            f"{str(root / 'truth')!r})\nprint(json.dumps(dict(r.lines)))")
    seconds, peak, out = run_measured(code)
    return root / "landing", start, seconds, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000, help="events in the measured day (default 1M)")
    parser.add_argument("--sizes", default="0.25,0.5,1", help="fractions of --events for the memory check")
    args = parser.parse_args()
    import json

    rows_mem = []
    headline = None
    with tempfile.TemporaryDirectory() as tmp:
        for fraction in sorted(float(x) for x in args.sizes.split(",")):
            n = int(args.events * fraction)
            root = Path(tmp) / f"n{n}"
            landing, day, gen_seconds, gen_peak = generate_day(root, n)
            with scratch_database() as url:
                seconds, peak, out = run_measured(LOAD.format(url=url, day=day.isoformat(), landing=str(landing)))
                result = json.loads(out)
                size = sum(p.stat().st_size for p in (landing / "events").rglob("*.gz"))
                rows_mem.append((f"{result['lines']:,}", f"{size / 2**20:.0f} MiB", f"{gen_seconds:.1f}s",
                                 f"{gen_peak:.0f} MiB", f"{result['seconds']:.1f}s", f"{peak:.0f} MiB"))
                if fraction == max(float(x) for x in args.sizes.split(",")):
                    stamp = day.strftime("%Y%m%d")
                    copy_file = Path(tmp) / "rows.copy"
                    with psycopg.connect(url) as conn, conn.cursor() as cur, open(copy_file, "wb") as handle:
                        with cur.copy(f"COPY (SELECT delivery_date, source_file, line_number, load_id, record "
                                      f"FROM raw.events_{stamp}) TO STDOUT") as copy:
                            for chunk in copy:
                                handle.write(chunk)
                    base_seconds, _, base_out = run_measured(BASELINE.format(url=url, stamp=stamp, path=str(copy_file)))
                    base = json.loads(base_out)["seconds"]
                    headline = (result["lines"], result["seconds"], result["loaded"], base)
    lines, ours, loaded, base = headline
    print(f"\nIngest of one day of events ({lines:,} lines, {lines - loaded:,} quarantined), 2 cores:")
    print(table([
        ("growthflow loader (parse + validate + quarantine + COPY + audit)", f"{ours:.2f}", f"{lines / ours:,.0f}"),
        ("PostgreSQL COPY of the same rows as plain text", f"{base:.2f}", f"{loaded / base:,.0f}"),
    ], ("", "seconds", "rows/s")))
    print(f"ratio (loader throughput / COPY throughput): {(lines / ours) / (loaded / base):.2f}  (target >= 0.5)")
    print("\nPeak memory by file size (each in its own process):")
    print(table(rows_mem, ("events", "gzip size", "generate", "generate peak", "load", "load peak")))


if __name__ == "__main__":
    main()
