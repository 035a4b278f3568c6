//! What reads return and take: queries, pages and timeline entries.

use crate::domain::{Incident, IncidentStatus, Link, Millis};
use serde::Serialize;

/// Filters and paging for the incident list.
#[derive(Debug, Clone, Default)]
pub struct IncidentQuery {
    /// Only these statuses (empty: all).
    pub statuses: Vec<IncidentStatus>,
    /// Only this service.
    pub service: Option<String>,
    /// Only incidents opened by this dedup key.
    pub dedup_key: Option<String>,
    /// Page size.
    pub limit: u32,
    /// Incidents to skip.
    pub offset: u32,
}

/// One page of incidents.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct IncidentPage {
    /// The incidents, newest first.
    pub incidents: Vec<Incident>,
    /// Page size asked for.
    pub limit: u32,
    /// Incidents skipped.
    pub offset: u32,
    /// How many match in all.
    pub total: i64,
    /// Whether another page follows.
    pub more: bool,
}

/// One event on an incident's timeline.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TimelineEntry {
    /// The event's id.
    pub id: i64,
    /// When Firehouse received it.
    pub at: Millis,
    /// `v2`, `v1` or `api`.
    pub protocol: String,
    /// `trigger`, `acknowledge` or `resolve`.
    pub action: String,
    /// What it did: `opened`, `appended`, `acknowledged`, `resolved`, `unchanged`.
    pub outcome: String,
    /// Its summary, when it had one.
    pub summary: Option<String>,
    /// Its severity, when it had one.
    pub severity: Option<String>,
    /// The body as received, integration keys replaced by their fingerprints (for operator
    /// actions, who did it).
    pub raw: serde_json::Value,
}

/// Which change events to list.
#[derive(Debug, Clone)]
pub struct ChangeQuery {
    /// The service.
    pub service: String,
    /// From (inclusive).
    pub since: Millis,
    /// Until (inclusive).
    pub until: Millis,
    /// At most this many (the latest ones).
    pub limit: u32,
}

/// A stored change event.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StoredChange {
    /// Its id.
    pub id: i64,
    /// Its service.
    pub service: String,
    /// When it happened (the sender's time, else when it was received).
    pub at: Millis,
    /// What changed.
    pub summary: String,
    /// Where.
    pub source: Option<String>,
    /// Free-form details.
    pub custom_details: Option<serde_json::Value>,
    /// Links.
    pub links: Vec<Link>,
}

/// Where a dispatch is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DispatchStatus {
    /// Waiting for (another) attempt.
    Pending,
    /// Delivered.
    Done,
    /// Given up on: a permanent failure, or still failing at its deadline.
    Dead,
}

impl DispatchStatus {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            DispatchStatus::Pending => "pending",
            DispatchStatus::Done => "done",
            DispatchStatus::Dead => "dead",
        }
    }
}

impl std::str::FromStr for DispatchStatus {
    type Err = crate::domain::severity::UnknownValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "pending" => Ok(DispatchStatus::Pending),
            "done" => Ok(DispatchStatus::Done),
            "dead" => Ok(DispatchStatus::Dead),
            other => Err(crate::domain::severity::UnknownValue(other.to_owned())),
        }
    }
}

/// One dispatch: an action for an incident transition or an agent session event.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DispatchRecord {
    /// Its id.
    pub id: i64,
    /// `<incident id>:<rule>:<action>:<transition>`; a session event's adds what it is about: `:<session id>`
    /// (`session_started`, `postmortem_ready`) or `:<pull request URL>` (`pull_request_opened`).
    pub dispatch_key: String,
    /// The incident's number.
    pub incident_number: i64,
    /// The rule that matched.
    pub rule: String,
    /// The action.
    pub action: String,
    /// What caused it: `triggered`, `acknowledged`, `resolved`, or a session event: `session_started`,
    /// `pull_request_opened`, `postmortem_ready`.
    pub transition: String,
    /// Status.
    pub status: DispatchStatus,
    /// Attempts so far.
    pub attempts: i64,
    /// When the next attempt is due (pending only).
    pub next_attempt_at: Millis,
    /// The last failure.
    pub last_error: Option<String>,
    /// What the receiver gave back (e.g. `{"session_id", "url"}`).
    pub result: Option<serde_json::Value>,
    /// When it was created.
    pub created_at: Millis,
    /// When it is dead-lettered if still failing.
    pub deadline: Millis,
    /// Last change.
    pub updated_at: Millis,
}

