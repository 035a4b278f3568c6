//! `GET /healthz`: up, the database answers, and answered events are being applied.

use super::error::ApiError;
use super::AppState;
use axum::extract::State;
use axum::Json;
use serde::Serialize;
use serde_json::{json, Value};

/// Answer of `GET /healthz`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Health {
    /// Always `ok`.
    #[schema(example = "ok")]
    pub status: &'static str,
    /// Firehouse's version.
    pub version: &'static str,
    /// Answered events not applied yet (see `firehouse_inbox_backlog`).
    pub backlog: u64,
}

/// Answers 200 when the database can be read and answered events are being applied.
#[utoipa::path(
    get,
    path = "/healthz",
    operation_id = "healthz",
    tag = "health",
    summary = "Health",
    description = "200 when the database answers and answered events are being applied; 503 while applying them \
                   fails (they are kept, and applied once the database works again). Open: no token needed.",
    security(()),
    responses(
        (status = 200, description = "Up, and the database answers", body = Health),
        (status = 500, description = "The database does not answer", body = super::error::ErrorBody),
        (status = 503, description = "Answered events cannot be applied now", body = super::error::ErrorBody),
    )
)]
pub async fn healthz(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    state.store.status_counts().await?;
    let progress = state.ingestor.progress();
    if progress.stalled {
        return Err(ApiError::Degraded(
            "answered events cannot be applied: the database fails (they are kept in the inbox; see the log)",
        ));
    }
    Ok(Json(json!(Health { status: "ok", version: env!("CARGO_PKG_VERSION"), backlog: progress.backlog })))
}
