//! Operators acknowledging and resolving incidents.

use super::dispatches;
use super::{IncidentHead, IngestTx, NewEvent};
use crate::domain::rules::RuleSet;
use crate::domain::{lifecycle, ManualAction, Millis, Protocol, Transition};
use crate::store::{CommandResult, IncidentRef, Outcome, Rejection, StoreError};

/// Applies an operator's action; refusals change nothing.
pub async fn apply<T: IngestTx>(
    tx: &mut T,
    rules: &RuleSet,
    incident: &IncidentRef,
    action: ManualAction,
    actor: &str,
    at: Millis,
) -> Result<CommandResult, StoreError> {
    let Some(IncidentHead { number, id, service, status }) = tx.find_incident(incident).await? else {
        return Ok(Err(Rejection::IncidentNotFound));
    };
    let transition = match lifecycle::apply_manual(status, action) {
        Ok(t) => t,
        Err(e) => return Ok(Err(e.into())),
    };
    if let Some(new_status) = transition.new_status() {
        dispatches::transition(tx, rules, number, new_status, at).await?;
    }
    let raw = serde_json::json!({ "actor": actor }).to_string();
    let event_id = tx
        .insert_event(&NewEvent {
            at,
            protocol: Protocol::Api,
            action: action.as_event_action().as_str(),
            service: &service,
            dedup_key: None,
            outcome: transition.as_str(),
            alert_id: None,
            incident_number: Some(number),
            summary: None,
            severity: None,
            raw: &raw,
            held_alert_id: None,
        })
        .await?;
    Ok(Ok(Outcome { transition, incident: Some((id, number)), event_id }))
}

/// Appends a note to an incident's timeline.
pub async fn note<T: IngestTx>(
    tx: &mut T,
    incident: &IncidentRef,
    author: &str,
    text: &str,
    at: Millis,
) -> Result<CommandResult, StoreError> {
    let Some(IncidentHead { number, id, service, .. }) = tx.find_incident(incident).await? else {
        return Ok(Err(Rejection::IncidentNotFound));
    };
    let raw = serde_json::json!({ "author": author, "note": text }).to_string();
    let event_id = tx
        .insert_event(&NewEvent {
            at,
            protocol: Protocol::Api,
            action: "note",
            service: &service,
            dedup_key: None,
            outcome: Transition::Appended.as_str(),
            alert_id: None,
            incident_number: Some(number),
            summary: Some(text),
            severity: None,
            raw: &raw,
            held_alert_id: None,
        })
        .await?;
    Ok(Ok(Outcome { transition: Transition::Appended, incident: Some((id, number)), event_id }))
}
