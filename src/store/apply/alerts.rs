//! Alert events (Events API v1/v2) and change events.
//!
//! An event acts on the open alert of its (integration key, dedup key). When there is none, a
//! trigger may be silenced, held for its service's pause, attached to a flapping or grouped incident,
//! or open an incident of its own — in that order.

use super::dispatches;
use super::{ApplyContext, HeldAlert, IncidentHead, IngestTx, NewEvent, NewIncident};
use crate::domain::external::Origin;
use crate::domain::lifecycle::DropReason;
use crate::domain::rules::Facts;
use crate::domain::{
    lifecycle, AlertEvent, ChangeEvent, EventAction, IncidentStatus, Millis, Protocol, ServiceRef, Severity,
    Transition, Urgency,
};
use crate::store::{CommandResult, Outcome, StoreError};

/// An alert event as the intake hands it over.
pub struct Incoming<'a> {
    /// Its service.
    pub service: &'a ServiceRef,
    /// The integration key it came with.
    pub key: &'a str,
    /// How it came.
    pub protocol: Protocol,
    /// The event.
    pub event: &'a AlertEvent,
    /// The body as received.
    pub raw: &'a str,
}

/// Where an event landed: the alert and incident it applied to, or the held alert it waits with.
#[derive(Default)]
pub(super) struct Target {
    pub(super) alert_id: Option<i64>,
    pub(super) incident: Option<(String, i64)>,
    pub(super) held_id: Option<i64>,
}

/// Applies an alert event.
pub async fn apply<T: IngestTx>(
    tx: &mut T,
    ctx: &ApplyContext<'_>,
    a: &Incoming<'_>,
    at: Millis,
) -> Result<CommandResult, StoreError> {
    let dedup = a.event.dedup_key.as_str();
    // Another instance may open the same alert between our lookup and our insert; the unique
    // index on open alerts makes one of us lose, and the loser applies the event to the winner's.
    let mut attempts = 0;
    let (transition, target) = loop {
        attempts += 1;
        if let Some(open) = tx.open_alert(a.key, dedup).await? {
            let head = IncidentHead {
                number: open.incident_number,
                id: open.incident_id,
                service: a.service.name.clone(),
                status: open.status,
            };
            let t = on_open_alert(tx, ctx, a, open.alert_id, &head, at).await?;
            break (t, Target { alert_id: Some(open.alert_id), incident: Some((head.id, head.number)), held_id: None });
        }
        // Only services with a pause hold alerts; others skip the lookup on the hot path.
        let held = match a.service.noise.pause {
            Some(_) => tx.held_alert(a.key, dedup).await?,
            None => None,
        };
        if let Some(held) = held {
            let t = match a.event.action {
                EventAction::Trigger => Transition::Appended,
                EventAction::Acknowledge => Transition::Unchanged,
                EventAction::Resolve => {
                    tx.delete_held(held.id).await?;
                    Transition::Dropped(DropReason::Transient)
                }
            };
            break (t, Target { held_id: Some(held.id), ..Target::default() });
        }
        if a.event.action != EventAction::Trigger {
            break (Transition::Dropped(DropReason::NoOpenAlert), Target::default());
        }
        if let Some(landed) = on_new_alert(tx, ctx, a, at).await? {
            break landed;
        }
        if attempts >= 3 {
            return Err(StoreError::Contended("the open alert kept changing under a concurrent writer"));
        }
    };
    let details = a.event.details.as_ref();
    let event_id = tx
        .insert_event(&NewEvent {
            at,
            protocol: a.protocol,
            action: a.event.action.as_str(),
            service: &a.service.name,
            dedup_key: Some(dedup),
            outcome: transition.as_str(),
            alert_id: target.alert_id,
            incident_number: target.incident.as_ref().map(|t| t.1),
            summary: details.map(|d| d.summary.as_str()),
            severity: details.map(|d| d.severity.as_str()),
            raw: a.raw,
            held_alert_id: target.held_id,
        })
        .await?;
    Ok(Ok(Outcome { transition, incident: target.incident, event_id }))
}

