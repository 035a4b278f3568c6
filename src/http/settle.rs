//! Reads see every answered event: API, MCP and metrics requests first wait for the applier to apply what was accepted
//! before they arrived, so a client that reads right after its event's 202 finds it.

use super::AppState;
use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use std::time::Duration;

/// The longest a request waits. Only an alert storm makes the applier this far behind; the request is then answered
/// from what is applied, and says how much is not yet.
const MAX_WAIT: Duration = Duration::from_secs(10);

/// The longest a metrics scrape waits: well inside a scraper's timeout, so the backlog gauge is seen during a storm.
const MAX_SCRAPE_WAIT: Duration = Duration::from_secs(1);

/// The header naming the accepted events a response does not show yet (absent when it shows them all).
pub const BACKLOG_HEADER: &str = "firehouse-backlog";

/// Middleware: waits for the applier, then runs the request.
pub async fn settle(State(state): State<AppState>, request: Request, next: Next) -> Response {
    settle_within(&state, MAX_WAIT, request, next).await
}

/// Middleware for scrapes: waits less.
pub async fn settle_scrape(State(state): State<AppState>, request: Request, next: Next) -> Response {
    settle_within(&state, MAX_SCRAPE_WAIT, request, next).await
}

async fn settle_within(state: &AppState, limit: Duration, request: Request, next: Next) -> Response {
    let behind = state.ingestor.settled(limit).await;
    let mut response = next.run(request).await;
    if behind > 0 {
        response.headers_mut().insert(BACKLOG_HEADER, HeaderValue::from(behind));
    }
    response
}
