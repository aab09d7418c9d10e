"""The scheduler's preload: what it imports, and that Airflow still starts through it."""

from __future__ import annotations

import os
import subprocess
import sys

from growthflow_tools.airflow_env import component_command
from growthflow.config import DEFAULT_PRELOAD
from growthflow.preload import preload, preload_modules


def test_the_scheduler_and_only_the_scheduler_starts_through_the_preload():
    assert component_command({}, "scheduler")[1:] == ["-m", "growthflow.preload", "scheduler"]
    for name in ("api-server", "dag-processor", "triggerer"):
        assert "growthflow.preload" not in component_command({}, name)


def test_preload_list_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv("GROWTHFLOW_PRELOAD", raising=False)
    assert preload_modules() == DEFAULT_PRELOAD and "great_expectations" in DEFAULT_PRELOAD
    monkeypatch.setenv("GROWTHFLOW_PRELOAD", " json , csv,")
    assert preload_modules() == ("json", "csv")
    monkeypatch.setenv("GROWTHFLOW_PRELOAD", "")
    assert preload_modules() == ()


def test_a_module_that_cannot_be_imported_is_named_and_skipped(capsys):
    assert preload(("json", "growthflow_no_such_module")) == [
        "growthflow_no_such_module (No module named 'growthflow_no_such_module')"]
    assert "not preloaded: growthflow_no_such_module" in capsys.readouterr().err


def test_airflow_runs_through_the_preload_with_the_modules_loaded():
    env = dict(os.environ, GROWTHFLOW_PRELOAD="great_expectations")
    probe = ("import sys; from growthflow.preload import main, preload; preload(('great_expectations',)); "
             "print('gx' if 'great_expectations' in sys.modules else 'none'); main(['version'])")
    result = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-500:]
    lines = result.stdout.split()
    assert lines[0] == "gx"
    import airflow
    assert lines[-1] == airflow.__version__


def test_every_default_preload_module_imports():
    assert preload(DEFAULT_PRELOAD) == []
