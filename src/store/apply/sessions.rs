//! Agent sessions: starting to follow one, and recording what a poll of it found.
//!
//! Both write the session's row and its notes on the incident's timeline in one transaction, so a note is
//! recorded exactly when the change it describes is: a crash or a second instance never notes a change twice.

use super::{IncidentHead, IngestTx, NewEvent};
use crate::domain::{Millis, Protocol, Transition};
use crate::store::{CommandResult, IncidentRef, NewAgentSession, Outcome, SessionNote, SessionReport, StoreError};

/// Starts following a session unless it is followed already; returns whether it is new.
pub async fn track<T: IngestTx>(tx: &mut T, session: &NewAgentSession, note: &SessionNote) -> Result<bool, StoreError> {
    let Some(head) = tx.find_incident(&IncidentRef::Number(session.incident_number)).await? else {
        return Ok(false);
    };
    if !tx.insert_agent_session(session).await? {
        return Ok(false);
    }
    add_note(tx, &head, note, session.at).await?;
    Ok(true)
}

/// Records a poll's report: the session's row, then its notes and postmortem. A stale report (the session was
/// polled by someone else since it was claimed, or is no longer followed) changes nothing and is `Unchanged`.
pub async fn apply<T: IngestTx>(tx: &mut T, report: &SessionReport, at: Millis) -> Result<CommandResult, StoreError> {
    let unchanged = Outcome { transition: Transition::Unchanged, incident: None, event_id: 0 };
    let Some((incident_number, url)) = tx.update_agent_session(report, at).await? else {
        return Ok(Ok(unchanged));
    };
    let Some(head) = tx.find_incident(&IncidentRef::Number(incident_number)).await? else {
        return Ok(Ok(unchanged));
    };
    let mut last_event = 0;
    for note in &report.notes {
        last_event = add_note(tx, &head, note, at).await?;
    }
    if let Some(body) = &report.postmortem {
        tx.upsert_postmortem(incident_number, &report.session_id, &url, body, at).await?;
    }
    let transition = if report.notes.is_empty() { Transition::Unchanged } else { Transition::Appended };
    Ok(Ok(Outcome { transition, incident: Some((head.id, head.number)), event_id: last_event }))
}

/// A note on the incident's timeline, shaped like an operator's (`action = "note"`), with the details.
async fn add_note<T: IngestTx>(
    tx: &mut T,
    head: &IncidentHead,
    note: &SessionNote,
    at: Millis,
) -> Result<i64, StoreError> {
    let raw = serde_json::json!({ "author": note.author, "note": note.text, "session": note.details }).to_string();
    tx.insert_event(&NewEvent {
        at,
        protocol: Protocol::Api,
        action: "note",
        service: &head.service,
        dedup_key: None,
        outcome: Transition::Appended.as_str(),
        alert_id: None,
        incident_number: Some(head.number),
        summary: Some(&note.text),
        severity: None,
        raw: &raw,
        held_alert_id: None,
    })
    .await
}
