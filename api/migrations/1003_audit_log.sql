-- The audit log (README "Audit log", CONTRACT.md §5 "Audit trail"): one hash-chained record per
-- privileged action. hash = SHA-256(prev_hash || canonical JSON of {seq, at, actor, action,
-- tenant_id, details}); the first record's prev_hash is 32 zero bytes. Appends are serialized by
-- a transaction-scoped advisory lock (flowmart_api::audit::AUDIT_LOCK_KEY), so seq has no gaps.
CREATE TABLE IF NOT EXISTS audit_log (
    seq       bigint PRIMARY KEY CHECK (seq >= 1),
    at        bigint NOT NULL,
    actor     text   NOT NULL,
    action    text   NOT NULL,
    tenant_id text,
    details   jsonb  NOT NULL,
    prev_hash bytea  NOT NULL CHECK (length(prev_hash) = 32),
    hash      bytea  NOT NULL CHECK (length(hash) = 32)
);
CREATE INDEX IF NOT EXISTS audit_log_by_tenant ON audit_log (tenant_id, seq);

-- Append-only: a record, once written, is never updated or deleted (nor the table truncated).
-- Only a superuser disabling the trigger gets past it, and then the chain shows it.
CREATE OR REPLACE FUNCTION audit_log_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$;
DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change();
DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log;
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change();
