"""Metric-rot detection: precision and recall on generated incidents, false alarms on clean data, cost.

Generates two datasets of DAYS delivery dates with the same seed: a control with every
incident rate at 0, and one with RATE incidents of each kind per 30 days, of mixed sizes
(10% to 100% of the segment's rows). Each is loaded into a scratch warehouse and built
with dbt, then every day the data can judge is checked (what the warehouse DAG's builds
would have judged one window at a time). Prints:

- detection time for all days x all series, beside one SQL scan of the same mart;
- the control's false alarms (episodes of consecutive flagged days) per 90 days;
- precision and recall on the incidents, recall by kind and by size, so the smallest
  incident that is reliably caught is known;
- what detection adds to a daily build: the last day loaded and built incrementally
  (dbt) and then checked (`check_anomalies` on the build's default window).

An incident counts as caught when a flagged series is one it moved (its effects in the
truth's incidents.jsonl, or the pool its segment was summed into) on a day from its first
to two days after it. A flagged episode is a true alarm when it overlaps such an incident.

    .venv/bin/python bench/anomaly_detection.py [--days 180] [--daily-new-users 1000] [--rate 8] [--save DIR]
    .venv/bin/python bench/anomaly_detection.py --reuse DIR    # the same series, judged by the current rules
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import pandas as pd  # noqa: E402
import psycopg  # noqa: E402

from growthflow.dbt_runner import run_dbt  # noqa: E402
from growthflow.ingest.loader import load_partition  # noqa: E402
from growthflow.landing import SOURCES  # noqa: E402
from growthflow.quality.anomalies import POOLED, detect, load_rules, segment_value  # noqa: E402
from growthflow.quality.anomalies import episodes as series_runs  # noqa: E402
from growthflow.quality.metric_rot import check_anomalies, read_series  # noqa: E402
from growthflow_tools.bench import scratch_database, table  # noqa: E402
from growthflow_tools.generator.generate import generate  # noqa: E402
from growthflow_tools.generator.incidents import INCIDENT_KINDS  # noqa: E402
from growthflow_tools.generator.settings import GeneratorSettings  # noqa: E402

SIZE_BUCKETS = ((0.1, 0.25), (0.25, 0.5), (0.5, 0.75), (0.75, 1.01))


def timed(fn, *args, **kwargs):
    started = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - started


def dbt(url: str, target: Path, *args: str, window_start: str | None = None) -> float:
    started = time.perf_counter()
    result = run_dbt(url, *args, capture=True, target_path=target, window_start=window_start)
    if result.returncode != 0:
        raise SystemExit(result.stdout[-3000:])
    return time.perf_counter() - started


def load(url: str, landing: Path, days: list[dt.date]) -> None:
    for day in days:
        for source in SOURCES:
            load_partition(url, source, day, landing)


def episodes(flagged) -> list[tuple[str, str, dt.date, dt.date]]:
    """(kpi, segment, first, last) runs of consecutive flagged days of one series and rule."""
    starts = series_runs([(f.check_id, f.day) for f in flagged], set())
    last: dict[tuple[str, str, str, dt.date], dt.date] = {}
    for f in flagged:
        key = (f.check_id, f.kpi, f.segment, starts[(f.check_id, f.day)])
        last[key] = max(last.get(key, f.day), f.day)
    return [(kpi, segment, first, end) for (_, kpi, segment, first), end in last.items()]


def incident_series(entry: dict, rules) -> set[tuple[str, str]]:
    """The series an incident moved, and the pools its segments may have been summed into."""
    series = {(e["kpi"], e["segment"]) for e in entry["effects"]}
    if entry["kind"] == "attribution_lost":
        series.add(("unattributed_install_share", "all"))
    for kpi, segment in list(series):
        rule = rules.kpis.get(kpi)
        if rule and rule.counts:
            value = segment_value(segment, rule.pool_by) if rule.pool_by else None
            series.add((kpi, f"{rule.pool_by}={value} {POOLED}" if value is not None else POOLED))
    return series


def judge_days(rules, start: dt.date, last: dt.date) -> list[dt.date]:
    return [start + dt.timedelta(days=rules.min_history_days + i)
            for i in range((last - start).days - rules.min_history_days + 1)]


def build(url: str, landing: Path, days: list[dt.date], target: Path) -> float:
    (_, load_s) = timed(load, url, landing, days)
    build_s = dbt(url, target, "build", "--full-refresh")
    print(f"  loaded {len(days)} days in {load_s:.0f}s, full dbt build {build_s:.0f}s", flush=True)
    return build_s


def main() -> None:
    logging.disable(logging.INFO)  # the loader logs every file; the figures are the output
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=180, help="delivery dates per dataset (default 180)")
    parser.add_argument("--daily-new-users", type=int, default=1000, help="installs a day (default 1000, the demo's)")
    parser.add_argument("--rate", type=float, default=8.0, help="incidents of each kind per 30 days (default 8)")
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--save", type=Path, help="also keep both datasets' KPI series and the incidents here")
    parser.add_argument("--reuse", type=Path, help="judge the series kept by an earlier --save (no generation, no "
                                                   "build: to compare rules in expectations/anomalies/ on the same data)")
    parser.add_argument("--z", type=float, help="try another default z than the rules file's")
    parser.add_argument("--min-change", type=float, help="try another default min_change than the rules file's")
    args = parser.parse_args()
    rules = load_rules()
    rules = dataclasses.replace(rules, z=args.z or rules.z, min_change=args.min_change or rules.min_change)
    start = dt.date(2026, 1, 5)
    base = GeneratorSettings(start=start, days=args.days, seed=args.seed, daily_new_users=args.daily_new_users,
                             campaigns=12)
    rows_time, report = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for label, settings in (
                ("control", base.scaled_incidents(0.0)),
                ("incidents", dataclasses.replace(base, incident_size_range=(0.1, 1.0),
                                                  incident_rates=dict.fromkeys(INCIDENT_KINDS, args.rate)))):
            landing, truth = tmp / label / "landing", tmp / label / "truth"
            all_days = [start + dt.timedelta(days=i) for i in range(args.days)]
            days = judge_days(rules, start, all_days[-2] - dt.timedelta(days=rules.settle_days))
            first_read = min(days) - dt.timedelta(days=rules.history_days)
            if args.reuse:
                frame = pd.read_csv(args.reuse / f"{label}.csv.gz", parse_dates=["metric_date"])
                frame["metric_date"] = frame["metric_date"].dt.date
                read_s = scan_s = float("nan")
                manifest_path = args.reuse / "incidents.jsonl"
            else:
                (gen, gen_s) = timed(generate, settings, landing, truth)
                print(f"{label}: generated {gen.summary()} ({gen_s:.0f}s)", flush=True)
                manifest_path = truth / "incidents.jsonl"
            with contextlib.ExitStack() as stack:
                if not args.reuse:
                    url = stack.enter_context(scratch_database())
                    build(url, landing, all_days[:-1], tmp / "target")
                    frame, read_s = timed(read_series, url, first_read, max(days))
                    with psycopg.connect(url) as conn:
                        (_, scan_s) = timed(lambda: conn.execute(
                            "select kpi, segment, count(*), sum(value) from marts.kpi_segments_daily group by 1, 2"
                        ).fetchall())
                    if args.save:
                        args.save.mkdir(parents=True, exist_ok=True)
                        frame.to_csv(args.save / f"{label}.csv.gz", index=False)
                        if label == "incidents":
                            shutil.copy(manifest_path, args.save / "incidents.jsonl")
                findings, detect_s = timed(detect, frame, days, rules)
                series = len({(f.kpi, f.segment) for f in findings})
                rows_time.append((label, len(days), series, f"{len(findings):,}", f"{read_s:.2f}s",
                                  f"{detect_s:.1f}s", f"{detect_s / max(len(findings), 1) * 1000:.2f} ms",
                                  f"{scan_s:.3f}s"))
                flagged = [f for f in findings if f.flagged]
                runs = episodes(flagged)
                report[label] = (days, flagged, runs)
                if label == "incidents":
                    report["manifest"] = [json.loads(x) for x in manifest_path.read_text().splitlines()]
                if label == "incidents" and not args.reuse:
                    # The daily cost: the last day loaded, built incrementally, then judged.
                    load(url, landing, all_days[-1:])
                    daily_build = dbt(url, tmp / "target", "build", window_start=all_days[-1].isoformat())
                    results = json.loads((tmp / "target" / "run_results.json").read_text())["results"]
                    series_model = sum(r["execution_time"] for r in results
                                       if r["unique_id"] == "model.growthflow.kpi_segments_daily")
                    (_, daily_detect) = timed(check_anomalies, url, None, "bench__daily", None, alert=False,
                                              out=open(os.devnull, "w"))
                    report["daily"] = (daily_build, daily_detect, series_model)
    print("\nDetection time, every judgeable day x every series (2 cores):")
    print(table(rows_time, ("dataset", "days judged", "series", "verdicts", "read mart", "detect", "per verdict",
                            "one SQL scan of the mart")))

    days, _, runs = report["control"]
    per_90 = len(runs) / len(days) * 90
    print(f"\nControl ({len(days)} clean days judged): {len(runs)} false alarm episodes = {per_90:.2f} per 90 days "
          "(target <= 1)")
    for kpi, segment, first, last in runs:
        print(f"  {first}..{last}  {kpi}  {segment}")

    days, flagged, runs = report["incidents"]
    manifest = [m for m in report["manifest"] if dt.date.fromisoformat(m["first_day"]) >= days[0]
                and dt.date.fromisoformat(m["first_day"]) <= days[-1]]
    caught = []
    for entry in manifest:
        first = dt.date.fromisoformat(entry["first_day"])
        series = incident_series(entry, rules)
        hit = any((f.kpi, f.segment) in series and first <= f.day <= first + dt.timedelta(days=2) for f in flagged)
        caught.append((entry, hit and bool(entry["effects"])))
    true_runs = 0
    for kpi, segment, first, last in runs:
        for entry in manifest:
            start_i, end_i = dt.date.fromisoformat(entry["first_day"]), dt.date.fromisoformat(entry["last_day"])
            if (kpi, segment) in incident_series(entry, rules) and first <= end_i + dt.timedelta(days=2) \
                    and last >= start_i:
                true_runs += 1
                break
    recall = sum(hit for _, hit in caught) / max(len(caught), 1)
    precision = true_runs / max(len(runs), 1)
    print(f"\nIncidents: {len(manifest)} injected in the judged days, {sum(h for _, h in caught)} caught within 2 days "
          f"of their start in their series; {len(runs)} flagged episodes, {true_runs} of them true")
    print(f"precision {precision:.2f}, recall {recall:.2f}")
    rows = []
    for kind in INCIDENT_KINDS:
        of_kind = [hit for entry, hit in caught if entry["kind"] == kind]
        rows.append((kind, len(of_kind), sum(of_kind), f"{sum(of_kind) / max(len(of_kind), 1):.2f}"))
    print(table(rows, ("kind", "incidents", "caught", "recall")))
    rows = []
    for low, high in SIZE_BUCKETS:
        in_bucket = [hit for entry, hit in caught if low <= entry["size"] < high and entry["kind"] != "spend_repeated"]
        rows.append((f"{low:.0%}-{min(high, 1):.0%} of the segment's rows", len(in_bucket), sum(in_bucket),
                     f"{sum(in_bucket) / max(len(in_bucket), 1):.2f}"))
    print("Recall by incident size (spend_repeated, always whole, left out):")
    print(table(rows, ("size", "incidents", "caught", "recall")))
    missed = [entry for entry, hit in caught if not hit]
    if missed:
        print("missed: " + "; ".join(f"{m['kind']} {m['segment']} {m['first_day']} size {m['size']:.2f}"
                                     for m in missed[:30]))
    if "daily" not in report:
        return
    build_s, detect_s, model_s = report["daily"]
    print(f"\nDaily build of day {args.days}: dbt {build_s:.1f}s, of which the series mart (kpi_segments_daily) "
          f"{model_s:.1f}s; anomaly check {detect_s:.1f}s. Detection adds {(detect_s + model_s) / (build_s - model_s):.0%} "
          "to the build without it (target <= 20%)")


if __name__ == "__main__":
    main()
