"""docker-compose.yml, read by a real Compose implementation (podman-compose, with
`--dry-run`: no container engine needed), agrees with the local setup; and no secret
is committed."""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from growthflow.config import AIRFLOW_DATABASE, OWNER_ROLE, PROJECT_ROOT, WAREHOUSE_DATABASE
from growthflow.connections import WAREHOUSE_CONN_ID

AIRFLOW_SERVICES = {"airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer",
                    "airflow-init"}
CODE_FOLDERS = ("dags", "src", "plugins", "dbt_project", "expectations", "models_ltv")


def compose(env_file: Path, *args: str) -> subprocess.CompletedProcess:
    tool = Path(sys.executable).parent / "podman-compose"
    return subprocess.run([str(tool), "--dry-run", "--env-file", str(env_file), "-f",
                           str(PROJECT_ROOT / "docker-compose.yml"), *args],
                          capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=120)


@pytest.fixture(scope="module")
def env_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("compose") / ".env"
    shutil.copy(PROJECT_ROOT / ".env.example", path)
    return path


def resolved(env_file: Path, *profiles: str) -> dict:
    args = [arg for profile in profiles for arg in ("--profile", profile)]
    out = compose(env_file, *args, "config")
    assert out.returncode == 0, out.stderr[-1500:]
    return yaml.safe_load(out.stdout)


def locked_airflow_version() -> str:
    lock = (PROJECT_ROOT / "uv.lock").read_text()
    return re.search(r'name = "apache-airflow"\nversion = "([^"]+)"', lock).group(1)


@pytest.mark.parametrize("profiles, extra", [
    ((), set()),
    (("celery",), {"redis", "airflow-worker", "airflow-worker-ltv", "flower"}),
    (("bi",), {"superset", "superset-assets"}),
])
def test_compose_resolves_each_profile_to_the_documented_services(env_file, profiles, extra):
    services = set(resolved(env_file, *profiles)["services"])
    assert services == {"postgres"} | AIRFLOW_SERVICES | extra


def test_compose_refuses_to_start_without_a_secret(env_file, tmp_path):
    incomplete = tmp_path / ".env"
    incomplete.write_text("".join(line + "\n" for line in env_file.read_text().splitlines()
                                  if not line.startswith("GROWTHFLOW_OWNER_PASSWORD=")))
    out = compose(incomplete, "config")
    assert out.returncode != 0
    assert "set GROWTHFLOW_OWNER_PASSWORD in .env" in out.stderr


def test_compose_and_image_agree_with_the_local_setup(env_file):
    from growthflow_tools.airflow_env import airflow_environment, celery_environment
    from growthflow.config import DEFAULT_QUEUE, LTV_QUEUE, load_settings
    from growthflow.warehouse import Targets

    version = locked_airflow_version()
    dockerfile = (PROJECT_ROOT / "Dockerfile").read_text()
    assert f"ARG AIRFLOW_VERSION={version}\n" in dockerfile
    assert "FROM apache/airflow:${AIRFLOW_VERSION}-python3.12" in dockerfile
    for folder in CODE_FOLDERS:
        assert f"COPY --chown=airflow:root {folder}/ {folder}/" in dockerfile

    targets = Targets(owner_url="postgresql://u:p@h:1/growthflow", bi_url=None,
                      airflow_url="postgresql+psycopg2://a:p@h:1/airflow", admin_conninfo=None, local=False)
    local = airflow_environment(load_settings(), targets)
    config = resolved(env_file, "celery")
    for name, service in config["services"].items():
        if not name.startswith("airflow-") and name != "flower":
            continue
        assert service["image"] == f"growthflow-airflow:{version}"
        env = service["environment"]
        mounts = {m.split(":")[1]: m.split(":")[0] for m in service["volumes"]}
        for folder in CODE_FOLDERS:
            host = Path(mounts[f"/opt/growthflow/{folder}"])
            assert host.resolve() == (PROJECT_ROOT / folder).resolve() and host.is_dir()
        assert env["AIRFLOW__CORE__DAGS_FOLDER"] == "/opt/growthflow/dags"
        assert env["AIRFLOW__CORE__PLUGINS_FOLDER"] == "/opt/growthflow/plugins"
        for key in ("AIRFLOW__CORE__LOAD_EXAMPLES", "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION",
                    "AIRFLOW__SCHEDULER__STANDALONE_DAG_PROCESSOR", "AIRFLOW__COSMOS__ENABLE_TELEMETRY",
                    "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL"):
            assert env[key].lower() == local[key].lower(), key
        assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"  # Celery only when the .env says so
        warehouse = urlsplit(env[f"AIRFLOW_CONN_{WAREHOUSE_CONN_ID.upper()}"])
        assert (warehouse.scheme, warehouse.username, warehouse.path) == ("postgres", OWNER_ROLE,
                                                                          f"/{WAREHOUSE_DATABASE}")
        assert urlsplit(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]).path == f"/{AIRFLOW_DATABASE}"
    # The same queues as the local Celery stack: the default one, and the LTV fit's on a worker of its own.
    assert config["services"]["airflow-worker"]["command"] == ["celery", "worker", "--queues", DEFAULT_QUEUE]
    assert config["services"]["airflow-worker-ltv"]["command"] == ["celery", "worker", "--queues", LTV_QUEUE,
                                                                   "--concurrency", "1"]
    with_celery = dataclasses.replace(load_settings(), executor="celery")
    local_celery = celery_environment(with_celery, targets)
    for name in ("airflow-worker", "airflow-worker-ltv", "airflow-scheduler"):
        env = config["services"][name]["environment"]
        for key in ("AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS", "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT"):
            assert env[key] == local_celery[key], key
        assert env["AIRFLOW__OPERATORS__DEFAULT_QUEUE"] == local["AIRFLOW__OPERATORS__DEFAULT_QUEUE"] == DEFAULT_QUEUE
    # The same launcher as the local stack (airflow_env.component_command).
    assert config["services"]["airflow-scheduler"]["command"] == ["python", "-m", "growthflow.preload", "scheduler"]
    assert config["services"]["airflow-init"]["command"][-1].strip().endswith("python -m growthflow_tools.cli setup")


