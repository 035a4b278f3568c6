//! Storage: one interface, one implementation per database.
//!
//! Writes arrive in batches ([`Store::apply`]): many requests' commands in one transaction, so the
//! cost of a durable commit is shared (group commit, see [`crate::ingest`]). The decisions inside a
//! batch are the domain's ([`crate::domain::lifecycle`]); backends only read and write rows, through
//! the [`apply::IngestTx`] primitives.

pub mod apply;
pub mod postgres;
mod records;
mod sessions;
mod sql;
pub mod sqlite;
mod statements;

pub use records::{
    ChangeQuery, DispatchQuery, DispatchRecord, DispatchStatus, DispatchUpdate, EventQuery, EventRecord, IncidentPage,
    IncidentQuery, ServiceRecord, SilenceRecord, StoredChange, TimelineEntry, TokenRecord,
};
pub use sessions::{
    AgentSessionRecord, NewAgentSession, PolledSession, PostmortemRecord, PullRequest, SessionNote, SessionReport,
};

use crate::domain::external::{PagerDutyEvent, Ticket};
use crate::domain::rules::RuleSet;
use crate::domain::{
    AlertEvent, ChangeEvent, Incident, IncidentStatus, IntegrationKey, ManualAction, Millis, Protocol, ServiceRef,
    Severity, Transition,
};
use async_trait::async_trait;
use std::sync::Arc;

/// One write to apply.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)] // commands are moved once into the queue; boxing would only add an allocation
pub enum Command {
    /// An alert event from a sender.
    Alert {
        /// The service its key resolved to.
        service: ServiceRef,
        /// The key it was sent with (scopes dedup).
        integration_key: IntegrationKey,
        /// The protocol it came by.
        protocol: Protocol,
        /// The normalised event.
        event: AlertEvent,
        /// The request body as received.
        raw: String,
        /// When Firehouse received it.
        received_at: Millis,
    },
    /// A change event from a sender.
    Change {
        /// The service its key resolved to.
        service: ServiceRef,
        /// The normalised event.
        event: ChangeEvent,
        /// The request body as received.
        raw: String,
        /// When Firehouse received it.
        received_at: Millis,
    },
    /// A PagerDuty Generic Webhooks v3 event, mirrored.
    Mirror {
        /// The configured webhook source.
        source: String,
        /// The service the mirror belongs to.
        service: ServiceRef,
        /// `X-Webhook-Id`, to apply each delivery once.
        delivery_id: Option<String>,
        /// The event.
        event: PagerDutyEvent,
        /// The body as received.
        raw: String,
        /// When Firehouse received it.
        received_at: Millis,
    },
    /// A ticket tracker's event.
    Ticket {
        /// The configured webhook source.
        source: String,
        /// The service its tickets belong to.
        service: ServiceRef,
        /// The severity its tickets get.
        severity: Severity,
        /// Whether the ticket carries a label the source routes; an unrouted one is logged, not acted on.
        routed: bool,
        /// The delivery's id, to apply each delivery once.
        delivery_id: Option<String>,
        /// The ticket.
        ticket: Ticket,
        /// The body as received.
        raw: String,
        /// When Firehouse received it.
        received_at: Millis,
    },
    /// A ticket tracker's delivery Firehouse does not act on (a ping, a comment, …): kept in the event log, since it
    /// is answered 2xx.
    IgnoredTicket {
        /// The configured webhook source.
        source: String,
        /// The service its tickets belong to.
        service: ServiceRef,
        /// The delivery's id, to keep each delivery once.
        delivery_id: Option<String>,
        /// What the tracker called it (its event header, e.g. `ping`), if it said.
        kind: Option<String>,
        /// Why it is not acted on.
        reason: String,
        /// The body as received.
        raw: String,
        /// When Firehouse received it.
        received_at: Millis,
    },
    /// Opens the incidents of held alerts whose pause is over, and resolves flapping incidents
    /// that have been quiet for their window. Submitted periodically (and by tests with fixed clocks).
    Release {
        /// The services with a pause or flap detection.
        services: Vec<ServiceRef>,
        /// The time to release at.
        now: Millis,
    },
    /// A note on an incident's timeline (a finding from an operator or an agent).
    Note {
        /// Which incident.
        incident: IncidentRef,
        /// Who wrote it.
        author: String,
        /// The note.
        text: String,
        /// When.
        received_at: Millis,
    },
    /// Starts following an agent session a dispatch started (a session is followed once, whichever dispatches report
    /// it), with `note` on the incident's timeline and what rules on `session_started` dispatch. `Appended` when it
    /// is new, `Unchanged` when it was followed already.
    TrackSession {
        /// The session.
        session: NewAgentSession,
        /// The timeline note saying it started.
        note: SessionNote,
    },
    /// What polling an agent session found: its new state, timeline notes, the postmortem it delivered, and the
    /// events rules may fire on.
    AgentSession {
        /// The report.
        report: SessionReport,
        /// When it was polled.
        received_at: Millis,
    },
    /// An operator acknowledging or resolving an incident.
    Manual {
        /// Which incident.
        incident: IncidentRef,
        /// What to do.
        action: ManualAction,
        /// Who did it (free text, e.g. a user name or `cli`).
        actor: String,
        /// When.
        received_at: Millis,
    },
}

