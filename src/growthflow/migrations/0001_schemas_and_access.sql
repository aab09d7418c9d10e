-- Layers of the warehouse, in the order data flows through them.
CREATE SCHEMA IF NOT EXISTS raw;      -- landed source records, one partition per delivery date
CREATE SCHEMA IF NOT EXISTS staging;  -- dbt: typed, de-duplicated
CREATE SCHEMA IF NOT EXISTS marts;    -- dbt: core facts/dimensions and KPI marts (the only schema BI reads)
CREATE SCHEMA IF NOT EXISTS dq;       -- data-quality rejects and validation history
CREATE SCHEMA IF NOT EXISTS ltv;      -- LTV model runs and forecasts

-- BI reads marts and nothing else: usage on marts, select on every table there
-- now and on every table the owner creates later (default privileges).
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'bi_reader') THEN
        REVOKE ALL ON SCHEMA public FROM bi_reader;
        REVOKE CREATE ON SCHEMA public FROM PUBLIC;
        GRANT USAGE ON SCHEMA marts TO bi_reader;
        GRANT SELECT ON ALL TABLES IN SCHEMA marts TO bi_reader;
        ALTER DEFAULT PRIVILEGES IN SCHEMA marts GRANT SELECT ON TABLES TO bi_reader;
    END IF;
END
$$;
