"""Run suites with GX Core on the warehouse and turn GX results into plain rows.

One ephemeral GX context per run: suites live in ``expectations/`` (reviewed like
code), results go to ``dq.validation_results``, so GX keeps no state of its own.
Each suite's batch is a query over the run's partition or window only.

GX's own features carry the semantics: an expectation's ``severity`` (``fail`` is GX's
``critical``, ``warn`` its ``warning``), suite parameters (``{"$PARAMETER": name}`` in
the YAML, values passed as ``expectation_parameters``), and a Checkpoint whose
``UpdateDataDocsAction`` builds the Data Docs. The gate reads GX's
``get_max_severity_failure()``.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from growthflow.errors import ConfigError
from growthflow.quality.parameters import parameter_names, project_parameters
from growthflow.quality.suites import CheckSpec, SuiteSpec
from growthflow.quality.templates import share_compiled_templates

SAMPLE_COUNT = 3
DOCS_SITE = "growthflow"  # the ephemeral context already owns a site named local_site
#: The suites' words for severity and GX's FailureSeverity values.
GX_SEVERITY = {"fail": "critical", "warn": "warning"}
SEVERITY_OF_GX = {gx: ours for ours, gx in GX_SEVERITY.items()}


@dataclass(frozen=True)
class Period:
    """The delivery dates a run checks: one date after a load, the build's window after a build."""

    start: dt.date
    end: dt.date

    def __post_init__(self):
        if not isinstance(self.start, dt.date) or not isinstance(self.end, dt.date) or self.start > self.end:
            raise ConfigError(f"check period {self.start}..{self.end} is not a valid date range")

    def sql_placeholders(self, source: str | None) -> dict[str, str]:
        # Only dates (validated above) and source names from the repository's YAML reach the SQL.
        return {"delivery_date": f"date '{self.end.isoformat()}'", "window_start": f"date '{self.start.isoformat()}'",
                "window_end": f"date '{self.end.isoformat()}'", "source": source or ""}


@dataclass
class CheckResult:
    suite: str
    layer: str
    table: str
    check_id: str
    expectation_type: str
    column: str | None
    category: str
    severity: str
    success: bool
    period: Period
    element_count: int | None = None
    unexpected_count: int | None = None
    unexpected_percent: float | None = None
    observed_value: Any = None
    samples: list[str] = field(default_factory=list)
    exception: str | None = None
    #: Metric-rot findings (category ``anomaly``): the series' segment and the range its history predicts.
    segment: str | None = None
    expected_value: float | None = None
    expected_low: float | None = None
    expected_high: float | None = None

    @property
    def status(self) -> str:
        if self.exception:
            return "ERROR"
        return "pass" if self.success else ("FAIL" if self.severity == "fail" else "WARN")

    @property
    def blocking(self) -> bool:
        return self.severity == "fail" and not self.success


def sqlalchemy_url(conninfo: str) -> str:
    for prefix in ("postgresql://", "postgres://"):
        if conninfo.startswith(prefix):
            return "postgresql+psycopg://" + conninfo[len(prefix):]
    if conninfo.startswith("postgresql+"):
        return conninfo
    raise ConfigError("data-quality checks need the warehouse as a postgresql:// URL; set WAREHOUSE_URL in that form")