impl Command {
    /// When it happened (for `Release`, the time it releases at).
    pub fn received_at(&self) -> Millis {
        match self {
            Command::Alert { received_at, .. }
            | Command::Change { received_at, .. }
            | Command::Mirror { received_at, .. }
            | Command::Ticket { received_at, .. }
            | Command::IgnoredTicket { received_at, .. }
            | Command::Manual { received_at, .. }
            | Command::Note { received_at, .. }
            | Command::AgentSession { received_at, .. } => *received_at,
            Command::TrackSession { session, .. } => session.at,
            Command::Release { now, .. } => *now,
        }
    }
}

/// How an API caller names an incident: by id or by number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IncidentRef {
    /// The UUID.
    Id(String),
    /// The sequence number.
    Number(i64),
}

impl IncidentRef {
    /// Digits are a number, anything else an id.
    pub fn parse(s: &str) -> Self {
        match s.parse::<i64>() {
            Ok(n) if n > 0 => IncidentRef::Number(n),
            _ => IncidentRef::Id(s.to_owned()),
        }
    }
}

/// What one command did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The domain transition.
    pub transition: Transition,
    /// The incident it applied to, if any: `(id, number)`.
    pub incident: Option<(String, i64)>,
    /// The stored event's id (its place in the log).
    pub event_id: i64,
}

/// A command the store refused on its merits (nothing was written for it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// No incident with that id or number.
    #[error("no such incident")]
    IncidentNotFound,
    /// The domain refused the operator's action.
    #[error(transparent)]
    Manual(#[from] crate::domain::lifecycle::ManualError),
}

