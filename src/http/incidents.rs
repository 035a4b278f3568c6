//! `/api/v1/incidents`: list, show with timeline, acknowledge, resolve; change events per service.

use super::error::ApiError;
use super::AppState;
use crate::domain::{Incident, IncidentStatus, ManualAction, Millis};
use crate::store::{
    ChangeQuery, Command, DispatchQuery, DispatchRecord, IncidentPage, IncidentQuery, IncidentRef, StoredChange,
    TimelineEntry,
};
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::Json;
use serde::{Deserialize, Serialize};

/// Most incidents one page holds.
pub const MAX_LIMIT: u32 = 100;
const DEFAULT_LIMIT: u32 = 25;

/// Query of `GET /api/v1/incidents`.
#[derive(Debug, Deserialize)]
pub struct ListParams {
    /// Comma-separated statuses.
    status: Option<String>,
    /// Service name.
    service: Option<String>,
    /// Dedup key of the opening alert.
    dedup_key: Option<String>,
    /// Page size (1–100, default 25).
    limit: Option<u32>,
    /// Incidents to skip.
    offset: Option<u32>,
}

/// `GET /api/v1/incidents`.
pub async fn list(
    State(state): State<AppState>,
    query: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<IncidentPage>, ApiError> {
    let Query(p) = query?;
    let mut statuses = Vec::new();
    for word in p.status.iter().flat_map(|s| s.split(',')).map(str::trim).filter(|w| !w.is_empty()) {
        let status = word.parse::<IncidentStatus>().map_err(|_| {
            ApiError::BadRequest(format!(
                "status {word:?} is invalid (must be one of: triggered acknowledged resolved)"
            ))
        })?;
        statuses.push(status);
    }
    let limit = p.limit.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(ApiError::BadRequest(format!("limit must be between 1 and {MAX_LIMIT}")));
    }
    let query = IncidentQuery {
        statuses,
        service: p.service.filter(|s| !s.is_empty()),
        dedup_key: p.dedup_key.filter(|s| !s.is_empty()),
        limit,
        offset: p.offset.unwrap_or(0),
    };
    Ok(Json(state.store.list_incidents(&query).await?))
}

/// An incident with its timeline.
#[derive(Debug, Serialize)]
pub struct IncidentDetail {
    /// The incident's fields.
    #[serde(flatten)]
    pub incident: Incident,
    /// Every event, oldest first.
    pub timeline: Vec<TimelineEntry>,
    /// What Firehouse dispatched for it (with agent sessions), oldest first.
    pub dispatches: Vec<DispatchRecord>,
}

/// `GET /api/v1/incidents/{id}` (id or number).
pub async fn show(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<IncidentDetail>, ApiError> {
    detail(&state, &IncidentRef::parse(&id)).await.map(Json)
}

async fn detail(state: &AppState, r: &IncidentRef) -> Result<IncidentDetail, ApiError> {
    let incident = state.store.get_incident(r).await?.ok_or_else(|| ApiError::NotFound("no such incident".into()))?;
    let timeline = state.store.timeline(incident.number).await?;
    let query = DispatchQuery { incident_number: Some(incident.number), limit: 100, ..Default::default() };
    let mut dispatches = state.store.list_dispatches(&query).await?;
    dispatches.reverse();
    Ok(IncidentDetail { incident, timeline, dispatches })
}

/// Optional body of acknowledge and resolve.
#[derive(Debug, Default, Deserialize)]
pub struct ActionBody {
    /// Who is acting (recorded on the timeline).
    #[serde(default)]
    actor: Option<String>,
}

/// `POST /api/v1/incidents/{id}/acknowledge`.
pub async fn acknowledge(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<IncidentDetail>, ApiError> {
    act(&state, &id, ManualAction::Acknowledge, &body).await
}

/// `POST /api/v1/incidents/{id}/resolve`.
pub async fn resolve(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<IncidentDetail>, ApiError> {
    act(&state, &id, ManualAction::Resolve, &body).await
}

/// The body is optional: empty (whatever the content type) means no actor.
fn action_body(body: &[u8]) -> Result<ActionBody, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(ActionBody::default());
    }
    serde_json::from_slice(body).map_err(|e| ApiError::BadRequest(format!("request body is not valid JSON: {e}")))
}

async fn act(state: &AppState, id: &str, action: ManualAction, body: &[u8]) -> Result<Json<IncidentDetail>, ApiError> {
    let actor = action_body(body)?.actor.filter(|a| !a.trim().is_empty()).unwrap_or_else(|| "api".to_owned());
    let incident = IncidentRef::parse(id);
    let command = Command::Manual { incident: incident.clone(), action, actor, received_at: Millis::now() };
    let outcome = state.ingestor.submit(command).await??;
    state.metrics.event("api", outcome.transition.as_str());
    detail(state, &incident).await.map(Json)
}

/// Query of the change events route.
#[derive(Debug, Deserialize)]
pub struct ChangeParams {
    /// From, RFC 3339 (default: 24 hours before `until`).
    since: Option<String>,
    /// Until, RFC 3339 (default: now).
    until: Option<String>,
    /// At most this many (default and maximum 100).
    limit: Option<u32>,
}

/// `GET /api/v1/services/{service}/change_events`.
pub async fn change_events(
    State(state): State<AppState>,
    Path(service): Path<String>,
    query: Result<Query<ChangeParams>, QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Query(p) = query?;
    let time = |field: &str, v: &Option<String>| -> Result<Option<Millis>, ApiError> {
        v.as_deref()
            .map(|s| {
                Millis::parse_iso8601(s)
                    .ok_or_else(|| ApiError::BadRequest(format!("{field} must be an RFC 3339 time")))
            })
            .transpose()
    };
    let until = time("until", &p.until)?.unwrap_or_else(Millis::now);
    let since = time("since", &p.since)?.unwrap_or(Millis(until.0 - 24 * 3600 * 1000));
    let limit = p.limit.unwrap_or(MAX_LIMIT).clamp(1, MAX_LIMIT);
    let changes: Vec<StoredChange> = state.store.change_events(&ChangeQuery { service, since, until, limit }).await?;
    Ok(Json(serde_json::json!({ "change_events": changes })))
}

/// Body of `POST /api/v1/incidents/{id}/notes`.
#[derive(Debug, Deserialize)]
pub struct NoteBody {
    /// The note.
    note: String,
    /// Who wrote it (default `api`).
    #[serde(default)]
    author: Option<String>,
}

/// `POST /api/v1/incidents/{id}/notes`: adds a note to the timeline.
pub async fn add_note(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Result<Json<NoteBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<IncidentDetail>, ApiError> {
    let Json(b) = body.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    if b.note.trim().is_empty() {
        return Err(ApiError::BadRequest("note must not be empty".into()));
    }
    let author = b.author.filter(|a| !a.trim().is_empty()).unwrap_or_else(|| "api".to_owned());
    let incident = IncidentRef::parse(&id);
    let command = Command::Note { incident: incident.clone(), author, text: b.note, received_at: Millis::now() };
    state.ingestor.submit(command).await??;
    detail(&state, &incident).await.map(Json)
}
