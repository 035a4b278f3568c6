//! `GET /metrics` and the request-latency middleware.

use super::AppState;
use crate::metrics::{RequestLabels, StatusLabels};
use axum::extract::{MatchedPath, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::time::Instant;

/// Prometheus scrape; incident counts are read from the store now.
pub async fn scrape(State(state): State<AppState>) -> Response {
    match state.store.status_counts().await {
        Ok(counts) => {
            for (status, n) in counts {
                state.metrics.incidents.get_or_create(&StatusLabels { status: status.as_str() }).set(n);
            }
        }
        Err(e) => tracing::warn!(error = %e, "could not count incidents for /metrics"),
    }
    ([(CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], state.metrics.render())
        .into_response()
}

/// Observes every request's latency by method, route pattern and status.
pub async fn track_latency(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().to_string();
    let route =
        req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned()).unwrap_or_else(|| "unmatched".to_owned());
    let response = next.run(req).await;
    let labels = RequestLabels { method, route, status: response.status().as_u16() };
    state.metrics.requests.get_or_create(&labels).observe(started.elapsed().as_secs_f64());
    response
}
