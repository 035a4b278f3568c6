//! PagerDuty's Events API paths and the unified path: parse, resolve the key, commit durably, answer.

use super::error::IntakeError;
use super::AppState;
use crate::domain::{Millis, Protocol};
use crate::store::Command;
use crate::wire::{change_v2, events_v1, events_v2, fields, response, unified, KeyedAlert, MAX_BODY_BYTES};
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::Deserialize;

/// `POST /v2/enqueue`.
pub async fn v2_enqueue(State(state): State<AppState>, body: Body) -> Response {
    let result = async {
        let bytes = read_body(body).await?;
        let obj = fields::parse_object(&bytes)?;
        accept_alert(&state, Protocol::V2, events_v2::parse(obj, None)?, "routing_key", bytes).await
    }
    .await;
    finish(&state, Protocol::V2, result)
}

/// `POST /generic/2010-04-15/create_event.json`.
pub async fn v1_create_event(State(state): State<AppState>, body: Body) -> Response {
    let result = async {
        let bytes = read_body(body).await?;
        let obj = fields::parse_object(&bytes)?;
        accept_alert(&state, Protocol::V1, events_v1::parse(obj, None)?, "service_key", bytes).await
    }
    .await;
    finish(&state, Protocol::V1, result)
}

/// The unified path's query string.
#[derive(Debug, Deserialize)]
pub struct UnifiedQuery {
    /// The integration key, instead of `routing_key` / `service_key` in the body.
    integration_key: Option<String>,
}

/// `POST /event/push/alert/pagerduty`: v1 or v2 bodies, answered in the version they came in.
pub async fn unified(State(state): State<AppState>, Query(q): Query<UnifiedQuery>, body: Body) -> Response {
    let mut protocol = Protocol::V2;
    let result = async {
        let bytes = read_body(body).await?;
        let obj = fields::parse_object(&bytes)?;
        let (detected, parsed) = unified::parse(obj, q.integration_key.as_deref());
        protocol = detected;
        let key_field = match (q.integration_key.as_deref().filter(|k| !k.trim().is_empty()), detected) {
            (Some(_), _) => "integration_key",
            (None, Protocol::V1) => "service_key",
            (None, _) => "routing_key",
        };
        accept_alert(&state, detected, parsed?, key_field, bytes).await
    }
    .await;
    finish(&state, protocol, result)
}

/// `POST /v2/change/enqueue`.
pub async fn change_enqueue(State(state): State<AppState>, body: Body) -> Response {
    let result = async {
        let bytes = read_body(body).await?;
        let obj = fields::parse_object(&bytes)?;
        let change = change_v2::parse(obj)?;
        let service = state.directory.resolve(&change.integration_key).ok_or_else(|| unknown_key("routing_key"))?;
        let command =
            Command::Change { service, event: change.event, raw: into_text(bytes), received_at: Millis::now() };
        state.ingestor.accept(command).await?;
        Ok((StatusCode::ACCEPTED, Json(response::change_success())).into_response())
    }
    .await;
    finish(&state, Protocol::Change, result)
}

async fn accept_alert(
    state: &AppState,
    protocol: Protocol,
    alert: KeyedAlert,
    key_field: &'static str,
    bytes: Bytes,
) -> Result<Response, IntakeError> {
    let service = state.directory.resolve(&alert.integration_key).ok_or_else(|| unknown_key(key_field))?;
    if let Some(per_minute) = service.noise.rate_limit_per_minute {
        state
            .rate_limits
            .check(alert.integration_key.expose(), per_minute)
            .map_err(|retry_after| IntakeError::Throttled { v1: protocol == Protocol::V1, retry_after })?;
    }
    let dedup_key = alert.event.dedup_key.clone();
    let command = Command::Alert {
        service,
        integration_key: alert.integration_key,
        protocol,
        event: alert.event,
        raw: into_text(bytes),
        received_at: Millis::now(),
    };
    state.ingestor.accept(command).await?;
    Ok(match protocol {
        Protocol::V1 => (StatusCode::OK, Json(response::v1_success(dedup_key.as_str()))).into_response(),
        _ => (StatusCode::ACCEPTED, Json(response::v2_success(dedup_key.as_str()))).into_response(),
    })
}

fn unknown_key(field: &str) -> IntakeError {
    IntakeError::Invalid(vec![format!("{field} is not a known integration key")])
}

/// Counts refusals; accepted events are counted by what they did once applied.
fn finish(state: &AppState, protocol: Protocol, result: Result<Response, IntakeError>) -> Response {
    match result {
        Ok(r) => r,
        Err(e) => {
            state.metrics.event(protocol.as_str(), e.outcome());
            e.into_response()
        }
    }
}

/// Reads the body up to PagerDuty's 512 KB limit.
async fn read_body(body: Body) -> Result<Bytes, IntakeError> {
    match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(IntakeError::TooLarge(MAX_BODY_BYTES)),
        Err(_) => Err(IntakeError::Invalid(vec!["request body could not be read".into()])),
    }
}

/// The body as text; the JSON parser has already checked it is UTF-8.
fn into_text(bytes: Bytes) -> String {
    String::from_utf8(bytes.into()).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}
