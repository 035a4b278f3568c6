//! `GET /healthz`: up, and the database answers.

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
}

/// Answers 200 when the database can be read.
#[utoipa::path(
    get,
    path = "/healthz",
    operation_id = "healthz",
    tag = "health",
    summary = "Health",
    description = "200 when the database answers. Open: no token needed.",
    security(()),
    responses(
        (status = 200, description = "Up, and the database answers", body = Health),
        (status = 500, description = "The database does not answer", body = super::error::ErrorBody),
    )
)]
pub async fn healthz(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    state.store.status_counts().await?;
    Ok(Json(json!(Health { status: "ok", version: env!("CARGO_PKG_VERSION") })))
}
