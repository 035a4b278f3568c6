-- Noise reduction: grouped incidents, flapping alerts held open, alerts held during a
-- transient-alert pause, and silences.

ALTER TABLE incidents ADD COLUMN group_key TEXT;
ALTER TABLE incidents ADD COLUMN flapping INTEGER NOT NULL DEFAULT 0;
CREATE INDEX incidents_by_group ON incidents (service, group_key, status, created_at);

-- An alert waiting out its service's pause; it opens an incident at opens_at unless resolved first.
CREATE TABLE held_alerts (
    id              INTEGER PRIMARY KEY,
    integration_key TEXT NOT NULL,
    dedup_key       TEXT NOT NULL,
    service         TEXT NOT NULL,
    urgency         TEXT NOT NULL,
    title           TEXT NOT NULL,
    severity        TEXT NOT NULL,
    source          TEXT,
    component       TEXT,
    grp             TEXT,
    class           TEXT,
    details         TEXT,
    received_at     INTEGER NOT NULL,
    opens_at        INTEGER NOT NULL
);
CREATE UNIQUE INDEX held_alerts_by_key ON held_alerts (integration_key, dedup_key);
CREATE INDEX held_alerts_due ON held_alerts (opens_at);

ALTER TABLE events ADD COLUMN held_alert_id INTEGER;

CREATE TABLE silences (
    id          INTEGER PRIMARY KEY,
    matchers    TEXT NOT NULL,     -- JSON: [{"field", "equals"|"in"|"regex"}]
    starts_at   INTEGER NOT NULL,
    ends_at     INTEGER NOT NULL,
    created_by  TEXT NOT NULL,
    comment     TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE INDEX silences_by_end ON silences (ends_at);
