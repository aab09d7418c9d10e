"""A small client for Airflow's stable REST API (v2), used by the main command
to unpause DAGs, create backfills and follow runs. Standard library only."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request

from growthflow.errors import ServiceUnavailable


class AirflowAPI:
    def __init__(self, base_url: str, username: str, password: str):
        self.base_url = base_url.rstrip("/")
        self._credentials = {"username": username, "password": password}
        self._token: str | None = None

    def _request(self, method: str, path: str, body: dict | None = None, auth: bool = True):
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if auth:
            headers["Authorization"] = f"Bearer {self.token()}"
        request = urllib.request.Request(f"{self.base_url}{path}", data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                raw = response.read()
                return json.loads(raw) if raw else None
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:300]
            raise ServiceUnavailable(f"Airflow API {method} {path} answered {exc.code}: {detail}") from None
        except urllib.error.URLError as exc:
            raise ServiceUnavailable(f"Airflow API at {self.base_url} unreachable ({exc.reason}); "
                                     "start it with `bin/growthflow up`") from None

    def token(self) -> str:
        if self._token is None:
            answer = self._request("POST", "/auth/token", self._credentials, auth=False)
            self._token = answer["access_token"]
        return self._token

    def wait_for_dag(self, dag_id: str, timeout: float = 180) -> dict:
        """Wait until the dag-processor has parsed ``dag_id``."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self._request("GET", f"/api/v2/dags/{dag_id}")
            except ServiceUnavailable as exc:
                if "404" not in str(exc) or time.monotonic() > deadline:
                    raise
            time.sleep(2)

    def import_errors(self) -> list[dict]:
        return self._request("GET", "/api/v2/importErrors").get("import_errors", [])

    def set_paused(self, dag_id: str, paused: bool) -> None:
        self._request("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": paused})

    def create_backfill(self, dag_id: str, from_date: str, to_date: str, max_active_runs: int = 8) -> dict:
        """A backfill over the range that creates the runs that do not exist and reruns failed ones;
        runs that succeeded are left alone."""
        return self._request("POST", "/api/v2/backfills", {
            "dag_id": dag_id, "from_date": from_date, "to_date": to_date, "run_backwards": False,
            "dag_run_conf": {}, "reprocess_behavior": "failed", "max_active_runs": max_active_runs})

    def running_backfill(self, dag_id: str) -> dict | None:
        """The DAG's backfill that has not completed yet (Airflow runs at most one per DAG)."""
        query = urllib.parse.urlencode({"dag_id": dag_id, "order_by": "-id", "limit": 10})
        answer = self._request("GET", f"/api/v2/backfills?{query}")
        return next((b for b in answer.get("backfills", []) if not b.get("completed_at")), None)

    def cancel_backfill(self, backfill_id: int) -> None:
        self._request("PUT", f"/api/v2/backfills/{backfill_id}/cancel")

    def trigger(self, dag_id: str, conf: dict) -> dict:
        return self._request("POST", f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": conf})

    def dag_runs(self, dag_id: str, logical_date_gte: str, logical_date_lte: str) -> list[dict]:
        query = urllib.parse.urlencode({"logical_date_gte": logical_date_gte, "logical_date_lte": logical_date_lte,
                                        "limit": 1000})
        return self._request("GET", f"/api/v2/dags/{dag_id}/dagRuns?{query}")["dag_runs"]

    def recent_runs(self, dag_id: str, limit: int = 20) -> list[dict]:
        query = urllib.parse.urlencode({"order_by": "-run_after", "limit": limit})
        return self._request("GET", f"/api/v2/dags/{dag_id}/dagRuns?{query}")["dag_runs"]

    def schedule_expression(self, dag_id: str) -> dict | None:
        """The DAG's Asset schedule as Airflow serialises it ({"all": [...]}, {"asset": {...}}, ...)."""
        return self._request("GET", f"/api/v2/dags/{dag_id}/details").get("asset_expression")

    def asset_names(self) -> dict[int, str]:
        answer = self._request("GET", "/api/v2/assets?limit=1000")
        return {asset["id"]: asset["name"] for asset in answer["assets"]}

    def queued_asset_ids(self, dag_id: str) -> set[int]:
        """Assets with an event the DAG has not been triggered by yet."""
        answer = self._request("GET", f"/api/v2/dags/{dag_id}/assets/queuedEvents")
        return {event["asset_id"] for event in answer["queued_events"]}

    def failed_tasks(self, dag_id: str, run_id: str) -> list[str]:
        quoted = urllib.parse.quote(run_id, safe="")
        answer = self._request("GET", f"/api/v2/dags/{dag_id}/dagRuns/{quoted}/taskInstances?state=failed")
        return [ti["task_id"] for ti in answer.get("task_instances", [])]
