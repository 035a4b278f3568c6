//! The SQLite ingest path: a whole batch runs on one blocking thread over a connection of its own.
//!
//! sqlx would hand every statement to its connection's worker thread and wait for the answer, half a
//! dozen round trips per event. Here a batch crosses threads once, its statements run back to back
//! from a prepared-statement cache, and the commit is as durable as the others (WAL,
//! `synchronous = FULL`). WAL checkpoints run on a thread of their own, so a commit mostly only
//! appends to the WAL.

use crate::domain::external::Origin;
use crate::domain::rules::RuleSet;
use crate::domain::{ChangeEvent, IncidentStatus, Millis, ServiceRef};
use crate::store::apply::{
    apply_batch, HeldAlert, IncidentFacts, IncidentHead, IngestTx, NewDispatch, NewEvent, NewIncident, OpenAlert,
};
use crate::store::statements::{self, *};
use crate::store::{Command, CommandResult, IncidentRef, NewAgentSession, SessionReport, SilenceRecord, StoreError};
use futures::FutureExt;
use rusqlite::types::Type;
use rusqlite::{Connection, OptionalExtension, Params, Row, TransactionBehavior};
use std::path::Path;
use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// How often the background checkpointer copies committed pages from the WAL into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);
/// WAL pages after which a commit checkpoints by itself. Under a steady load the background checkpointer never
/// catches the last frames, and only a checkpoint that does lets the next commit restart the WAL from its start; by
/// then the background one has copied nearly everything, so this one is short.
const COMMIT_CHECKPOINT_PAGES: u32 = 4_000;
/// How large the WAL file may stay once checkpointed.
const WAL_LIMIT_BYTES: i64 = 64 * 1024 * 1024;
/// The ingest connection's page cache (KiB): the hot index pages of a busy database stay in memory.
const CACHE_KIB: u32 = 16 * 1024;

/// The connection ingest batches are written through.
pub(crate) struct BatchWriter {
    conn: Arc<Mutex<Connection>>,
    /// Dropping it stops the checkpointer.
    _checkpointer: std::sync::mpsc::Sender<()>,
}

impl BatchWriter {
    /// Opens a write connection to the (already migrated) database file at `path`.
    pub(crate) fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open(path)?;
        // The same settings as the sqlx connections: a commit is on disk before anyone is answered.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        // The other writer (outbox, sessions, operators' writes) holds the lock for one short transaction at most.
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.set_prepared_statement_cache_capacity(64);
        conn.pragma_update(None, "cache_size", format!("-{CACHE_KIB}"))?;
        // Copying pages into the database file inside commits would make some events wait for a thousand page copies;
        // the background checkpointer does it, and a commit only finishes what that left (see the constant).
        conn.pragma_update(None, "wal_autocheckpoint", COMMIT_CHECKPOINT_PAGES)?;
        // After a burst the WAL file is cut back to this size once it has been checkpointed.
        conn.pragma_update(None, "journal_size_limit", WAL_LIMIT_BYTES)?;
        let checkpoints = Connection::open(path)?;
        checkpoints.busy_timeout(Duration::from_secs(10))?;
        // The database file is synced before the WAL may be reused: a checkpoint never loses a commit to a power cut.
        checkpoints.pragma_update(None, "synchronous", "FULL")?;
        let (stop, stopped) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("firehouse-checkpoint".into())
            .spawn(move || checkpoint_until_stopped(&checkpoints, &stopped))
            .map_err(|e| StoreError::Crashed(format!("cannot start the checkpointer: {e}")))?;
        Ok(BatchWriter { conn: Arc::new(Mutex::new(conn)), _checkpointer: stop })
    }

    /// Copies every commit into the database file and truncates the WAL (at shutdown: the file alone is then the whole
    /// database). Waits for readers to finish, as TRUNCATE does.
    pub(crate) async fn checkpoint(&self) -> Result<(), StoreError> {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let conn = conn.lock().unwrap_or_else(PoisonError::into_inner);
            let (busy, _, _): (i64, i64, i64) =
                conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            if busy != 0 {
                return Err(StoreError::Contended("the final checkpoint found the database busy"));
            }
            Ok(())
        })
        .await
        .map_err(|e| StoreError::Crashed(e.to_string()))?
    }

    /// Applies `batch` as one transaction on a blocking thread; returns once it is committed. `through`, when given,
    /// is recorded in the same transaction as the last inbox entry applied.
    pub(crate) async fn apply(
        &self,
        batch: Arc<[Command]>,
        rules: Arc<RuleSet>,
        through: Option<i64>,
    ) -> Result<Vec<CommandResult>, StoreError> {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            // A panic mid-batch dropped its transaction, which rolled back: the connection is fine to reuse.
            let mut conn = conn.lock().unwrap_or_else(PoisonError::into_inner);
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let results = apply_batch(&mut BatchTx(&tx), &batch, &rules)
                .now_or_never()
                .expect("the SQLite primitives never wait")?;
            if let Some(seq) = through {
                tx.prepare_cached(RECORD_APPLIED_THROUGH)?.execute([seq])?;
            }
            tx.commit()?;
            Ok(results)
        })
        .await
        .map_err(|e| StoreError::Crashed(e.to_string()))?
    }
}

