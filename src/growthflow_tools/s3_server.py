"""A local S3 API server for the tests: moto in server mode, as its own process on 127.0.0.1."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

from growthflow_tools.processes import free_port


class S3Server:
    """Authentication is on, as in a real store: after the first three requests (which create an
    IAM user, its policy and its key) every request must be signed with a key the server issued,
    so wrong credentials are refused the way a real bucket refuses them."""

    REGION = "us-east-1"
    UNAUTHENTICATED_SETUP_REQUESTS = 3

    def __init__(self, log_dir: Path):
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.log_path = Path(log_dir) / "moto.log"
        self._process: subprocess.Popen | None = None
        self.access_key = self.secret_key = ""

    @property
    def env(self) -> dict[str, str]:
        """The standard AWS variables the CLI (and boto3/s3fs) read."""
        return {"AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.secret_key,
                "AWS_DEFAULT_REGION": self.REGION, "AWS_ENDPOINT_URL": self.endpoint}

    def airflow_connection(self) -> str:
        """The same server as an Airflow `aws` connection (JSON form of AIRFLOW_CONN_*)."""
        import json

        return json.dumps({"conn_type": "aws", "login": self.access_key, "password": self.secret_key,
                           "extra": {"endpoint_url": self.endpoint, "region_name": self.REGION}})

    def start(self) -> None:
        moto = Path(sys.executable).parent / "moto_server"
        env = dict(os.environ, INITIAL_NO_AUTH_ACTION_COUNT=str(self.UNAUTHENTICATED_SETUP_REQUESTS))
        self._process = subprocess.Popen([str(moto), "-H", "127.0.0.1", "-p", str(self.port)], env=env,
                                         stdout=open(self.log_path, "wb"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"moto_server exited: {self.log_path.read_text()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    break
            except OSError:
                time.sleep(0.2)
        else:
            raise RuntimeError(f"moto_server did not answer on {self.endpoint} within 60 s")
        self._create_key()

    def _create_key(self) -> None:
        import json

        import boto3

        iam = boto3.client("iam", endpoint_url=self.endpoint, aws_access_key_id="setup",
                           aws_secret_access_key="setup", region_name=self.REGION)
        iam.create_user(UserName="growthflow")
        iam.put_user_policy(UserName="growthflow", PolicyName="landing-zone", PolicyDocument=json.dumps({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))
        key = iam.create_access_key(UserName="growthflow")["AccessKey"]
        self.access_key, self.secret_key = key["AccessKeyId"], key["SecretAccessKey"]

    def stop(self) -> None:
        if self._process and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()

    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id=self.access_key,
                            aws_secret_access_key=self.secret_key, region_name=self.REGION)

    def new_bucket(self, versioned: bool = True) -> str:
        name = f"landing-{uuid.uuid4().hex[:12]}"
        client = self.client()
        client.create_bucket(Bucket=name)
        if versioned:
            client.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        return name


def use_env(monkeypatch, env: dict[str, str]) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    os.environ.pop("GROWTHFLOW_LANDING_CONN_ID", None)
