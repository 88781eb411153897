-- What a restarted pipeline recovers its operator state from, besides the result tables; written
-- in the same transaction as the results (sinks/src/postgres/commit.rs). Not part of the contract:
-- only the pipeline reads these tables.

-- How many input records count towards each position and settlement key: a position whose
-- count drops to zero leaves stock_levels.
CREATE TABLE IF NOT EXISTS recovery_stock_records (
    tenant_id    text   NOT NULL,
    warehouse_id text   NOT NULL,
    sku          text   NOT NULL,
    records      bigint NOT NULL,
    PRIMARY KEY (tenant_id, warehouse_id, sku)
);

CREATE TABLE IF NOT EXISTS recovery_settlement_payments (
    tenant_id text   NOT NULL,
    currency  text   NOT NULL,
    date      date   NOT NULL,
    payments  bigint NOT NULL,
    PRIMARY KEY (tenant_id, currency, date)
);

-- The current version of every order changed within the order retention, and when it changed.
CREATE TABLE IF NOT EXISTS recovery_orders (
    tenant_id  text    NOT NULL,
    order_id   text    NOT NULL,
    state      jsonb   NOT NULL, -- version, status and lines (flowmart_operators::order_upsert::OrderState)
    changed_at bigint  NOT NULL,
    PRIMARY KEY (tenant_id, order_id)
);
CREATE INDEX IF NOT EXISTS recovery_orders_by_change ON recovery_orders (changed_at);

-- The current reorder policy per position.
CREATE TABLE IF NOT EXISTS recovery_policies (
    tenant_id        text    NOT NULL,
    warehouse_id     text    NOT NULL,
    sku              text    NOT NULL,
    reorder_point    bigint  NOT NULL,
    reorder_quantity bigint  NOT NULL,
    max_level        bigint,
    order_multiple   bigint,
    lead_time_days   integer,
    PRIMARY KEY (tenant_id, warehouse_id, sku)
);

-- Event ids of the deduplicated topics, per topic and the pipeline time they were read at,
-- kept for the event-id retention.
CREATE TABLE IF NOT EXISTS recovery_event_ids (
    topic     text   NOT NULL,
    seen_at   bigint NOT NULL,
    event_ids text[] NOT NULL,
    PRIMARY KEY (topic, seen_at)
);

-- The last 65,536 alert changes, numbered, with the frontier of the batch that committed them.
-- The last batch's may not be on the alerts topic yet: a restart publishes those that are not.
-- All of them seed a restarted serving index, so streams and webhooks resume across restarts.
CREATE TABLE IF NOT EXISTS alert_outbox (
    sequence           bigint PRIMARY KEY,
    committed_as_of    bigint NOT NULL,
    alert_id           text   NOT NULL,
    tenant_id          text   NOT NULL,
    warehouse_id       text   NOT NULL,
    sku                text   NOT NULL,
    status             text   NOT NULL,
    projected          bigint NOT NULL,
    reorder_point      bigint NOT NULL,
    suggested_quantity bigint NOT NULL,
    changed_at         bigint NOT NULL
);

-- How many alert changes the results hold (the number of the last one).
ALTER TABLE pipeline_frontier ADD COLUMN IF NOT EXISTS alert_changes bigint NOT NULL DEFAULT 0;

-- Rows of these tables are rewritten on every change of their key: room on each page lets
-- Postgres update them in place (HOT) without touching the primary-key index.
ALTER TABLE stock_levels SET (fillfactor = 80);
ALTER TABLE recovery_stock_records SET (fillfactor = 80);
ALTER TABLE settlement_totals SET (fillfactor = 80);
ALTER TABLE recovery_settlement_payments SET (fillfactor = 80);
