"""The shared failure notifier: Slack through the provider's SlackWebhookNotifier, de-duplication in the
warehouse, backoff on errors, and never an exception into the pipeline."""

from __future__ import annotations


from growthflow import alerts
from growthflow.alerts import Alert, deliver, first_in_window, notify_failure


def _alert(reason="boom") -> Alert:
    return Alert(key=f"ingest_raw_logs.load_events:{reason}", text=f"ALERT ingest_raw_logs.load_events: {reason}")


def test_same_alert_is_sent_once_per_window(warehouse):
    alert = _alert("dedupe")
    assert first_in_window(warehouse, alert, 60) is True
    assert first_in_window(warehouse, alert, 60) is False
    assert first_in_window(warehouse, _alert("another reason"), 60) is True
    assert first_in_window(warehouse, alert, 0) is True  # the window has passed


def test_deduplication_fails_open_when_the_warehouse_is_down():
    assert first_in_window("postgresql://nobody@127.0.0.1:1/none", _alert(), 60) is True


def test_slack_alert_retries_with_backoff_then_arrives_once(webhook, warehouse):
    webhook.statuses = [500, 500]
    assert deliver(_alert("flaky slack"), warehouse, first_wait=0.01) == "sent"
    assert len(webhook.received) == 3 and webhook.received[-1].startswith("ALERT")
    assert deliver(_alert("flaky slack"), warehouse, first_wait=0.01) == "suppressed"
    assert len(webhook.received) == 3


def test_a_broken_slack_never_fails_the_pipeline(webhook, warehouse):
    webhook.statuses = [500] * 10
    assert deliver(_alert("slack down"), warehouse, first_wait=0.01) == "failed"
    assert len(webhook.received) == 4


def test_without_a_slack_connection_alerts_go_to_the_log(monkeypatch, caplog):
    monkeypatch.delenv("AIRFLOW_CONN_GROWTHFLOW_SLACK", raising=False)
    with caplog.at_level("ERROR", logger="growthflow.alerts"):
        assert deliver(_alert("log only"), None) == "logged"
    assert "ALERT ingest_raw_logs.load_events: log only" in caplog.text


def test_the_callback_swallows_its_own_errors(monkeypatch):
    monkeypatch.setattr(alerts, "deliver", lambda *a, **k: 1 / 0)
    notify_failure({"exception": RuntimeError("x")})  # must not raise


def test_alert_key_ignores_the_run_but_not_the_reason():
    class TI:
        dag_id, task_id, try_number = "d", "t", 1

        def __init__(self, run_id):
            self.run_id = run_id

    a = alerts.alert_from_context({"ti": TI("r1"), "exception": ValueError("disk full")})
    b = alerts.alert_from_context({"ti": TI("r2"), "exception": ValueError("disk full")})
    c = alerts.alert_from_context({"ti": TI("r2"), "exception": ValueError("bad row")})
    assert a.key == b.key != c.key and "run=r1" in a.text
