//! The alert state machine: what one event does to the open alert with its dedup key.
//!
//! PagerDuty's rules, exactly: a trigger opens an alert or adds to the open one; acknowledge and
//! resolve act on the open alert only, and are dropped (yet logged) when there is none; after a
//! resolve the next trigger opens a new alert. "Open" is scoped to (integration key, dedup key),
//! which the store's lookup enforces.

use super::{EventAction, IncidentStatus};

/// What an event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// A new alert and incident were opened.
    Opened,
    /// A trigger was added to the open alert.
    Appended,
    /// The open alert was acknowledged.
    Acknowledged,
    /// The open alert was resolved.
    Resolved,
    /// A resolved incident was opened again (mirrored PagerDuty incidents, reopened tickets).
    Reopened,
    /// An acknowledged incident went back to triggered (PagerDuty's `incident.unacknowledged`).
    Unacknowledged,
    /// A new alert joined an open incident of its group instead of opening one (grouping).
    Grouped,
    /// The alert resolved; its incident stays open for its other alerts (grouping).
    AlertResolved,
    /// The alert resolved, but it is flapping: its incident is held open.
    HeldOpen,
    /// A new alert is waiting out its service's pause before it opens an incident.
    Held,
    /// Accepted but already in that state (e.g. acknowledging an acknowledged alert).
    Unchanged,
    /// Accepted and logged, but there was nothing to apply it to.
    Dropped(DropReason),
}

/// Why an accepted event changed nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// Acknowledge or resolve with no open alert for (integration key, dedup key).
    NoOpenAlert,
    /// A webhook delivery seen before (same delivery id): acknowledged, not applied again.
    Duplicate,
    /// A webhook event about nothing Firehouse mirrors (unknown type, another resource).
    Ignored,
    /// A held alert resolved within its pause: it was transient and opened nothing.
    Transient,
    /// A silence or maintenance window matched: stored, but opens nothing and runs nothing.
    Silenced,
}

impl Transition {
    /// The stored and exported spelling (the event's outcome).
    pub fn as_str(self) -> &'static str {
        match self {
            Transition::Opened => "opened",
            Transition::Appended => "appended",
            Transition::Acknowledged => "acknowledged",
            Transition::Resolved => "resolved",
            Transition::Reopened => "reopened",
            Transition::Unacknowledged => "unacknowledged",
            Transition::Grouped => "grouped",
            Transition::AlertResolved => "alert_resolved",
            Transition::HeldOpen => "held_open",
            Transition::Held => "held",
            Transition::Unchanged => "unchanged",
            Transition::Dropped(DropReason::NoOpenAlert) => "dropped",
            Transition::Dropped(DropReason::Duplicate) => "duplicate",
            Transition::Dropped(DropReason::Ignored) => "ignored",
            Transition::Dropped(DropReason::Transient) => "transient",
            Transition::Dropped(DropReason::Silenced) => "silenced",
        }
    }

    /// Every outcome word, for metrics that must list them up front.
    pub const OUTCOMES: [&'static str; 16] = [
        "grouped",
        "alert_resolved",
        "held_open",
        "held",
        "transient",
        "silenced",
        "opened",
        "appended",
        "acknowledged",
        "resolved",
        "reopened",
        "unacknowledged",
        "unchanged",
        "dropped",
        "duplicate",
        "ignored",
    ];

    /// The status the alert has after this transition, when it changed.
    pub fn new_status(self) -> Option<IncidentStatus> {
        match self {
            Transition::Opened | Transition::Reopened | Transition::Unacknowledged => Some(IncidentStatus::Triggered),
            Transition::Acknowledged => Some(IncidentStatus::Acknowledged),
            Transition::Resolved => Some(IncidentStatus::Resolved),
            Transition::Appended
            | Transition::Unchanged
            | Transition::Dropped(_)
            | Transition::Grouped
            | Transition::AlertResolved
            | Transition::HeldOpen
            | Transition::Held => None,
        }
    }
}

