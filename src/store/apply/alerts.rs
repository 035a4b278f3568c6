//! Alert events (Events API v1/v2) and change events.

use super::dispatches;
use super::{IngestTx, NewEvent, NewIncident};
use crate::domain::external::Origin;
use crate::domain::rules::RuleSet;
use crate::domain::{lifecycle, AlertEvent, ChangeEvent, Millis, Protocol, ServiceRef, Transition};
use crate::store::{CommandResult, Outcome};

/// Applies an alert event to the open alert with its (integration key, dedup key).
#[allow(clippy::too_many_arguments)]
pub async fn apply<T: IngestTx>(
    tx: &mut T,
    rules: &RuleSet,
    service: &ServiceRef,
    key: &str,
    protocol: Protocol,
    event: &AlertEvent,
    raw: &str,
    at: Millis,
) -> Result<CommandResult, sqlx::Error> {
    // Another instance may open the same alert between our lookup and our insert; the unique
    // index on open alerts makes one of us lose, and the loser applies the event to the winner's.
    let mut attempts = 0;
    let (transition, target) = loop {
        attempts += 1;
        let open = tx.open_alert(key, event.dedup_key.as_str()).await?;
        let transition = lifecycle::apply(open.as_ref().map(|a| a.status), event.action);
        let target = open.map(|a| (a.alert_id, a.incident_number, a.incident_id));
        if transition != Transition::Opened {
            break (transition, target);
        }
        if let Some(opened) = open_incident(tx, service, key, event, at).await? {
            break (transition, Some(opened));
        }
        if attempts >= 3 {
            return Err(sqlx::Error::Protocol("the open alert kept changing under a concurrent writer".into()));
        }
    };
    if let (Some(status), Some((_, number, _))) = (transition.new_status(), target.as_ref()) {
        if transition == Transition::Opened {
            dispatches::enqueue(tx, rules, *number, status, at).await?;
        } else {
            dispatches::transition(tx, rules, *number, status, at).await?;
        }
    }
    let details = event.details.as_ref();
    let event_id = tx
        .insert_event(&NewEvent {
            at,
            protocol,
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
    tx.insert_incident(&NewIncident {
        number,
        id: &id,
        service: &service.name,
        dedup_key: event.dedup_key.as_str(),
        title: &details.summary,
        severity: details.severity,
        urgency: service.urgency.urgency_for(details.severity),
        source: details.source.as_deref(),
        component: details.component.as_deref(),
        group: details.group.as_deref(),
        class: details.class.as_deref(),
        details: details.custom_details.as_ref(),
        origin: Origin::Events,
        origin_source: None,
        external_id: None,
        external_url: None,
        description: None,
        labels: &[],
        at,
    })
    .await?;
    Ok(Some((alert_id, number, id)))
}

/// Stores a change event for its service.
pub async fn apply_change<T: IngestTx>(
    tx: &mut T,
    service: &ServiceRef,
    event: &ChangeEvent,
    raw: &str,
    at: Millis,
) -> Result<CommandResult, sqlx::Error> {
    tx.ensure_service(service, at).await?;
    let event_id = tx.insert_change(&service.name, event, raw, at).await?;
    Ok(Ok(Outcome { transition: Transition::Unchanged, incident: None, event_id }))
}
