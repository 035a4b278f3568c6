//! Firehouse: a self-hosted incident gateway. PagerDuty-compatible alarms in, responders out.
//!
//! Data flows one way: [`wire`] (bytes to typed values) → [`domain`] (pure rules) → [`store`]
//! (one transaction per batch, fed by [`ingest`]) → responders. [`http`] and the CLI are faces on
//! the same domain and store.

pub mod config;
pub mod dispatch;
pub mod domain;
pub mod http;
pub mod ingest;
pub mod mcp;
pub mod metrics;
pub mod responders;
pub mod server;
pub mod sources;
pub mod store;
pub mod tls;
pub mod wire;
