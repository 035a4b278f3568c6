-- Indexes for the noise-reduction lookups, so none of them reads a whole table, and none kept for
-- rows no lookup asks for:
-- - a grouped alert looks for its group's open incident; incidents that are not grouped, or are
--   resolved, are not in that index any more (it was read through incidents_by_service before);
-- - incidents opened by alert events have no external id, so only mirrors and tickets are indexed;
-- - flap detection counts a key's resolved alerts, finds the key's flapping incident, and finds the
--   quiet flapping incidents of a service every second;
-- - a held alert whose pause is over adopts the events it gathered.

DROP INDEX incidents_by_group;
CREATE INDEX incidents_by_group ON incidents (service, group_key, number)
    WHERE group_key IS NOT NULL AND status <> 'resolved';

DROP INDEX incidents_by_external_id;
CREATE UNIQUE INDEX incidents_by_external_id ON incidents (origin, origin_source, external_id)
    WHERE external_id IS NOT NULL;

CREATE INDEX incidents_flapping ON incidents (service, number) WHERE flapping = 1 AND status <> 'resolved';
CREATE INDEX alerts_resolved ON alerts (integration_key, dedup_key, resolved_at) WHERE resolved_at IS NOT NULL;
CREATE INDEX events_held ON events (held_alert_id) WHERE held_alert_id IS NOT NULL;
