-- Lineage (CONTRACT.md §5, "Audit trail"): one row per (record, result it changed), appended in
-- the transaction of the batch that applied the record. Times are ms of pipeline time
-- (applied_at) or of the record (occurred_at); applied_day is applied_at's UTC date.
--
-- Partitioned by applied_day: the sink creates each day's partition (stock_history_YYYYMMDD,
-- settlement_history_YYYYMMDD) in the transaction of the first batch that needs it, and
-- `[retention] history_days` drops whole expired partitions. Append-only: a trigger refuses UPDATE
-- and DELETE (dropping a whole partition stays possible).

CREATE TABLE IF NOT EXISTS stock_history (
    tenant_id      text    NOT NULL,
    warehouse_id   text    NOT NULL,
    sku            text    NOT NULL,
    event_id       text    NOT NULL,
    topic          text    NOT NULL,
    partition      integer NOT NULL,
    "offset"       bigint  NOT NULL,
    kind           text    NOT NULL,
    on_hand_delta  bigint  NOT NULL,
    reserved_delta bigint  NOT NULL,
    on_order_delta bigint  NOT NULL,
    occurred_at    bigint  NOT NULL,
    applied_at     bigint  NOT NULL,
    applied_day    date    NOT NULL
) PARTITION BY RANGE (applied_day);

-- A position's history, oldest first (the history route's query).
CREATE INDEX IF NOT EXISTS stock_history_by_position
    ON stock_history (tenant_id, warehouse_id, sku, applied_at);

CREATE TABLE IF NOT EXISTS settlement_history (
    tenant_id       text    NOT NULL,
    currency        text    NOT NULL,
    settlement_date date    NOT NULL,
    event_id        text    NOT NULL,
    topic           text    NOT NULL,
    partition       integer NOT NULL,
    "offset"        bigint  NOT NULL,
    kind            text    NOT NULL,
    amount_minor    bigint  NOT NULL,
    occurred_at     bigint  NOT NULL,
    applied_at      bigint  NOT NULL,
    applied_day     date    NOT NULL
) PARTITION BY RANGE (applied_day);

-- A settlement row's history, oldest first.
CREATE INDEX IF NOT EXISTS settlement_history_by_settlement
    ON settlement_history (tenant_id, currency, settlement_date, applied_at);

CREATE OR REPLACE FUNCTION history_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused (drop a whole partition to forget history)', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;

-- On the partitioned tables, so every partition (present and future) gets them.
CREATE OR REPLACE TRIGGER stock_history_append_only
    BEFORE UPDATE OR DELETE ON stock_history
    FOR EACH ROW EXECUTE FUNCTION history_is_append_only();
CREATE OR REPLACE TRIGGER settlement_history_append_only
    BEFORE UPDATE OR DELETE ON settlement_history
    FOR EACH ROW EXECUTE FUNCTION history_is_append_only();
