"""Entry points: check one delivery after a load, or the warehouse after a build.

Each prints the report to the log, keeps every result in ``dq.validation_results``,
builds Data Docs (the Checkpoint's ``UpdateDataDocsAction``) and raises
``DataQualityFailed`` when GX reports a critical (``fail``) failure, which fails the
task so the Asset it would publish is not updated.
"""

from __future__ import annotations

import datetime as dt
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

from growthflow.config import load_settings
from growthflow.errors import GrowthflowError
from growthflow.quality import history, report
from growthflow.quality.parameters import min_delivered_lines, project_parameters
from growthflow.quality.runner import CheckResult, Period, QualityRun
from growthflow.quality.suites import SuiteSpec, load_suites


class DataQualityFailed(GrowthflowError):
    """A blocking (``fail``) check failed: downstream publishing must stop."""


@dataclass
class QualityOutcome:
    results: list[CheckResult]
    report: str
    docs: Path | None
    seconds: float
    blocking_suites: list[str]  #: suites whose worst failure GX rates critical

    @property
    def blocking(self) -> list[CheckResult]:
        return [r for r in self.results if r.blocking]

    def summary(self) -> dict:
        return {"checks": len(self.results), "blocking": len(self.blocking),
                "warnings": sum(1 for r in self.results if not r.success and r.severity == "warn"),
                "docs": str(self.docs) if self.docs else None, "seconds": round(self.seconds, 1)}


def docs_dir(name: str) -> Path:
    return load_settings().artifacts_dir / "data_docs" / name


def _run(conninfo: str, suites: list[SuiteSpec], period: Period, scope: str, run_id: str, dag_id: str | None,
         extra_parameters: dict | None = None, docs: Path | None = None, raise_on_fail: bool = True,
         out=None) -> QualityOutcome:
    # Resolved per call, not bound at import: a module preloaded before the task process
    # started would keep a stdout the task has since replaced (and the worker closed).
    out = out or sys.stdout
    started = time.perf_counter()
    run = QualityRun(conninfo, docs_dir=docs)
    validated = run.run(suites, period, extra_parameters or {})
    results = validated.results
    text = report.render(results, scope)
    history.save_results(conninfo, run_id, dag_id, results)
    outcome = QualityOutcome(results, text, run.docs_index, time.perf_counter() - started, validated.blocking_suites)
    print(text, file=out)
    if run.docs_index:
        print(f"Data Docs: {run.docs_index}", file=out)
    if outcome.blocking_suites and raise_on_fail:
        names = ", ".join(f"{r.suite}.{r.check_id}" for r in outcome.blocking[:5])
        raise DataQualityFailed(f"{len(outcome.blocking)} blocking data-quality check(s) failed ({names}); "
                                "see the report above and fix the data or rerun the load")
    return outcome


def check_delivery(conninfo: str, source: str, day: dt.date, run_id: str, dag_id: str | None = None,
                   raise_on_fail: bool = True, out=None) -> QualityOutcome:
    """The raw suite of one source for one delivery date (after its load)."""
    suites = [s for s in load_suites() if s.scope == "delivery" and s.source == source]
    with psycopg.connect(conninfo) as conn:
        floor = min_delivered_lines(conn, source, day)
    return _run(conninfo, suites, Period(day, day), f"{source} delivery {day}", run_id, dag_id,
                {"min_delivered_lines": floor}, docs_dir(f"raw_{source}"), raise_on_fail, out)


def warehouse_period(conninfo: str, window_start: dt.date | None) -> Period:
    """The delivery dates a build reprocessed: from its window start to the newest delivery."""
    from growthflow.ingest.tasks import newest_loaded_delivery

    newest = newest_loaded_delivery(conninfo)
    if newest is None:
        raise GrowthflowError("nothing is loaded yet: run the ingest DAG (or `bin/growthflow load`) first")
    start = window_start or newest - dt.timedelta(days=project_parameters()["lookback_days"])
    return Period(min(start, newest), newest)


def check_warehouse(conninfo: str, window_start: dt.date | None, run_id: str, dag_id: str | None = None,
                    layers: tuple[str, ...] = ("raw", "staging", "core", "marts"), raise_on_fail: bool = True,
                    out=None) -> QualityOutcome:
    """Staging and core suites on the build's window, mart suites on whole marts, and raw completeness."""
    period = warehouse_period(conninfo, window_start)
    suites = [s for s in load_suites() if s.scope in ("window", "table") and s.layer in layers]
    return _run(conninfo, suites, period, f"warehouse {period.start}..{period.end}", run_id, dag_id,
                None, docs_dir("warehouse"), raise_on_fail, out)

