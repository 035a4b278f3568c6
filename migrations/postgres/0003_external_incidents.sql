-- Incidents that mirror a PagerDuty incident or stand for a ticket, and the webhook deliveries
-- already processed (so a redelivery is acknowledged without being applied twice).

ALTER TABLE incidents ADD COLUMN origin TEXT NOT NULL DEFAULT 'events';
ALTER TABLE incidents ADD COLUMN origin_source TEXT;      -- the configured webhook source
ALTER TABLE incidents ADD COLUMN external_id TEXT;        -- PagerDuty incident id, ticket id
ALTER TABLE incidents ADD COLUMN external_url TEXT;
ALTER TABLE incidents ADD COLUMN description TEXT;
ALTER TABLE incidents ADD COLUMN labels TEXT;             -- JSON array of strings
CREATE UNIQUE INDEX incidents_by_external_id ON incidents (origin, origin_source, external_id);

CREATE TABLE webhook_deliveries (
    source      TEXT NOT NULL,
    delivery_id TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    PRIMARY KEY (source, delivery_id)
);
