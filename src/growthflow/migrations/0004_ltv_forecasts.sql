-- Nightly LTV runs: one row per run with its settings, data snapshot and diagnostics.
CREATE TABLE IF NOT EXISTS ltv.model_runs (
    run_id          text        PRIMARY KEY,
    as_of_date      date        NOT NULL,
    model_version   text        NOT NULL,
    status          text        NOT NULL CHECK (status IN ('published', 'rejected', 'failed')),
    reason          text,
    settings        jsonb       NOT NULL,  -- method, draws, tune, chains, seed, time unit, thresholds
    data_snapshot   text        NOT NULL,  -- sha256 of the model input rows
    customers       bigint      NOT NULL,
    input_rows      bigint      NOT NULL,
    campaigns       integer     NOT NULL,
    diagnostics     jsonb       NOT NULL,  -- R-hat, bulk ESS, divergences
    library_versions jsonb      NOT NULL,
    fit_seconds     double precision,
    posterior_path  text,
    started_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz
);

-- Forecasts per as-of date, campaign, basis and horizon. A night replaces its as-of
-- date in one transaction, so readers see last night's rows until tonight's are complete.
CREATE TABLE IF NOT EXISTS ltv.campaign_forecasts (
    as_of_date           date    NOT NULL,
    campaign_id          text    NOT NULL,
    basis                text    NOT NULL CHECK (basis IN ('since_acquisition', 'from_as_of')),
    horizon_days         integer NOT NULL,
    users                bigint  NOT NULL,
    expected_purchases   double precision NOT NULL,
    revenue_observed_krw double precision NOT NULL,
    revenue_p10_krw      double precision NOT NULL,
    revenue_p50_krw      double precision NOT NULL,
    revenue_p90_krw      double precision NOT NULL,
    revenue_per_user_p10_krw double precision,
    revenue_per_user_p50_krw double precision,
    revenue_per_user_p90_krw double precision,
    spend_krw            double precision NOT NULL,
    roas_p10             double precision,
    roas_p50             double precision,
    roas_p90             double precision,
    payback_day          integer,  -- days after acquisition; null: not within 365 days
    model_version        text    NOT NULL,
    run_id               text    NOT NULL REFERENCES ltv.model_runs (run_id),
    PRIMARY KEY (as_of_date, campaign_id, basis, horizon_days)
);
