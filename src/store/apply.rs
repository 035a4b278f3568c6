//! Applying commands inside a transaction: the domain decides, the backend's primitives write.
//!
//! Shared by every backend so that dedup and lifecycle behave identically on all of them.

use super::{Command, CommandResult, IncidentRef, Outcome, Rejection};
use crate::domain::rules::{Facts, RuleSet};
use crate::domain::{
    lifecycle, AlertEvent, IncidentStatus, Millis, Protocol, ServiceRef, Severity, Transition, Urgency,
};

/// How long a dispatch keeps being retried before it is dead-lettered (PagerDuty's 48 hours).
pub const DISPATCH_MAX_AGE_MS: i64 = 48 * 3600 * 1000;

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
}

impl IncidentFacts {
    /// The rules' view of these facts at `transition`.
    pub fn facts(&self, transition: IncidentStatus) -> Facts<'_> {
        Facts {
            transition,
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
        }
    }
}

/// A dispatch to write to the outbox.
pub struct NewDispatch<'a> {
    /// `<incident id>:<rule>:<action>:<transition>`.
    pub key: String,
    /// The incident.
    pub incident_number: i64,
    /// The rule.
    pub rule: &'a str,
    /// The action.
    pub action: &'a str,
    /// The transition.
    pub transition: IncidentStatus,
    /// Now.
    pub at: Millis,
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
    /// The opening event.
    pub event: &'a AlertEvent,
    /// Its urgency.
    pub urgency: crate::domain::Urgency,
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
}

