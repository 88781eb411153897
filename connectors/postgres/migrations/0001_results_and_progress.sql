-- The pipeline's results (CONTRACT.md §5): the same rows and columns as the API, plus tenant_id,
-- and the source offsets they are consistent with, written in the same transaction.

CREATE TABLE IF NOT EXISTS stock_levels (
    tenant_id    text   NOT NULL,
    warehouse_id text   NOT NULL,
    sku          text   NOT NULL,
    on_hand      bigint NOT NULL,
    reserved     bigint NOT NULL,
    on_order     bigint NOT NULL,
    available    bigint NOT NULL,
    projected    bigint NOT NULL,
    PRIMARY KEY (tenant_id, warehouse_id, sku)
);

CREATE TABLE IF NOT EXISTS reorder_alerts (
    alert_id           text   PRIMARY KEY,
    tenant_id          text   NOT NULL,
    warehouse_id       text   NOT NULL,
    sku                text   NOT NULL,
    status             text   NOT NULL CHECK (status IN ('OPEN', 'RESOLVED')),
    projected          bigint NOT NULL,
    reorder_point      bigint NOT NULL,
    suggested_quantity bigint NOT NULL,
    opened_at          bigint NOT NULL,
    resolved_at        bigint
);
CREATE INDEX IF NOT EXISTS reorder_alerts_by_tenant ON reorder_alerts (tenant_id, status);

CREATE TABLE IF NOT EXISTS settlement_totals (
    tenant_id   text   NOT NULL,
    currency    text   NOT NULL,
    date        date   NOT NULL,
    captured    bigint NOT NULL,
    refunded    bigint NOT NULL,
    chargebacks bigint NOT NULL,
    fees        bigint NOT NULL,
    payouts     bigint NOT NULL,
    net         bigint NOT NULL,
    authorized  bigint NOT NULL,
    PRIMARY KEY (tenant_id, currency, date)
);

-- Per input topic and partition, the next offset the rows above cover.
CREATE TABLE IF NOT EXISTS pipeline_progress (
    topic       text    NOT NULL,
    partition   integer NOT NULL,
    next_offset bigint  NOT NULL,
    PRIMARY KEY (topic, partition)
);

-- The frontier (pipeline time, ms) the rows above are complete up to.
CREATE TABLE IF NOT EXISTS pipeline_frontier (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    as_of     bigint  NOT NULL
);
