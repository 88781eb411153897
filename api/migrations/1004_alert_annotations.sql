-- Procurement's acknowledgements and snoozes of reorder alerts (CONTRACT.md §4), one row per
-- annotated alert (a new crossing is a new alert id). Times in ms since the epoch, as the API
-- shows them. Rows of alerts resolved longer ago than the retention of resolved alerts (or unknown
-- to the sink in the same database) are deleted when an API starts.
CREATE TABLE IF NOT EXISTS alert_annotations (
    tenant_id       text   NOT NULL,
    alert_id        text   NOT NULL,
    acknowledged_at bigint,
    acknowledged_by text,
    note            text,
    snoozed_until   bigint,
    PRIMARY KEY (tenant_id, alert_id)
);
