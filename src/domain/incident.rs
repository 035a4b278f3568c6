//! Incidents: what people and agents work on.

use super::{Millis, Severity, Urgency};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Where an incident is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum IncidentStatus {
    /// Open and paging.
    Triggered,
    /// Open; someone is on it.
    Acknowledged,
    /// Closed.
    Resolved,
}

impl IncidentStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [IncidentStatus; 3] =
        [IncidentStatus::Triggered, IncidentStatus::Acknowledged, IncidentStatus::Resolved];

    /// The wire and storage spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentStatus::Triggered => "triggered",
            IncidentStatus::Acknowledged => "acknowledged",
            IncidentStatus::Resolved => "resolved",
        }
    }

    /// Whether the incident is still open (triggered or acknowledged).
    pub fn is_open(self) -> bool {
        self != IncidentStatus::Resolved
    }
}

impl fmt::Display for IncidentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for IncidentStatus {
    type Err = super::severity::UnknownValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        IncidentStatus::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| super::severity::UnknownValue(s.to_owned()))
    }
}

/// An incident as stored.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Incident {
    /// Stable unique id (a UUID).
    pub id: String,
    /// Human-friendly sequence number.
    pub number: i64,
    /// Current status.
    pub status: IncidentStatus,
    /// Dedup key of the alert that opened it.
    pub dedup_key: String,
    /// Owning service's name.
    pub service: String,
    /// Title, from the first alert's summary.
    pub title: String,
    /// Severity of the first alert.
    pub severity: Severity,
    /// Urgency set when it opened.
    pub urgency: Urgency,
    /// Affected system, from the first alert.
    pub source: Option<String>,
    /// Component, from the first alert.
    pub component: Option<String>,
    /// Group, from the first alert.
    pub group: Option<String>,
    /// Class, from the first alert.
    pub class: Option<String>,
    /// When it opened.
    pub created_at: Millis,
    /// When it was (last) acknowledged.
    pub acknowledged_at: Option<Millis>,
    /// When it resolved.
    pub resolved_at: Option<Millis>,
    /// When its status last changed.
    pub updated_at: Millis,
    /// How many events its timeline holds.
    pub event_count: i64,
    /// When its latest event arrived.
    pub last_event_at: Option<Millis>,
    /// Where it came from: `events`, `pagerduty` (a mirror) or `ticket`.
    pub origin: super::external::Origin,
    /// Its id in the other system (PagerDuty incident id, ticket id).
    pub external_id: Option<String>,
    /// Its page in the other system.
    pub external_url: Option<String>,
    /// Description (tickets).
    pub description: Option<String>,
    /// Labels (tickets).
    pub labels: Vec<String>,
}
