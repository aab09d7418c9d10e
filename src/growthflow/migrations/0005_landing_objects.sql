-- The landing zone can be an object store: every object of a partition is
-- accounted for in raw.load_audit, loaded or refused with a reason, and named
-- by its full URL and the store's version (ETag / version id) beside the
-- SHA-256 of the bytes streamed, so that a re-delivered object with the same
-- name but new content shows as such.
ALTER TABLE raw.load_audit
    ADD COLUMN IF NOT EXISTS object_url     text,
    ADD COLUMN IF NOT EXISTS object_version text,
    ADD COLUMN IF NOT EXISTS status         text NOT NULL DEFAULT 'loaded',
    ADD COLUMN IF NOT EXISTS refusal_reason text,
    ADD COLUMN IF NOT EXISTS refusal_detail text,
    ALTER COLUMN file_sha256 DROP NOT NULL;

ALTER TABLE raw.load_audit DROP CONSTRAINT IF EXISTS status_known;
ALTER TABLE raw.load_audit ADD CONSTRAINT status_known CHECK (status IN ('loaded', 'refused'));
-- A refused object names its reason and loads nothing; a loaded one has its checksum.
ALTER TABLE raw.load_audit DROP CONSTRAINT IF EXISTS refusal_has_reason;
ALTER TABLE raw.load_audit ADD CONSTRAINT refusal_has_reason CHECK (
    (status = 'refused' AND refusal_reason IS NOT NULL AND lines_read = 0)
    OR (status = 'loaded' AND refusal_reason IS NULL AND file_sha256 IS NOT NULL));

ALTER TABLE raw.partition_loads ADD COLUMN IF NOT EXISTS objects_refused integer NOT NULL DEFAULT 0;