/// An event for an open alert: acknowledge or resolve it (and maybe its incident), or add to it.
async fn on_open_alert<T: IngestTx>(
    tx: &mut T,
    ctx: &ApplyContext<'_>,
    a: &Incoming<'_>,
    alert_id: i64,
    incident: &IncidentHead,
    at: Millis,
) -> Result<Transition, StoreError> {
    let transition = lifecycle::apply(Some(incident.status), a.event.action);
    let noise = &a.service.noise;
    match transition {
        Transition::Acknowledged => {
            dispatches::transition(tx, ctx.rules, incident.number, IncidentStatus::Acknowledged, at).await?;
        }
        Transition::Resolved => {
            tx.set_alert_status(alert_id, IncidentStatus::Resolved, at).await?;
            if let Some(since) = noise.flapping_since(at) {
                let cycles = tx.resolved_since(a.key, a.event.dedup_key.as_str(), since).await?;
                if noise.is_flapping(u32::try_from(cycles).unwrap_or(u32::MAX)) {
                    tx.set_flapping(incident.number, at).await?;
                    return Ok(Transition::HeldOpen);
                }
            }
            let others_open = tx.open_alert_count(incident.number).await? > 0;
            let wait_for_all = noise.grouping.as_ref().is_some_and(|g| g.resolve_when_all_resolved);
            if others_open && wait_for_all {
                return Ok(Transition::AlertResolved);
            }
            dispatches::transition(tx, ctx.rules, incident.number, IncidentStatus::Resolved, at).await?;
        }
        _ => {}
    }
    Ok(transition)
}

/// A trigger about to open an alert, borrowed from the event that brought it or from the held alert it waited as.
pub(super) struct NewAlert<'a> {
    integration_key: &'a str,
    dedup_key: &'a str,
    urgency: Urgency,
    title: &'a str,
    severity: Severity,
    source: Option<&'a str>,
    component: Option<&'a str>,
    group: Option<&'a str>,
    class: Option<&'a str>,
    details: Option<&'a serde_json::Value>,
}

impl<'a> From<&'a HeldAlert> for NewAlert<'a> {
    fn from(h: &'a HeldAlert) -> Self {
        NewAlert {
            integration_key: &h.integration_key,
            dedup_key: &h.dedup_key,
            urgency: h.urgency,
            title: &h.title,
            severity: h.severity,
            source: h.source.as_deref(),
            component: h.component.as_deref(),
            group: h.group.as_deref(),
            class: h.class.as_deref(),
            details: h.details.as_ref(),
        }
    }
}

impl NewAlert<'_> {
    /// What rules, silences and grouping match it on.
    fn facts<'a>(&'a self, service: &'a ServiceRef) -> Facts<'a> {
        Facts {
            trigger: crate::domain::Trigger::Triggered,
            service: &service.name,
            severity: self.severity,
            urgency: self.urgency,
            summary: self.title,
            source: self.source,
            component: self.component,
            group: self.group,
            class: self.class,
            dedup_key: self.dedup_key,
            custom_details: self.details,
            labels: &[],
        }
    }

    /// It as a held alert, to wait for its service's pause.
    fn held(&self, service: &ServiceRef, received_at: Millis, opens_at: Millis) -> HeldAlert {
        HeldAlert {
            id: 0,
            integration_key: self.integration_key.to_owned(),
            dedup_key: self.dedup_key.to_owned(),
            service: service.name.clone(),
            urgency: self.urgency,
            title: self.title.to_owned(),
            severity: self.severity,
            source: self.source.map(str::to_owned),
            component: self.component.map(str::to_owned),
            group: self.group.map(str::to_owned),
            class: self.class.map(str::to_owned),
            details: self.details.cloned(),
            received_at,
            opens_at,
        }
    }
}