/// Records the last inbox entry applied (migration `0009_inbox`).
const RECORD_APPLIED_THROUGH: &str = "UPDATE inbox_progress SET applied_through = ?1 WHERE id = 1";

/// Copies committed WAL pages into the database file off the ingest path, until `stopped` disconnects. PASSIVE never
/// blocks a writer or a reader; a busy round is simply retried at the next tick.
fn checkpoint_until_stopped(conn: &Connection, stopped: &std::sync::mpsc::Receiver<()>) {
    while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(CHECKPOINT_EVERY) {
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::warn!(error = %e, "WAL checkpoint failed; retrying");
        }
    }
}

/// One batch's transaction.
struct BatchTx<'c>(&'c Connection);

impl BatchTx<'_> {
    fn execute(&self, sql: &str, params: impl Params) -> rusqlite::Result<usize> {
        self.0.prepare_cached(sql)?.execute(params)
    }

    /// Runs an insert written without `RETURNING id` (see `insert_returning_id!`) and returns the new row's id.
    fn insert(&self, sql: &str, params: impl Params) -> rusqlite::Result<i64> {
        self.0.prepare_cached(sql)?.execute(params)?;
        Ok(self.0.last_insert_rowid())
    }

    /// [`Self::insert`] for an insert with `ON CONFLICT DO NOTHING`: `None` when the conflict left the row out.
    fn insert_unless_conflict(&self, sql: &str, params: impl Params) -> rusqlite::Result<Option<i64>> {
        let inserted = self.0.prepare_cached(sql)?.execute(params)?;
        Ok((inserted == 1).then(|| self.0.last_insert_rowid()))
    }

    fn row<T>(
        &self,
        sql: &str,
        params: impl Params,
        f: impl FnOnce(&Row<'_>) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<Option<T>> {
        self.0.prepare_cached(sql)?.query_row(params, f).optional()
    }

    fn one<T>(
        &self,
        sql: &str,
        params: impl Params,
        f: impl FnOnce(&Row<'_>) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        self.0.prepare_cached(sql)?.query_row(params, f)
    }

    fn rows<T>(
        &self,
        sql: &str,
        params: impl Params,
        f: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<Vec<T>> {
        self.0.prepare_cached(sql)?.query_map(params, f)?.collect()
    }
}

/// Reads a text column into one of the domain's types.
fn parsed<T: FromStr>(row: &Row<'_>, idx: usize) -> rusqlite::Result<T>
where
    T::Err: std::fmt::Display,
{
    let s: String = row.get(idx)?;
    s.parse::<T>().map_err(|e| corrupt(idx, format!("unexpected value {s:?}: {e}")))
}

/// A JSON text column.
fn json<T: serde::de::DeserializeOwned>(row: &Row<'_>, idx: usize) -> rusqlite::Result<T> {
    let s: String = row.get(idx)?;
    serde_json::from_str(&s).map_err(|e| corrupt(idx, e.to_string()))
}

fn corrupt(idx: usize, why: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(idx, Type::Text, why.into())
}

fn head(r: &Row<'_>) -> rusqlite::Result<IncidentHead> {
    Ok(IncidentHead { number: r.get(0)?, id: r.get(1)?, service: r.get(2)?, status: parsed(r, 3)? })
}

/// A row of `held_columns!()`.
fn held(r: &Row<'_>) -> rusqlite::Result<HeldAlert> {
    let details: Option<String> = r.get(11)?;
    Ok(HeldAlert {
        id: r.get(0)?,
        integration_key: r.get(1)?,
        dedup_key: r.get(2)?,
        service: r.get(3)?,
        urgency: parsed(r, 4)?,
        title: r.get(5)?,
        severity: parsed(r, 6)?,
        source: r.get(7)?,
        component: r.get(8)?,
        group: r.get(9)?,
        class: r.get(10)?,
        details: details.and_then(|d| serde_json::from_str(&d).ok()),
        received_at: Millis(r.get(12)?),
        opens_at: Millis(r.get(13)?),
    })
}

impl IngestTx for BatchTx<'_> {
    async fn active_silences(&mut self, since: Millis) -> Result<Vec<SilenceRecord>, StoreError> {
        Ok(self.rows(ACTIVE_SILENCES, [since.0], |r| {
            Ok(SilenceRecord {
                id: r.get(0)?,
                matchers: json(r, 1)?,
                starts_at: Millis(r.get(2)?),
                ends_at: Millis(r.get(3)?),
                created_by: r.get(4)?,
                comment: r.get(5)?,
                created_at: Millis(r.get(6)?),
            })
        })?)
    }

    async fn open_alert(&mut self, integration_key: &str, dedup_key: &str) -> Result<Option<OpenAlert>, StoreError> {
        Ok(self.row(OPEN_ALERT, (integration_key, dedup_key), |r| {
            Ok(OpenAlert {
                alert_id: r.get(0)?,
                incident_number: r.get(1)?,
                incident_id: r.get(2)?,
                status: parsed(r, 3)?,
            })
        })?)
    }

    async fn ensure_service(&mut self, service: &ServiceRef, at: Millis) -> Result<(), StoreError> {
        self.execute(ENSURE_SERVICE, (&service.name, service.urgency.as_str(), at.0))?;
        Ok(())
    }

    async fn next_incident_number(&mut self) -> Result<i64, StoreError> {
        Ok(self.one(NEXT_NUMBER_UNDER_WRITE_LOCK, [], |r| r.get(0))?)
    }

    async fn claim_alert(
        &mut self,
        incident_number: i64,
        integration_key: &str,
        dedup_key: &str,
        at: Millis,
    ) -> Result<Option<i64>, StoreError> {
        Ok(self.insert_unless_conflict(CLAIM_ALERT_PLAIN, (incident_number, integration_key, dedup_key, at.0))?)
    }

    async fn insert_incident(&mut self, n: &NewIncident<'_>) -> Result<(), StoreError> {
        self.execute(
            INSERT_INCIDENT,
            rusqlite::params![
                n.number,
                n.id,
                n.service,
                n.dedup_key,
                n.title,
                n.severity.as_str(),
                n.urgency.as_str(),
                n.source,
                n.component,
                n.group,
                n.class,
                n.details.map(|v| v.to_string()),
                n.at.0,
                n.origin.as_str(),
                n.origin_source,
                n.external_id,
                n.external_url,
                n.description,
                labels_to(n.labels),
                n.group_key,
            ],
        )?;
        Ok(())
    }

    async fn set_alerts_status(
        &mut self,
        incident_number: i64,
        status: IncidentStatus,
        at: Millis,
    ) -> Result<(), StoreError> {
        self.execute(SET_ALERTS_STATUS, (status.as_str(), resolved_at(status, at), incident_number))?;
        Ok(())
    }

    async fn set_incident_status(
        &mut self,
        incident_number: i64,
        status: IncidentStatus,
        at: Millis,
    ) -> Result<(), StoreError> {
        self.execute(statements::set_incident_status(status), (at.0, incident_number))?;
        Ok(())
    }

    async fn find_incident(&mut self, r: &IncidentRef) -> Result<Option<IncidentHead>, StoreError> {
        Ok(match r {
            IncidentRef::Number(n) => self.row(INCIDENT_BY_NUMBER, [n], head)?,
            IncidentRef::Id(id) => self.row(INCIDENT_BY_ID, [id], head)?,
        })
    }

    async fn insert_event(&mut self, e: &NewEvent<'_>) -> Result<i64, StoreError> {
        let params = rusqlite::params![
            e.at.0,
            e.protocol.as_str(),
            e.action,
            e.service,
            e.dedup_key,
            e.outcome,
            e.alert_id,
            e.incident_number,
            e.summary,
            e.severity,
            e.raw,
            e.held_alert_id,
        ];
        Ok(self.insert(INSERT_EVENT_PLAIN, params)?)
    }

    async fn incident_facts(&mut self, incident_number: i64) -> Result<IncidentFacts, StoreError> {
        Ok(self.one(INCIDENT_FACTS, [incident_number], |r| {
            let details: Option<String> = r.get(10)?;
            Ok(IncidentFacts {
                id: r.get(0)?,
                service: r.get(1)?,
                severity: parsed(r, 2)?,
                urgency: parsed(r, 3)?,
                title: r.get(4)?,
                source: r.get(5)?,
                component: r.get(6)?,
                group: r.get(7)?,
                class: r.get(8)?,
                dedup_key: r.get(9)?,
                details: details.and_then(|d| serde_json::from_str(&d).ok()),
                labels: labels_from(r.get(11)?),
            })
        })?)
    }

    async fn insert_dispatch(&mut self, d: &NewDispatch<'_>) -> Result<(), StoreError> {
        let params = (&d.key, d.incident_number, d.rule, d.action, d.transition.as_str(), d.at.0, d.deadline.0);
        self.execute(INSERT_DISPATCH, params)?;
        Ok(())
    }

    async fn held_alert(&mut self, integration_key: &str, dedup_key: &str) -> Result<Option<HeldAlert>, StoreError> {
        Ok(self.row(HELD_ALERT, (integration_key, dedup_key), held)?)
    }

    async fn insert_held(&mut self, h: &HeldAlert) -> Result<i64, StoreError> {
        let params = rusqlite::params![
            h.integration_key,
            h.dedup_key,
            h.service,
            h.urgency.as_str(),
            h.title,
            h.severity.as_str(),
            h.source,
            h.component,
            h.group,
            h.class,
            h.details.as_ref().map(|d| d.to_string()),
            h.received_at.0,
            h.opens_at.0,
        ];
        Ok(self.insert(INSERT_HELD_PLAIN, params)?)
    }

    async fn delete_held(&mut self, id: i64) -> Result<(), StoreError> {
        self.execute(DELETE_HELD, [id])?;
        Ok(())
    }

    async fn due_held(&mut self, now: Millis) -> Result<Vec<HeldAlert>, StoreError> {
        Ok(self.rows(DUE_HELD, [now.0], held)?)
    }

    async fn adopt_held_events(&mut self, held_id: i64, incident_number: i64, alert_id: i64) -> Result<(), StoreError> {
        self.execute(ADOPT_HELD_EVENTS, (incident_number, alert_id, held_id))?;
        Ok(())
    }

    async fn group_incident(
        &mut self,
        service: &str,
        group_key: &str,
        since: Millis,
    ) -> Result<Option<IncidentHead>, StoreError> {
        Ok(self.row(GROUP_INCIDENT, (service, group_key, since.0), head)?)
    }

    async fn flapping_incident(
        &mut self,
        service: &str,
        integration_key: &str,
        dedup_key: &str,
    ) -> Result<Option<IncidentHead>, StoreError> {
        Ok(self.row(FLAPPING_INCIDENT, (service, integration_key, dedup_key), head)?)
    }

    async fn resolved_since(
        &mut self,
        integration_key: &str,
        dedup_key: &str,
        since: Millis,
    ) -> Result<i64, StoreError> {
        Ok(self.one(RESOLVED_SINCE, (integration_key, dedup_key, since.0), |r| r.get(0))?)
    }

    async fn set_flapping(&mut self, incident_number: i64, at: Millis) -> Result<(), StoreError> {
        self.execute(SET_FLAPPING, (at.0, incident_number))?;
        Ok(())
    }

    async fn quiet_flapping(&mut self, service: &str, quiet_since: Millis) -> Result<Vec<i64>, StoreError> {
        Ok(self.rows(QUIET_FLAPPING, (service, quiet_since.0), |r| r.get(0))?)
    }

    async fn set_alert_status(&mut self, alert_id: i64, status: IncidentStatus, at: Millis) -> Result<(), StoreError> {
        self.execute(SET_ALERT_STATUS, (status.as_str(), resolved_at(status, at), alert_id))?;
        Ok(())
    }

    async fn open_alert_count(&mut self, incident_number: i64) -> Result<i64, StoreError> {
        Ok(self.one(OPEN_ALERT_COUNT, [incident_number], |r| r.get(0))?)
    }

    async fn record_delivery(&mut self, source: &str, delivery_id: &str, at: Millis) -> Result<bool, StoreError> {
        Ok(self.execute(RECORD_DELIVERY, (source, delivery_id, at.0))? == 1)
    }

    async fn find_external(
        &mut self,
        origin: Origin,
        source: &str,
        external_id: &str,
    ) -> Result<Option<IncidentHead>, StoreError> {
        Ok(self.row(FIND_EXTERNAL, (origin.as_str(), source, external_id), head)?)
    }

    async fn set_labels(&mut self, incident_number: i64, labels: &[String]) -> Result<(), StoreError> {
        self.execute(SET_LABELS, (labels_to(labels), incident_number))?;
        Ok(())
    }

    async fn insert_change(
        &mut self,
        service: &str,
        event: &ChangeEvent,
        raw: &str,
        at: Millis,
    ) -> Result<i64, StoreError> {
        let links = json_text(&event.links);
        let details = event.custom_details.as_ref().map(|d| d.to_string());
        let occurred_at = event.timestamp.unwrap_or(at).0;
        let params = (service, at.0, occurred_at, &event.summary, &event.source, details, links, raw);
        Ok(self.insert(INSERT_CHANGE_PLAIN, params)?)
    }

    async fn insert_agent_session(&mut self, s: &NewAgentSession) -> Result<bool, StoreError> {
        let params =
            (s.incident_number, s.dispatch_id, &s.action, &s.session_id, &s.url, &s.status, s.next_poll_at.0, s.at.0);
        Ok(self.execute(INSERT_AGENT_SESSION, params)? == 1)
    }

    async fn update_agent_session(
        &mut self,
        r: &SessionReport,
        at: Millis,
    ) -> Result<Option<(i64, String)>, StoreError> {
        // A change moves updated_at (the backoff counts from the last change).
        let changed_at = (!r.notes.is_empty()).then_some(at.0);
        let done = i64::from(r.done);
        let found = |row: &Row<'_>| Ok((row.get(0)?, row.get(1)?));
        Ok(match &r.polled {
            Some(p) => {
                let params = rusqlite::params![
                    p.status,
                    json_text(&p.pull_requests),
                    p.structured_output.as_ref().map(|o| o.to_string()),
                    r.next_poll_at.0,
                    done,
                    changed_at,
                    r.session_id,
                    r.polls,
                ];
                self.row(UPDATE_POLLED_SESSION, params, found)?
            }
            None => {
                let params = (r.next_poll_at.0, done, changed_at, &r.session_id, r.polls);
                self.row(UPDATE_UNPOLLED_SESSION, params, found)?
            }
        })
    }

    async fn upsert_postmortem(
        &mut self,
        incident_number: i64,
        session_id: &str,
        url: &str,
        body: &serde_json::Value,
        at: Millis,
    ) -> Result<(), StoreError> {
        self.execute(UPSERT_POSTMORTEM, (incident_number, session_id, url, body.to_string(), at.0))?;
        Ok(())
    }
}
