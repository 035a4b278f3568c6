-- Dedup keys are random, so each index on them costs every new alert a write to a random page. The alerts' two
-- indexes now lead with the dedup key, and they alone answer lookups by dedup key: every incident and event that came
-- from an alert has an alert with that key. Only incidents and events without an alert (mirrors, tickets, events
-- dropped, held or silenced) keep an index on the key of their own.

-- An alert resolved before resolve times were kept would be in neither alerts index.
UPDATE alerts SET resolved_at = created_at WHERE status = 'resolved' AND resolved_at IS NULL;

DROP INDEX alerts_open;
CREATE UNIQUE INDEX alerts_open ON alerts (dedup_key, integration_key) WHERE status <> 'resolved';
DROP INDEX alerts_resolved;
CREATE INDEX alerts_resolved ON alerts (dedup_key, integration_key, resolved_at) WHERE resolved_at IS NOT NULL;

DROP INDEX incidents_by_dedup_key;
CREATE INDEX incidents_by_dedup_key ON incidents (dedup_key) WHERE origin <> 'events';
DROP INDEX events_by_dedup_key;
CREATE INDEX events_by_dedup_key ON events (dedup_key, id) WHERE alert_id IS NULL;