/// A trigger with no open alert. `None` when a concurrent writer opened the alert first.
async fn on_new_alert<T: IngestTx>(
    tx: &mut T,
    ctx: &ApplyContext<'_>,
    a: &Incoming<'_>,
    at: Millis,
) -> Result<Option<(Transition, Target)>, StoreError> {
    let details = a.event.details.as_ref().expect("the wire layer requires details on triggers");
    let noise = &a.service.noise;
    let alert = NewAlert {
        integration_key: a.key,
        dedup_key: a.event.dedup_key.as_str(),
        urgency: a.service.urgency.urgency_for(details.severity),
        title: &details.summary,
        severity: details.severity,
        source: details.source.as_deref(),
        component: details.component.as_deref(),
        group: details.group.as_deref(),
        class: details.class.as_deref(),
        details: details.custom_details.as_ref(),
    };
    let f = alert.facts(a.service);
    if noise.in_maintenance(at) || ctx.silences.iter().any(|s| s.silences(&f, at)) {
        return Ok(Some((Transition::Dropped(DropReason::Silenced), Target::default())));
    }
    if let Some(opens_at) = noise.opens_at(at) {
        tx.ensure_service(a.service, at).await?;
        let id = tx.insert_held(&alert.held(a.service, at, opens_at)).await?;
        return Ok(Some((Transition::Held, Target { held_id: Some(id), ..Target::default() })));
    }
    open_alert(tx, ctx, a.service, &alert, at).await
}

/// Opens an alert for `alert` (a new trigger, or a held one whose pause is over): on the flapping
/// incident of its key, on its group's open incident, or on a new incident. `None` when a concurrent
/// writer opened the alert first.
pub(super) async fn open_alert<T: IngestTx>(
    tx: &mut T,
    ctx: &ApplyContext<'_>,
    service: &ServiceRef,
    alert: &NewAlert<'_>,
    at: Millis,
) -> Result<Option<(Transition, Target)>, StoreError> {
    let noise = &service.noise;
    let group_key = noise.group_key(&alert.facts(service));
    let existing = match noise.flapping {
        Some(_) => {
            let found = tx.flapping_incident(&service.name, alert.integration_key, alert.dedup_key).await?;
            found.map(|h| (h, Transition::Appended))
        }
        None => None,
    };
    let existing = match (existing, &group_key, noise.group_since(at)) {
        (Some(e), _, _) => Some(e),
        (None, Some(key), Some(since)) => {
            tx.group_incident(&service.name, key, since).await?.map(|h| (h, Transition::Grouped))
        }
        _ => None,
    };
    if let Some((head, transition)) = existing {
        let Some(alert_id) = tx.claim_alert(head.number, alert.integration_key, alert.dedup_key, at).await? else {
            return Ok(None);
        };
        let target = Target { alert_id: Some(alert_id), incident: Some((head.id, head.number)), held_id: None };
        return Ok(Some((transition, target)));
    }
    tx.ensure_service(service, at).await?;
    let number = tx.next_incident_number().await?;
    let Some(alert_id) = tx.claim_alert(number, alert.integration_key, alert.dedup_key, at).await? else {
        return Ok(None);
    };
    let id = super::new_incident_id();
    tx.insert_incident(&NewIncident {
        number,
        id: &id,
        service: &service.name,
        dedup_key: alert.dedup_key,
        title: alert.title,
        severity: alert.severity,
        urgency: alert.urgency,
        source: alert.source,
        component: alert.component,
        group: alert.group,
        class: alert.class,
        details: alert.details,
        origin: Origin::Events,
        origin_source: None,
        external_id: None,
        external_url: None,
        description: None,
        labels: &[],
        group_key: group_key.as_deref(),
        at,
    })
    .await?;
    dispatches::enqueue(tx, ctx.rules, number, IncidentStatus::Triggered, at).await?;
    Ok(Some((Transition::Opened, Target { alert_id: Some(alert_id), incident: Some((id, number)), held_id: None })))
}

/// Stores a change event for its service.
pub async fn apply_change<T: IngestTx>(
    tx: &mut T,
    service: &ServiceRef,
    event: &ChangeEvent,
    raw: &str,
    at: Millis,
) -> Result<CommandResult, StoreError> {
    tx.ensure_service(service, at).await?;
    let event_id = tx.insert_change(&service.name, event, raw, at).await?;
    Ok(Ok(Outcome { transition: Transition::Unchanged, incident: None, event_id }))
}
