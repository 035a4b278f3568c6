//! Applying commands inside a transaction: the domain decides, the backend's primitives write.
//!
//! Shared by every backend so that dedup and lifecycle behave identically on all of them. One file
//! per kind of command; this one holds the primitives a backend provides ([`IngestTx`]).

mod alerts;
mod dispatches;
mod external;
mod manual;
mod release;
mod sessions;

use super::{Command, CommandResult, IncidentRef, SilenceRecord, StoreError};
use crate::domain::external::Origin;
use crate::domain::noise::Silence;
use crate::domain::rules::{Facts, RuleSet};
use crate::domain::{IncidentStatus, Millis, Protocol, ServiceRef, Severity, Trigger, Urgency};

/// What rules look at, read back from an incident row.
#[derive(Debug, Clone)]
pub struct IncidentFacts {
    /// The incident's id.
    pub id: String,
    /// Service.
    pub service: String,
    /// Severity.
    pub severity: Severity,
    /// Urgency.
    pub urgency: Urgency,
    /// Title.
    pub title: String,
    /// Source.
    pub source: Option<String>,
    /// Component.
    pub component: Option<String>,
    /// Group.
    pub group: Option<String>,
    /// Class.
    pub class: Option<String>,
    /// Dedup key.
    pub dedup_key: String,
    /// Custom details of the opening alert.
    pub details: Option<serde_json::Value>,
    /// Labels (tickets).
    pub labels: Vec<String>,
}

impl IncidentFacts {
    /// The rules' view of these facts at `trigger` (a transition or a session event).
    pub fn facts(&self, trigger: Trigger) -> Facts<'_> {
        Facts {
            trigger,
            service: &self.service,
            severity: self.severity,
            urgency: self.urgency,
            summary: &self.title,
            source: self.source.as_deref(),
            component: self.component.as_deref(),
            group: self.group.as_deref(),
            class: self.class.as_deref(),
            dedup_key: &self.dedup_key,
            custom_details: self.details.as_ref(),
            labels: &self.labels,
        }
    }
}

/// What applying a batch needs besides its commands.
pub struct ApplyContext<'a> {
    /// Which dispatches transitions cause.
    pub rules: &'a RuleSet,
    /// Silences that may be active for the batch's commands.
    pub silences: &'a [Silence],
}

/// An alert waiting out its service's pause.
#[derive(Debug, Clone)]
pub struct HeldAlert {
    /// Its id.
    pub id: i64,
    /// The key it was sent with.
    pub integration_key: String,
    /// Its dedup key.
    pub dedup_key: String,
    /// Its service.
    pub service: String,
    /// The urgency its incident will have.
    pub urgency: Urgency,
    /// Summary.
    pub title: String,
    /// Severity.
    pub severity: Severity,
    /// Source.
    pub source: Option<String>,
    /// Component.
    pub component: Option<String>,
    /// Group.
    pub group: Option<String>,
    /// Class.
    pub class: Option<String>,
    /// Custom details.
    pub details: Option<serde_json::Value>,
    /// When it arrived.
    pub received_at: Millis,
    /// When it may open its incident.
    pub opens_at: Millis,
}

/// A dispatch to write to the outbox.
pub struct NewDispatch<'a> {
    /// `<incident id>:<rule>:<action>:<trigger>`, plus `:<subject>` for a session event (see
    /// [`crate::domain::trigger::dispatch_key`]).
    pub key: String,
    /// The incident.
    pub incident_number: i64,
    /// The rule.
    pub rule: &'a str,
    /// The action.
    pub action: &'a str,
    /// What caused it: the transition or session event (stored as the dispatch's `transition`).
    pub transition: Trigger,
    /// Now.
    pub at: Millis,
    /// When it is dead-lettered if still failing.
    pub deadline: Millis,
}

