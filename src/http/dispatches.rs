//! `/api/v1/dispatches`: what Firehouse did for each incident transition, and dead letters to retry.

use super::error::{ApiError, ErrorBody};
use super::AppState;
use crate::domain::Millis;
use crate::store::{DispatchQuery, DispatchRecord, DispatchStatus};
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::{IntoParams, ToSchema};

/// Query of `GET /api/v1/dispatches`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// `pending`, `done` or `dead`.
    #[param(value_type = Option<DispatchStatus>)]
    status: Option<String>,
    /// Only this incident (number).
    incident: Option<i64>,
    /// Page size (1–100, default 25).
    #[param(minimum = 1, maximum = 100, default = 25)]
    limit: Option<u32>,
    /// Skipped.
    #[param(default = 0)]
    offset: Option<u32>,
}

/// One page of dispatches.
#[derive(Debug, Serialize, ToSchema)]
pub struct DispatchPage {
    /// The dispatches, newest first.
    pub dispatches: Vec<DispatchRecord>,
    /// Page size asked for.
    pub limit: u32,
    /// Dispatches skipped.
    pub offset: u32,
}

/// The dispatch of an `/api/v1/dispatches/{id}` route.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct DispatchId {
    /// The dispatch's id.
    pub id: i64,
}

/// `GET /api/v1/dispatches`, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/dispatches",
    operation_id = "list_dispatches",
    tag = "dispatches",
    summary = "List dispatches",
    description = "What Firehouse dispatched for incident transitions, newest first, filtered by status and incident.",
    params(ListParams),
    responses(
        (status = 200, description = "One page of dispatches", body = DispatchPage),
        (status = 400, description = "`status`, `incident`, `limit` or `offset` is invalid", body = ErrorBody),
    )
)]
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
    Ok(Json(json!(DispatchPage { dispatches, limit, offset: q.offset })))
}

/// `GET /api/v1/dispatches/{id}`.
#[utoipa::path(
    get,
    path = "/api/v1/dispatches/{id}",
    operation_id = "get_dispatch",
    tag = "dispatches",
    summary = "Get a dispatch",
    description = "One dispatch: attempts, last error, result (e.g. the agent session's id and URL).",
    params(DispatchId),
    responses(
        (status = 200, description = "The dispatch", body = DispatchRecord),
        (status = 400, description = "The id is not a number", body = ErrorBody),
        (status = 404, description = "No such dispatch", body = ErrorBody),
    )
)]
pub async fn show(
    State(state): State<AppState>,
    id: Result<Path<i64>, PathRejection>,
) -> Result<Json<DispatchRecord>, ApiError> {
    let Path(id) = id?;
    state.store.get_dispatch(id).await?.map(Json).ok_or_else(|| ApiError::NotFound("no such dispatch".into()))
}

/// `POST /api/v1/dispatches/{id}/retry`: a dead letter goes back in the queue, due now.
#[utoipa::path(
    post,
    path = "/api/v1/dispatches/{id}/retry",
    operation_id = "retry_dispatch",
    tag = "dispatches",
    summary = "Retry a dead letter",
    description = "Puts a dead dispatch back in the queue, due now, with a new deadline.",
    params(DispatchId),
    responses(
        (status = 200, description = "The dispatch, pending again", body = DispatchRecord),
        (status = 400, description = "The id is not a number", body = ErrorBody),
        (status = 404, description = "No such dispatch", body = ErrorBody),
        (status = 409, description = "The dispatch is not dead", body = ErrorBody),
    )
)]
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
