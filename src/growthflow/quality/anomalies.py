"""Metric rot: KPI series of one segment that drift away from what their own history predicts.

Row checks cannot see an app release that stops sending sign-ups on Android: every row
that arrives is valid. This module looks at the daily series of ``marts.kpi_segments_daily``
instead, one per KPI and segment, with the rules of ``expectations/anomalies/``.

The baseline is statsmodels' robust linear model (``RLM`` with Huber's norm) on the log
of the series over the last four weeks, with a linear trend and the day of the week as
regressors: the trend and the weekly pattern are known, and Huber's norm keeps the few
bad days a history may hold (an earlier incident) from dragging the baseline with them.
Its robust scale, never narrower than the Poisson noise of the day's expected count, sets
the range. Spend gets one more rule, in SQL where it is clearest: the export's number
equal to the day before's, to the cent.

Only pure computation lives here; ``metric_rot.check_anomalies`` reads the mart, stores the
findings and alerts.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from growthflow.errors import ConfigError
from growthflow.quality.suites import EXPECTATIONS_DIR

RULES_FILE = EXPECTATIONS_DIR / "anomalies" / "kpi_segments_daily.yml"
SUITE = "anomalies"
TABLE = "marts.kpi_segments_daily"
POOLED = "(small segments pooled)"


@dataclass(frozen=True)
class KpiRule:
    name: str
    description: str
    counts: bool = False
    share: bool = False
    repeat_rule: bool = False
    pool_by: str | None = None
    #: A day with no row is a 0 (the mart writes no zero rows); otherwise the series has no value that day.
    zero_when_missing: bool = False
    #: Overrides of the defaults for this KPI.
    z: float | None = None
    min_change: float | None = None


@dataclass(frozen=True)
class Rules:
    history_days: int
    min_history_days: int
    z: float
    min_change: float
    min_volume: float
    settle_days: int
    kpis: dict[str, KpiRule] = field(default_factory=dict)


def load_rules(path: Path = RULES_FILE) -> Rules:
    try:
        data = yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        defaults = data["defaults"]
        kpis = {name: KpiRule(name=name, **spec) for name, spec in data["kpis"].items()}
        rules = Rules(kpis=kpis, **defaults)
    except (OSError, KeyError, TypeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: not a valid anomaly rules file ({exc}); see docs/metric-rot.md") from None
    if rules.min_history_days > rules.history_days or rules.z <= 0:
        raise ConfigError(f"{path}: min_history_days must be <= history_days and z > 0")
    return rules


@dataclass(frozen=True)
class Finding:
    """The verdict on one day of one series."""

    kpi: str
    segment: str
    day: dt.date
    observed: float
    expected: float | None
    low: float | None
    high: float | None
    rule: str  # seasonal_baseline | same_as_previous_day
    flagged: bool
    history_days: int = 0

    @property
    def check_id(self) -> str:
        rule = "" if self.rule == "seasonal_baseline" else f".{self.rule}"
        return f"{self.kpi}{rule}[{self.segment}]"


def _design(days: np.ndarray, origin: int, span: int) -> np.ndarray:
    """Intercept, linear trend (in units of the history's length) and six day-of-week dummies."""
    weekday = (days + 3) % 7  # day numbers since 1970-01-01, a Thursday: Monday = 0
    columns = [np.ones(len(days)), (days - origin) / span]
    columns += [(weekday == k).astype(float) for k in range(1, 7)]
    return np.column_stack(columns)


@dataclass(frozen=True)
class Baseline:
    """What a series' history predicts for one day, on the log scale."""

    predicted: float  # log(expected + offset)
    offset: float  # 1 for counts (a zero day is log 1), else 0
    estimate_var: float  # variance of the prediction from the fitted parameters and level
    residual: float  # robust scale of the day-to-day noise
    floor: float  # the narrowest noise the KPI's nature allows (Poisson, binomial)

    @property
    def expected(self) -> float:
        return math.exp(self.predicted) - self.offset


def _baseline(history_days: np.ndarray, history: np.ndarray, day: int, rule: KpiRule, rules: Rules,
              denominator: float | None) -> Baseline:
    import statsmodels.api as sm
    from statsmodels.tools.sm_exceptions import ConvergenceWarning

    offset = 1.0 if rule.counts else 0.0
    y = np.log(np.maximum(history, 1e-6) + offset)
    origin = int(history_days.min())
    X = _design(history_days, origin, rules.history_days)
    with warnings.catch_warnings():
        # A flat history (a pool of zeros) fits perfectly: scale 0, which the noise floor covers.
        warnings.simplefilter("ignore", ConvergenceWarning)
        fit = sm.RLM(y, X, M=sm.robust.norms.HuberT()).fit()
    x0 = _design(np.array([day]), origin, rules.history_days)[0]
    # A straight trend through four weeks of a curving series misses at its end (a line
    # through a concave curve lies above it there): the median of the last week's
    # residuals moves the prediction back onto the series' current level.
    recent = np.asarray(fit.resid)[-7:]
    predicted = float(x0 @ fit.params) + float(np.median(recent))
    # A prediction interval, not a residual band: the fitted parameters' own uncertainty
    # (the trend extrapolated a day, each weekday's effect seen four times) plus the
    # day's noise, whose robust scale is corrected for the parameters fitted.
    n, k = X.shape
    residual = float(fit.scale) * math.sqrt(n / max(n - k, 1))
    level = 1.2533 * residual / math.sqrt(len(recent))  # the standard error of a median of seven
    estimate_var = max(float(x0 @ fit.cov_params() @ x0), 0.0) + level ** 2
    expected = math.exp(predicted) - offset
    if rule.counts:
        floor = 1.0 / math.sqrt(max(expected, 1.0))
    elif rule.share and denominator:
        p = min(max(math.exp(predicted), 1e-4), 0.9999)
        floor = math.sqrt((1 - p) / (denominator * p))
    else:
        floor = 0.02
    return Baseline(predicted, offset, estimate_var, residual, floor)


def _dispersion(baselines: list[Baseline]) -> float:
    """How much noisier than Poisson a KPI's counts are (1 = Poisson), shared by its series.

    Each series' own robust scale rests on four weeks and is itself noisy; the median over
    every series of the KPI is not. Real counts are overdispersed (people come in groups,
    sessions come in bursts), so a Poisson band alone would alarm on ordinary days.
    """
    ratios = [(b.residual / b.floor) ** 2 for b in baselines if b.floor > 0]
    return max(float(np.median(ratios)), 1.0) if ratios else 1.0


def _range(b: Baseline, z: float, dispersion: float) -> tuple[float, float]:
    noise = max(b.residual, b.floor * math.sqrt(dispersion), 0.02)
    sigma = math.sqrt(b.estimate_var + noise ** 2)
    return (max(math.exp(b.predicted - z * sigma) - b.offset, 0.0), math.exp(b.predicted + z * sigma) - b.offset)


def _day_number(day: dt.date) -> int:
    return (day - dt.date(1970, 1, 1)).days


def _wide(frame: pd.DataFrame, rule: KpiRule, first: dt.date, last: dt.date) -> pd.DataFrame:
    """Days x segments for one KPI; a count with no row that day is 0, other gaps stay empty."""
    rows = frame[frame["kpi"] == rule.name]
    wide = rows.pivot_table(index="metric_date", columns="segment", values="value", aggfunc="sum")
    wide = wide.reindex(pd.date_range(first, last, freq="D").date)
    if rule.zero_when_missing:
        wide = wide.fillna(0.0)  # the mart leaves out this KPI's zero rows
    return wide.astype(float)


def segment_value(segment: str, name: str) -> str | None:
    """The value of ``name`` in a segment's ``name=value`` pairs (values may hold spaces)."""
    match = re.search(rf"(?:^| ){re.escape(name)}=(.*?)(?= [a-z_]+=|$)", segment)
    return match.group(1) if match else None


def _pools(wide: pd.DataFrame, rule: KpiRule, rules: Rules) -> dict[str, list[str]]:
    """Segments whose typical day is below ``min_volume``, grouped per ``pool_by`` value."""
    if not rule.counts:
        return {}
    groups: dict[str, list[str]] = {}
    for segment in wide.columns:
        values = wide[segment].to_numpy()
        started = np.flatnonzero(np.nan_to_num(values) > 0)
        # Its typical day since it first had data: the zeros before a segment existed don't count.
        if len(started) and np.nanmedian(values[started[0]:]) >= rules.min_volume:
            continue
        value = segment_value(segment, rule.pool_by) if rule.pool_by else None
        key = f"{rule.pool_by}={value} {POOLED}" if value is not None else POOLED
        groups.setdefault(key, []).append(segment)
    return groups


def _history(rules: Rules, values: np.ndarray) -> np.ndarray | None:
    """The known days before the last one, or None when the series is too young or too sparse."""
    observed, hist = values[-1], values[:-1]
    nonzero = np.flatnonzero(np.nan_to_num(values) > 0)
    if math.isnan(observed) or not len(nonzero):
        return None
    # History starts on the series' first day with data: the zeros before a segment existed are not a baseline.
    known = ~np.isnan(hist) & (np.arange(len(hist)) >= nonzero[0])
    # A series younger than min_history_days (a new app version, a new campaign) is not judged.
    if known.sum() < rules.min_history_days:
        return None
    return known


def _verdict(rule: KpiRule, rules: Rules, segment: str, day: dt.date, observed: float, b: Baseline,
             dispersion: float, history_days: int) -> Finding:
    z = rule.z if rule.z is not None else rules.z
    min_change = rule.min_change if rule.min_change is not None else rules.min_change
    low, high = _range(b, z, dispersion)
    expected = b.expected
    change = abs(observed - expected) / max(expected, 1.0 if rule.counts else 1e-9)
    flagged = (observed < low or observed > high) and change >= min_change
    return Finding(rule.name, segment, day, float(observed), expected, low, high, "seasonal_baseline",
                   bool(flagged), history_days)


def detect(frame: pd.DataFrame, check_days: list[dt.date], rules: Rules) -> list[Finding]:
    """Verdicts for every watched series on every day of ``check_days``.

    ``frame`` holds ``marts.kpi_segments_daily`` rows from ``history_days`` before the
    first day checked to the last. A day the series has no value, or has fewer than
    ``min_history_days`` of history since its first non-zero day, gets no verdict. A pool
    sums, for each day judged, only the members present on every day of its history, so
    a small campaign starting or ending does not look like a jump.
    """
    if not check_days or frame.empty:
        return []
    first = min(check_days) - dt.timedelta(days=rules.history_days)
    last = max(check_days)
    frame = frame.copy()
    frame["metric_date"] = pd.to_datetime(frame["metric_date"]).dt.date
    frame["value"] = frame["value"].astype(float)
    findings: list[Finding] = []
    for rule in rules.kpis.values():
        wide = _wide(frame, rule, first, last)
        if wide.empty:
            continue
        groups = _pools(wide, rule, rules)
        pooled = {member for members in groups.values() for member in members}
        denominators = None
        if rule.share:
            denominators = frame[frame["kpi"] == rule.name].groupby("metric_date")["denominator"].sum()
        day_numbers = np.array([_day_number(d) for d in wide.index])
        fitted: list[tuple[str, dt.date, float, Baseline, int]] = []
        for day in check_days:
            position = (day - first).days
            rows = slice(max(position - rules.history_days, 0), position + 1)
            window = wide.iloc[rows]
            denominator = float(denominators.get(day, 0.0)) if denominators is not None else None
            series = {segment: window[segment].to_numpy() for segment in wide.columns if segment not in pooled}
            for key, members in groups.items():
                complete = [m for m in members if window[m].notna().all()]
                pooled_values = window[complete].sum(axis=1).to_numpy() if complete else None
                # Even pooled, a series whose typical day is below min_volume is too small to judge.
                if pooled_values is not None and np.median(pooled_values[:-1]) >= rules.min_volume:
                    series[key] = pooled_values
            for segment, values in series.items():
                known = _history(rules, values)
                if known is None:
                    continue
                hist, hist_days = values[:-1][known], day_numbers[rows][:-1][known]
                baseline = _baseline(hist_days, hist, int(day_numbers[position]), rule, rules, denominator)
                fitted.append((segment, day, float(values[-1]), baseline, int(known.sum())))
        dispersion = _dispersion([b for *_, b, _ in fitted]) if rule.counts else 1.0
        findings += [_verdict(rule, rules, segment, day, observed, b, dispersion, n)
                     for segment, day, observed, b, n in fitted]
        if rule.repeat_rule:
            findings += _repeats(frame, rule, check_days)
    return findings


def _repeats(frame: pd.DataFrame, rule: KpiRule, check_days: list[dt.date]) -> list[Finding]:
    rows = frame[(frame["kpi"] == rule.name) & frame["metric_date"].isin(check_days)]
    out = []
    for row in rows.itertuples():
        repeated = bool(row.repeats_previous_day)
        out.append(Finding(rule.name, row.segment, row.metric_date, float(row.value), None, None, None,
                           "same_as_previous_day", repeated))
    return out


def episodes(flagged: list[tuple[str, dt.date]], flagged_before: set[tuple[str, dt.date]]) -> dict:
    """For each flagged (check_id, day): the first day of its run of consecutive flagged days.

    ``flagged_before`` holds (check_id, day) pairs flagged by earlier runs, so an incident
    that a previous build already reported keeps its first day (and its one alert).
    """
    seen = set(flagged) | flagged_before
    starts = {}
    for check_id, day in flagged:
        start = day
        while (check_id, start - dt.timedelta(days=1)) in seen:
            start -= dt.timedelta(days=1)
        starts[(check_id, day)] = start
    return starts
