"""The landing zone on a real S3 API server (moto in server mode on 127.0.0.1).

The same generated deliveries are written to a local folder and to a bucket, loaded from
each into its own warehouse, and compared row for row. The sensor's check, re-delivered
objects, objects the contract refuses and bad credentials are exercised against the
server through the same code the DAG and the CLI run.
"""

from __future__ import annotations

import datetime as dt
import gzip
import os
import subprocess
import sys

import psycopg
import pytest

from growthflow_tools.generator.generate import generate
from growthflow.ingest.loader import load_partition
from growthflow.ingest.tasks import missing_partitions
from growthflow.landing import SOURCES, delivered_dates
from growthflow.summary import load_summary

from conftest import DEFECTIVE
from growthflow_tools.s3_server import use_env
from support import airflow_dags_test

SETTINGS = DEFECTIVE.__class__(start=dt.date(2026, 4, 1), days=2, seed=21, daily_new_users=300, campaigns=4)
#: Columns that differ between a folder load and a bucket load by design: where the object was.
LINEAGE = ("load_id", "loaded_at", "quarantined_at", "object_url", "object_version")


@pytest.fixture(scope="module")
def landed(s3_server, tmp_path_factory):
    """The same deliveries in a folder and in a bucket (written by the generator to each)."""
    patch = pytest.MonkeyPatch()
    use_env(patch, s3_server.env)
    bucket = s3_server.new_bucket()
    root = tmp_path_factory.mktemp("s3_landing")
    settings = SETTINGS.scaled_defects(8.0)
    generate(settings, root / "landing", root / "truth")
    generate(settings, f"s3://{bucket}/logs", root / "truth_s3")
    yield f"s3://{bucket}/logs", root / "landing", bucket
    patch.undo()


def table_rows(url: str, query: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(query).fetchall()


def comparable(url: str) -> dict[str, list[tuple]]:
    out = {}
    for table in SOURCES:
        out[table] = table_rows(url, f"SELECT delivery_date, source_file, line_number, record::text FROM raw.{table}"
                                     " ORDER BY 1, 2, 3")
    out["quarantine"] = table_rows(url, "SELECT source, delivery_date, source_file, line_number, reason, detail,"
                                        " raw_line, raw_bytes FROM raw.quarantine ORDER BY 1, 2, 3, 4")
    out["audit"] = table_rows(url, "SELECT source, delivery_date, source_file, file_bytes, file_sha256, lines_read,"
                                   " rows_loaded, rows_quarantined, truncated, status, refusal_reason"
                                   " FROM raw.load_audit ORDER BY 1, 2, 3")
    return out


def test_the_generator_writes_the_same_objects_to_a_bucket_as_to_a_folder(landed, s3_server):
    url, folder, bucket = landed
    keys = {}
    for page in s3_server.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="logs/"):
        keys.update({item["Key"][len("logs/"):]: item["Size"] for item in page.get("Contents", [])})
    files = {str(p.relative_to(folder)): p.stat().st_size for p in folder.rglob("*") if p.is_file()}
    assert keys == files and len(files) > 10
    for source in SOURCES:
        assert delivered_dates(url, source) == delivered_dates(folder, source) == \
            [SETTINGS.start + dt.timedelta(days=i) for i in range(SETTINGS.days)]


def test_a_bucket_and_a_folder_load_the_same_rows(landed, database_factory):
    url, folder, bucket = landed
    from_folder, from_bucket = database_factory(), database_factory()
    for source in SOURCES:
        for day in delivered_dates(folder, source):
            load_partition(from_folder, source, day, folder)
            load_partition(from_bucket, source, day, url)
    a, b = comparable(from_folder), comparable(from_bucket)
    assert a == b
    assert sum(len(rows) for rows in a.values()) > 2000 and a["quarantine"]
    # Lineage: each audit row names the object by its full URL and the store's version.
    audit = table_rows(from_bucket, "SELECT source, delivery_date, source_file, object_url, object_version"
                                    " FROM raw.load_audit")
    for source, day, name, object_url, version in audit:
        assert object_url == f"{url}/{source}/dt={day}/{name}"
        assert version and len(version) >= 16  # the ETag (or version id) the server gave the object
    local = table_rows(from_folder, "SELECT object_url FROM raw.load_audit")
    assert all(u.startswith(f"file://{folder}/") for (u,) in local)


