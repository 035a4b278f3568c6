//! Incidents and tickets that live in other systems: PagerDuty incidents mirrored from its v3
//! webhooks, and tickets from trackers. Both become Firehouse incidents, so the same rules and
//! actions run on them.

use super::{IncidentStatus, Millis, Severity, Urgency};

/// Where an incident came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// Firehouse's own Events API intake.
    Events,
    /// A PagerDuty incident, mirrored from Generic Webhooks v3.
    PagerDuty,
    /// A ticket from a tracker.
    Ticket,
}

impl Origin {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Events => "events",
            Origin::PagerDuty => "pagerduty",
            Origin::Ticket => "ticket",
        }
    }
}

impl std::str::FromStr for Origin {
    type Err = super::severity::UnknownValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "events" => Ok(Origin::Events),
            "pagerduty" => Ok(Origin::PagerDuty),
            "ticket" => Ok(Origin::Ticket),
            other => Err(super::severity::UnknownValue(other.to_owned())),
        }
    }
}

/// A PagerDuty incident as a v3 webhook describes it (`event.data` of an incident event).
#[derive(Debug, Clone, PartialEq)]
pub struct PagerDutyIncident {
    /// PagerDuty's id, e.g. `PGR0VU2`.
    pub id: String,
    /// PagerDuty's incident number.
    pub number: Option<i64>,
    /// Title.
    pub title: String,
    /// `triggered`, `acknowledged` or `resolved`.
    pub status: Option<IncidentStatus>,
    /// `high` or `low`.
    pub urgency: Option<Urgency>,
    /// Priority name, e.g. `P1`.
    pub priority: Option<String>,
    /// The service's name (`service.summary`).
    pub service: Option<String>,
    /// Link to the incident in PagerDuty.
    pub html_url: Option<String>,
    /// The incident key (dedup key).
    pub incident_key: Option<String>,
    /// When PagerDuty created it.
    pub created_at: Option<Millis>,
}

impl PagerDutyIncident {
    /// Severity from priority (P1 critical, P2 error, P3 warning, P4/P5 info), else from urgency.
    pub fn severity(&self) -> Severity {
        let by_priority = self.priority.as_deref().map(str::trim).and_then(|p| match p.to_ascii_uppercase().as_str() {
            "P1" | "SEV-1" | "SEV1" => Some(Severity::Critical),
            "P2" | "SEV-2" | "SEV2" => Some(Severity::Error),
            "P3" | "SEV-3" | "SEV3" => Some(Severity::Warning),
            "P4" | "P5" | "SEV-4" | "SEV4" | "SEV-5" | "SEV5" => Some(Severity::Info),
            _ => None,
        });
        by_priority.unwrap_or(match self.urgency {
            Some(Urgency::Low) => Severity::Warning,
            _ => Severity::Critical,
        })
    }
}

/// One PagerDuty v3 webhook event.
#[derive(Debug, Clone, PartialEq)]
pub struct PagerDutyEvent {
    /// The event's id (unique per event).
    pub id: String,
    /// e.g. `incident.triggered`; unknown types are kept and ignored.
    pub event_type: String,
    /// `incident`, `service`, …
    pub resource_type: String,
    /// When it happened.
    pub occurred_at: Option<Millis>,
    /// Who did it (`agent.summary`), when a person did.
    pub agent: Option<String>,
    /// The incident, for incident events that carry one (`incident.annotated` carries a note instead).
    pub incident: Option<PagerDutyIncident>,
    /// For `incident.annotated`: the note's text.
    pub note: Option<String>,
    /// For `incident.annotated` and other events about an incident without its full body: its id.
    pub incident_id: Option<String>,
}

/// What a PagerDuty event does to its mirror.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MirrorChange {
    /// Open the mirror (or, when it exists, bring it to `triggered`).
    Trigger,
    /// Acknowledge.
    Acknowledge,
    /// Back to triggered (`incident.unacknowledged`).
    Unacknowledge,
    /// Resolve.
    Resolve,
    /// Resolved incident opened again (`incident.reopened`).
    Reopen,
    /// Recorded on the timeline, status unchanged (priority, notes, reassignment, …).
    Record,
    /// Not about an incident Firehouse mirrors: accepted and ignored.
    Ignore,
}

