//! The HTTP face: thin handlers, one file per resource, errors mapped in one place.

pub mod auth;
pub mod catalog;
pub mod dispatches;
pub mod error;
pub mod health;
pub mod incidents;
pub mod intake;
pub mod metrics;
pub mod openapi;
pub mod params;
pub mod postmortems;
pub mod rate_limit;
pub mod settle;
pub mod silences;
pub mod ui;
pub mod webhooks;

use crate::domain::ServiceDirectory;
use crate::ingest::Ingestor;
use crate::metrics::Metrics;
use crate::store::Store;
use axum::routing::{get, post};
use axum::Router;
use std::sync::Arc;
use tower_http::trace::TraceLayer;

/// What every handler can reach, behind one reference count: axum clones the state for every request and every
/// middleware that takes it, and one shared count is cheaper to bump than one per part.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    /// Shares `parts` with every handler.
    pub fn new(parts: Shared) -> Self {
        AppState(Arc::new(parts))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The parts of [`AppState`].
pub struct Shared {
    /// The group-commit writer.
    pub ingestor: Ingestor,
    /// Reads.
    pub store: Arc<dyn Store>,
    /// Accepted integration keys.
    pub directory: Arc<ServiceDirectory>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// The MCP server's settings (`[mcp]`).
    pub mcp: Arc<crate::mcp::McpConfig>,
    /// Per-integration-key rate limits.
    pub rate_limits: Arc<rate_limit::RateLimits>,
    /// Inbound webhook sources.
    pub sources: Arc<crate::sources::Sources>,
    /// The rules (and how long dispatches are retried).
    pub rules: Arc<crate::domain::rules::RuleSet>,
    /// Wakes the outbox worker (after a dead letter is retried).
    pub dispatched: Arc<tokio::sync::Notify>,
}

/// Every route.
pub fn router(state: AppState) -> Router {
    // The REST API answers token holders (or, before any token exists, this machine only); the
    // intake and webhook paths authenticate by integration key and signature instead.
    let api = Router::new()
        .route("/api/v1/incidents", get(incidents::list))
        .route("/api/v1/incidents/{id}", get(incidents::show))
        .route("/api/v1/incidents/{id}/acknowledge", post(incidents::acknowledge))
        .route("/api/v1/incidents/{id}/resolve", post(incidents::resolve))
        .route("/api/v1/incidents/{id}/notes", post(incidents::add_note))
        .route("/api/v1/incidents/{id}/postmortem.md", get(postmortems::markdown))
        .route("/api/v1/services/{service}/change_events", get(incidents::change_events))
        .route("/api/v1/dispatches", get(dispatches::list))
        .route("/api/v1/dispatches/{id}", get(dispatches::show))
        .route("/api/v1/dispatches/{id}/retry", post(dispatches::retry))
        .route("/api/v1/services", get(catalog::services))
        .route("/api/v1/events", get(catalog::events))
        .route("/api/v1/silences", get(silences::list).post(silences::create))
        .route("/api/v1/silences/{id}", axum::routing::delete(silences::expire))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), settle::settle))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), auth::require_token));
    let mcp = Router::new()
        .nest_service("/mcp", crate::mcp::service(state.clone(), (*state.mcp).clone()))
        .layer(axum::middleware::from_fn_with_state(state.clone(), settle::settle));
    Router::new()
        .route("/v2/enqueue", post(intake::v2_enqueue))
        .route("/v2/change/enqueue", post(intake::change_enqueue))
        .route("/generic/2010-04-15/create_event.json", post(intake::v1_create_event))
        .route("/event/push/alert/pagerduty", post(intake::unified))
        .route("/webhooks/pagerduty/{source}", post(webhooks::pagerduty))
        .route("/webhooks/tickets/{source}", post(webhooks::tickets))
        .merge(api)
        .route("/healthz", get(health::healthz))
        .route("/api/v1/openapi.json", get(openapi::openapi_json))
        .route(
            "/metrics",
            get(metrics::scrape)
                .route_layer(axum::middleware::from_fn_with_state(state.clone(), settle::settle_scrape)),
        )
        .merge(mcp)
        .merge(ui::routes())
        .fallback(error::not_found)
        .layer(axum::middleware::from_fn_with_state(state.clone(), metrics::track_latency))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}