/// Which dispatches to list.
#[derive(Debug, Clone, Default)]
pub struct DispatchQuery {
    /// Only this status.
    pub status: Option<DispatchStatus>,
    /// Only this incident.
    pub incident_number: Option<i64>,
    /// Page size.
    pub limit: u32,
    /// Skipped.
    pub offset: u32,
}

/// The outcome of an attempt, to record.
#[derive(Debug, Clone)]
pub struct DispatchUpdate {
    /// New status.
    pub status: DispatchStatus,
    /// Next attempt (pending).
    pub next_attempt_at: Millis,
    /// Failure text.
    pub last_error: Option<String>,
    /// Result (done).
    pub result: Option<serde_json::Value>,
    /// Now.
    pub at: Millis,
}

/// A silence as stored.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SilenceRecord {
    /// Its id.
    pub id: i64,
    /// Every matcher must match.
    pub matchers: Vec<crate::domain::rules::MatcherSpec>,
    /// From (inclusive).
    pub starts_at: Millis,
    /// Until (exclusive).
    pub ends_at: Millis,
    /// Who created it.
    pub created_by: String,
    /// Why.
    pub comment: String,
    /// When it was created.
    pub created_at: Millis,
}

impl SilenceRecord {
    /// The domain's silence; `None` when a stored matcher no longer compiles.
    pub fn compile(&self) -> Option<crate::domain::noise::Silence> {
        let matchers = self.matchers.iter().map(|m| m.compile().ok()).collect::<Option<Vec<_>>>()?;
        Some(crate::domain::noise::Silence { id: self.id, matchers, starts_at: self.starts_at, ends_at: self.ends_at })
    }
}

/// An API token as stored (its hash only).
#[derive(Debug, Clone, Serialize)]
pub struct TokenRecord {
    /// Its id.
    pub id: i64,
    /// What it is for.
    pub name: String,
    /// When it was created.
    pub created_at: Millis,
    /// When it was revoked.
    pub revoked_at: Option<Millis>,
}

/// A service and how many of its incidents are open.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ServiceRecord {
    /// Its name.
    pub name: String,
    /// `high`, `low` or `severity`.
    pub urgency: String,
    /// When it was first seen or configured.
    pub created_at: Millis,
    /// Incidents triggered or acknowledged.
    pub open_incidents: i64,
    /// Incidents in all.
    pub incidents: i64,
}

/// Which events to search.
#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    /// Only this dedup key.
    pub dedup_key: Option<String>,
    /// Only this service.
    pub service: Option<String>,
    /// Received at or after.
    pub since: Option<Millis>,
    /// Received before.
    pub until: Option<Millis>,
    /// Page size.
    pub limit: u32,
    /// Skipped.
    pub offset: u32,
}

/// One event of the log, as searched.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EventRecord {
    /// Its id.
    pub id: i64,
    /// When Firehouse received it.
    pub at: Millis,
    /// `v2`, `v1`, `api`, `pagerduty`, `ticket`.
    pub protocol: String,
    /// Its action.
    pub action: String,
    /// Its service.
    pub service: String,
    /// Its dedup key.
    pub dedup_key: Option<String>,
    /// What it did.
    pub outcome: String,
    /// The incident it applied to.
    pub incident_number: Option<i64>,
    /// Its summary.
    pub summary: Option<String>,
    /// Its severity.
    pub severity: Option<String>,
}
