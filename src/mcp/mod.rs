//! The MCP face: the Model Context Protocol (streamable HTTP, at `/mcp`), so that agents can read an
//! incident, its timeline, its service's change events and similar past incidents, and write their
//! findings back to the timeline.
//!
//! Built on the official Rust SDK (`rmcp`), served **statelessly**: every POST carries one JSON-RPC
//! message and is answered with JSON, no session is kept between requests. So any instance behind a
//! load balancer can answer any request, nothing stays open at shutdown, and no MCP session outlives
//! the router (the group-commit writer drains when the last handle to it is dropped).
//!
//! Every request is authenticated ([`auth`]) before the SDK sees it.

mod auth;
mod tools;

use crate::http::AppState;
use axum::Router;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use serde::Deserialize;
use std::sync::Arc;

pub use tools::{FirehouseMcp, INSTRUCTIONS, TOOL_NAMES};

/// The `[mcp]` section: who may use the MCP server and what it may change.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct McpConfig {
    /// Bearer tokens accepted in `Authorization: Bearer <token>` (any one of them). With none, only
    /// clients on the loopback interface are served, and only when the server records peer
    /// addresses (see [`service`]).
    pub tokens: Vec<String>,
    /// Whether the `set_incident_status` tool may acknowledge and resolve incidents (default: no).
    pub allow_status_changes: bool,
}

/// Tokens are secrets: never printed, not even in a debug dump of the configuration.
impl std::fmt::Debug for McpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpConfig")
            .field("tokens", &format_args!("<{} redacted>", self.tokens.len()))
            .field("allow_status_changes", &self.allow_status_changes)
            .finish()
    }
}

/// The most bytes one MCP request body may hold (a note is the largest thing an agent sends).
const MAX_REQUEST_BYTES: usize = 1024 * 1024;

/// The MCP endpoint, to mount with `.nest_service("/mcp", mcp::service(state.clone(), config))`.
///
/// Authentication: with `config.tokens`, every request must carry one of them as a bearer token
/// (compared in constant time); otherwise 401 with a JSON error body. With no tokens, only loopback
/// clients are served, which the service can tell only when the server is run with connect info
/// (`axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())`); without it
/// every request is refused until a token is configured.
pub fn service(state: AppState, config: McpConfig) -> Router {
    let auth = Arc::new(auth::Auth::new(&config.tokens));
    let handler = FirehouseMcp::new(state, config.allow_status_changes);
    // Stateless, JSON answers, no keep-alive pings: one request, one response.
    // `Host` is checked by `auth` instead of the SDK, whose default admits loopback names only and so
    // would refuse a deployment reached by its public name.
    let sdk_config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_sse_keep_alive(None)
        .with_max_request_body_bytes(MAX_REQUEST_BYTES)
        .disable_allowed_hosts();
    let mcp =
        StreamableHttpService::new(move || Ok(handler.clone()), Arc::new(LocalSessionManager::default()), sdk_config);
    Router::new().fallback_service(mcp).layer(axum::middleware::from_fn_with_state(auth, auth::authorize))
}
