//! `/api/v1/dispatches`: what Firehouse did for each incident transition, and dead letters to retry.

use super::error::ApiError;
use super::AppState;
use crate::domain::Millis;
use crate::store::{DispatchQuery, DispatchRecord, DispatchStatus};
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

/// Query of `GET /api/v1/dispatches`.
#[derive(Debug, Deserialize)]
pub struct ListParams {
    /// `pending`, `done` or `dead`.
    status: Option<String>,
    /// Only this incident (number).
    incident: Option<i64>,
    /// Page size (1–100, default 25).
    limit: Option<u32>,
    /// Skipped.
    offset: Option<u32>,
}

/// `GET /api/v1/dispatches`, newest first.
pub async fn list(
    State(state): State<AppState>,
    query: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(p) = query?;
    let status = p
        .status
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<DispatchStatus>().map_err(|_| {
                ApiError::BadRequest(format!("status {s:?} is invalid (must be one of: pending done dead)"))
            })
        })
        .transpose()?;
    let limit = p.limit.unwrap_or(25);
    if limit == 0 || limit > super::incidents::MAX_LIMIT {
        return Err(ApiError::BadRequest(format!("limit must be between 1 and {}", super::incidents::MAX_LIMIT)));
    }
    let q = DispatchQuery { status, incident_number: p.incident, limit, offset: p.offset.unwrap_or(0) };
    let dispatches = state.store.list_dispatches(&q).await?;
    Ok(Json(json!({ "dispatches": dispatches, "limit": limit, "offset": q.offset })))
}

/// `GET /api/v1/dispatches/{id}`.
pub async fn show(
    State(state): State<AppState>,
    id: Result<Path<i64>, PathRejection>,
) -> Result<Json<DispatchRecord>, ApiError> {
    let Path(id) = id?;
    state.store.get_dispatch(id).await?.map(Json).ok_or_else(|| ApiError::NotFound("no such dispatch".into()))
}

/// `POST /api/v1/dispatches/{id}/retry`: a dead letter goes back in the queue, due now.
pub async fn retry(
    State(state): State<AppState>,
    id: Result<Path<i64>, PathRejection>,
) -> Result<Json<DispatchRecord>, ApiError> {
    let Path(id) = id?;
    let now = Millis::now();
    let deadline = Millis(now.0 + state.rules.dispatch_max_age.as_millis() as i64);
    if !state.store.retry_dispatch(id, now, deadline).await? {
        return match state.store.get_dispatch(id).await? {
            None => Err(ApiError::NotFound("no such dispatch".into())),
            Some(d) => Err(ApiError::Conflict(format!("dispatch is {}, not dead", d.status.as_str()))),
        };
    }
    state.dispatched.notify_one();
    show(State(state), Ok(Path(id))).await
}