/// The open alert for an (integration key, dedup key).
#[derive(Debug, Clone)]
pub struct OpenAlert {
    /// The alert's row id.
    pub alert_id: i64,
    /// Its incident's number.
    pub incident_number: i64,
    /// Its incident's id.
    pub incident_id: String,
    /// Its status (triggered or acknowledged).
    pub status: IncidentStatus,
}

/// What an operator's action needs to know of an incident.
#[derive(Debug, Clone)]
pub struct IncidentHead {
    /// Its number.
    pub number: i64,
    /// Its id.
    pub id: String,
    /// Its service.
    pub service: String,
    /// Its status.
    pub status: IncidentStatus,
}

/// A new incident.
pub struct NewIncident<'a> {
    /// Its number, reserved with [`IngestTx::next_incident_number`].
    pub number: i64,
    /// Its UUID.
    pub id: &'a str,
    /// Owning service.
    pub service: &'a str,
    /// Dedup key (for mirrors and tickets: the external id).
    pub dedup_key: &'a str,
    /// Title.
    pub title: &'a str,
    /// Severity.
    pub severity: Severity,
    /// Urgency.
    pub urgency: Urgency,
    /// Source.
    pub source: Option<&'a str>,
    /// Component.
    pub component: Option<&'a str>,
    /// Group.
    pub group: Option<&'a str>,
    /// Class.
    pub class: Option<&'a str>,
    /// Custom details.
    pub details: Option<&'a serde_json::Value>,
    /// Where it came from.
    pub origin: Origin,
    /// Which configured webhook source (mirrors, tickets).
    pub origin_source: Option<&'a str>,
    /// The id in the other system.
    pub external_id: Option<&'a str>,
    /// The link in the other system.
    pub external_url: Option<&'a str>,
    /// Description (tickets).
    pub description: Option<&'a str>,
    /// Labels (tickets).
    pub labels: &'a [String],
    /// Its group key (grouping).
    pub group_key: Option<&'a str>,
    /// When it opened.
    pub at: Millis,
}

/// One row of the event log.
pub struct NewEvent<'a> {
    /// When it was received.
    pub at: Millis,
    /// How it came.
    pub protocol: Protocol,
    /// Its action word.
    pub action: &'a str,
    /// Its service.
    pub service: &'a str,
    /// Its dedup key.
    pub dedup_key: Option<&'a str>,
    /// What it did.
    pub outcome: &'a str,
    /// The alert it applied to.
    pub alert_id: Option<i64>,
    /// The incident it applied to.
    pub incident_number: Option<i64>,
    /// Its summary.
    pub summary: Option<&'a str>,
    /// Its severity.
    pub severity: Option<&'a str>,
    /// The body as received.
    pub raw: &'a str,
    /// The held alert it belongs to, while that waits out its pause.
    pub held_alert_id: Option<i64>,
}

