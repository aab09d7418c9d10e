"""The BI server's start-up and each dashboard's render time in a headless browser.

Against the warehouse as it is (run it after `bin/growthflow demo`, so the dashboards show
the demo's data). It stops Superset if it runs, then measures:
  * cold `bi up`: start the server (environment installed, metadata migrated) and import
    every asset, until the dashboards answer (target: under 60 s on 2 cores);
  * for each dashboard, in Debian's headless Chromium, the time from navigation until every
    chart has drawn, three times (target: under 5 s each).
Prints the rows; `--screenshots DIR` also saves a full-page PNG of each dashboard.

    .venv/bin/python bench/bi_dashboards.py [--screenshots docs/images]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import yaml  # noqa: E402

from growthflow_tools.bench import table  # noqa: E402
from growthflow_tools.browser import chrome, full_page_screenshot, login, open_dashboard  # noqa: E402

from growthflow_tools.bi import ADMIN_USER, ASSETS_DIR, BI_ROOT, SupersetServer, bring_up  # noqa: E402
from growthflow_tools.services import ensure_warehouse  # noqa: E402
from growthflow.config import load_settings  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--screenshots", type=Path, help="save a PNG of each dashboard here")
    parser.add_argument("--repeat", type=int, default=3, help="renders per dashboard (default 3)")
    args = parser.parse_args()
    settings = load_settings()
    targets, _ = ensure_warehouse(quiet=True)
    server = SupersetServer(settings, targets)
    server.ensure_environment()
    server.ensure_metadata_database()
    server.migrate()
    server.stop()
    started = time.monotonic()
    bring_up(settings, targets)
    cold_up = time.monotonic() - started
    size = subprocess.run(["du", "-sm", str(BI_ROOT / ".venv")], capture_output=True, text=True).stdout.split()[0]

    rows = []
    driver = chrome()
    try:
        login(driver, server.url, ADMIN_USER, server.admin_password())
        for path in sorted((ASSETS_DIR / "dashboards").glob("*.yaml")):
            doc = yaml.safe_load(path.read_text())
            charts = sum(1 for v in doc["position"].values() if isinstance(v, dict) and v.get("type") == "CHART")
            url = f"{server.url}/superset/dashboard/{doc['slug']}/"
            times = []
            for _ in range(args.repeat):
                rendered = open_dashboard(driver, url, charts)
                if rendered.errors or rendered.empty:
                    raise SystemExit(f"{doc['slug']}: errors {rendered.errors}, empty charts {rendered.empty}")
                times.append(rendered.seconds)
            if args.screenshots:
                full_page_screenshot(driver, args.screenshots / f"dashboard-{doc['slug']}.png")
            rows.append((doc["dashboard_title"], charts, f"{times[0]:.1f}", f"{statistics.median(times):.1f}",
                         f"{max(times):.1f}"))
    finally:
        driver.quit()
    print(f"\nSuperset 6.1 on 127.0.0.1, {len(rows)} dashboards, environment {size} MiB (bi/.venv):")
    print(f"cold `bi up` (start + import of every asset): {cold_up:.1f}s  (target < 60 s)")
    print(table(rows, ("dashboard", "charts", "first render s", "median s", "max s")))
    print("render: from navigation until every chart has drawn, headless Chromium (target < 5 s)")


if __name__ == "__main__":
    main()
