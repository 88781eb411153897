-- How many alert changes are known to be on the alerts topic: the changes of every batch before
-- the last one committed (the runtime hands a batch to Postgres only once every sink took the
-- batch before it, the alert sink included). A restart publishes exactly the outbox rows above
-- it. NULL for a database written before this column existed: then the last commit's changes are
-- the ones to check.
ALTER TABLE pipeline_frontier ADD COLUMN IF NOT EXISTS alerts_published bigint;