/// The row-level operations a backend provides inside one transaction.
#[allow(async_fn_in_trait)]
pub trait IngestTx {
    /// The open (not resolved) alert for this key pair.
    async fn open_alert(&mut self, integration_key: &str, dedup_key: &str) -> Result<Option<OpenAlert>, sqlx::Error>;
    /// Creates the service if it does not exist yet.
    async fn ensure_service(&mut self, service: &ServiceRef, at: Millis) -> Result<(), sqlx::Error>;
    /// Reserves the number of the next incident.
    async fn next_incident_number(&mut self) -> Result<i64, sqlx::Error>;
    /// Inserts the open alert for the event's key pair, returning its id; `None` when another writer
    /// opened one first (the unique index on open alerts refused the insert).
    async fn claim_alert(
        &mut self,
        incident_number: i64,
        integration_key: &str,
        event: &AlertEvent,
        at: Millis,
    ) -> Result<Option<i64>, sqlx::Error>;
    /// Inserts an incident.
    async fn insert_incident(&mut self, incident: &NewIncident<'_>) -> Result<(), sqlx::Error>;
    /// Moves every open alert of an incident to `status`.
    async fn set_alerts_status(
        &mut self,
        incident_number: i64,
        status: IncidentStatus,
        at: Millis,
    ) -> Result<(), sqlx::Error>;
    /// Moves an incident to `status`, stamping the matching time.
    async fn set_incident_status(
        &mut self,
        incident_number: i64,
        status: IncidentStatus,
        at: Millis,
    ) -> Result<(), sqlx::Error>;
    /// An incident's identity and status.
    async fn find_incident(&mut self, r: &IncidentRef) -> Result<Option<IncidentHead>, sqlx::Error>;
    /// Appends to the event log, returning the event id.
    async fn insert_event(&mut self, e: &NewEvent<'_>) -> Result<i64, sqlx::Error>;
    /// What rules need to know of an incident.
    async fn incident_facts(&mut self, incident_number: i64) -> Result<IncidentFacts, sqlx::Error>;
    /// Writes a dispatch to the outbox unless one with its key exists.
    async fn insert_dispatch(&mut self, d: &NewDispatch<'_>) -> Result<(), sqlx::Error>;
    /// Stores a change event, returning its id.
    async fn insert_change(
        &mut self,
        service: &str,
        event: &crate::domain::ChangeEvent,
        raw: &str,
        at: Millis,
    ) -> Result<i64, sqlx::Error>;
}

/// Opens an alert and its incident; `None` when a concurrent writer opened the alert first.
async fn open_incident<T: IngestTx>(
    tx: &mut T,
    service: &ServiceRef,
    key: &str,
    event: &AlertEvent,
    at: Millis,
) -> Result<Option<(i64, i64, String)>, sqlx::Error> {
    let details = event.details.as_ref().expect("the wire layer requires details on triggers");
    tx.ensure_service(service, at).await?;
    let number = tx.next_incident_number().await?;
    let Some(alert_id) = tx.claim_alert(number, key, event, at).await? else {
        return Ok(None);
    };
    let id = uuid::Uuid::new_v4().to_string();
    let urgency = service.urgency.urgency_for(details.severity);
    tx.insert_incident(&NewIncident { number, id: &id, service: &service.name, event, urgency, at }).await?;
    Ok(Some((alert_id, number, id)))
}

/// Writes the dispatches the rules attach to an incident's transition.
async fn enqueue_dispatches<T: IngestTx>(
    tx: &mut T,
    rules: &RuleSet,
    incident_number: i64,
    status: IncidentStatus,
    at: Millis,
) -> Result<(), sqlx::Error> {
    if !rules.watches(status) {
        return Ok(());
    }
    let facts = tx.incident_facts(incident_number).await?;
    for (rule, action) in rules.select(&facts.facts(status)) {
        let key = format!("{}:{rule}:{action}:{}", facts.id, status.as_str());
        tx.insert_dispatch(&NewDispatch { key, incident_number, rule, action, transition: status, at }).await?;
    }
    Ok(())
}

/// Applies one command.
pub async fn apply_command<T: IngestTx>(
    tx: &mut T,
    cmd: &Command,
    rules: &RuleSet,
) -> Result<CommandResult, sqlx::Error> {
    match cmd {
        Command::Alert { service, integration_key, protocol, event, raw, received_at } => {
            let key = integration_key.expose();
            // Another instance may open the same alert between our lookup and our insert; the unique
            // index on open alerts makes one of us lose, and the loser applies the event to the winner's.
            let mut attempts = 0;
            let (transition, target) = loop {
                attempts += 1;
                let open = tx.open_alert(key, event.dedup_key.as_str()).await?;
                let transition = lifecycle::apply(open.as_ref().map(|a| a.status), event.action);
                let target = open.map(|a| (a.alert_id, a.incident_number, a.incident_id));
                match transition {
                    Transition::Opened => {
                        if let Some(opened) = open_incident(tx, service, key, event, *received_at).await? {
                            break (transition, Some(opened));
                        }
                        if attempts >= 3 {
                            return Err(sqlx::Error::Protocol(
                                "the open alert kept changing under a concurrent writer".into(),
                            ));
                        }
                    }
                    Transition::Acknowledged | Transition::Resolved => {
                        let (_, number, _) = target.as_ref().expect("only open alerts are acknowledged or resolved");
                        let status = transition.new_status().expect("a status-changing transition");
                        tx.set_alerts_status(*number, status, *received_at).await?;
                        tx.set_incident_status(*number, status, *received_at).await?;
                        break (transition, target);
                    }
                    Transition::Appended | Transition::Unchanged | Transition::Dropped(_) => {
                        break (transition, target)
                    }
                }
            };
            if let (Some(status), Some((_, number, _))) = (transition.new_status(), target.as_ref()) {
                enqueue_dispatches(tx, rules, *number, status, *received_at).await?;
            }
            let details = event.details.as_ref();
            let event_id = tx
                .insert_event(&NewEvent {
                    at: *received_at,
                    protocol: *protocol,
                    action: event.action.as_str(),
                    service: &service.name,
                    dedup_key: Some(event.dedup_key.as_str()),
                    outcome: transition.as_str(),
                    alert_id: target.as_ref().map(|t| t.0),
                    incident_number: target.as_ref().map(|t| t.1),
                    summary: details.map(|d| d.summary.as_str()),
                    severity: details.map(|d| d.severity.as_str()),
                    raw,
                })
                .await?;
            Ok(Ok(Outcome { transition, incident: target.map(|(_, n, id)| (id, n)), event_id }))
        }
        Command::Change { service, event, raw, received_at } => {
            tx.ensure_service(service, *received_at).await?;
            let event_id = tx.insert_change(&service.name, event, raw, *received_at).await?;
            Ok(Ok(Outcome { transition: Transition::Unchanged, incident: None, event_id }))
        }
        Command::Manual { incident, action, actor, received_at } => {
            let Some(IncidentHead { number, id, service, status }) = tx.find_incident(incident).await? else {
                return Ok(Err(Rejection::IncidentNotFound));
            };
            let transition = match lifecycle::apply_manual(status, *action) {
                Ok(t) => t,
                Err(e) => return Ok(Err(e.into())),
            };
            if let Some(new_status) = transition.new_status() {
                tx.set_alerts_status(number, new_status, *received_at).await?;
                tx.set_incident_status(number, new_status, *received_at).await?;
                enqueue_dispatches(tx, rules, number, new_status, *received_at).await?;
            }
            let raw = serde_json::json!({ "actor": actor }).to_string();
            let event_id = tx
                .insert_event(&NewEvent {
                    at: *received_at,
                    protocol: Protocol::Api,
                    action: action.as_event_action().as_str(),
                    service: &service,
                    dedup_key: None,
                    outcome: transition.as_str(),
                    alert_id: None,
                    incident_number: Some(number),
                    summary: None,
                    severity: None,
                    raw: &raw,
                })
                .await?;
            Ok(Ok(Outcome { transition, incident: Some((id, number)), event_id }))
        }
    }
}
