//! `/api/v1/services` and `/api/v1/events`: what Firehouse knows of services, and the raw event log
//! searched by dedup key, service and time.

use super::error::{ApiError, ErrorBody};
use super::params::optional_time;
use super::AppState;
use crate::store::{EventQuery, EventRecord, ServiceRecord};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// The answer of `GET /api/v1/services`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceList {
    /// Every service, by name.
    pub services: Vec<ServiceRecord>,
}

/// `GET /api/v1/services`.
#[utoipa::path(
    get,
    path = "/api/v1/services",
    operation_id = "list_services",
    tag = "services",
    summary = "List services",
    description = "Every service (configured, or seen in open mode), with its open and total incidents.",
    responses((status = 200, description = "The services", body = ServiceList))
)]
pub async fn services(State(state): State<AppState>) -> Result<Json<ServiceList>, ApiError> {
    Ok(Json(ServiceList { services: state.store.list_services().await? }))
}

/// Query of `GET /api/v1/events`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventParams {
    /// Only this dedup key.
    dedup_key: Option<String>,
    /// Only this service.
    service: Option<String>,
    /// Received at or after (RFC 3339).
    #[param(format = DateTime)]
    since: Option<String>,
    /// Received before (RFC 3339).
    #[param(format = DateTime)]
    until: Option<String>,
    /// Page size (1–100, default 25).
    #[param(minimum = 1, maximum = 100, default = 25)]
    limit: Option<u32>,
    /// Skipped.
    #[param(default = 0)]
    offset: Option<u32>,
}

/// The answer of `GET /api/v1/events`.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventList {
    /// Events, newest first.
    pub events: Vec<EventRecord>,
    /// Page size asked for.
    pub limit: u32,
    /// Skipped.
    pub offset: u32,
}

/// `GET /api/v1/events`.
#[utoipa::path(
    get,
    path = "/api/v1/events",
    operation_id = "search_events",
    tag = "events",
    summary = "Search the event log",
    description = "Every accepted event (alerts, operator actions, webhooks), newest first, by dedup key, \
                   service and time.",
    params(EventParams),
    responses(
        (status = 200, description = "The events", body = EventList),
        (status = 400, description = "A parameter is invalid", body = ErrorBody),
    )
)]
pub async fn events(
    State(state): State<AppState>,
    query: Result<Query<EventParams>, QueryRejection>,
) -> Result<Json<EventList>, ApiError> {
    let Query(p) = query?;
    let limit = p.limit.unwrap_or(25);
    if limit == 0 || limit > super::incidents::MAX_LIMIT {
        return Err(ApiError::BadRequest(format!("limit must be between 1 and {}", super::incidents::MAX_LIMIT)));
    }
    let q = EventQuery {
        dedup_key: p.dedup_key.filter(|s| !s.is_empty()),
        service: p.service.filter(|s| !s.is_empty()),
        since: optional_time("since", p.since.as_deref())?,
        until: optional_time("until", p.until.as_deref())?,
        limit,
        offset: p.offset.unwrap_or(0),
    };
    let events = state.store.search_events(&q).await?;
    Ok(Json(EventList { events, limit, offset: q.offset }))
}
