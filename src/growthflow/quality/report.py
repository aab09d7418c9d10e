"""The data-quality report printed in the task log: a verdict line, then a table.

Written for an engineer reading the log at 9 am: the verdict first, then every
check in fixed-width columns, worst first (blocking failures, warnings, passes).
"""

from __future__ import annotations

from growthflow.quality.runner import CheckResult

COLUMNS = (("suite", 24), ("check", 34), ("column", 22), ("sev", 4), ("status", 6), ("unexpected", 10),
           ("%", 8), ("samples", 0))
SAMPLES_WIDTH = 70
_RANK = {"ERROR": 0, "FAIL": 1, "WARN": 2, "pass": 3}


def verdict(results: list[CheckResult], scope: str) -> str:
    blocking = sum(r.blocking for r in results)
    warnings = sum(1 for r in results if not r.success and r.severity == "warn")
    passed = sum(r.success for r in results)
    word = "FAIL" if blocking else ("WARN" if warnings else "PASS")
    return (f"DATA QUALITY {word} ({scope}): {blocking} blocking, {warnings} warning, "
            f"{passed} passed of {len(results)} checks")


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "~"


def _row(values: list[str]) -> str:
    cells = []
    for (name, width), value in zip(COLUMNS, values):
        if width == 0:
            cells.append(_cut(value, SAMPLES_WIDTH))
        elif name in ("unexpected", "%"):
            cells.append(value.rjust(width))
        else:
            cells.append(_cut(value, width).ljust(width))
    return "  ".join(cells).rstrip()


def _cells(r: CheckResult) -> list[str]:
    unexpected = "-" if r.unexpected_count is None else f"{r.unexpected_count:,}"
    percent = "-" if r.unexpected_percent is None else f"{r.unexpected_percent:.2f}"
    if r.exception:
        samples = f"error: {r.exception}"
    elif r.samples:
        samples = ", ".join(r.samples)
    elif r.unexpected_count is None and r.observed_value is not None:
        samples = f"observed {r.observed_value}"
    else:
        samples = ""
    return [r.suite, r.check_id, r.column or "-", r.severity, r.status, unexpected, percent, samples]


def sort_worst_first(results: list[CheckResult]) -> list[CheckResult]:
    return sorted(results, key=lambda r: (_RANK[r.status], -(r.unexpected_count or 0), r.suite, r.check_id))


def render(results: list[CheckResult], scope: str) -> str:
    header = _row([name for name, _ in COLUMNS])
    rule = "  ".join("-" * (width or len("samples")) for _, width in COLUMNS)
    lines = [verdict(results, scope), header, rule]
    lines += [_row(_cells(r)) for r in sort_worst_first(results)]
    return "\n".join(lines)


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value) >= 100 or float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:.1f}" if abs(value) >= 1 else f"{value:.3f}"  # shares are below 1


def render_anomalies(results: list[CheckResult], scope: str) -> str:
    """The metric-rot report: a verdict line, then one line per anomaly, oldest first."""
    flagged = sorted((r for r in results if not r.success), key=lambda r: (r.period.end, r.column or "", r.segment or ""))
    series = {r.check_id for r in results}
    word = "WARN" if flagged else "PASS"
    lines = [f"METRIC ROT {word} ({scope}): {len(flagged)} anomalies in {len({r.check_id for r in flagged})} "
             f"series; {len(results)} series-days of {len(series)} series checked"]
    if not flagged:
        return "\n".join(lines)
    widths = (10, 26, 60, 10, 10, 23)
    header = ("day", "kpi", "segment", "observed", "expected", "expected range")
    lines.append("  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip())
    lines.append("  ".join("-" * w for w in widths))
    for r in flagged:
        if r.expectation_type == "same_as_previous_day":
            expected, span = "-", "not the day before's"
        else:
            expected, span = _number(r.expected_value), f"{_number(r.expected_low)} .. {_number(r.expected_high)}"
        cells = (str(r.period.end), r.column or "", _cut(r.segment or "", 60), _number(r.observed_value), expected, span)
        lines.append("  ".join(c.rjust(w) if i in (3, 4) else c.ljust(w)
                               for i, (c, w) in enumerate(zip(cells, widths))).rstrip())
    return "\n".join(lines)
