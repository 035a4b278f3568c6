//! Time-driven changes: held alerts whose pause is over open their incidents, and flapping
//! incidents that have been quiet for their window resolve.

use super::alerts::open_alert;
use super::dispatches;
use super::{ApplyContext, IngestTx, NewEvent};
use crate::domain::rules::RuleSet;
use crate::domain::{IncidentStatus, Millis, Protocol, ServiceRef, Transition, UrgencyRule};
use crate::store::{CommandResult, Outcome, StoreError};

/// Releases what is due at `now`; the outcome's `event_id` counts the incidents opened or resolved.
pub async fn apply<T: IngestTx>(
    tx: &mut T,
    rules: &RuleSet,
    services: &[ServiceRef],
    now: Millis,
) -> Result<CommandResult, StoreError> {
    let ctx = ApplyContext { rules, silences: &[] };
    let mut changed = 0;
    for held in tx.due_held(now).await? {
        let service = services
            .iter()
            .find(|s| s.name == held.service)
            .cloned()
            .unwrap_or_else(|| ServiceRef::new(held.service.clone(), UrgencyRule::High));
        tx.delete_held(held.id).await?;
        let Some((transition, target)) = open_alert(tx, &ctx, &service, &(&held).into(), now).await? else {
            // Another writer opened an alert for this key meanwhile; the held events stay unfiled.
            continue;
        };
        let (Some(alert_id), Some((_, number))) = (target.alert_id, target.incident.as_ref()) else { continue };
        tx.adopt_held_events(held.id, *number, alert_id).await?;
        record(tx, &service.name, *number, "release", transition, r#"{"reason":"the pause is over"}"#, now).await?;
        changed += 1;
    }
    for service in services {
        let Some(since) = service.noise.flapping_since(now) else { continue };
        for number in tx.quiet_flapping(&service.name, since).await? {
            dispatches::transition(tx, rules, number, IncidentStatus::Resolved, now).await?;
            let raw = r#"{"reason":"no longer flapping"}"#;
            record(tx, &service.name, number, "resolve", Transition::Resolved, raw, now).await?;
            changed += 1;
        }
    }
    Ok(Ok(Outcome { transition: Transition::Unchanged, incident: None, event_id: changed }))
}

async fn record<T: IngestTx>(
    tx: &mut T,
    service: &str,
    number: i64,
    action: &str,
    transition: Transition,
    raw: &str,
    at: Millis,
) -> Result<i64, StoreError> {
    tx.insert_event(&NewEvent {
        at,
        protocol: Protocol::Api,
        action,
        service,
        dedup_key: None,
        outcome: transition.as_str(),
        alert_id: None,
        incident_number: Some(number),
        summary: None,
        severity: None,
        raw,
        held_alert_id: None,
    })
    .await
}
