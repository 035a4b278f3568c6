//! The statements of the ingest path, written once for every driver that runs them.
//!
//! They use `$N` placeholders, numbered in order of first use, which SQLite (through sqlx or
//! rusqlite) and PostgreSQL all accept, and only 64-bit integers and text. Row locks are added by
//! the PostgreSQL backend where it needs them ([`OPEN_ALERT`], the incident lookups).

use crate::domain::{IncidentStatus, Millis};

/// An insert that reports the new row's id: `$returning` with ` RETURNING id`, for PostgreSQL, and `$plain` without it,
/// for SQLite, which reads the id from the connection instead (its `RETURNING` runs as a trigger, and a statement with a
/// trigger keeps a copy of every page it changes in case it has to undo itself).
macro_rules! insert_returning_id {
    ($(#[$doc:meta])* $returning:ident, $plain:ident, $sql:literal) => {
        $(#[$doc])*
        pub(super) const $returning: &str = concat!($sql, " RETURNING id");
        $(#[$doc])*
        pub(super) const $plain: &str = $sql;
    };
}

/// The columns of a held alert, in the order the row readers expect.
macro_rules! held_columns {
    () => {
        "id, integration_key, dedup_key, service, urgency, title, severity, source, component, grp, class, details, \
         received_at, opens_at"
    };
}

/// The columns of a silence.
macro_rules! silence_columns {
    () => {
        "id, matchers, starts_at, ends_at, created_by, comment, created_at"
    };
}

pub(super) const SILENCE_COLUMNS: &str = silence_columns!();

/// Silences that have not ended by `$1`.
pub(super) const ACTIVE_SILENCES: &str = concat!("SELECT ", silence_columns!(), " FROM silences WHERE ends_at > $1");

/// The open alert of a key pair with its incident's id (`id, incident_number, incident id, status`).
pub(super) const OPEN_ALERT: &str = "SELECT a.id, a.incident_number, i.id, a.status FROM alerts a \
     JOIN incidents i ON i.number = a.incident_number \
     WHERE a.integration_key = $1 AND a.dedup_key = $2 AND a.status <> 'resolved'";

/// The next incident number where the write lock serialises writers (SQLite).
pub(super) const NEXT_NUMBER_UNDER_WRITE_LOCK: &str = "SELECT COALESCE(MAX(number), 0) + 1 FROM incidents";

pub(super) const ENSURE_SERVICE: &str =
    "INSERT INTO services (name, urgency, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING";

insert_returning_id!(
    /// Refused (no row) when the key pair has an open alert already: the partial unique index decides.
    CLAIM_ALERT,
    CLAIM_ALERT_PLAIN,
    "INSERT INTO alerts (incident_number, integration_key, dedup_key, status, created_at) \
     VALUES ($1, $2, $3, 'triggered', $4) ON CONFLICT DO NOTHING"
);

pub(super) const INSERT_INCIDENT: &str = "INSERT INTO incidents (number, id, service, status, dedup_key, title, \
     severity, urgency, source, component, grp, class, details, created_at, updated_at, origin, origin_source, \
     external_id, external_url, description, labels, group_key) \
     VALUES ($1, $2, $3, 'triggered', $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13, $14, $15, $16, $17, $18, $19, \
     $20)";

pub(super) const HELD_ALERT: &str =
    concat!("SELECT ", held_columns!(), " FROM held_alerts WHERE integration_key = $1 AND dedup_key = $2");

insert_returning_id!(
    INSERT_HELD,
    INSERT_HELD_PLAIN,
    "INSERT INTO held_alerts (integration_key, dedup_key, service, urgency, title, severity, source, component, grp, \
     class, details, received_at, opens_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
);

pub(super) const DELETE_HELD: &str = "DELETE FROM held_alerts WHERE id = $1";

pub(super) const DUE_HELD: &str =
    concat!("SELECT ", held_columns!(), " FROM held_alerts WHERE opens_at <= $1 ORDER BY opens_at, id");

pub(super) const ADOPT_HELD_EVENTS: &str =
    "UPDATE events SET incident_number = $1, alert_id = $2, held_alert_id = NULL WHERE held_alert_id = $3";

/// The incident head columns (`number, id, service, status`) are what every `*_INCIDENT` lookup returns.
pub(super) const GROUP_INCIDENT: &str = "SELECT number, id, service, status FROM incidents WHERE service = $1 \
     AND group_key = $2 AND status <> 'resolved' AND created_at >= $3 ORDER BY number DESC LIMIT 1";

/// Driven by the service's few open flapping incidents (`incidents_flapping`), not by the alerts table.
pub(super) const FLAPPING_INCIDENT: &str = "SELECT i.number, i.id, i.service, i.status FROM incidents i \
     WHERE i.service = $1 AND i.flapping = 1 AND i.status <> 'resolved' \
     AND EXISTS (SELECT 1 FROM alerts a WHERE a.incident_number = i.number \
                 AND a.integration_key = $2 AND a.dedup_key = $3) \
     ORDER BY i.number DESC LIMIT 1";

pub(super) const RESOLVED_SINCE: &str =
    "SELECT COUNT(*) FROM alerts WHERE integration_key = $1 AND dedup_key = $2 AND resolved_at >= $3";

pub(super) const SET_FLAPPING: &str = "UPDATE incidents SET flapping = 1, updated_at = $1 WHERE number = $2";

pub(super) const QUIET_FLAPPING: &str = "SELECT i.number FROM incidents i WHERE i.service = $1 AND i.flapping = 1 \
     AND i.status <> 'resolved' \
     AND NOT EXISTS (SELECT 1 FROM alerts a WHERE a.incident_number = i.number \
                     AND (a.status <> 'resolved' OR a.resolved_at >= $2))";

pub(super) const SET_ALERT_STATUS: &str = "UPDATE alerts SET status = $1, resolved_at = $2 WHERE id = $3";

pub(super) const OPEN_ALERT_COUNT: &str =
    "SELECT COUNT(*) FROM alerts WHERE incident_number = $1 AND status <> 'resolved'";

pub(super) const RECORD_DELIVERY: &str = "INSERT INTO webhook_deliveries (source, delivery_id, received_at) \
     VALUES ($1, $2, $3) ON CONFLICT DO NOTHING";

pub(super) const FIND_EXTERNAL: &str = "SELECT number, id, service, status FROM incidents \
     WHERE origin = $1 AND origin_source = $2 AND external_id = $3";

pub(super) const SET_LABELS: &str = "UPDATE incidents SET labels = $1 WHERE number = $2";

pub(super) const SET_ALERTS_STATUS: &str =
    "UPDATE alerts SET status = $1, resolved_at = $2 WHERE incident_number = $3 AND status <> 'resolved'";

/// Guarded, so a late acknowledge can never reopen a resolved incident.
pub(super) const ACKNOWLEDGE_INCIDENT: &str = "UPDATE incidents SET status = 'acknowledged', acknowledged_at = $1, \
     updated_at = $1 WHERE number = $2 AND status = 'triggered'";

pub(super) const RESOLVE_INCIDENT: &str = "UPDATE incidents SET status = 'resolved', resolved_at = $1, \
     updated_at = $1 WHERE number = $2 AND status <> 'resolved'";

pub(super) const RETRIGGER_INCIDENT: &str =
    "UPDATE incidents SET status = 'triggered', updated_at = $1 WHERE number = $2";

/// The statement that moves an incident to `status` (binds `$1` = when, `$2` = its number).
pub(super) fn set_incident_status(status: IncidentStatus) -> &'static str {
    match status {
        IncidentStatus::Acknowledged => ACKNOWLEDGE_INCIDENT,
        IncidentStatus::Resolved => RESOLVE_INCIDENT,
        IncidentStatus::Triggered => RETRIGGER_INCIDENT,
    }
}

/// The `resolved_at` an alert moving to `status` at `at` gets.
pub(super) fn resolved_at(status: IncidentStatus, at: Millis) -> Option<i64> {
    (status == IncidentStatus::Resolved).then_some(at.0)
}

pub(super) const INCIDENT_BY_NUMBER: &str = "SELECT number, id, service, status FROM incidents WHERE number = $1";

pub(super) const INCIDENT_BY_ID: &str = "SELECT number, id, service, status FROM incidents WHERE id = $1";

insert_returning_id!(
    INSERT_EVENT,
    INSERT_EVENT_PLAIN,
    "INSERT INTO events (received_at, protocol, action, service, dedup_key, outcome, alert_id, incident_number, \
     summary, severity, raw, held_alert_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
);

/// Columns by position: `id, service, severity, urgency, title, source, component, grp, class, dedup_key, details,
/// labels`.
pub(super) const INCIDENT_FACTS: &str = "SELECT id, service, severity, urgency, title, source, component, grp, \
     class, dedup_key, details, labels FROM incidents WHERE number = $1";

/// One flow, one delivery: a dispatch whose key exists already is not written again.
pub(super) const INSERT_DISPATCH: &str = "INSERT INTO dispatches (dispatch_key, incident_number, rule, action, \
     transition, status, attempts, next_attempt_at, created_at, deadline, updated_at) \
     VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $6, $7, $6) ON CONFLICT (dispatch_key) DO NOTHING";

insert_returning_id!(
    INSERT_CHANGE,
    INSERT_CHANGE_PLAIN,
    "INSERT INTO change_events (service, received_at, occurred_at, summary, source, custom_details, links, raw) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
);

pub(super) const INSERT_AGENT_SESSION: &str = "INSERT INTO agent_sessions (incident_number, dispatch_id, action, \
     session_id, url, status, pull_requests, polls, next_poll_at, done, created_at, updated_at) \
     VALUES ($1, $2, $3, $4, $5, $6, '[]', 0, $7, 0, $8, $8) ON CONFLICT (session_id) DO NOTHING";

/// Applies only when nobody polled the session since this poll claimed it (`polls = $8`).
pub(super) const UPDATE_POLLED_SESSION: &str = "UPDATE agent_sessions SET status = $1, pull_requests = $2, \
     structured_output = $3, polls = polls + 1, next_poll_at = $4, done = $5, updated_at = COALESCE($6, updated_at) \
     WHERE session_id = $7 AND polls = $8 AND done = 0 RETURNING incident_number, url";

/// A poll that reached nothing only moves the next poll.
pub(super) const UPDATE_UNPOLLED_SESSION: &str = "UPDATE agent_sessions SET next_poll_at = $1, done = $2, \
     updated_at = COALESCE($3, updated_at) \
     WHERE session_id = $4 AND polls = $5 AND done = 0 RETURNING incident_number, url";

pub(super) const UPSERT_POSTMORTEM: &str = "INSERT INTO incident_postmortems (incident_number, session_id, url, \
     body, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (incident_number) DO UPDATE SET \
     session_id = excluded.session_id, url = excluded.url, body = excluded.body, updated_at = excluded.updated_at";

/// Labels as stored (a JSON array, or NULL for none).
pub(super) fn labels_from(stored: Option<String>) -> Vec<String> {
    stored.and_then(|s| serde_json::from_str(&s).ok()).unwrap_or_default()
}

/// Labels to store: NULL for none.
pub(super) fn labels_to(labels: &[String]) -> Option<String> {
    (!labels.is_empty()).then(|| json_text(labels))
}

/// A JSON column's text. The values stored this way (lists of strings, links, pull requests) always serialize.
pub(super) fn json_text<T: serde::Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).expect("a stored JSON column serializes")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The statements that look rows up (and so must find them through an index).
    const LOOKUPS: &[&str] = &[
        ACTIVE_SILENCES,
        OPEN_ALERT,
        NEXT_NUMBER_UNDER_WRITE_LOCK,
        HELD_ALERT,
        DELETE_HELD,
        DUE_HELD,
        ADOPT_HELD_EVENTS,
        GROUP_INCIDENT,
        FLAPPING_INCIDENT,
        RESOLVED_SINCE,
        SET_FLAPPING,
        QUIET_FLAPPING,
        SET_ALERT_STATUS,
        OPEN_ALERT_COUNT,
        FIND_EXTERNAL,
        SET_LABELS,
        SET_ALERTS_STATUS,
        ACKNOWLEDGE_INCIDENT,
        RESOLVE_INCIDENT,
        RETRIGGER_INCIDENT,
        INCIDENT_BY_NUMBER,
        INCIDENT_BY_ID,
        INCIDENT_FACTS,
        UPDATE_POLLED_SESSION,
        UPDATE_UNPOLLED_SESSION,
    ];

    /// The statements that only insert.
    const INSERTS: &[&str] = &[
        ENSURE_SERVICE,
        CLAIM_ALERT,
        INSERT_INCIDENT,
        INSERT_HELD,
        RECORD_DELIVERY,
        INSERT_EVENT,
        INSERT_DISPATCH,
        INSERT_CHANGE,
        INSERT_AGENT_SESSION,
        UPSERT_POSTMORTEM,
    ];

    /// Drivers that bind by position rely on `$1, $2, …` first appearing in that order.
    #[test]
    fn placeholders_first_appear_in_order() {
        for sql in LOOKUPS.iter().chain(INSERTS) {
            let mut highest = 0;
            for (i, _) in sql.match_indices('$') {
                let n: u32 = sql[i + 1..].chars().take_while(char::is_ascii_digit).collect::<String>().parse().unwrap();
                assert!(n <= highest + 1, "${n} appears before ${} in {sql}", highest + 1);
                highest = highest.max(n);
            }
        }
    }

    /// Every lookup of the ingest path is served by an index: a table scan here would grow with the stored events
    /// and incidents, and run once per event (or, for flapping, once per second).
    #[test]
    fn lookups_read_through_indexes() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite");
        let mut files: Vec<_> = std::fs::read_dir(dir).unwrap().map(|f| f.unwrap().path()).collect();
        files.sort();
        for file in files {
            conn.execute_batch(&std::fs::read_to_string(&file).unwrap()).unwrap();
        }
        for sql in LOOKUPS {
            let mut plan = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
            let params = vec![rusqlite::types::Value::Null; plan.parameter_count()];
            let steps: Vec<String> =
                plan.query_map(rusqlite::params_from_iter(params), |r| r.get(3)).unwrap().map(Result::unwrap).collect();
            assert!(!steps.iter().any(|s| s.starts_with("SCAN")), "{sql}\nreads a whole table: {steps:?}");
        }
    }
}
