"""The preload: what the scheduler (LocalExecutor) and each Celery worker import before they
fork tasks, and that Airflow still starts through it."""

from __future__ import annotations

import os
import subprocess
import sys

from growthflow_tools.airflow_env import component_command
from growthflow.config import DEFAULT_PRELOAD, load_settings
from growthflow.preload import preload, preload_modules

LOCAL = {"AIRFLOW__CORE__EXECUTOR": "LocalExecutor"}
CELERY = {"AIRFLOW__CORE__EXECUTOR": "CeleryExecutor"}


def test_with_localexecutor_the_scheduler_and_only_the_scheduler_starts_through_the_preload():
    settings = load_settings()
    assert component_command(LOCAL, "scheduler", settings)[1:] == ["-m", "growthflow.preload", "scheduler"]
    for name in ("api-server", "dag-processor", "triggerer"):
        assert "growthflow.preload" not in component_command(LOCAL, name, settings)


def test_with_celery_the_workers_preload_and_the_scheduler_does_not():
    settings = load_settings()
    assert "growthflow.preload" not in component_command(CELERY, "scheduler", settings)
    first, second = (component_command(CELERY, f"celery-worker-{i}", settings) for i in (1, 2))
    assert first[1:4] == ["celery", "worker", "--celery-hostname"] and first[4] == "worker-1@%h"
    assert first[first.index("--queues") + 1] == "default,ltv"
    assert second[second.index("--queues") + 1] == "default"


def test_a_celery_worker_preloads_when_celery_initialises_it():
    """What `airflow celery worker` does at start: read growthflow's Celery configuration (which
    connects the signals), then send worker_init in its main process before it forks its pool."""
    probe = ("import sys; from growthflow.celery_config import CELERY_CONFIG; from celery.signals import worker_init; "
             "assert CELERY_CONFIG['result_extended'] is True; "
             "before = 'great_expectations' in sys.modules; worker_init.send(sender=None); "
             "print(before, 'great_expectations' in sys.modules)")
    env = dict(os.environ, GROWTHFLOW_PRELOAD="great_expectations")
    result = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-800:]
    assert result.stdout.split()[-2:] == ["False", "True"]
    assert "modules imported in the Celery worker" in result.stdout


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
