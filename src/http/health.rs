//! `GET /healthz`: up, the database can be read, and answered events are being applied.

use super::error::ApiError;
use super::AppState;
use axum::extract::State;
use axum::Json;
use serde::Serialize;
use serde_json::{json, Value};
use std::time::Duration;

/// How long the health check waits for the database. A load balancer's probe gives up after a few seconds; an answer
/// that says why is worth more to whoever reads it than the probe's own timeout.
const DATABASE_WAIT: Duration = Duration::from_secs(3);

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

/// Answers 200 when the database can be read and answered events are being applied, 503 otherwise.
#[utoipa::path(
    get,
    path = "/healthz",
    operation_id = "healthz",
    tag = "health",
    summary = "Health",
    description = "200 when the database answers and answered events are being applied; 503 when the database \
                   cannot be read within 3 s, or while applying answered events fails (they are kept, and applied \
                   once the database works again). Open: no token needed.",
    security(()),
    responses(
        (status = 200, description = "Up, and the database answers", body = Health),
        (status = 503, description = "The database cannot be read, or answered events cannot be applied now",
            body = super::error::ErrorBody),
    )
)]
pub async fn healthz(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    match tokio::time::timeout(DATABASE_WAIT, state.store.ping()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "health check: the database cannot be read");
            return Err(ApiError::Degraded("the database cannot be read"));
        }
        Err(_) => {
            tracing::warn!(wait = ?DATABASE_WAIT, "health check: the database did not answer in time");
            return Err(ApiError::Degraded("the database cannot be read"));
        }
    }
    let progress = state.ingestor.progress();
    if progress.stalled {
        return Err(ApiError::Degraded(
            "answered events cannot be applied: the database fails (they are kept in the inbox; see the log)",
        ));
    }
    Ok(Json(json!(Health { status: "ok", version: env!("CARGO_PKG_VERSION"), backlog: progress.backlog })))
}
