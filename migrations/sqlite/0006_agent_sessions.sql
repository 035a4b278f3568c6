-- Agent sessions Firehouse started (Devin), followed until they end: each change is noted on the
-- incident's timeline. A session is polled when next_poll_at has passed and done is 0; a poller
-- claims it by moving next_poll_at past its lease, and its report applies only while polls is
-- still the value it claimed (so two instances never record one change twice).
CREATE TABLE agent_sessions (
    id                INTEGER PRIMARY KEY,
    incident_number   INTEGER NOT NULL REFERENCES incidents(number),
    dispatch_id       INTEGER NOT NULL REFERENCES dispatches(id),
    action            TEXT NOT NULL,
    session_id        TEXT NOT NULL UNIQUE,
    url               TEXT NOT NULL,
    status            TEXT NOT NULL,              -- as the agent's API last reported it
    pull_requests     TEXT NOT NULL DEFAULT '[]', -- JSON [{pr_url, pr_state}]
    structured_output TEXT,                       -- JSON, when the session has produced one
    polls             INTEGER NOT NULL DEFAULT 0, -- successful polls recorded
    next_poll_at      INTEGER NOT NULL,
    done              INTEGER NOT NULL DEFAULT 0, -- ended (exit, error) or no longer followed
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL            -- the last change recorded
);
CREATE INDEX agent_sessions_due ON agent_sessions (done, next_poll_at);
CREATE INDEX agent_sessions_by_incident ON agent_sessions (incident_number, id);

-- The postmortem an agent delivered as structured output (summary, timeline, root cause, action
-- items), one per incident: the latest wins.
CREATE TABLE incident_postmortems (
    incident_number INTEGER PRIMARY KEY REFERENCES incidents(number),
    session_id      TEXT NOT NULL,
    url             TEXT NOT NULL,
    body            TEXT NOT NULL,                -- JSON, as the agent delivered it
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
