//! Every HTTP error, mapped to a status and a body here and nowhere else.

use crate::ingest::IngestError;
use crate::store::{Rejection, StoreError};
use crate::wire::response;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

/// A refusal on the Events API paths, answered in PagerDuty's own shapes.
#[derive(Debug)]
pub enum IntakeError {
    /// 400 `invalid event`, one line per problem.
    Invalid(Vec<String>),
    /// 413: over the size limit.
    TooLarge(usize),
    /// 500: not stored; the sender should retry.
    NotStored,
    /// 503: shutting down; the sender should retry.
    Unavailable,
    /// Over the integration key's rate limit: 429 on v2, 403 on v1 (PagerDuty's codes).
    Throttled {
        /// Whether the event came as v1.
        v1: bool,
        /// When to retry.
        retry_after: std::time::Duration,
    },
}

impl From<crate::wire::InvalidEvent> for IntakeError {
    fn from(e: crate::wire::InvalidEvent) -> Self {
        IntakeError::Invalid(e.errors)
    }
}

impl From<IngestError> for IntakeError {
    fn from(e: IngestError) -> Self {
        match e {
            IngestError::Store(_) => IntakeError::NotStored,
            IngestError::Stopped => IntakeError::Unavailable,
        }
    }
}

impl IntakeError {
    /// The outcome label for metrics.
    pub fn outcome(&self) -> &'static str {
        match self {
            IntakeError::Invalid(_) => "invalid",
            IntakeError::TooLarge(_) => "too_large",
            IntakeError::NotStored | IntakeError::Unavailable => "error",
            IntakeError::Throttled { .. } => "throttled",
        }
    }
}

impl IntoResponse for IntakeError {
    fn into_response(self) -> Response {
        match self {
            IntakeError::Invalid(errors) => (StatusCode::BAD_REQUEST, Json(response::invalid(errors))).into_response(),
            IntakeError::TooLarge(limit) => {
                (StatusCode::PAYLOAD_TOO_LARGE, Json(response::too_large(limit))).into_response()
            }
            IntakeError::NotStored => (StatusCode::INTERNAL_SERVER_ERROR, Json(response::not_stored())).into_response(),
            IntakeError::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, Json(response::not_stored())).into_response(),
            IntakeError::Throttled { v1, retry_after } => {
                let status = if v1 { StatusCode::FORBIDDEN } else { StatusCode::TOO_MANY_REQUESTS };
                let secs = retry_after.as_secs().max(1).to_string();
                (status, [(axum::http::header::RETRY_AFTER, secs)], Json(response::throttled())).into_response()
            }
        }
    }
}

/// A REST API error: `{"error": {"code": "...", "message": "..."}}` with a stable code.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 404.
    #[error("{0}")]
    NotFound(String),
    /// 400.
    #[error("{0}")]
    BadRequest(String),
    /// 409.
    #[error("{0}")]
    Conflict(String),
    /// 401: the request is not authentic.
    #[error("{0}")]
    Unauthorized(String),
    /// 403: not allowed from here.
    #[error("{0}")]
    Forbidden(String),
    /// 413.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// 415.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 500; the cause is logged, not shown.
    #[error("internal error")]
    Internal(String),
    /// 503.
    #[error("shutting down")]
    Unavailable,
    /// 503: up, but not doing its work (the message says what).
    #[error("{0}")]
    Degraded(&'static str),
}

/// The stable code of an API error, one per status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// 404.
    NotFound,
    /// 400.
    BadRequest,
    /// 409.
    Conflict,
    /// 401.
    Unauthorized,
    /// 403.
    Forbidden,
    /// 413.
    PayloadTooLarge,
    /// 415.
    UnsupportedMediaType,
    /// 500.
    Internal,
    /// 503.
    Unavailable,
}

/// The body of every REST API error.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// A REST API error's code and message.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable, for programs.
    pub code: ErrorCode,
    /// For people.
    pub message: String,
}

impl ApiError {
    fn parts(&self) -> (StatusCode, ErrorCode) {
        match self {
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, ErrorCode::NotFound),
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, ErrorCode::BadRequest),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, ErrorCode::Conflict),
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, ErrorCode::Forbidden),
            ApiError::PayloadTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::PayloadTooLarge),
            ApiError::UnsupportedMediaType(_) => (StatusCode::UNSUPPORTED_MEDIA_TYPE, ErrorCode::UnsupportedMediaType),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::Internal),
            ApiError::Unavailable | ApiError::Degraded(_) => (StatusCode::SERVICE_UNAVAILABLE, ErrorCode::Unavailable),
        }
    }
}

impl From<axum::extract::rejection::QueryRejection> for ApiError {
    fn from(e: axum::extract::rejection::QueryRejection) -> Self {
        ApiError::BadRequest(e.body_text())
    }
}

impl From<axum::extract::rejection::PathRejection> for ApiError {
    fn from(e: axum::extract::rejection::PathRejection) -> Self {
        ApiError::BadRequest(e.body_text())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::Internal(e.to_string())
    }
}

impl From<IngestError> for ApiError {
    fn from(e: IngestError) -> Self {
        match e {
            IngestError::Store(e) => ApiError::Internal(e.to_string()),
            IngestError::Stopped => ApiError::Unavailable,
        }
    }
}

impl From<Rejection> for ApiError {
    fn from(e: Rejection) -> Self {
        match e {
            Rejection::IncidentNotFound => ApiError::NotFound(e.to_string()),
            Rejection::Manual(m) => ApiError::Conflict(m.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(cause) = &self {
            tracing::error!(%cause, "request failed");
        }
        let (status, code) = self.parts();
        (status, Json(ErrorBody { error: ErrorDetail { code, message: self.to_string() } })).into_response()
    }
}

/// Unknown paths.
pub async fn not_found() -> ApiError {
    ApiError::NotFound("no such route".into())
}
