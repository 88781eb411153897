-- Event ids as the dedupe remembers them: the first 16 bytes of each id's SHA-256 (its UTF-8
-- bytes), one row per topic and pipeline time with that time's digests concatenated — 16 bytes an
-- id, not its text. Rows written before are converted in place.
ALTER TABLE recovery_event_ids ADD COLUMN digests bytea;
UPDATE recovery_event_ids SET digests = (
    SELECT coalesce(string_agg(substring(sha256(convert_to(event_id, 'UTF8')) FROM 1 FOR 16), ''::bytea), ''::bytea)
    FROM unnest(event_ids) AS stored(event_id)
);
ALTER TABLE recovery_event_ids ALTER COLUMN digests SET NOT NULL;
ALTER TABLE recovery_event_ids DROP COLUMN event_ids;
-- Digests do not compress: stored out of line without trying.
ALTER TABLE recovery_event_ids ALTER COLUMN digests SET STORAGE EXTERNAL;
