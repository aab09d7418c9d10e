-- Raw landed records. Every source has the same shape: the original record as
-- jsonb (CSV rows become an object keyed by the header) plus lineage columns.
-- Tables are LIST-partitioned by delivery date so that reloading a date is a
-- TRUNCATE of one partition inside the load transaction.
CREATE TABLE IF NOT EXISTS raw.events (
    delivery_date date        NOT NULL,
    source_file   text        NOT NULL,
    line_number   integer     NOT NULL,
    load_id       uuid        NOT NULL,
    loaded_at     timestamptz NOT NULL DEFAULT now(),
    record        jsonb       NOT NULL,
    PRIMARY KEY (delivery_date, source_file, line_number)
) PARTITION BY LIST (delivery_date);

CREATE TABLE IF NOT EXISTS raw.payments (LIKE raw.events INCLUDING DEFAULTS INCLUDING CONSTRAINTS,
    PRIMARY KEY (delivery_date, source_file, line_number)) PARTITION BY LIST (delivery_date);
CREATE TABLE IF NOT EXISTS raw.ad_spend (LIKE raw.events INCLUDING DEFAULTS INCLUDING CONSTRAINTS,
    PRIMARY KEY (delivery_date, source_file, line_number)) PARTITION BY LIST (delivery_date);
CREATE TABLE IF NOT EXISTS raw.campaigns (LIKE raw.events INCLUDING DEFAULTS INCLUDING CONSTRAINTS,
    PRIMARY KEY (delivery_date, source_file, line_number)) PARTITION BY LIST (delivery_date);

-- Lines that cannot be stored as a record, with the reason and original bytes.
CREATE TABLE IF NOT EXISTS raw.quarantine (
    source         text        NOT NULL,
    delivery_date  date        NOT NULL,
    source_file    text        NOT NULL,
    line_number    integer     NOT NULL,
    load_id        uuid        NOT NULL,
    reason         text        NOT NULL,
    detail         text,
    raw_line       bytea       NOT NULL,
    raw_bytes      bigint      NOT NULL,  -- length of the original line (raw_line may hold a capped copy)
    quarantined_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, delivery_date, source_file, line_number)
);

-- One row per loaded file: the counts must balance, or the load fails.
CREATE TABLE IF NOT EXISTS raw.load_audit (
    source           text        NOT NULL,
    delivery_date    date        NOT NULL,
    source_file      text        NOT NULL,
    load_id          uuid        NOT NULL,
    file_bytes       bigint      NOT NULL,
    file_sha256      text        NOT NULL,
    lines_read       integer     NOT NULL,
    rows_loaded      integer     NOT NULL,
    rows_quarantined integer     NOT NULL,
    truncated        boolean     NOT NULL DEFAULT false,
    loaded_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, delivery_date, source_file),
    CONSTRAINT counts_balance CHECK (lines_read = rows_loaded + rows_quarantined)
);

-- One row per (source, delivery date) load: what downstream reads to know a
-- partition is in, and which run put it there.
CREATE TABLE IF NOT EXISTS raw.partition_loads (
    source           text        NOT NULL,
    delivery_date    date        NOT NULL,
    load_id          uuid        NOT NULL,
    run_id           text,
    files            integer     NOT NULL,
    lines_read       bigint      NOT NULL,
    rows_loaded      bigint      NOT NULL,
    rows_quarantined bigint      NOT NULL,
    seconds          numeric     NOT NULL,
    loaded_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, delivery_date)
);

-- Partition maintenance lives here, not in task code: loaders call this
-- function, which creates the delivery date's partition once.
CREATE OR REPLACE FUNCTION raw.ensure_partition(parent text, day date) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    child text := format('%s_%s', parent, to_char(day, 'YYYYMMDD'));
BEGIN
    IF parent NOT IN ('events', 'payments', 'ad_spend', 'campaigns') THEN
        RAISE EXCEPTION 'unknown raw table %', parent;
    END IF;
    IF to_regclass(format('raw.%I', child)) IS NULL THEN
        BEGIN
            EXECUTE format('CREATE TABLE raw.%I PARTITION OF raw.%I FOR VALUES IN (%L)', child, parent, day);
        EXCEPTION WHEN duplicate_table THEN
            NULL;  -- a concurrent load created it first
        END;
    END IF;
    RETURN format('raw.%I', child);
END
$$;
