//! The outbox side of a transition: the dispatches the rules attach to it.

use super::{IngestTx, NewDispatch};
use crate::domain::rules::RuleSet;
use crate::domain::{IncidentStatus, Millis};
use crate::store::StoreError;

/// Writes the dispatches the rules attach to an incident's transition into `status`.
pub async fn enqueue<T: IngestTx>(
    tx: &mut T,
    rules: &RuleSet,
    incident_number: i64,
    status: IncidentStatus,
    at: Millis,
) -> Result<(), StoreError> {
    if !rules.watches(status) {
        return Ok(());
    }
    let facts = tx.incident_facts(incident_number).await?;
    let deadline = Millis(at.0 + rules.dispatch_max_age.as_millis() as i64);
    for (rule, action) in rules.select(&facts.facts(status)) {
        // The key makes one flow one delivery, whatever repeats the transition.
        let key = format!("{}:{rule}:{action}:{}", facts.id, status.as_str());
        tx.insert_dispatch(&NewDispatch { key, incident_number, rule, action, transition: status, at, deadline })
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
