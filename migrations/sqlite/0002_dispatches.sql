-- The outbox: one row per (incident, rule, action, transition), written in the transaction of the
-- incident change that caused it. The unique dispatch_key is what keeps one flow to one delivery.

CREATE TABLE dispatches (
    id              INTEGER PRIMARY KEY,
    dispatch_key    TEXT NOT NULL UNIQUE,
    incident_number INTEGER NOT NULL REFERENCES incidents(number) DEFERRABLE INITIALLY DEFERRED,
    rule            TEXT NOT NULL,
    action          TEXT NOT NULL,
    transition      TEXT NOT NULL,
    status          TEXT NOT NULL,          -- pending | done | dead
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    lease_owner     TEXT,
    lease_until     INTEGER,
    last_error      TEXT,
    result          TEXT,                   -- JSON the receiver gave back (e.g. an agent session)
    created_at      INTEGER NOT NULL,
    deadline        INTEGER NOT NULL,           -- dead-lettered when still failing after this
    updated_at      INTEGER NOT NULL
);
CREATE INDEX dispatches_due ON dispatches (status, next_attempt_at);
CREATE INDEX dispatches_by_incident ON dispatches (incident_number, action, id);
