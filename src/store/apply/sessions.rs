//! Agent sessions: starting to follow one, and recording what a poll of it found.
//!
//! Both write the session's row, its notes on the incident's timeline and the dispatches the rules attach to its
//! events (the session starting, each new pull request, the postmortem) in one transaction, so a note is recorded and
//! an event dispatched exactly when the change it describes is: a crash or a second instance never notes a change
//! twice, and never loses or repeats an event's delivery.

use super::{dispatches, IncidentHead, IngestTx, NewEvent};
use crate::domain::rules::RuleSet;
use crate::domain::{Millis, Protocol, SessionEvent, Transition};
use crate::store::{CommandResult, IncidentRef, NewAgentSession, Outcome, SessionNote, SessionReport, StoreError};

/// Starts following a session unless it is followed already, with `note` on the timeline and the dispatches of rules
/// on `session_started`. A session already followed changes nothing (`Unchanged`).
pub async fn track<T: IngestTx>(
    tx: &mut T,
    rules: &RuleSet,
    session: &NewAgentSession,
    note: &SessionNote,
) -> Result<CommandResult, StoreError> {
    let Some(head) = tx.find_incident(&IncidentRef::Number(session.incident_number)).await? else {
        return Ok(Err(crate::store::Rejection::IncidentNotFound));
    };
    if !tx.insert_agent_session(session).await? {
        return Ok(Ok(Outcome { transition: Transition::Unchanged, incident: None, event_id: 0 }));
    }
    let event_id = add_note(tx, &head, note, session.at).await?;
    let started = SessionEvent::Started { session_id: session.session_id.clone() };
    dispatches::enqueue_session_event(tx, rules, head.number, &started, session.at).await?;
    Ok(Ok(Outcome { transition: Transition::Appended, incident: Some((head.id, head.number)), event_id }))
}

/// Records a poll's report: the session's row, then its notes, its postmortem and the dispatches of its events. A
/// stale report (the session was polled by someone else since it was claimed, or is no longer followed) changes
/// nothing and is `Unchanged`.
pub async fn apply<T: IngestTx>(
    tx: &mut T,
    rules: &RuleSet,
    report: &SessionReport,
    at: Millis,
) -> Result<CommandResult, StoreError> {
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
    for event in &report.events {
        dispatches::enqueue_session_event(tx, rules, incident_number, event, at).await?;
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
