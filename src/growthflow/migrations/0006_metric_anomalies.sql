-- Metric-rot findings are data-quality results too (category 'anomaly', severity
-- 'warn'): a KPI series of one segment outside the range its own history predicts.
-- They name the segment and the expected range beside the observed value.
ALTER TABLE dq.validation_results DROP CONSTRAINT IF EXISTS validation_results_category_check;
ALTER TABLE dq.validation_results ADD CONSTRAINT validation_results_category_check
    CHECK (category IN ('missing', 'wrong', 'duplicate', 'anomaly'));
ALTER TABLE dq.validation_results
    ADD COLUMN IF NOT EXISTS segment        text,
    ADD COLUMN IF NOT EXISTS expected_value double precision,
    ADD COLUMN IF NOT EXISTS expected_low   double precision,
    ADD COLUMN IF NOT EXISTS expected_high  double precision;
CREATE INDEX IF NOT EXISTS validation_results_anomalies ON dq.validation_results (check_id, period_end)
    WHERE category = 'anomaly';