def test_every_variable_the_compose_file_reads_is_in_the_example_env():
    text = (PROJECT_ROOT / "docker-compose.yml").read_text()
    used = set(re.findall(r"(?<!\$)\$\{([A-Z_][A-Z0-9_]*)", text))  # $${X}: the container shell's
    example = {line.split("=", 1)[0] for line in (PROJECT_ROOT / ".env.example").read_text().splitlines()
               if "=" in line and not line.startswith("#")}
    assert used and used <= example, used - example
    assert ".env" in (PROJECT_ROOT / ".gitignore").read_text().splitlines()


# -- no secret in the repository --------------------------------------------------------
SECRET_PATTERNS = {
    "URL with a password": re.compile(r"[a-z][a-z0-9+]*://[^\s/:@'\"]+:([^\s@'\"]+)@"),
    "password assignment": re.compile(r"(?i)\b\w*(?:password|passwd|secret|token)\s*[=:]\s*['\"]?([A-Za-z0-9_\-+/]{8,})"),
    "Slack token or webhook": re.compile(r"(xox[abprs]-[0-9A-Za-z-]{10,}|hooks\.slack\.com/services/T[0-9A-Z]+/)"),
    "AWS access key": re.compile(r"AKIA[0-9A-Z]{16}"),
    "private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
}
# Placeholders, interpolations and the redaction mask are not secrets.
NOT_A_SECRET = re.compile(r"^(\$\{.*|\{.*|\*+|change-me|<[^>]*>|\.\.\.|%s|%\(.*|pw|p|password|secret)$")


def secrets_in(text: str) -> list[str]:
    found = []
    for kind, pattern in SECRET_PATTERNS.items():
        for match in pattern.finditer(text):
            value = match.group(1) if pattern.groups else match.group(0)
            if not NOT_A_SECRET.match(value.strip("'\"")):
                found.append(f"{kind}: {match.group(0)[:60]}")
    return found


def test_the_secret_scanner_finds_what_it_is_for():
    # Assembled at run time, so this file itself holds no secret-shaped literal.
    fake = "Xk3vP9" + "qLmT2w"
    assert secrets_in(f"url = 'postgresql://growthflow:{fake}@db:5432/growthflow'")
    assert secrets_in(f"AIRFLOW_ADMIN_PASSWORD={fake}")
    assert secrets_in(f"jwt_secret: {fake}")
    assert secrets_in("webhook: https://hooks.slack.com/services/" + "T0001/B0002/abc")
    assert not secrets_in("postgres://growthflow:${GROWTHFLOW_OWNER_PASSWORD}@postgres:5432/growthflow")
    assert not secrets_in("POSTGRES_PASSWORD=change-me")


def test_no_tracked_file_contains_a_password_token_or_key():
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True)
    problems = []
    for name in filter(None, tracked.stdout.split("\0")):
        path = PROJECT_ROOT / name
        if name == "uv.lock" or not path.is_file() or path.stat().st_size > 2_000_000:
            continue
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue  # binary
        problems += [f"{name}: {hit}" for hit in secrets_in(text)]
    assert not problems, "\n".join(problems)
