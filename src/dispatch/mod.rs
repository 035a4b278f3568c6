//! Dispatch: delivering the actions that rules attached to incident transitions.
//!
//! Dispatches are written to the outbox in the same transaction as the incident change that caused
//! them; the [`worker`] claims due ones with a lease, hands each to its [`Responder`], and records
//! the attempt. Responders only say how one delivery went; retries, backoff and dead letters are
//! the worker's.

pub mod backoff;
pub mod worker;

use crate::domain::Incident;
use crate::store::{StoredChange, TimelineEntry};
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// Everything a responder may use to deliver one dispatch.
#[derive(Debug, Clone)]
pub struct DispatchContext {
    /// The dispatch's id.
    pub dispatch_id: i64,
    /// Stable across retries and restarts: `<incident id>:<rule>:<action>:<transition>`.
    /// Responders use it for idempotency (e.g. a Devin session tag, an `X-Webhook-Id`).
    pub dispatch_key: String,
    /// Which attempt this is (1 for the first).
    pub attempt: u32,
    /// The rule that matched.
    pub rule: String,
    /// The action's name in the configuration.
    pub action: String,
    /// `triggered`, `acknowledged` or `resolved`.
    pub transition: String,
    /// The incident, as it is now.
    pub incident: Incident,
    /// Its events, oldest first.
    pub timeline: Vec<TimelineEntry>,
    /// Its service's change events shortly before it opened, oldest first.
    pub changes: Vec<StoredChange>,
    /// Link to the incident in Firehouse, when `server.public_url` is configured.
    pub incident_url: Option<String>,
}

/// How one delivery attempt went.
#[derive(Debug, Clone, PartialEq)]
pub enum Delivery {
    /// Delivered; `result` is kept on the dispatch (e.g. `{"session_id": …, "url": …}`).
    Done {
        /// What the receiver gave back worth keeping.
        result: Option<serde_json::Value>,
    },
    /// Failed in a way worth retrying (5xx, 429, timeout, connection error).
    Retry {
        /// What went wrong (never containing secrets).
        error: String,
        /// The receiver's `Retry-After`, when it sent one.
        after: Option<Duration>,
    },
    /// Failed for good (other 4xx, bad configuration): dead-lettered at once.
    Fail {
        /// What went wrong (never containing secrets).
        error: String,
    },
}

/// Delivers one kind of action.
#[async_trait]
pub trait Responder: Send + Sync {
    /// Attempts one delivery.
    async fn deliver(&self, ctx: &DispatchContext) -> Delivery;
}

/// Responders by action name.
pub type Responders = HashMap<String, Arc<dyn Responder>>;