/// What a v3 event type does.
pub fn mirror_change(event_type: &str) -> MirrorChange {
    match event_type {
        "incident.triggered" => MirrorChange::Trigger,
        "incident.acknowledged" => MirrorChange::Acknowledge,
        "incident.unacknowledged" => MirrorChange::Unacknowledge,
        "incident.resolved" => MirrorChange::Resolve,
        "incident.reopened" => MirrorChange::Reopen,
        t if t.starts_with("incident.") => MirrorChange::Record,
        _ => MirrorChange::Ignore,
    }
}

/// What a PagerDuty event does to an existing mirror in `status` (`Record` appends to its timeline).
pub fn mirror_transition(status: IncidentStatus, change: MirrorChange) -> super::Transition {
    use super::Transition as T;
    use IncidentStatus::*;
    match (change, status) {
        (MirrorChange::Trigger | MirrorChange::Reopen, Resolved) => T::Reopened,
        (MirrorChange::Trigger | MirrorChange::Record, _) => T::Appended,
        (MirrorChange::Acknowledge, Triggered) => T::Acknowledged,
        (MirrorChange::Unacknowledge, Acknowledged) => T::Unacknowledged,
        (MirrorChange::Resolve, Triggered | Acknowledged) => T::Resolved,
        (MirrorChange::Acknowledge | MirrorChange::Unacknowledge | MirrorChange::Resolve | MirrorChange::Reopen, _) => {
            T::Unchanged
        }
        (MirrorChange::Ignore, _) => T::Unchanged,
    }
}

/// A ticket from a tracker, in one shape whatever the tracker.
#[derive(Debug, Clone, PartialEq)]
pub struct Ticket {
    /// The tracker's id or key (`PROJ-123`, `#42`, …).
    pub id: String,
    /// Title.
    pub title: String,
    /// Description (may be empty).
    pub description: String,
    /// Labels.
    pub labels: Vec<String>,
    /// Link to the ticket.
    pub url: Option<String>,
    /// Who filed it.
    pub reporter: Option<String>,
    /// What happened to it (`opened`, `labeled`, `created`, `updated`, …).
    pub action: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn incident(priority: Option<&str>, urgency: Option<Urgency>) -> PagerDutyIncident {
        PagerDutyIncident {
            id: "P1".into(),
            number: None,
            title: "t".into(),
            status: None,
            urgency,
            priority: priority.map(str::to_owned),
            service: None,
            html_url: None,
            incident_key: None,
            created_at: None,
        }
    }

    #[test]
    fn severity_follows_priority_then_urgency() {
        assert_eq!(incident(Some("P1"), Some(Urgency::Low)).severity(), Severity::Critical);
        assert_eq!(incident(Some("P2"), None).severity(), Severity::Error);
        assert_eq!(incident(Some("P4"), None).severity(), Severity::Info);
        assert_eq!(incident(None, Some(Urgency::Low)).severity(), Severity::Warning);
        assert_eq!(incident(None, Some(Urgency::High)).severity(), Severity::Critical);
    }

    #[test]
    fn mirrors_follow_pagerduty() {
        use super::super::Transition as T;
        use IncidentStatus::*;
        assert_eq!(mirror_transition(Triggered, MirrorChange::Acknowledge), T::Acknowledged);
        assert_eq!(mirror_transition(Acknowledged, MirrorChange::Unacknowledge), T::Unacknowledged);
        assert_eq!(mirror_transition(Acknowledged, MirrorChange::Resolve), T::Resolved);
        assert_eq!(mirror_transition(Resolved, MirrorChange::Reopen), T::Reopened);
        assert_eq!(mirror_transition(Resolved, MirrorChange::Resolve), T::Unchanged);
        assert_eq!(mirror_transition(Triggered, MirrorChange::Record), T::Appended);
        assert_eq!(mirror_transition(Triggered, MirrorChange::Trigger), T::Appended);
    }

    #[test]
    fn event_types_map_to_changes() {
        assert_eq!(mirror_change("incident.triggered"), MirrorChange::Trigger);
        assert_eq!(mirror_change("incident.reopened"), MirrorChange::Reopen);
        assert_eq!(mirror_change("incident.priority_updated"), MirrorChange::Record);
        assert_eq!(mirror_change("incident.annotated"), MirrorChange::Record);
        assert_eq!(mirror_change("service.updated"), MirrorChange::Ignore);
        assert_eq!(mirror_change("pagey.unknown"), MirrorChange::Ignore);
    }
}
