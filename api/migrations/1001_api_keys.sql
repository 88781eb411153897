-- Tenant API keys (CONTRACT.md §4): only each key's SHA-256 digest is stored. Numbered from 1001 so
-- that these migrations (the API's) and the sink's share the database without clashing.
CREATE TABLE IF NOT EXISTS api_keys (
    key_id     text        PRIMARY KEY,
    tenant_id  text        NOT NULL,
    key_digest bytea       NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);
CREATE INDEX IF NOT EXISTS api_keys_by_tenant ON api_keys (tenant_id);
