//! Incidents of other systems: PagerDuty incidents mirrored from v3 webhooks, and tickets.
//!
//! Both are keyed by their id in the other system (per configured source), and both go through the
//! same rules and outbox as native incidents.

use super::dispatches;
use super::{IncidentHead, IngestTx, NewEvent, NewIncident};
use crate::domain::external::{mirror_change, mirror_transition, MirrorChange, Origin, PagerDutyEvent, Ticket};
use crate::domain::lifecycle::DropReason;
use crate::domain::rules::RuleSet;
use crate::domain::{IncidentStatus, Millis, Protocol, ServiceRef, Severity, Transition};
use crate::store::{CommandResult, Outcome, StoreError};

/// A configured ticket source.
pub struct TicketSource<'a> {
    /// Its name (the path segment).
    pub name: &'a str,
    /// The service its tickets belong to.
    pub service: &'a ServiceRef,
    /// The severity its tickets get.
    pub severity: Severity,
    /// Whether the ticket carries a label the source routes.
    pub routed: bool,
}

/// `false` (and an outcome to answer with) when the delivery was applied before.
async fn first_delivery<T: IngestTx>(
    tx: &mut T,
    source: &str,
    delivery_id: Option<&str>,
    at: Millis,
) -> Result<bool, StoreError> {
    match delivery_id {
        Some(id) => tx.record_delivery(source, id, at).await,
        None => Ok(true),
    }
}

fn duplicate() -> CommandResult {
    Ok(Outcome { transition: Transition::Dropped(DropReason::Duplicate), incident: None, event_id: 0 })
}

/// Applies a PagerDuty v3 event to its mirror, creating the mirror when it is the first word of it.
#[allow(clippy::too_many_arguments)]
pub async fn apply_mirror<T: IngestTx>(
    tx: &mut T,
    rules: &RuleSet,
    source: &str,
    service: &ServiceRef,
    delivery_id: Option<&str>,
    event: &PagerDutyEvent,
    raw: &str,
    at: Millis,
) -> Result<CommandResult, StoreError> {
    if !first_delivery(tx, source, delivery_id, at).await? {
        return Ok(duplicate());
    }
    let change = mirror_change(&event.event_type);
    let pd_id = event.incident.as_ref().map(|i| i.id.as_str()).or(event.incident_id.as_deref());
    let existing = match (change, pd_id) {
        (MirrorChange::Ignore, _) | (_, None) => None,
        (_, Some(id)) => tx.find_external(Origin::PagerDuty, source, id).await?,
    };
    let (transition, target) = match (change, existing, &event.incident) {
        (MirrorChange::Ignore, _, _) | (_, None, None) => (Transition::Dropped(DropReason::Ignored), None),
        (_, Some(head), _) => {
            let t = mirror_transition(head.status, change);
            if let Some(status) = t.new_status() {
                dispatches::transition(tx, rules, head.number, status, at).await?;
            }
            (t, Some((head.id, head.number)))
        }
        (_, None, Some(pd)) => {
            tx.ensure_service(service, at).await?;
            let number = tx.next_incident_number().await?;
            let id = super::new_incident_id();
            let severity = pd.severity();
            tx.insert_incident(&NewIncident {
                number,
                id: &id,
                service: &service.name,
                dedup_key: pd.incident_key.as_deref().unwrap_or(&pd.id),
                title: &pd.title,
                severity,
                urgency: pd.urgency.unwrap_or_else(|| service.urgency.urgency_for(severity)),
                source: None,
                component: None,
                group: None,
                class: None,
                details: None,
                origin: Origin::PagerDuty,
                origin_source: Some(source),
                external_id: Some(&pd.id),
                external_url: pd.html_url.as_deref(),
                description: None,
                labels: &[],
                group_key: None,
                at: pd.created_at.unwrap_or(at),
            })
            .await?;
            dispatches::enqueue(tx, rules, number, IncidentStatus::Triggered, at).await?;
            // The first event Firehouse hears of may be a later one (an acknowledge, a resolve).
            let then = mirror_transition(IncidentStatus::Triggered, change);
            if let Some(status) = then.new_status() {
                dispatches::transition(tx, rules, number, status, at).await?;
            }
            (Transition::Opened, Some((id, number)))
        }
    };
    let summary = event.note.as_deref().or(event.incident.as_ref().map(|i| i.title.as_str()));
    let event_id = tx
        .insert_event(&NewEvent {
            at,
            protocol: Protocol::PagerDuty,
            action: &event.event_type,
            service: &service.name,
            dedup_key: pd_id,
            outcome: transition.as_str(),
            alert_id: None,
            incident_number: target.as_ref().map(|t| t.1),
            summary,
            severity: None,
            raw,
            held_alert_id: None,
        })
        .await?;
    Ok(Ok(Outcome { transition, incident: target, event_id }))
}