def quiet_gx() -> None:
    """GX logs hundreds of INFO lines and progress bars; the report is the output."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    # This module sets its own logger to INFO when imported: import it first, then quiet it.
    import great_expectations.data_context.types.base  # noqa: F401

    logging.getLogger("great_expectations.data_context.types.base").setLevel(logging.WARNING)
    # "Using lossy conversion for decimal ..." is logged once per numeric value at WARNING.
    logging.getLogger("great_expectations.util").setLevel(logging.ERROR)


def _samples(check: CheckSpec, result: dict) -> list[str]:
    if check.samples and result.get("partial_unexpected_index_list"):
        rows = result["partial_unexpected_index_list"][:SAMPLE_COUNT]
        return [" ".join(f"{c}={row.get(c)}" for c in check.samples) for row in rows]
    values = []
    for value in result.get("partial_unexpected_list") or []:
        text = str(value)
        if text not in values:
            values.append(text)
    return values[:SAMPLE_COUNT]


def _exception_message(info: dict) -> str | None:
    """GX reports a raised exception either at the top level or per metric."""
    candidates = [info] + [v for v in info.values() if isinstance(v, dict)]
    for candidate in candidates:
        if candidate.get("raised_exception"):
            message = (candidate.get("exception_message") or "expectation raised").strip()
            return message.splitlines()[0][:300]
    return None


def _to_result(suite: SuiteSpec, check: CheckSpec, period: Period, gx_result) -> CheckResult:
    severity = SEVERITY_OF_GX[str(getattr(gx_result.expectation_config.severity, "value",
                                          gx_result.expectation_config.severity))]
    result = dict(gx_result.result or {})
    exception = _exception_message(gx_result.exception_info or {})
    observed = result.get("observed_value")
    unexpected = result.get("unexpected_count")
    if unexpected is None and check.type == "UnexpectedRowsExpectation" and observed is not None:
        unexpected = int(observed)
    return CheckResult(
        suite=suite.name, layer=suite.layer, table=suite.table, check_id=check.id, expectation_type=check.type,
        column=check.column, category=gx_result.expectation_config.meta["category"], severity=severity,
        success=bool(gx_result.success) and exception is None, period=period,
        element_count=result.get("element_count"), unexpected_count=unexpected,
        # Of all rows, nulls included: "3 of 4,000 lines", not "3 of the 12 quarantined".
        unexpected_percent=result.get("unexpected_percent_total", result.get("unexpected_percent")), observed_value=observed,
        samples=_samples(check, result), exception=exception,
    )


class QualityRun:
    """An ephemeral GX context bound to the warehouse, with a Data Docs site."""

    def __init__(self, conninfo: str, docs_dir: Path | None = None):
        quiet_gx()
        import great_expectations as gx

        self._gx = gx
        self.context = gx.get_context(mode="ephemeral")
        self.context.variables.progress_bars = {"globally": False}
        self.datasource = self.context.data_sources.add_postgres("warehouse", connection_string=sqlalchemy_url(conninfo))
        self.docs_dir = docs_dir
        self.conninfo = conninfo
        if docs_dir is not None:
            share_compiled_templates()
            docs_dir.mkdir(parents=True, exist_ok=True)
            self.context.add_data_docs_site(site_name=DOCS_SITE, site_config={
                "class_name": "SiteBuilder",
                "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir)},
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            })

    def _expectation(self, check: CheckSpec):
        import great_expectations.expectations as gxe

        description = check.description or f"{check.category}: {check.id.replace('_', ' ')}"
        return getattr(gxe, check.type)(**check.kwargs, severity=GX_SEVERITY[check.severity],
                                        meta={"check_id": check.id, "category": check.category},
                                        description=description)

    def run(self, suites: list[SuiteSpec], period: Period, parameters: dict[str, Any]) -> "SuitesOutcome":
        """Validate every suite on the period's batch through a GX Checkpoint (one per suite)."""
        outcome = SuitesOutcome()
        for suite in suites:
            self._run_suite(suite, period, parameters, outcome)
        return outcome

    def _run_suite(self, suite: SuiteSpec, period: Period, parameters: dict[str, Any], outcome: "SuitesOutcome"):
        query = suite.batch.format(**period.sql_placeholders(suite.source)).strip()
        if suite.scope == "table":
            return self._validate(suite, period, parameters, f"select * from ({query}) as batch", outcome)
        # GX sends one query per group of metrics, and each would recompute the batch
        # (joins, lookups into history). Computing it once into a scratch table costs one
        # pass; the metric queries then scan that small copy.
        scratch = f"dq.batch_{suite.name}_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            conn.execute(f"create unlogged table {scratch} as {query}")
            try:
                return self._validate(suite, period, parameters, f"select * from {scratch}", outcome)
            finally:
                conn.execute(f"drop table if exists {scratch}")

    def _validate(self, suite: SuiteSpec, period: Period, parameters: dict[str, Any], query: str,
                  outcome: "SuitesOutcome") -> None:
        gx = self._gx
        values = {**project_parameters(), **suite.parameters, **parameters}
        needed = set().union(*(parameter_names(check.kwargs) for check in suite.checks))
        if needed - values.keys():
            raise ConfigError(f"expectation parameter {sorted(needed - values.keys())[0]!r} of suite {suite.name} "
                              "is not defined; see quality/parameters.py")
        asset = self.datasource.add_query_asset(name=suite.name, query=query)
        batch = asset.add_batch_definition_whole_table("batch")
        gx_suite = self.context.suites.add(gx.ExpectationSuite(name=suite.name))
        by_id = {}
        for check in suite.checks:
            gx_suite.add_expectation(self._expectation(check))
            by_id[check.id] = check
        definition = self.context.validation_definitions.add(
            gx.ValidationDefinition(name=suite.name, data=batch, suite=gx_suite))
        result_format: dict[str, Any] = {"result_format": "SUMMARY", "partial_unexpected_count": SAMPLE_COUNT}
        sample_columns = sorted({c for check in suite.checks for c in check.samples})
        if sample_columns:
            result_format["unexpected_index_column_names"] = sample_columns
        actions = []
        if self.docs_dir is not None:
            actions.append(gx.checkpoint.UpdateDataDocsAction(name="update_data_docs", site_names=[DOCS_SITE]))
        checkpoint = self.context.checkpoints.add(gx.Checkpoint(
            name=suite.name, validation_definitions=[definition], actions=actions, result_format=result_format))
        result = checkpoint.run(expectation_parameters={name: values[name] for name in needed})
        for validation in result.run_results.values():
            outcome.max_severity[suite.name] = validation.get_max_severity_failure()
            outcome.results += [_to_result(suite, by_id[r.expectation_config.meta["check_id"]], period, r)
                                for r in validation.results]

    @property
    def docs_index(self) -> Path | None:
        return self.docs_dir / "index.html" if self.docs_dir is not None else None


@dataclass
class SuitesOutcome:
    """The rows for the report and history, and GX's own verdict per suite."""

    results: list[CheckResult] = field(default_factory=list)
    #: GX's ``get_max_severity_failure()`` per suite: None when nothing failed.
    max_severity: dict[str, Any] = field(default_factory=dict)

    @property
    def blocking_suites(self) -> list[str]:
        from great_expectations.expectations.metadata_types import FailureSeverity

        return [name for name, worst in self.max_severity.items() if worst == FailureSeverity.CRITICAL]
