"""Suites as reviewed in ``expectations/*.yml``: parsed, checked, expanded per source.

A suite names a table, the SQL of the batch it checks (filled with validated dates
only), and expectations. Each expectation is a GX Core class with its arguments
(suite parameters as GX's ``{$PARAMETER: name}``), a stable ``id`` and a ``category``
(missing, wrong, duplicate) kept in GX's ``meta``, and a ``severity``: ``fail`` blocks
publishing and ``warn`` reports (GX's ``critical`` and ``warning``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from growthflow.config import PROJECT_ROOT
from growthflow.errors import ConfigError
from growthflow.landing import SOURCES

#: libyaml's safe loader when PyYAML has it: every check parses all suite files, 6x faster than pure Python.
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
EXPECTATIONS_DIR = PROJECT_ROOT / "expectations"
LAYERS = ("raw", "staging", "core", "marts")
SCOPES = ("delivery", "window", "table")
CATEGORIES = ("missing", "wrong", "duplicate")
SEVERITIES = ("fail", "warn")


@dataclass(frozen=True)
class CheckSpec:
    id: str
    category: str
    severity: str
    type: str
    kwargs: dict[str, Any]
    description: str | None = None
    #: Columns identifying a bad row in the report (GX ``unexpected_index_column_names``).
    samples: tuple[str, ...] = ()

    @property
    def column(self) -> str | None:
        kw = self.kwargs
        if "column" in kw:
            return kw["column"]
        if "column_A" in kw:
            return f"{kw['column_A']},{kw['column_B']}"
        if "column_list" in kw:
            return ",".join(kw["column_list"])
        return None


@dataclass(frozen=True)
class SuiteSpec:
    name: str
    layer: str
    table: str
    scope: str
    batch: str
    checks: tuple[CheckSpec, ...]
    description: str = ""
    source: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None


def _check(raw: dict, where: str, default_samples: tuple[str, ...] = ()) -> CheckSpec:
    import great_expectations.expectations as gxe

    missing = {"id", "category", "severity", "type"} - raw.keys()
    if missing:
        raise ConfigError(f"{where}: expectation needs {', '.join(sorted(missing))}")
    if raw["category"] not in CATEGORIES:
        raise ConfigError(f"{where}: category {raw['category']!r} is not one of {', '.join(CATEGORIES)}")
    if raw["severity"] not in SEVERITIES:
        raise ConfigError(f"{where}: severity {raw['severity']!r} is not one of {', '.join(SEVERITIES)}")
    if not hasattr(gxe, raw["type"]):
        raise ConfigError(f"{where}: {raw['type']!r} is not a GX Core expectation class")
    return CheckSpec(id=raw["id"], category=raw["category"], severity=raw["severity"], type=raw["type"],
                     kwargs=dict(raw.get("kwargs") or {}), description=raw.get("description"),
                     samples=tuple(raw.get("samples") or default_samples))


def parse_suite_file(path: Path) -> list[SuiteSpec]:
    """One YAML file -> one suite, or one per source (``for_each_source``, with per-source overrides)."""
    try:
        raw = yaml.load(path.read_text(), Loader=_SAFE_LOADER)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path.name}: not valid YAML ({exc.__class__.__name__}); fix the file") from exc
    where = f"expectations/{path.name}"
    for key in ("suite", "layer", "table", "scope", "batch", "expectations"):
        if key not in raw:
            raise ConfigError(f"{where}: missing `{key}`")
    if raw["layer"] not in LAYERS or raw["scope"] not in SCOPES:
        raise ConfigError(f"{where}: layer must be one of {LAYERS} and scope one of {SCOPES}")
    default_samples = tuple(raw.get("samples") or ())
    checks = tuple(_check(item, f"{where} #{i + 1}", default_samples) for i, item in enumerate(raw["expectations"]))
    ids = [c.id for c in checks]
    if len(ids) != len(set(ids)):
        raise ConfigError(f"{where}: expectation ids must be unique")
    common = dict(layer=raw["layer"], scope=raw["scope"], batch=raw["batch"], checks=checks,
                  description=raw.get("description", ""), path=path)
    per_source = raw.get("for_each_source")
    if per_source is None:
        return [SuiteSpec(name=raw["suite"], table=raw["table"], **common)]
    per_source = per_source or {}
    overrides = per_source.get("overrides") or {}
    unknown = set(overrides) - set(SOURCES)
    if unknown:
        raise ConfigError(f"{where}: for_each_source.overrides names {sorted(unknown)[0]!r}, which is not a source "
                          f"({', '.join(SOURCES)})")
    return [SuiteSpec(name=raw["suite"].format(source=source), table=raw["table"].format(source=source),
                      source=source, parameters={**(per_source.get("parameters") or {}), **(overrides.get(source) or {})},
                      **common)
            for source in SOURCES]


def load_suites(directory: Path = EXPECTATIONS_DIR) -> list[SuiteSpec]:
    if not directory.is_dir():
        raise ConfigError(f"no expectations folder at {directory}; run from a growthflow checkout")
    suites = [suite for path in sorted(directory.glob("*.yml")) for suite in parse_suite_file(path)]
    names = [s.name for s in suites]
    if len(names) != len(set(names)):
        raise ConfigError("two suites in expectations/ share a name")
    return suites
