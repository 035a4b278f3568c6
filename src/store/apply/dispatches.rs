//! The outbox side of a change: the dispatches the rules attach to an incident's transition or to what an agent
//! session working on it did.

use super::{IngestTx, NewDispatch};
use crate::domain::rules::RuleSet;
use crate::domain::trigger::dispatch_key;
use crate::domain::{IncidentStatus, Millis, SessionEvent, Trigger};
use crate::store::StoreError;

/// Writes the dispatches the rules attach to an incident's transition into `status`.
pub async fn enqueue<T: IngestTx>(
    tx: &mut T,
    rules: &RuleSet,
    incident_number: i64,
    status: IncidentStatus,
    at: Millis,
) -> Result<(), StoreError> {
    enqueue_trigger(tx, rules, incident_number, status.into(), None, at).await
}

/// Writes the dispatches the rules attach to a session event of an incident.
pub async fn enqueue_session_event<T: IngestTx>(
    tx: &mut T,
    rules: &RuleSet,
    incident_number: i64,
    event: &SessionEvent,
    at: Millis,
) -> Result<(), StoreError> {
    enqueue_trigger(tx, rules, incident_number, event.trigger(), Some(event.subject()), at).await
}

async fn enqueue_trigger<T: IngestTx>(
    tx: &mut T,
    rules: &RuleSet,
    incident_number: i64,
    trigger: Trigger,
    subject: Option<&str>,
    at: Millis,
) -> Result<(), StoreError> {
    if !rules.watches(trigger) {
        return Ok(());
    }
    let facts = tx.incident_facts(incident_number).await?;
    let deadline = Millis(at.0 + rules.dispatch_max_age.as_millis() as i64);
    for (rule, action) in rules.select(&facts.facts(trigger)) {
        // The key makes one flow one delivery, whatever repeats the transition or the event.
        let key = dispatch_key(&facts.id, rule, action, trigger, subject);
        tx.insert_dispatch(&NewDispatch { key, incident_number, rule, action, transition: trigger, at, deadline })
            .await?;
    }
    Ok(())
}

/// Moves an incident (and its open alerts) to `status` and writes what the rules dispatch for it.
pub async fn transition<T: IngestTx>(
    tx: &mut T,
    rules: &RuleSet,
    incident_number: i64,
    status: IncidentStatus,
    at: Millis,
) -> Result<(), StoreError> {
    tx.set_alerts_status(incident_number, status, at).await?;
    tx.set_incident_status(incident_number, status, at).await?;
    enqueue(tx, rules, incident_number, status, at).await
}
