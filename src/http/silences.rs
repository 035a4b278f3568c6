//! `/api/v1/silences`: silence matching alerts for a while (they are stored, open nothing, run nothing).

use super::error::{ApiError, ErrorBody};
use super::params::optional_time;
use super::AppState;
use crate::domain::rules::MatcherSpec;
use crate::domain::Millis;
use crate::store::SilenceRecord;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::{IntoParams, ToSchema};

/// Body of `POST /api/v1/silences`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSilence {
    /// Every matcher must match (`{"field": "service", "equals": "payments"}`, …).
    #[schema(min_items = 1)]
    matchers: Vec<MatcherSpec>,
    /// RFC 3339 (default: now).
    #[schema(format = DateTime)]
    starts_at: Option<String>,
    /// RFC 3339.
    #[schema(format = DateTime)]
    ends_at: Option<String>,
    /// Instead of `ends_at`: how long, in minutes.
    duration_minutes: Option<u64>,
    /// Who (not blank).
    #[schema(min_length = 1, pattern = r"\S")]
    created_by: String,
    /// Why (not blank).
    #[schema(min_length = 1, pattern = r"\S")]
    comment: String,
}

/// `POST /api/v1/silences`.
#[utoipa::path(
    post,
    path = "/api/v1/silences",
    operation_id = "create_silence",
    tag = "silences",
    summary = "Create a silence",
    description = "Silences alerts matching every matcher from `starts_at` until `ends_at` (or for \
                   `duration_minutes`): they are stored, open nothing and run nothing.",
    request_body(content = NewSilence),
    responses(
        (status = 201, description = "The silence", body = SilenceRecord),
        (status = 400, description = "The body is not a valid silence", body = ErrorBody),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    body: Result<Json<NewSilence>, JsonRejection>,
) -> Result<(StatusCode, Json<SilenceRecord>), ApiError> {
    let Json(s) = body.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    if s.matchers.is_empty() {
        return Err(ApiError::BadRequest("a silence needs at least one matcher".into()));
    }
    for m in &s.matchers {
        m.compile().map_err(ApiError::BadRequest)?;
    }
    if s.created_by.trim().is_empty() || s.comment.trim().is_empty() {
        return Err(ApiError::BadRequest("created_by and comment are required".into()));
    }
    let now = Millis::now();
    let starts_at = optional_time("starts_at", s.starts_at.as_deref())?.unwrap_or(now);
    let ends_at = match (optional_time("ends_at", s.ends_at.as_deref())?, s.duration_minutes) {
        (Some(end), None) => end,
        (None, Some(minutes)) => starts_at
            .plus_minutes(minutes)
            .ok_or_else(|| ApiError::BadRequest("duration_minutes is too large".into()))?,
        _ => return Err(ApiError::BadRequest("give exactly one of ends_at and duration_minutes".into())),
    };
    if ends_at <= starts_at {
        return Err(ApiError::BadRequest("a silence must end after it starts".into()));
    }
    let record = SilenceRecord {
        id: 0,
        matchers: s.matchers,
        starts_at,
        ends_at,
        created_by: s.created_by,
        comment: s.comment,
        created_at: now,
    };
    Ok((StatusCode::CREATED, Json(state.store.create_silence(&record).await?)))
}

/// Query of `GET /api/v1/silences`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Include silences that have ended.
    #[serde(default)]
    all: bool,
}

/// Answer of `GET /api/v1/silences`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SilenceList {
    /// The silences, newest first.
    pub silences: Vec<SilenceRecord>,
}

/// `GET /api/v1/silences`: those not over yet (or all with `?all=true`), newest first.
#[utoipa::path(
    get,
    path = "/api/v1/silences",
    operation_id = "list_silences",
    tag = "silences",
    summary = "List silences",
    description = "Silences not over yet (or all with `all=true`), newest first.",
    params(ListParams),
    responses(
        (status = 200, description = "The silences", body = SilenceList),
        (status = 400, description = "`all` is not a boolean", body = ErrorBody),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    query: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(p) = query?;
    let silences = state.store.list_silences((!p.all).then(Millis::now)).await?;
    Ok(Json(json!(SilenceList { silences })))
}

/// `DELETE /api/v1/silences/{id}`: ends it now.
#[utoipa::path(
    delete,
    path = "/api/v1/silences/{id}",
    operation_id = "expire_silence",
    tag = "silences",
    summary = "End a silence",
    description = "Ends an active silence now.",
    params(("id" = i64, Path, description = "The silence's id")),
    responses(
        (status = 204, description = "Ended"),
        (status = 400, description = "The id is not a number", body = ErrorBody),
        (status = 404, description = "No such active silence", body = ErrorBody),
    )
)]
pub async fn expire(
    State(state): State<AppState>,
    id: Result<Path<i64>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let Path(id) = id?;
    if state.store.expire_silence(id, Millis::now()).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound("no such active silence".into()))
    }
}
