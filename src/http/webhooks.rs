//! Webhooks in: PagerDuty Generic Webhooks v3 (`/webhooks/pagerduty/{source}`) and ticket trackers
//! (`/webhooks/tickets/{source}`).
//!
//! Each delivery is authenticated before its body is parsed, committed (once per delivery id), and
//! answered at once; agent sessions start from the outbox. A ticket source may ask to wait, bounded,
//! for the session so the tracker's caller gets its id and URL.

use super::error::ApiError;
use super::AppState;
use crate::domain::lifecycle::DropReason;
use crate::domain::{Millis, Transition};
use crate::store::{Command, DispatchQuery, DispatchRecord, DispatchStatus, Outcome};
use crate::wire::tickets::TicketEvent;
use crate::wire::{pagerduty_v3, MAX_BODY_BYTES};
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// `POST /webhooks/pagerduty/{source}`.
pub async fn pagerduty(
    State(state): State<AppState>,
    Path(source): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let pd = state.sources.pagerduty.get(&source).ok_or_else(|| ApiError::NotFound("no such webhook source".into()))?;
    let body = read_body(body).await?;
    pd.authenticate(&headers, &body).map_err(|e| ApiError::Unauthorized(e.to_string()))?;
    require_json(&headers)?;
    let event = pagerduty_v3::parse(&body).map_err(|e| ApiError::BadRequest(e.message))?;
    let service = pd.service_for(&source, event.incident.as_ref().and_then(|i| i.service.as_deref()));
    let command = Command::Mirror {
        source,
        service,
        delivery_id: header_text(&headers, "x-webhook-id"),
        event,
        raw: text(body),
        received_at: Millis::now(),
    };
    let outcome = state.ingestor.submit(command).await??;
    state.metrics.event("pagerduty", outcome.transition.as_str());
    Ok((StatusCode::ACCEPTED, Json(answer(&outcome, Vec::new()))).into_response())
}

/// `POST /webhooks/tickets/{source}`.
pub async fn tickets(
    State(state): State<AppState>,
    Path(source_name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let source =
        state.sources.tickets.get(&source_name).ok_or_else(|| ApiError::NotFound("no such webhook source".into()))?;
    let body = read_body(body).await?;
    source.authenticate(&headers, &body).map_err(|e| ApiError::Unauthorized(e.to_string()))?;
    require_json(&headers)?;
    let event_header = source.tracker.event_header().and_then(|h| header_text(&headers, h));
    let ticket = match source.tracker.parse(&body, event_header.as_deref()) {
        Err(e) => return Err(ApiError::BadRequest(e.message)),
        Ok(TicketEvent::Ignored(reason)) => {
            // Answered 2xx, so kept in the event log first.
            let command = Command::IgnoredTicket {
                source: source_name,
                service: source.service.clone(),
                delivery_id: delivery_id(&headers),
                kind: event_header,
                reason: reason.clone(),
                raw: text(body),
                received_at: Millis::now(),
            };
            state.ingestor.submit(command).await??;
            state.metrics.event("ticket", "ignored");
            return Ok((StatusCode::OK, Json(json!({ "status": "ignored", "reason": reason }))).into_response());
        }
        Ok(TicketEvent::Ticket(t)) => t,
    };
    let routed = source.routes(&ticket.labels);
    let ticket_id = ticket.id.clone();
    let command = Command::Ticket {
        source: source_name,
        service: source.service.clone(),
        severity: source.severity,
        routed,
        delivery_id: delivery_id(&headers),
        ticket,
        raw: text(body),
        received_at: Millis::now(),
    };
    let outcome = state.ingestor.submit(command).await??;
    if !routed {
        state.metrics.event("ticket", "skipped");
        let reason = format!("no routed label (one of: {})", source.labels.join(", "));
        return Ok((StatusCode::OK, Json(json!({ "status": "skipped", "reason": reason, "ticket": ticket_id })))
            .into_response());
    }
    state.metrics.event("ticket", outcome.transition.as_str());
    let dispatches = match (&outcome.incident, source.wait) {
        (Some((_, number)), Some(wait)) if outcome.transition == Transition::Opened => {
            settled_dispatches(&state, *number, wait).await?
        }
        (Some((_, number)), _) => dispatches_of(&state, *number).await?,
        (None, _) => Vec::new(),
    };
    Ok((StatusCode::ACCEPTED, Json(answer(&outcome, dispatches))).into_response())
}

/// The delivery id a tracker sends, whichever tracker it is.
fn delivery_id(headers: &HeaderMap) -> Option<String> {
    header_text(headers, "x-github-delivery")
        .or_else(|| header_text(headers, "x-gitlab-event-uuid"))
        .or_else(|| header_text(headers, "x-atlassian-webhook-identifier"))
        .or_else(|| header_text(headers, "x-webhook-id"))
}

/// The answer body: what the delivery did, its incident, and the dispatches (with agent sessions).
fn answer(outcome: &Outcome, dispatches: Vec<DispatchRecord>) -> Value {
    let status = match outcome.transition {
        Transition::Dropped(DropReason::Duplicate) => "duplicate",
        Transition::Dropped(DropReason::Ignored) => "ignored",
        _ => "accepted",
    };
    let session = dispatches.iter().find_map(|d| d.result.as_ref().filter(|r| r.get("session_id").is_some()));
    json!({
        "status": status,
        "outcome": outcome.transition.as_str(),
        "incident": outcome.incident.as_ref().map(|(id, number)| json!({ "id": id, "number": number })),
        "dispatches": dispatches.iter().map(|d| json!({
            "id": d.id,
            "action": d.action,
            "status": d.status,
            "session_id": d.result.as_ref().and_then(|r| r.get("session_id")),
            "url": d.result.as_ref().and_then(|r| r.get("url")),
        })).collect::<Vec<_>>(),
        "session_id": session.and_then(|r| r.get("session_id")),
        "url": session.and_then(|r| r.get("url")),
    })
}

async fn dispatches_of(state: &AppState, number: i64) -> Result<Vec<DispatchRecord>, ApiError> {
    let q = DispatchQuery { incident_number: Some(number), limit: 100, ..Default::default() };
    let mut d = state.store.list_dispatches(&q).await?;
    d.reverse();
    Ok(d)
}

/// The incident's dispatches once none is pending, or as they are when `wait` runs out.
async fn settled_dispatches(state: &AppState, number: i64, wait: Duration) -> Result<Vec<DispatchRecord>, ApiError> {
    let start = Instant::now();
    loop {
        let dispatches = dispatches_of(state, number).await?;
        let pending = dispatches.iter().any(|d| d.status == DispatchStatus::Pending);
        if !pending || start.elapsed() >= wait {
            return Ok(dispatches);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn read_body(body: Body) -> Result<Bytes, ApiError> {
    match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
            Err(ApiError::PayloadTooLarge(format!("request body is larger than {MAX_BODY_BYTES} bytes")))
        }
        Err(_) => Err(ApiError::BadRequest("request body could not be read".into())),
    }
}

/// Webhook bodies are JSON; a declared other type is refused (an absent one is tolerated).
fn require_json(headers: &HeaderMap) -> Result<(), ApiError> {
    match headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) {
        None => Ok(()),
        Some(ct) if ct.split(';').next().is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json")) => Ok(()),
        Some(ct) => Err(ApiError::UnsupportedMediaType(format!("content type {ct:?} is not application/json"))),
    }
}

fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned)
}

fn text(body: Bytes) -> String {
    String::from_utf8(body.into()).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}
