//! `/api/v1/incidents`: list, show with timeline, acknowledge, resolve; change events per service.

use super::error::{ApiError, ErrorBody};
use super::params::optional_time;
use super::AppState;
use crate::domain::{Incident, IncidentStatus, ManualAction, Millis};
use crate::store::{
    AgentSessionRecord, ChangeQuery, Command, DispatchQuery, DispatchRecord, IncidentPage, IncidentQuery, IncidentRef,
    StoredChange, TimelineEntry,
};
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Most incidents one page holds.
pub const MAX_LIMIT: u32 = 100;
const DEFAULT_LIMIT: u32 = 25;

/// Query of `GET /api/v1/incidents`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Comma-separated statuses.
    #[param(
        example = "triggered,acknowledged",
        pattern = r"^((triggered|acknowledged|resolved)(,(triggered|acknowledged|resolved))*)?$"
    )]
    status: Option<String>,
    /// Service name.
    service: Option<String>,
    /// Dedup key of the opening alert.
    dedup_key: Option<String>,
    /// Page size (1–100, default 25).
    #[param(minimum = 1, maximum = 100, default = 25)]
    limit: Option<u32>,
    /// Incidents to skip.
    #[param(default = 0)]
    offset: Option<u32>,
}

/// `GET /api/v1/incidents`.
#[utoipa::path(
    get,
    path = "/api/v1/incidents",
    operation_id = "list_incidents",
    tag = "incidents",
    summary = "List incidents",
    description = "Newest first, filtered by status (comma-separated: `triggered`, `acknowledged`, `resolved`), \
                   service and dedup key, one page at a time.",
    params(ListParams),
    responses(
        (status = 200, description = "One page of incidents", body = IncidentPage),
        (status = 400, description = "A status, `limit` or `offset` is invalid", body = ErrorBody),
    )
)]
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
#[derive(Debug, Serialize, ToSchema)]
pub struct IncidentDetail {
    /// The incident's fields.
    #[serde(flatten)]
    pub incident: Incident,
    /// Every event, oldest first.
    pub timeline: Vec<TimelineEntry>,
    /// What Firehouse dispatched for it (with agent sessions), oldest first.
    pub dispatches: Vec<DispatchRecord>,
    /// The agent sessions its dispatches started, as last polled (status, pull requests), oldest first.
    pub agent_sessions: Vec<AgentSessionRecord>,
}

/// `GET /api/v1/incidents/{id}` (id or number).
#[utoipa::path(
    get,
    path = "/api/v1/incidents/{id}",
    operation_id = "get_incident",
    tag = "incidents",
    summary = "Get an incident",
    description = "One incident, by id or number, with its timeline, its dispatches, and the agent sessions they \
                   started (status and pull requests as last polled).",
    params(IncidentId),
    responses(
        (status = 200, description = "The incident", body = IncidentDetail),
        (status = 404, description = "No such incident", body = ErrorBody),
    )
)]
pub async fn show(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<IncidentDetail>, ApiError> {
    detail(&state, &IncidentRef::parse(&id)).await.map(Json)
}

async fn detail(state: &AppState, r: &IncidentRef) -> Result<IncidentDetail, ApiError> {
    let incident = state.store.get_incident(r).await?.ok_or_else(|| ApiError::NotFound("no such incident".into()))?;
    let timeline = state.store.timeline(incident.number).await?;
    let query = DispatchQuery { incident_number: Some(incident.number), limit: 100, ..Default::default() };
    let mut dispatches = state.store.list_dispatches(&query).await?;
    dispatches.reverse();
    let agent_sessions = state.store.agent_sessions(incident.number).await?;
    Ok(IncidentDetail { incident, timeline, dispatches, agent_sessions })
}

/// The incident of an `/api/v1/incidents/{id}/...` route.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct IncidentId {
    /// The incident's id (a UUID) or its number.
    #[param(example = "42")]
    pub id: String,
}

/// Optional body of acknowledge and resolve.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct ActionBody {
    /// Who is acting (recorded on the timeline).
    #[serde(default)]
    actor: Option<String>,
}

