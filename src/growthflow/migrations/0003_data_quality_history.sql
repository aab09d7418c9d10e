-- One row per expectation per validation run: the history BI charts read
-- (through marts.dq_daily) and engineers query when a check starts failing.
CREATE TABLE IF NOT EXISTS dq.validation_results (
    run_id             text        NOT NULL,  -- Airflow run id, or a CLI run id
    dag_id             text,
    layer              text        NOT NULL,  -- raw | staging | core | marts
    suite              text        NOT NULL,
    table_name         text        NOT NULL,
    check_id           text        NOT NULL,  -- stable id of the expectation in expectations/*.yml
    expectation_type   text        NOT NULL,
    column_name        text,
    category           text        NOT NULL CHECK (category IN ('missing', 'wrong', 'duplicate')),
    severity           text        NOT NULL CHECK (severity IN ('fail', 'warn')),
    success            boolean     NOT NULL,
    period_start       date        NOT NULL,  -- first delivery date (or day) the batch covers
    period_end         date        NOT NULL,
    element_count      bigint,
    unexpected_count   bigint,
    unexpected_percent double precision,
    observed_value     text,
    sample_values      jsonb,
    exception          text,
    checked_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, suite, check_id, period_start)
);
CREATE INDEX IF NOT EXISTS validation_results_period ON dq.validation_results (period_end, layer);

-- Alerts sent, for the notifier's de-duplication window: one row per alert key.
-- Kept in the warehouse so that every worker of a multi-machine deployment sees it.
CREATE TABLE IF NOT EXISTS dq.alert_log (
    alert_key    text        PRIMARY KEY,
    last_sent_at timestamptz NOT NULL,
    times_seen   bigint      NOT NULL DEFAULT 1,
    last_message text        NOT NULL
);