def test_a_redelivered_object_with_new_content_shows_as_such(landed, s3_server, database_factory):
    url, folder, bucket = landed
    warehouse = database_factory()
    day = SETTINGS.start
    key = f"logs/payments/dt={day}/payments-001.jsonl.gz"
    load_partition(warehouse, "payments", day, url)
    before = table_rows(warehouse, "SELECT object_version, file_sha256, lines_read FROM raw.load_audit"
                                   " WHERE source_file = 'payments-001.jsonl.gz'")
    original = gzip.decompress(s3_server.client().get_object(Bucket=bucket, Key=key)["Body"].read())
    corrected = original.split(b"\n")[0] + b"\n"  # a correction: one record instead of several
    s3_server.client().put_object(Bucket=bucket, Key=key, Body=gzip.compress(corrected))
    try:
        result = load_partition(warehouse, "payments", day, url)
        after = table_rows(warehouse, "SELECT object_version, file_sha256, lines_read FROM raw.load_audit"
                                      " WHERE source_file = 'payments-001.jsonl.gz'")
        assert before[0][0] != after[0][0] and before[0][1] != after[0][1]
        assert after[0][2] == 1 and before[0][2] > 1
        loaded = table_rows(warehouse, "SELECT count(*) FROM raw.payments WHERE source_file = 'payments-001.jsonl.gz'")
        assert loaded[0][0] == next(f for f in result.files if f.source_file == "payments-001.jsonl.gz").rows_loaded
    finally:
        s3_server.client().put_object(Bucket=bucket, Key=key, Body=gzip.compress(original))


def test_objects_the_contract_does_not_allow_are_refused_and_reported(landed, s3_server, database_factory,
                                                                      monkeypatch):
    url, folder, bucket = landed
    warehouse = database_factory()
    day = SETTINGS.start
    extras = {
        "README.txt": b"notes",
        "events-0000-009.jsonl.zst": b"\x28\xb5\x2f\xfd",
        "late/events-0000-010.jsonl.gz": gzip.compress(b"{}\n"),
        "events-0000-011.jsonl": b"{}\n",
    }
    client = s3_server.client()
    for name, body in extras.items():
        client.put_object(Bucket=bucket, Key=f"logs/events/dt={day}/{name}", Body=body)
    try:
        result = load_partition(warehouse, "events", day, url)
        refused = {f.source_file: f.refusal for f in result.refused}
        assert refused == {"README.txt": "name_not_allowed", "events-0000-009.jsonl.zst": "unknown_compression",
                           "late/events-0000-010.jsonl.gz": "nested_object",
                           "events-0000-011.jsonl": "name_not_allowed"}
        audit = dict(table_rows(warehouse, "SELECT source_file, file_bytes FROM raw.load_audit"
                                           " WHERE status = 'refused'"))
        assert audit == {name: len(body) for name, body in extras.items()}
        monkeypatch.setenv("GROWTHFLOW_LANDING_ROOT", url)
        assert "objects refused: name_not_allowed 2, nested_object 1, unknown_compression 1" in \
            load_summary(warehouse)
        from growthflow.quality.checks import check_delivery

        summary = check_delivery(warehouse, "events", day, "s3-test", raise_on_fail=False)
        (finding,) = [r for r in summary.results if r.check_id == "object_refused"]
        assert not finding.success and finding.severity == "warn" and finding.unexpected_count == 4
    finally:
        for name in extras:
            client.delete_object(Bucket=bucket, Key=f"logs/events/dt={day}/{name}")