/// Applies a ticket event: the first opens the ticket's incident, later ones update its labels.
pub async fn apply_ticket<T: IngestTx>(
    tx: &mut T,
    rules: &RuleSet,
    source: TicketSource<'_>,
    delivery_id: Option<&str>,
    ticket: &Ticket,
    raw: &str,
    at: Millis,
) -> Result<CommandResult, StoreError> {
    if !first_delivery(tx, source.name, delivery_id, at).await? {
        return Ok(duplicate());
    }
    if !source.routed {
        // Answered, so kept in the event log; but no label asks for it to be acted on.
        let transition = Transition::Dropped(DropReason::Ignored);
        let event_id = tx.insert_event(&ticket_event(source, ticket, transition, None, raw, at)).await?;
        return Ok(Ok(Outcome { transition, incident: None, event_id }));
    }
    let (transition, target) = match tx.find_external(Origin::Ticket, source.name, &ticket.id).await? {
        Some(IncidentHead { number, id, status, .. }) => {
            tx.set_labels(number, &ticket.labels).await?;
            let t = if status == IncidentStatus::Resolved && ticket.action.starts_with("reopen") {
                dispatches::transition(tx, rules, number, IncidentStatus::Triggered, at).await?;
                Transition::Reopened
            } else {
                Transition::Appended
            };
            (t, (id, number))
        }
        None => {
            let service = source.service;
            tx.ensure_service(service, at).await?;
            let number = tx.next_incident_number().await?;
            let id = super::new_incident_id();
            tx.insert_incident(&NewIncident {
                number,
                id: &id,
                service: &service.name,
                dedup_key: &ticket.id,
                title: &ticket.title,
                severity: source.severity,
                urgency: service.urgency.urgency_for(source.severity),
                source: ticket.reporter.as_deref(),
                component: None,
                group: None,
                class: None,
                details: None,
                origin: Origin::Ticket,
                origin_source: Some(source.name),
                external_id: Some(&ticket.id),
                external_url: ticket.url.as_deref(),
                description: Some(&ticket.description),
                labels: &ticket.labels,
                group_key: None,
                at,
            })
            .await?;
            dispatches::enqueue(tx, rules, number, IncidentStatus::Triggered, at).await?;
            (Transition::Opened, (id, number))
        }
    };
    let event_id = tx.insert_event(&ticket_event(source, ticket, transition, Some(target.1), raw, at)).await?;
    Ok(Ok(Outcome { transition, incident: Some(target), event_id }))
}

/// A tracker's delivery that is not acted on.
pub struct IgnoredDelivery<'a> {
    /// The configured webhook source.
    pub source: &'a str,
    /// The service its tickets belong to.
    pub service: &'a ServiceRef,
    /// The delivery's id, if the tracker sent one.
    pub delivery_id: Option<&'a str>,
    /// What the tracker called it.
    pub kind: Option<&'a str>,
    /// Why it is not acted on.
    pub reason: &'a str,
}

/// Keeps an ignored delivery in the event log (once per delivery id), touching no incident.
pub async fn apply_ignored_ticket<T: IngestTx>(
    tx: &mut T,
    delivery: &IgnoredDelivery<'_>,
    raw: &str,
    at: Millis,
) -> Result<CommandResult, StoreError> {
    if !first_delivery(tx, delivery.source, delivery.delivery_id, at).await? {
        return Ok(duplicate());
    }
    let transition = Transition::Dropped(DropReason::Ignored);
    let event_id = tx
        .insert_event(&NewEvent {
            at,
            protocol: Protocol::Ticket,
            action: delivery.kind.unwrap_or("unknown"),
            service: &delivery.service.name,
            dedup_key: None,
            outcome: transition.as_str(),
            alert_id: None,
            incident_number: None,
            summary: Some(delivery.reason),
            severity: None,
            raw,
            held_alert_id: None,
        })
        .await?;
    Ok(Ok(Outcome { transition, incident: None, event_id }))
}

/// A ticket delivery's row in the event log.
fn ticket_event<'a>(
    source: TicketSource<'a>,
    ticket: &'a Ticket,
    transition: Transition,
    incident_number: Option<i64>,
    raw: &'a str,
    at: Millis,
) -> NewEvent<'a> {
    NewEvent {
        at,
        protocol: Protocol::Ticket,
        action: &ticket.action,
        service: &source.service.name,
        dedup_key: Some(&ticket.id),
        outcome: transition.as_str(),
        alert_id: None,
        incident_number,
        summary: Some(&ticket.title),
        severity: None,
        raw,
        held_alert_id: None,
    }
}
