-- Services, incidents, alerts, the event log and change events.
-- Times are milliseconds since the Unix epoch (UTC), the same on every backend.

CREATE TABLE services (
    name        TEXT PRIMARY KEY,
    urgency     TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);

CREATE TABLE incidents (
    number          INTEGER PRIMARY KEY, -- reserved as MAX(number) + 1 by the single writer
    id              TEXT NOT NULL UNIQUE,
    service         TEXT NOT NULL REFERENCES services(name),
    status          TEXT NOT NULL,
    dedup_key       TEXT NOT NULL,
    title           TEXT NOT NULL,
    severity        TEXT NOT NULL,
    urgency         TEXT NOT NULL,
    source          TEXT,
    component       TEXT,
    grp             TEXT,
    class           TEXT,
    details         TEXT, -- custom_details of the opening alert (JSON), for rules and prompts
    created_at      INTEGER NOT NULL,
    acknowledged_at INTEGER,
    resolved_at     INTEGER,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX incidents_by_status ON incidents (status, number);
CREATE INDEX incidents_by_service ON incidents (service, number);
CREATE INDEX incidents_by_dedup_key ON incidents (dedup_key);

-- An alert is one dedup key's life; at most one is open per (integration key, dedup key).
CREATE TABLE alerts (
    id              INTEGER PRIMARY KEY,
    -- The alert is claimed before its incident is written (see store/apply.rs), hence deferred.
    incident_number INTEGER NOT NULL REFERENCES incidents(number) DEFERRABLE INITIALLY DEFERRED,
    integration_key TEXT NOT NULL,
    dedup_key       TEXT NOT NULL,
    status          TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    resolved_at     INTEGER
);
CREATE UNIQUE INDEX alerts_open ON alerts (integration_key, dedup_key) WHERE status <> 'resolved';
CREATE INDEX alerts_by_incident ON alerts (incident_number);

-- Every accepted alert event and operator action, raw body included.
CREATE TABLE events (
    id              INTEGER PRIMARY KEY,
    received_at     INTEGER NOT NULL,
    protocol        TEXT NOT NULL,
    action          TEXT NOT NULL,
    service         TEXT NOT NULL,
    dedup_key       TEXT,
    outcome         TEXT NOT NULL,
    alert_id        INTEGER,
    incident_number INTEGER,
    summary         TEXT,
    severity        TEXT,
    raw             TEXT NOT NULL
);
CREATE INDEX events_by_incident ON events (incident_number, id);
CREATE INDEX events_by_dedup_key ON events (dedup_key, id);

CREATE TABLE change_events (
    id              INTEGER PRIMARY KEY,
    service         TEXT NOT NULL REFERENCES services(name),
    received_at     INTEGER NOT NULL,
    occurred_at     INTEGER NOT NULL,
    summary         TEXT NOT NULL,
    source          TEXT,
    custom_details  TEXT,
    links           TEXT NOT NULL,
    raw             TEXT NOT NULL
);
CREATE INDEX change_events_by_service ON change_events (service, occurred_at);
