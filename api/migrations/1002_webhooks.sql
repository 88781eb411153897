-- Tenants' webhooks: where to post, the signing secret (needed in the clear to sign), and the
-- number of the last alert change whose delivery finished, so a restarted API goes on from there.
CREATE TABLE IF NOT EXISTS webhooks (
    webhook_id      text   PRIMARY KEY,
    tenant_id       text   NOT NULL,
    url             text   NOT NULL,
    secret          text   NOT NULL,
    created_at      bigint NOT NULL,
    delivered_up_to bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS webhooks_by_tenant ON webhooks (tenant_id);