/// Applies an event's action to the status of the open alert with its key, if any.
pub fn apply(open: Option<IncidentStatus>, action: EventAction) -> Transition {
    match (open.filter(|s| s.is_open()), action) {
        (None, EventAction::Trigger) => Transition::Opened,
        (None, EventAction::Acknowledge | EventAction::Resolve) => Transition::Dropped(DropReason::NoOpenAlert),
        (Some(_), EventAction::Trigger) => Transition::Appended,
        (Some(IncidentStatus::Triggered), EventAction::Acknowledge) => Transition::Acknowledged,
        (Some(_), EventAction::Acknowledge) => Transition::Unchanged,
        (Some(_), EventAction::Resolve) => Transition::Resolved,
    }
}

/// An operator's action on an incident (API, CLI, UI).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManualAction {
    /// Acknowledge it.
    Acknowledge,
    /// Resolve it.
    Resolve,
}

impl ManualAction {
    /// The event action it is recorded as.
    pub fn as_event_action(self) -> EventAction {
        match self {
            ManualAction::Acknowledge => EventAction::Acknowledge,
            ManualAction::Resolve => EventAction::Resolve,
        }
    }
}

/// Why an operator's action was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ManualError {
    /// Resolved incidents stay resolved; a new trigger opens a new one.
    #[error("incident is already resolved")]
    AlreadyResolved,
}

/// Applies an operator's action to an incident in `status`.
pub fn apply_manual(status: IncidentStatus, action: ManualAction) -> Result<Transition, ManualError> {
    if status == IncidentStatus::Resolved {
        return Err(ManualError::AlreadyResolved);
    }
    Ok(apply(Some(status), action.as_event_action()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use EventAction::*;
    use IncidentStatus::*;

    #[test]
    fn trigger_opens_when_nothing_is_open_and_appends_otherwise() {
        assert_eq!(apply(None, Trigger), Transition::Opened);
        assert_eq!(apply(Some(Triggered), Trigger), Transition::Appended);
        assert_eq!(apply(Some(Acknowledged), Trigger), Transition::Appended);
    }

    #[test]
    fn a_trigger_after_resolve_opens_a_new_alert() {
        assert_eq!(apply(Some(Resolved), Trigger), Transition::Opened);
    }

    #[test]
    fn ack_and_resolve_without_an_open_alert_are_dropped() {
        let dropped = Transition::Dropped(DropReason::NoOpenAlert);
        assert_eq!(apply(None, Acknowledge), dropped);
        assert_eq!(apply(None, Resolve), dropped);
        assert_eq!(apply(Some(Resolved), Resolve), dropped);
        assert_eq!(apply(Some(Resolved), Acknowledge), dropped);
    }

    #[test]
    fn ack_then_resolve() {
        assert_eq!(apply(Some(Triggered), Acknowledge), Transition::Acknowledged);
        assert_eq!(apply(Some(Acknowledged), Acknowledge), Transition::Unchanged);
        assert_eq!(apply(Some(Acknowledged), Resolve), Transition::Resolved);
        assert_eq!(apply(Some(Triggered), Resolve), Transition::Resolved);
    }

    #[test]
    fn operators_cannot_reopen_or_touch_resolved_incidents() {
        assert_eq!(apply_manual(Resolved, ManualAction::Acknowledge), Err(ManualError::AlreadyResolved));
        assert_eq!(apply_manual(Triggered, ManualAction::Resolve), Ok(Transition::Resolved));
    }

    #[test]
    fn outcome_words_cover_every_transition() {
        for t in [
            Transition::Opened,
            Transition::Appended,
            Transition::Acknowledged,
            Transition::Resolved,
            Transition::Reopened,
            Transition::Unacknowledged,
            Transition::Unchanged,
            Transition::Dropped(DropReason::NoOpenAlert),
            Transition::Dropped(DropReason::Duplicate),
            Transition::Dropped(DropReason::Ignored),
            Transition::Dropped(DropReason::Transient),
            Transition::Dropped(DropReason::Silenced),
            Transition::Grouped,
            Transition::AlertResolved,
            Transition::HeldOpen,
            Transition::Held,
        ] {
            assert!(Transition::OUTCOMES.contains(&t.as_str()));
        }
    }
}
