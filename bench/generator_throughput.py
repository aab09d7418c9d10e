"""Synthetic source throughput: seconds and peak memory per generated day.

Runs the generator (defects on) for a growing number of days at a fixed number
of installs per day and prints events per day, generation seconds per day and
the process's peak RSS. The target is well under a minute per 1M-event day.

    .venv/bin/python bench/generator_throughput.py [--daily-new-users 100000] [--days 1,2,4]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from growthflow_tools.bench import run_measured, table  # noqa: E402

CODE = """
import datetime as dt, json, time
from growthflow_tools.generator.generate import generate
from growthflow_tools.generator.settings import GeneratorSettings
t = time.perf_counter()
r = generate(GeneratorSettings(start=dt.date(2026, 6, 1), days={days}, seed=5, daily_new_users={users}, campaigns=50),
             {landing!r}, {truth!r})
print(json.dumps({{"seconds": time.perf_counter() - t, "events": r.lines["events"], "payments": r.lines["payments"]}}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--daily-new-users", type=int, default=100_000)
    parser.add_argument("--days", default="1,2,4", help="comma-separated day counts to run")
    args = parser.parse_args()
    rows = []
    for days in (int(x) for x in args.days.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            _, peak, out = run_measured(CODE.format(days=days, users=args.daily_new_users,
                                                    landing=f"{tmp}/landing", truth=f"{tmp}/truth"))
        result = json.loads(out)
        per_day = result["seconds"] / days
        rows.append((days, f"{result['events']:,}", f"{result['events'] / days:,.0f}", f"{per_day:.1f}s",
                     f"{result['events'] / result['seconds']:,.0f}", f"{peak:.0f} MiB"))
    print(f"\nGenerator, {args.daily_new_users:,} installs a day, defects on:")
    print(table(rows, ("days", "events", "events/day", "seconds/day", "events/s", "peak RSS")))


if __name__ == "__main__":
    main()
