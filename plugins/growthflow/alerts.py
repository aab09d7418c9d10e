"""One failure notifier shared by every DAG: task failures, sensor timeouts, `fail` checks.

Every alert is written to the task log. When an Airflow connection named
``growthflow_slack`` (an Incoming Webhook; override with ``GROWTHFLOW_SLACK_CONN_ID``)
exists, it also goes to Slack through the Slack provider's hook. The same alert
(same DAG, task and reason) is sent at most once per window
(``GROWTHFLOW_ALERT_WINDOW_MINUTES``, default 60), tracked in ``dq.alert_log`` so
every worker agrees. Slack errors are retried with exponential backoff and then
given up: a notifier never fails the pipeline it reports on.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass

import psycopg
from tenacity import Retrying, stop_after_attempt, wait_exponential

log = logging.getLogger("growthflow.alerts")

DEFAULT_SLACK_CONN_ID = "growthflow_slack"


@dataclass(frozen=True)
class Alert:
    key: str  # what makes two alerts "the same": DAG, task and reason, not the run
    text: str


def alert_from_context(context) -> Alert:
    ti = context.get("task_instance") or context.get("ti")
    dag_id = getattr(ti, "dag_id", "?")
    task_id = getattr(ti, "task_id", "?")
    run_id = getattr(ti, "run_id", context.get("run_id", "?"))
    try_number = getattr(ti, "try_number", "?")
    exc = context.get("exception")
    reason = str(exc).strip().splitlines()[-1] if exc and str(exc).strip() else type(exc).__name__ if exc else "failed"
    digest = hashlib.sha1(f"{dag_id}\0{task_id}\0{type(exc).__name__}\0{reason}".encode()).hexdigest()[:16]
    return Alert(key=f"{dag_id}.{task_id}:{digest}",
                 text=f"ALERT {dag_id}.{task_id} run={run_id} try={try_number}: {reason}")


def window_minutes() -> int:
    try:
        return max(0, int(os.environ.get("GROWTHFLOW_ALERT_WINDOW_MINUTES", "60")))
    except ValueError:
        log.warning("GROWTHFLOW_ALERT_WINDOW_MINUTES is not a number; using 60")
        return 60


def first_in_window(conninfo: str | None, alert: Alert, minutes: int) -> bool:
    """True if this alert was not sent in the last ``minutes``; records it as sent.

    One atomic upsert, so two workers failing at once send one alert. When the
    warehouse cannot be reached the answer is True: a repeated alert beats a lost one.
    """
    if not conninfo:
        return True
    try:
        with psycopg.connect(conninfo, connect_timeout=5) as conn:
            row = conn.execute(
                """insert into dq.alert_log as seen (alert_key, last_sent_at, last_message)
                   values (%(key)s, now(), %(text)s)
                   on conflict (alert_key) do update set
                       times_seen = seen.times_seen + 1,
                       last_message = excluded.last_message,
                       last_sent_at = case when seen.last_sent_at <= now() - make_interval(mins => %(minutes)s)
                                           then now() else seen.last_sent_at end
                   returning last_sent_at = now()""",
                {"key": alert.key, "text": alert.text, "minutes": minutes},
            ).fetchone()
        return bool(row[0])
    except Exception as exc:  # noqa: BLE001 - de-duplication is best effort
        log.warning("alert de-duplication unavailable (%s); sending anyway", str(exc).splitlines()[0][:200])
        return True


def send_with_backoff(send, text: str, attempts: int = 4, first_wait: float = 1.0) -> bool:
    """Call ``send(text)``, retrying with exponential backoff; never raises."""
    try:
        for attempt in Retrying(stop=stop_after_attempt(attempts), reraise=True,
                                wait=wait_exponential(multiplier=first_wait, max=30)):
            with attempt:
                send(text)
        return True
    except Exception as exc:  # noqa: BLE001 - a notifier must not fail the task it reports on
        log.error("alert not delivered after %d attempts: %s", attempts, str(exc).splitlines()[0][:300])
        return False


def slack_sender(conn_id: str):
    """A ``send(text)`` for the Slack webhook connection, or None when it is not configured."""
    try:
        from airflow.providers.slack.hooks.slack_webhook import SlackWebhookHook
        from airflow.sdk import BaseHook

        BaseHook.get_connection(conn_id)
    except Exception:  # noqa: BLE001 - no such connection: log-only alerts
        return None

    def send(text: str) -> None:
        SlackWebhookHook(slack_webhook_conn_id=conn_id).send_text(text)

    return send


def deliver(alert: Alert, conninfo: str | None, slack_conn_id: str | None = None,
            first_wait: float = 1.0) -> str:
    """Log the alert, then send it to Slack if configured and not a repeat. Returns what happened."""
    log.error("%s", alert.text)
    send = slack_sender(slack_conn_id or os.environ.get("GROWTHFLOW_SLACK_CONN_ID", DEFAULT_SLACK_CONN_ID))
    if send is None:
        return "logged"
    if not first_in_window(conninfo, alert, window_minutes()):
        log.info("same alert already sent within %d minutes; not repeated", window_minutes())
        return "suppressed"
    return "sent" if send_with_backoff(send, alert.text, first_wait=first_wait) else "failed"


def notify_failure(context) -> None:
    """Airflow ``on_failure_callback`` for every task of every DAG; never raises."""
    try:
        alert = alert_from_context(context)
        try:
            from growthflow.airflow_support import warehouse_conninfo

            conninfo = warehouse_conninfo()
        except Exception:  # noqa: BLE001 - no warehouse connection: no de-duplication
            conninfo = None
        deliver(alert, conninfo)
    except Exception:  # noqa: BLE001
        log.exception("growthflow alert could not be delivered")
