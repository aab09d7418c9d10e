"""Ingest from an object store against the same day from a local folder, side by side.

Generates one day of N events (default 1M) into a folder, copies it to a bucket on a local
S3 API server (moto in server mode on 127.0.0.1, the one the tests use), then loads the
day's events partition from each landing root into its own scratch warehouse, each load in
its own process. Prints rows/s and peak memory of both paths, their ratio (target: the
bucket path at 0.7x or better of the folder path), and the peak memory at several sizes
of the day (target: flat in file size).

    .venv/bin/python bench/ingest_object_store.py [--events 1000000] [--sizes 0.25,1]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from growthflow_tools.bench import run_measured, scratch_database, table  # noqa: E402
from ingest_throughput import generate_day  # noqa: E402
from growthflow_tools.s3_server import S3Server  # noqa: E402
from growthflow_tools.isolated_stack import environment  # noqa: E402

from growthflow.landing import SOURCES, publish_partition  # noqa: E402

LOAD = """
import datetime as dt, json, time
from growthflow.ingest.loader import load_partition
t = time.perf_counter()
r = load_partition({url!r}, "events", dt.date.fromisoformat({day!r}), {landing!r})
print(json.dumps({{"seconds": time.perf_counter() - t, "lines": r.lines_read, "loaded": r.rows_loaded,
                  "bytes": sum(f.file_bytes for f in r.files)}}))
"""


def measure(landing: str, day: dt.date, env: dict[str, str] | None = None) -> tuple[dict, float]:
    with environment({**os.environ, **(env or {})}), scratch_database() as url:
        _, peak, out = run_measured(LOAD.format(url=url, day=day.isoformat(), landing=landing))
    return json.loads(out.splitlines()[-1]), peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000, help="events in the largest day (default 1M)")
    parser.add_argument("--sizes", default="0.25,1", help="fractions of --events to measure (default 0.25,1)")
    args = parser.parse_args()
    rows, memory = [], []
    with tempfile.TemporaryDirectory() as tmp:
        server = S3Server(Path(tmp))
        server.start()
        try:
            bucket = server.new_bucket(versioned=False)
            os.environ.update(server.env)
            for fraction in sorted(float(x) for x in args.sizes.split(",")):
                n = int(args.events * fraction)
                root = Path(tmp) / f"n{n}"
                folder, day, _, _ = generate_day(root, n)
                url = f"s3://{bucket}/n{n}"
                for source in SOURCES:
                    publish_partition(folder / source / f"dt={day}", url, source, day)
                local, local_peak = measure(str(folder), day)
                remote, remote_peak = measure(url, day, server.env)
                assert (local["lines"], local["loaded"]) == (remote["lines"], remote["loaded"])
                gz = f"{local['bytes'] / 2**20:.0f} MiB"
                memory.append((f"{local['lines']:,}", gz, f"{local_peak:.0f} MiB", f"{remote_peak:.0f} MiB"))
                rows = [
                    ("folder (file://)", f"{local['seconds']:.1f}", f"{local['lines'] / local['seconds']:,.0f}",
                     f"{local_peak:.0f}"),
                    ("bucket (s3://, 8 MiB blocks)", f"{remote['seconds']:.1f}",
                     f"{remote['lines'] / remote['seconds']:,.0f}", f"{remote_peak:.0f}"),
                ]
                headline = (local, remote)
        finally:
            server.stop()
    local, remote = headline
    print(f"\nIngest of one day of events ({local['lines']:,} lines, {local['bytes'] / 2**20:.0f} MiB gzip), "
          f"{os.cpu_count()} cores, S3 API: moto server on 127.0.0.1:")
    print(table(rows, ("landing root", "seconds", "rows/s", "peak MiB")))
    ratio = (remote["lines"] / remote["seconds"]) / (local["lines"] / local["seconds"])
    print(f"bucket / folder throughput: {ratio:.2f}x  (target >= 0.7x)")
    print("\nPeak memory of the load process by size of the day (target: flat):")
    print(table(memory, ("events", "gzip size", "folder peak", "bucket peak")))


if __name__ == "__main__":
    main()
