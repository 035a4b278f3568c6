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
#[derive(Debug, Clone, Serialize)]
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
#[derive(Debug, Clone, Serialize)]
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
    /// The body as received (for operator actions, who did it).
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
#[derive(Debug, Clone, Serialize)]
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