/// `POST /api/v1/incidents/{id}/acknowledge`.
#[utoipa::path(
    post,
    path = "/api/v1/incidents/{id}/acknowledge",
    operation_id = "acknowledge_incident",
    tag = "incidents",
    summary = "Acknowledge an incident",
    description = "Acknowledges an open incident; the body is optional (empty means the actor `api`).",
    params(IncidentId),
    request_body(content = Option<ActionBody>, description = "Who is acting (optional)"),
    responses(
        (status = 200, description = "The incident after the change", body = IncidentDetail),
        (status = 400, description = "The body is neither empty nor `{\"actor\": \"...\"}`", body = ErrorBody),
        (status = 404, description = "No such incident", body = ErrorBody),
        (status = 409, description = "The incident is already resolved", body = ErrorBody),
        (status = 503, description = "Shutting down", body = ErrorBody),
    )
)]
pub async fn acknowledge(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<IncidentDetail>, ApiError> {
    act(&state, &id, ManualAction::Acknowledge, &body).await
}

/// `POST /api/v1/incidents/{id}/resolve`.
#[utoipa::path(
    post,
    path = "/api/v1/incidents/{id}/resolve",
    operation_id = "resolve_incident",
    tag = "incidents",
    summary = "Resolve an incident",
    description = "Resolves an open incident; the body is optional (empty means the actor `api`).",
    params(IncidentId),
    request_body(content = Option<ActionBody>, description = "Who is acting (optional)"),
    responses(
        (status = 200, description = "The incident after the change", body = IncidentDetail),
        (status = 400, description = "The body is neither empty nor `{\"actor\": \"...\"}`", body = ErrorBody),
        (status = 404, description = "No such incident", body = ErrorBody),
        (status = 409, description = "The incident is already resolved", body = ErrorBody),
        (status = 503, description = "Shutting down", body = ErrorBody),
    )
)]
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
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ChangeParams {
    /// From, RFC 3339 (default: 24 hours before `until`).
    #[param(format = DateTime)]
    since: Option<String>,
    /// Until, RFC 3339 (default: now).
    #[param(format = DateTime)]
    until: Option<String>,
    /// At most this many (default and maximum 100; out-of-range values are clamped).
    #[param(default = 100)]
    limit: Option<u32>,
}

/// Answer of the change events route.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChangeEventList {
    /// The service's change events in the window, oldest first.
    pub change_events: Vec<StoredChange>,
}

/// `GET /api/v1/services/{service}/change_events`.
#[utoipa::path(
    get,
    path = "/api/v1/services/{service}/change_events",
    operation_id = "list_change_events",
    tag = "incidents",
    summary = "List a service's change events",
    description = "Deploys and configuration changes of one service between `since` and `until` (the last 24 hours \
                   by default).",
    params(("service" = String, Path, description = "The service's name"), ChangeParams),
    responses(
        (status = 200, description = "The change events", body = ChangeEventList),
        (status = 400, description = "`since` / `until` not RFC 3339, or `limit` not a number", body = ErrorBody),
    )
)]
pub async fn change_events(
    State(state): State<AppState>,
    Path(service): Path<String>,
    query: Result<Query<ChangeParams>, QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Query(p) = query?;
    let until = optional_time("until", p.until.as_deref())?.unwrap_or_else(Millis::now);
    let since = optional_time("since", p.since.as_deref())?.unwrap_or(Millis(until.0 - 24 * 3600 * 1000));
    let limit = p.limit.unwrap_or(MAX_LIMIT).clamp(1, MAX_LIMIT);
    let changes: Vec<StoredChange> = state.store.change_events(&ChangeQuery { service, since, until, limit }).await?;
    Ok(Json(serde_json::json!(ChangeEventList { change_events: changes })))
}

/// Body of `POST /api/v1/incidents/{id}/notes`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NoteBody {
    /// The note (not blank).
    #[schema(min_length = 1, pattern = r"\S")]
    note: String,
    /// Who wrote it (default `api`).
    #[serde(default)]
    author: Option<String>,
}

/// `POST /api/v1/incidents/{id}/notes`: adds a note to the timeline.
#[utoipa::path(
    post,
    path = "/api/v1/incidents/{id}/notes",
    operation_id = "add_incident_note",
    tag = "incidents",
    summary = "Add a note to an incident",
    description = "Appends a note to the incident's timeline.",
    params(IncidentId),
    request_body(content = NoteBody),
    responses(
        (status = 200, description = "The incident with the note on its timeline", body = IncidentDetail),
        (status = 400, description = "The body is not a note (missing, empty or not JSON)", body = ErrorBody),
        (status = 404, description = "No such incident", body = ErrorBody),
        (status = 503, description = "Shutting down", body = ErrorBody),
    )
)]
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