def test_the_sensor_waits_for_the_marker_of_a_bucket_partition(landed, s3_server, monkeypatch):
    url, folder, bucket = landed
    monkeypatch.setenv("GROWTHFLOW_LANDING_ROOT", url)
    day = SETTINGS.start + dt.timedelta(days=30)
    client = s3_server.client()
    for source in SOURCES:
        client.put_object(Bucket=bucket, Key=f"logs/{source}/dt={day}/part.csv", Body=b"x")
    assert len(missing_partitions(day)) == 4
    for source in SOURCES[:3]:
        client.put_object(Bucket=bucket, Key=f"logs/{source}/dt={day}/_SUCCESS", Body=b"")
    assert missing_partitions(day) == [f"{url}/campaigns/dt={day}"]
    client.put_object(Bucket=bucket, Key=f"logs/campaigns/dt={day}/_SUCCESS", Body=b"")
    assert missing_partitions(day) == []
    for source in SOURCES:
        for name in ("part.csv", "_SUCCESS"):
            client.delete_object(Bucket=bucket, Key=f"logs/{source}/dt={day}/{name}")


@pytest.mark.airflow
def test_the_ingest_dag_loads_a_bucket_partition_with_credentials_from_an_airflow_connection(
        landed, s3_server, database_factory):
    """Through Airflow: the sensor, the loads and the checks read the bucket with the credentials of
    the `growthflow_landing` connection, and no AWS_* variable is set."""
    _, folder, bucket = landed
    url = f"s3://{bucket}/clean"  # no defects: the raw checks pass and the run succeeds end to end
    generate(SETTINGS.scaled_defects(0.0), url, folder.parent / "truth_clean")
    warehouse = database_factory()
    env = {"GROWTHFLOW_LANDING_CONN_ID": "growthflow_landing",
           "AIRFLOW_CONN_GROWTHFLOW_LANDING": s3_server.airflow_connection()}
    scrubbed = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    day = SETTINGS.start
    with pytest.MonkeyPatch.context() as patch:
        for key in list(os.environ):
            if key.startswith("AWS_"):
                patch.delenv(key)
        result = airflow_dags_test("ingest_raw_logs", (day + dt.timedelta(days=1)).isoformat(), warehouse, url,
                                   extra_env=env)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    assert "AWS_ACCESS_KEY_ID" not in scrubbed
    rows = dict(table_rows(warehouse, "SELECT source, count(*) FROM raw.load_audit WHERE object_url LIKE 's3://%'"
                                      " GROUP BY 1"))
    assert set(rows) == set(SOURCES)
    loaded = dict(table_rows(warehouse, "SELECT source, rows_loaded FROM raw.partition_loads"))
    assert all(loaded[s] > 0 for s in SOURCES)


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "growthflow_tools.cli", *args], capture_output=True, text=True,
                          env=env, timeout=300)


@pytest.mark.parametrize("problem, expected", [
    ("wrong key", "access denied"),
    ("missing bucket", "the bucket does not exist"),
])
def test_bad_credentials_or_a_missing_bucket_give_one_clear_line(landed, s3_server, problem, expected):
    url, folder, bucket = landed
    env = dict(os.environ, **s3_server.env, GROWTHFLOW_LANDING_ROOT=url)
    env.pop("GROWTHFLOW_LANDING_CONN_ID", None)
    if problem == "wrong key":
        env["AWS_SECRET_ACCESS_KEY"] = "not-the-secret"
        env["AWS_ACCESS_KEY_ID"] = "not-a-key-this-server-issued"
    else:
        env["GROWTHFLOW_LANDING_ROOT"] = "s3://no-such-bucket-here/logs"
    result = run_cli("load", "events", SETTINGS.start.isoformat(), env=env)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and errors[0].startswith("growthflow: error: landing zone s3://"), result.stderr
    assert expected in errors[0] and "Traceback" not in result.stderr + result.stdout
