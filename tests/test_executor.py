"""Choosing the executor: the settings, the environment Airflow gets, and the project-local
Redis (a real redis-server) that the Celery stack uses as its broker. The stack itself runs
in tests/test_celery.py."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys

import pytest
import redis as redis_client

from growthflow.config import load_settings
from growthflow.errors import ServiceUnavailable
from growthflow.warehouse import Targets
from growthflow_tools import redis_server
from growthflow_tools.airflow_env import TASK_SLOTS, airflow_environment, describe_stack, stack_components
from growthflow_tools.processes import free_port
from growthflow_tools.redis_server import LocalRedis

TARGETS = Targets(owner_url="postgresql://u:p@h:1/growthflow", bi_url=None,
                  airflow_url="postgresql+psycopg2://a:p@h:1/airflow", admin_conninfo=None, local=False)


def _cli(*args, **env):
    return subprocess.run([sys.executable, "-m", "growthflow_tools.cli", *args], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=300)


@pytest.fixture
def no_airflow_settings(monkeypatch, tmp_path):
    """The environment of a fresh shell: no AIRFLOW__* variables (the test command exports them)."""
    for key in [k for k in os.environ if k.startswith("AIRFLOW__")]:
        monkeypatch.delenv(key)
    monkeypatch.delenv("GROWTHFLOW_EXECUTOR", raising=False)
    monkeypatch.setenv("GROWTHFLOW_HOME", str(tmp_path))


def test_the_default_stays_localexecutor(no_airflow_settings):
    settings = load_settings()
    env = airflow_environment(settings, TARGETS)
    assert settings.executor == "local" and env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert stack_components(settings) == ("api-server", "scheduler", "dag-processor", "triggerer")
    assert not [key for key in env if key.startswith("AIRFLOW__CELERY")]


def test_celery_gets_a_local_broker_results_in_the_metadata_database_and_the_same_slots(no_airflow_settings,
                                                                                          monkeypatch):
    monkeypatch.setenv("GROWTHFLOW_EXECUTOR", "celery")
    monkeypatch.setenv("GROWTHFLOW_CELERY_WORKERS", "4")
    monkeypatch.setenv("GROWTHFLOW_REDIS_PORT", "6400")
    settings = load_settings()
    env = airflow_environment(settings, TARGETS)
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://:") and "@127.0.0.1:6400/0" in env[
        "AIRFLOW__CELERY__BROKER_URL"]
    assert env["AIRFLOW__CELERY__RESULT_BACKEND"] == "db+postgresql+psycopg2://a:p@h:1/airflow"
    assert int(env["AIRFLOW__CELERY__WORKER_CONCURRENCY"]) * 4 == TASK_SLOTS == int(env["AIRFLOW__CORE__PARALLELISM"])
    assert stack_components(settings)[-4:] == tuple(f"celery-worker-{i}" for i in range(1, 5))
    assert stack_components(settings, flower=True)[-1] == "flower"
    assert describe_stack(settings) == "api-server, scheduler, dag-processor, triggerer, 4 Celery workers on Redis"

    # A broker of the deployment's own: kept, and no local Redis is started or described.
    monkeypatch.setenv("AIRFLOW__CELERY__BROKER_URL", "redis://broker.internal:6379/0")
    env = airflow_environment(settings, TARGETS)
    assert env["AIRFLOW__CELERY__BROKER_URL"] == "redis://broker.internal:6379/0"
    assert "AIRFLOW__CELERY__BROKER_URL" in describe_stack(settings)


def test_a_bad_executor_or_flower_without_celery_is_one_line():
    result = _cli("up", GROWTHFLOW_EXECUTOR="kubernetes")
    assert result.returncode == 1 and result.stderr.strip() == (
        "growthflow: error: GROWTHFLOW_EXECUTOR='kubernetes': use one of local, celery")
    result = _cli("up", "--flower", GROWTHFLOW_EXECUTOR="local")
    assert result.returncode == 1 and result.stderr.strip() == (
        "growthflow: error: --flower needs the Celery executor: set GROWTHFLOW_EXECUTOR=celery")


def test_a_missing_redis_server_says_how_to_install_it(monkeypatch, tmp_path):
    with pytest.raises(ServiceUnavailable, match="GROWTHFLOW_REDIS_BIN=/nowhere/redis-server is not an executable"):
        redis_server.find_redis_server("/nowhere/redis-server")
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(redis_server, "_SEARCH", ())
    with pytest.raises(ServiceUnavailable) as info:
        redis_server.find_redis_server()
    message = str(info.value)
    assert "\n" not in message and "apt-get install redis-server" in message
    assert "AIRFLOW__CELERY__BROKER_URL" in message


def test_the_cli_refuses_celery_without_a_redis_server_in_one_line(tmp_path):
    result = _cli("up", GROWTHFLOW_EXECUTOR="celery", GROWTHFLOW_REDIS_BIN=str(tmp_path / "redis-server"),
                  GROWTHFLOW_REDIS_PORT=str(free_port()))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        f"growthflow: error: GROWTHFLOW_REDIS_BIN={tmp_path / 'redis-server'} is not an executable redis-server: "
        "fix the path or unset it"]


@pytest.fixture
def local_redis(tmp_path):
    settings = dataclasses.replace(load_settings(), home=tmp_path, redis_port=free_port(), redis_bin=None)
    server = LocalRedis(settings)
    yield server
    server.stop()


def test_the_local_redis_asks_for_its_password_and_keeps_queued_messages_across_a_restart(local_redis):
    assert local_redis.start() and not local_redis.start()  # the second start finds it running
    assert local_redis.is_running()
    with pytest.raises(redis_client.exceptions.AuthenticationError):
        redis_client.Redis(host="127.0.0.1", port=local_redis.port).ping()
    assert (local_redis.dir / "redis.conf").stat().st_mode & 0o077 == 0  # the password is in a private file
    client = redis_client.Redis.from_url(local_redis.url)
    client.lpush("default", "a queued task")
    first = local_redis.pid()
    assert local_redis.stop() and not local_redis.is_running()
    assert local_redis.start() and local_redis.pid() != first
    assert redis_client.Redis.from_url(local_redis.url).lrange("default", 0, -1) == [b"a queued task"]
    assert local_redis.stop() and not local_redis.stop()
