"""One failure notifier shared by every DAG: task failures, sensor timeouts, `fail` checks.

Every alert is written to the task log. When an Airflow connection named
``growthflow_slack`` (an Incoming Webhook; override with ``GROWTHFLOW_SLACK_CONN_ID``)
exists, it also goes to Slack through the Slack provider's ``SlackWebhookNotifier``.
The same alert (same DAG, task and reason) is sent at most once per window
(``GROWTHFLOW_ALERT_WINDOW_MINUTES``, default 60), tracked in ``dq.alert_log`` so
every worker agrees. Server errors, rate limits and connection errors are retried
by slack_sdk's own retry handlers with exponential backoff, then given up: a
notifier never fails the pipeline it reports on.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

import psycopg

from growthflow.config import load_settings
from growthflow.connections import warehouse_conninfo

log = logging.getLogger("growthflow.alerts")

#: Retries after the first attempt when Slack answers 5xx or 429 or cannot be reached.
SLACK_RETRIES = 3


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


def slack_notifier(conn_id: str, text: str, first_wait: float = 1.0):
    """The provider's notifier for ``text``, or None when the connection does not exist."""
    try:
        from airflow.sdk import BaseHook

        BaseHook.get_connection(conn_id)
    except Exception:  # noqa: BLE001 - no such connection: log-only alerts
        return None
    from airflow.providers.slack.notifications.slack_webhook import SlackWebhookNotifier
    from slack_sdk.http_retry.builtin_handlers import (ConnectionErrorRetryHandler, RateLimitErrorRetryHandler,
                                                       ServerErrorRetryHandler)
    from slack_sdk.http_retry.builtin_interval_calculators import BackoffRetryIntervalCalculator

    backoff = BackoffRetryIntervalCalculator(backoff_factor=first_wait)
    handlers = [ServerErrorRetryHandler(max_retry_count=SLACK_RETRIES, interval_calculator=backoff),
                RateLimitErrorRetryHandler(max_retry_count=SLACK_RETRIES),
                ConnectionErrorRetryHandler(max_retry_count=SLACK_RETRIES, interval_calculator=backoff)]
    return SlackWebhookNotifier(slack_webhook_conn_id=conn_id, text=text, retry_handlers=handlers, timeout=30)


def deliver(alert: Alert, conninfo: str | None, slack_conn_id: str | None = None,
            first_wait: float = 1.0, window_minutes: int | None = None) -> str:
    """Log the alert, then send it to Slack if configured and not a repeat. Returns what happened.

    ``window_minutes`` overrides ``GROWTHFLOW_ALERT_WINDOW_MINUTES`` for alerts whose key
    already names one occurrence (a metric-rot incident by its first day).
    """
    log.error("%s", alert.text)
    settings = load_settings()
    window = settings.alert_window_minutes if window_minutes is None else window_minutes
    notifier = slack_notifier(slack_conn_id or settings.slack_conn_id, alert.text, first_wait)
    if notifier is None:
        return "logged"
    if not first_in_window(conninfo, alert, window):
        log.info("same alert already sent within %d minutes; not repeated", window)
        return "suppressed"
    try:
        # notify() sends the text as is: the alert quotes error messages, which must not be rendered as Jinja.
        notifier.notify({})
        return "sent"
    except Exception as exc:  # noqa: BLE001 - a notifier must not fail the task it reports on
        log.error("alert not delivered after %d retries: %s", SLACK_RETRIES, str(exc).splitlines()[0][:300])
        return "failed"


def notify_failure(context) -> None:
    """Airflow ``on_failure_callback`` for every task of every DAG; never raises."""
    try:
        alert = alert_from_context(context)
        try:
            conninfo = warehouse_conninfo()
        except Exception:  # noqa: BLE001 - no warehouse connection: no de-duplication
            conninfo = None
        deliver(alert, conninfo)
    except Exception:  # noqa: BLE001
        log.exception("growthflow alert could not be delivered")