/// The row-level operations a backend provides inside one transaction.
#[allow(async_fn_in_trait)]
pub trait IngestTx {
    /// Silences that have not ended by `since`.
    async fn active_silences(&mut self, since: Millis) -> Result<Vec<SilenceRecord>, StoreError>;
    /// The open (not resolved) alert for this key pair.
    async fn open_alert(&mut self, integration_key: &str, dedup_key: &str) -> Result<Option<OpenAlert>, StoreError>;
    /// Creates the service if it does not exist yet.
    async fn ensure_service(&mut self, service: &ServiceRef, at: Millis) -> Result<(), StoreError>;
    /// Reserves the number of the next incident.
    async fn next_incident_number(&mut self) -> Result<i64, StoreError>;
    /// Inserts the open alert for the event's key pair, returning its id; `None` when another writer
    /// opened one first (the unique index on open alerts refused the insert).
    async fn claim_alert(
        &mut self,
        incident_number: i64,
        integration_key: &str,
        dedup_key: &str,
        at: Millis,
    ) -> Result<Option<i64>, StoreError>;
    /// Inserts an incident.
    async fn insert_incident(&mut self, incident: &NewIncident<'_>) -> Result<(), StoreError>;
    /// Moves every open alert of an incident to `status`.
    async fn set_alerts_status(
        &mut self,
        incident_number: i64,
        status: IncidentStatus,
        at: Millis,
    ) -> Result<(), StoreError>;
    /// Moves an incident to `status`, stamping the matching time.
    async fn set_incident_status(
        &mut self,
        incident_number: i64,
        status: IncidentStatus,
        at: Millis,
    ) -> Result<(), StoreError>;
    /// An incident's identity and status.
    async fn find_incident(&mut self, r: &IncidentRef) -> Result<Option<IncidentHead>, StoreError>;
    /// Appends to the event log, returning the event id.
    async fn insert_event(&mut self, e: &NewEvent<'_>) -> Result<i64, StoreError>;
    /// What rules need to know of an incident.
    async fn incident_facts(&mut self, incident_number: i64) -> Result<IncidentFacts, StoreError>;
    /// Writes a dispatch to the outbox unless one with its key exists.
    async fn insert_dispatch(&mut self, d: &NewDispatch<'_>) -> Result<(), StoreError>;
    /// The alert held (paused) for this key pair.
    async fn held_alert(&mut self, integration_key: &str, dedup_key: &str) -> Result<Option<HeldAlert>, StoreError>;
    /// Holds an alert; returns its id.
    async fn insert_held(&mut self, held: &HeldAlert) -> Result<i64, StoreError>;
    /// Forgets a held alert.
    async fn delete_held(&mut self, id: i64) -> Result<(), StoreError>;
    /// Held alerts whose pause is over at `now`.
    async fn due_held(&mut self, now: Millis) -> Result<Vec<HeldAlert>, StoreError>;
    /// Files a held alert's events under the incident it opened.
    async fn adopt_held_events(&mut self, held_id: i64, incident_number: i64, alert_id: i64) -> Result<(), StoreError>;
    /// The open incident of `service` with `group_key`, opened at or after `since`.
    async fn group_incident(
        &mut self,
        service: &str,
        group_key: &str,
        since: Millis,
    ) -> Result<Option<IncidentHead>, StoreError>;
    /// The open, flapping incident of `service` an alert of this key pair belongs to.
    async fn flapping_incident(
        &mut self,
        service: &str,
        integration_key: &str,
        dedup_key: &str,
    ) -> Result<Option<IncidentHead>, StoreError>;
    /// How many alerts of this key pair resolved at or after `since`.
    async fn resolved_since(
        &mut self,
        integration_key: &str,
        dedup_key: &str,
        since: Millis,
    ) -> Result<i64, StoreError>;
    /// Marks an incident flapping (held open).
    async fn set_flapping(&mut self, incident_number: i64, at: Millis) -> Result<(), StoreError>;
    /// Flapping incidents with no open alert whose last alert resolved before `quiet_since`.
    async fn quiet_flapping(&mut self, service: &str, quiet_since: Millis) -> Result<Vec<i64>, StoreError>;
    /// Moves one alert to `status`.
    async fn set_alert_status(&mut self, alert_id: i64, status: IncidentStatus, at: Millis) -> Result<(), StoreError>;
    /// How many alerts of an incident are open.
    async fn open_alert_count(&mut self, incident_number: i64) -> Result<i64, StoreError>;
    /// Records a webhook delivery; `false` when it was recorded before (a redelivery).
    async fn record_delivery(&mut self, source: &str, delivery_id: &str, at: Millis) -> Result<bool, StoreError>;
    /// The incident standing for an object of another system.
    async fn find_external(
        &mut self,
        origin: Origin,
        source: &str,
        external_id: &str,
    ) -> Result<Option<IncidentHead>, StoreError>;
    /// Replaces an incident's labels.
    async fn set_labels(&mut self, incident_number: i64, labels: &[String]) -> Result<(), StoreError>;
    /// Stores a change event, returning its id.
    async fn insert_change(
        &mut self,
        service: &str,
        event: &crate::domain::ChangeEvent,
        raw: &str,
        at: Millis,
    ) -> Result<i64, StoreError>;
    /// Starts following an agent session; `false` when it is followed already.
    async fn insert_agent_session(&mut self, session: &crate::store::NewAgentSession) -> Result<bool, StoreError>;
    /// Applies a poll's report to its session's row if the session is still followed and was not polled since it
    /// was claimed; returns the session's incident number and URL when it did.
    async fn update_agent_session(
        &mut self,
        report: &crate::store::SessionReport,
        at: Millis,
    ) -> Result<Option<(i64, String)>, StoreError>;
    /// Stores (or replaces) an incident's postmortem.
    async fn upsert_postmortem(
        &mut self,
        incident_number: i64,
        session_id: &str,
        url: &str,
        body: &serde_json::Value,
        at: Millis,
    ) -> Result<(), StoreError>;
}

/// A new incident's id: time-ordered (UUIDv7), so the index on ids grows at its end instead of every new incident
/// rewriting a random page of it.
fn new_incident_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Applies a batch of commands inside one transaction the caller opened and will commit.
pub async fn apply_batch<T: IngestTx>(
    tx: &mut T,
    batch: &[Command],
    rules: &RuleSet,
) -> Result<Vec<CommandResult>, StoreError> {
    // Each command is checked against the silences at its own time, so read every one that was still on at the
    // earliest of them.
    let earliest = batch.iter().map(Command::received_at).min().unwrap_or(Millis(i64::MAX));
    let mut silences = Vec::new();
    for record in tx.active_silences(earliest).await? {
        match record.compile() {
            Some(s) => silences.push(s),
            None => tracing::warn!(silence = record.id, "a stored silence no longer compiles; it is ignored"),
        }
    }
    let ctx = ApplyContext { rules, silences: &silences };
    let mut results = Vec::with_capacity(batch.len());
    for cmd in batch {
        results.push(apply_command(tx, cmd, &ctx).await?);
    }
    Ok(results)
}

/// Applies one command.
pub async fn apply_command<T: IngestTx>(
    tx: &mut T,
    cmd: &Command,
    ctx: &ApplyContext<'_>,
) -> Result<CommandResult, StoreError> {
    let rules = ctx.rules;
    match cmd {
        Command::Alert { service, integration_key, protocol, event, raw, received_at } => {
            let alert = alerts::Incoming { service, key: integration_key.expose(), protocol: *protocol, event, raw };
            alerts::apply(tx, ctx, &alert, *received_at).await
        }
        Command::Release { services, now } => release::apply(tx, rules, services, *now).await,
        Command::Change { service, event, raw, received_at } => {
            alerts::apply_change(tx, service, event, raw, *received_at).await
        }
        Command::Manual { incident, action, actor, received_at } => {
            manual::apply(tx, rules, incident, *action, actor, *received_at).await
        }
        Command::Note { incident, author, text, received_at } => {
            manual::note(tx, incident, author, text, *received_at).await
        }
        Command::TrackSession { session, note } => sessions::track(tx, rules, session, note).await,
        Command::AgentSession { report, received_at } => sessions::apply(tx, rules, report, *received_at).await,
        Command::Mirror { source, service, delivery_id, event, raw, received_at } => {
            external::apply_mirror(tx, rules, source, service, delivery_id.as_deref(), event, raw, *received_at).await
        }
        Command::IgnoredTicket { source, service, delivery_id, kind, reason, raw, received_at } => {
            let (delivery_id, kind) = (delivery_id.as_deref(), kind.as_deref());
            let delivery = external::IgnoredDelivery { source, service, delivery_id, kind, reason };
            external::apply_ignored_ticket(tx, &delivery, raw, *received_at).await
        }
        Command::Ticket { source, service, severity, routed, delivery_id, ticket, raw, received_at } => {
            external::apply_ticket(
                tx,
                rules,
                external::TicketSource { name: source, service, severity: *severity, routed: *routed },
                delivery_id.as_deref(),
                ticket,
                raw,
                *received_at,
            )
            .await
        }
    }
}
