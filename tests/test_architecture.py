"""The tree shows the architecture, and the code keeps to it.

Import contracts (pyproject.toml, [tool.importlinter]) are checked by import-linter
itself; the rest are properties of the source that a contract cannot express.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

from growthflow.config import PROJECT_ROOT, load_settings
from growthflow.errors import ConfigError

RUNTIME = PROJECT_ROOT / "src" / "growthflow"
SOURCES = [*PROJECT_ROOT.joinpath("src").rglob("*.py"), *PROJECT_ROOT.joinpath("dags").glob("*.py"),
           *PROJECT_ROOT.joinpath("models_ltv").glob("*.py")]
#: Tests and benchmarks import the code too: they may not reach behind a module's public names.
IMPORTERS = [*SOURCES, *PROJECT_ROOT.joinpath("tests").glob("*.py"), *PROJECT_ROOT.joinpath("bench").glob("*.py")]


def _imports(path: Path):
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.module:
            yield node.module, [alias.name for alias in node.names]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, []


def test_the_import_contracts_hold():
    result = subprocess.run([str(Path(sys.executable).parent / "lint-imports"), "--no-cache"], cwd=PROJECT_ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout and "KEPT" in result.stdout


def test_dag_files_import_only_the_runtime():
    for path in PROJECT_ROOT.joinpath("dags").glob("*.py"):
        modules = {module for module, _ in _imports(path)}
        assert not {m for m in modules if m.split(".")[0] == "growthflow_tools"}, path.name


def test_no_module_imports_a_private_name_from_another():
    offenders = []
    for path in IMPORTERS:
        for module, names in _imports(path):
            if module.split(".")[0] in ("growthflow", "growthflow_tools", "models_ltv"):
                offenders += [f"{path.relative_to(PROJECT_ROOT)}: {module}.{name}" for name in names
                              if name.startswith("_") and not name.startswith("__")]
    assert not offenders


def test_plugins_holds_no_python_for_airflow_to_execute():
    assert not list(PROJECT_ROOT.joinpath("plugins").rglob("*.py"))
    assert PROJECT_ROOT.joinpath("plugins", ".airflowignore").exists()


def test_every_growthflow_variable_is_read_in_the_one_settings_module():
    """Reads of GROWTHFLOW_* outside config.py would bypass its validation and its one error path."""
    read = re.compile(r"""(?:environ\.get|getenv|environ\[)\(?\s*["']GROWTHFLOW_""")
    offenders = [str(path.relative_to(PROJECT_ROOT)) for path in SOURCES
                 if path != RUNTIME / "config.py" and read.search(path.read_text())]
    assert not offenders


@pytest.mark.parametrize("variable, value, expected", [
    ("GROWTHFLOW_PG_PORT", "five", "GROWTHFLOW_PG_PORT='five' is not a whole number"),
    ("GROWTHFLOW_RETRY_DELAY_SECONDS", "-3", "GROWTHFLOW_RETRY_DELAY_SECONDS='-3' is below 0"),
    ("GROWTHFLOW_LTV_METHOD", "advi", "GROWTHFLOW_LTV_METHOD='advi': use one of nuts, map"),
    ("GROWTHFLOW_LTV_TARGET_ACCEPT", "1.5", "GROWTHFLOW_LTV_TARGET_ACCEPT='1.5': use a number in"),
    ("GROWTHFLOW_LANDING_ROOT", "s3://user:secret@bucket/x", "must not carry credentials"),
])
def test_a_bad_setting_is_one_config_error_line(monkeypatch, variable, value, expected):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError, match=re.escape(expected)) as raised:
        load_settings()
    assert "\n" not in str(raised.value)


def test_a_bad_setting_from_the_command_line_is_one_line_without_a_traceback():
    env = {"GROWTHFLOW_ALERT_WINDOW_MINUTES": "soon", "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-m", "growthflow_tools.cli", "summary"], capture_output=True, text=True,
                            env=env, timeout=120)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        "growthflow: error: GROWTHFLOW_ALERT_WINDOW_MINUTES='soon' is not a whole number; set it to e.g. 60 or unset it"]


def test_every_source_has_one_line_format_and_one_raw_suite():
    """The list of sources lives in growthflow.landing; everything per source follows it."""
    from growthflow.ingest.records import CSV_SOURCES, JSON_SOURCES
    from growthflow.landing import SOURCES
    from growthflow.quality.suites import load_suites

    assert sorted([*JSON_SOURCES, *CSV_SOURCES]) == sorted(SOURCES) and not set(JSON_SOURCES) & set(CSV_SOURCES)
    assert sorted(s.source for s in load_suites() if s.scope == "delivery") == sorted(SOURCES)


def test_a_raw_suite_override_for_an_unknown_source_is_one_config_error(tmp_path):
    from growthflow.quality.suites import parse_suite_file

    text = (PROJECT_ROOT / "expectations" / "raw_lines.yml").read_text().replace("    ad_spend:", "    ad_spent:")
    (tmp_path / "raw_lines.yml").write_text(text)
    with pytest.raises(ConfigError, match="'ad_spent', which is not a source"):
        parse_suite_file(tmp_path / "raw_lines.yml")