/// The database failed; nothing in the batch was stored.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A database error.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Schema migration failed at start-up.
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The embedded SQLite write path failed.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The thread applying a batch failed; the batch was rolled back.
    #[error("the database writer failed: {0}")]
    Crashed(String),
    /// The database URL names a database Firehouse cannot run on.
    #[error("unsupported database: {0}")]
    Unsupported(&'static str),
    /// Concurrent writers kept changing a row this write depends on.
    #[error("write conflict: {0}")]
    Contended(&'static str),
    /// Stored data that does not parse (a bug or a foreign write).
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// Another Firehouse server is serving this SQLite database.
    #[error("the database is in use: another Firehouse server is serving {0}")]
    InUse(String),
    /// The database URL names no supported backend.
    #[error("unsupported database URL (expected sqlite:// or postgres://)")]
    UnsupportedUrl,
}

/// The result of one command in a batch.
pub type CommandResult = Result<Outcome, Rejection>;

/// Everything Firehouse keeps.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Applies the commands in order, in one transaction; nothing is visible or durable before it
    /// returns `Ok`.
    /// The rules decide which dispatches each transition and session event writes to the outbox, in the same
    /// transaction.
    async fn apply(&self, batch: &[Command], rules: &RuleSet) -> Result<Vec<CommandResult>, StoreError>;
    /// Where this database's inbox lives (see [`sqlite::inbox`]); `None` when events are applied before they are
    /// answered (PostgreSQL, whose instances share the database).
    fn inbox(&self) -> Option<std::path::PathBuf>;
    /// [`Store::apply`] for commands read from the inbox: the same transaction records `through` as the last inbox
    /// entry applied, so each entry is applied exactly once whatever crashes. Shared, not borrowed: this is the hot
    /// path, and a backend that applies the batch on another thread need not copy it.
    async fn apply_inbox(
        &self,
        batch: Arc<[Command]>,
        rules: Arc<RuleSet>,
        through: i64,
    ) -> Result<Vec<CommandResult>, StoreError>;
    /// The last inbox entry applied (0: none yet).
    async fn inbox_applied_through(&self) -> Result<i64, StoreError>;
    /// Called once at shutdown, after the last write: leaves every commit in the database proper (for SQLite, the
    /// main file, so a copy of it alone is complete) and closes the connections.
    async fn close(&self) -> Result<(), StoreError>;
    /// Makes sure configured services exist (and updates their settings).
    async fn sync_services(&self, services: &[ServiceRef]) -> Result<(), StoreError>;
    /// Incidents, newest first, filtered and paged.
    async fn list_incidents(&self, q: &IncidentQuery) -> Result<IncidentPage, StoreError>;
    /// One incident.
    async fn get_incident(&self, r: &IncidentRef) -> Result<Option<Incident>, StoreError>;
    /// Every event of an incident, oldest first.
    async fn timeline(&self, incident_number: i64) -> Result<Vec<TimelineEntry>, StoreError>;
    /// Reads the newest incident's number: whether the database answers, at the cost of one index lookup.
    async fn ping(&self) -> Result<(), StoreError>;
    /// How many incidents are in each status.
    async fn status_counts(&self) -> Result<Vec<(IncidentStatus, i64)>, StoreError>;
    /// Change events of a service in a time window, oldest first.
    async fn change_events(&self, q: &ChangeQuery) -> Result<Vec<StoredChange>, StoreError>;
    /// Whether any held alert's pause is over at `now` (a cheap read before a [`Command::Release`]).
    async fn held_alerts_due(&self, now: Millis) -> Result<bool, StoreError>;
    /// Whether any pending dispatch is due (a cheap read before claiming).
    async fn dispatches_due(&self, now: Millis) -> Result<bool, StoreError>;
    /// Leases up to `limit` due dispatches to `owner` until `lease_until`, counting an attempt on each.
    /// A dispatch waits while an earlier one for the same incident and action is pending.
    async fn claim_dispatches(
        &self,
        owner: &str,
        now: Millis,
        lease_until: Millis,
        limit: u32,
    ) -> Result<Vec<DispatchRecord>, StoreError>;
    /// Records an attempt's outcome, if `owner` still holds the lease; returns whether it did.
    async fn finish_dispatch(&self, id: i64, owner: &str, update: &DispatchUpdate) -> Result<bool, StoreError>;
    /// Dispatches, newest first.
    async fn list_dispatches(&self, q: &DispatchQuery) -> Result<Vec<DispatchRecord>, StoreError>;
    /// One dispatch.
    async fn get_dispatch(&self, id: i64) -> Result<Option<DispatchRecord>, StoreError>;
    /// Puts a dead dispatch back in the queue with a new deadline; returns whether it was dead.
    async fn retry_dispatch(&self, id: i64, now: Millis, deadline: Millis) -> Result<bool, StoreError>;
    /// Creates a silence (its matchers already checked); returns it.
    async fn create_silence(&self, silence: &SilenceRecord) -> Result<SilenceRecord, StoreError>;
    /// Silences ending after `now` (`None`: all), newest first.
    async fn list_silences(&self, active_at: Option<Millis>) -> Result<Vec<SilenceRecord>, StoreError>;
    /// Ends a silence now; returns whether it existed and was not over.
    async fn expire_silence(&self, id: i64, now: Millis) -> Result<bool, StoreError>;
    /// Every service with its incident counts, by name.
    async fn list_services(&self) -> Result<Vec<ServiceRecord>, StoreError>;
    /// Events of the log, newest first.
    async fn search_events(&self, q: &EventQuery) -> Result<Vec<EventRecord>, StoreError>;
    /// Stores a new API token's hash; returns its record.
    async fn create_token(&self, name: &str, hash: &str, now: Millis) -> Result<TokenRecord, StoreError>;
    /// Every API token, newest first.
    async fn list_tokens(&self) -> Result<Vec<TokenRecord>, StoreError>;
    /// Revokes a token; returns whether it was active.
    async fn revoke_token(&self, id: i64, now: Millis) -> Result<bool, StoreError>;
    /// Whether any token is active (the API then requires one), and whether `hash` is one of them.
    async fn check_token(&self, hash: Option<&str>) -> Result<(bool, bool), StoreError>;
    /// When the next followed session is due for a poll (`None`: none is followed).
    async fn next_session_poll(&self) -> Result<Option<Millis>, StoreError>;
    /// Leases up to `limit` sessions due at `now` until `lease_until` (their next poll moves there); each
    /// claimed session's report is recorded with a [`Command::AgentSession`]. Sessions start being followed with a
    /// [`Command::TrackSession`].
    async fn claim_sessions(
        &self,
        now: Millis,
        lease_until: Millis,
        limit: u32,
    ) -> Result<Vec<AgentSessionRecord>, StoreError>;
    /// The sessions followed for an incident, oldest first.
    async fn agent_sessions(&self, incident_number: i64) -> Result<Vec<AgentSessionRecord>, StoreError>;
    /// The postmortem an agent delivered for an incident.
    async fn postmortem(&self, incident_number: i64) -> Result<Option<PostmortemRecord>, StoreError>;
}

/// Opens the store a database URL names, creating and migrating it as needed.
pub async fn open(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(sqlite::SqliteStore::open(url).await?))
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Ok(Arc::new(postgres::PgStore::open(url).await?))
    } else {
        Err(StoreError::UnsupportedUrl)
    }
}
