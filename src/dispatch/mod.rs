//! Dispatch: delivering the actions that rules attached to incident transitions and agent session events.
//!
//! Dispatches are written to the outbox in the same transaction as the incident change (or the session change) that
//! caused them; the [`worker`] claims due ones with a lease, hands each to its [`Responder`], and records
//! the attempt. Responders only say how one delivery went; retries, backoff and dead letters are
//! the worker's.
//!
//! A delivery that started an agent session (its result carries a `session_id` and a `url`) is
//! followed by the [`sessions`] tracker until the session ends, through [`Responder::session`].

pub mod backoff;
pub mod sessions;
pub mod worker;

use crate::domain::{Incident, Millis, SessionEvent};
use crate::store::{AgentSessionRecord, PullRequest, StoredChange, TimelineEntry};
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// Everything a responder may use to deliver one dispatch.
#[derive(Debug, Clone)]
pub struct DispatchContext {
    /// The dispatch's id.
    pub dispatch_id: i64,
    /// Stable across retries and restarts: `<incident id>:<rule>:<action>:<transition>` (and `:<subject>` for a
    /// session event). Responders use it for idempotency (e.g. a Devin session tag, an `X-Webhook-Id`).
    pub dispatch_key: String,
    /// Which attempt this is (1 for the first).
    pub attempt: u32,
    /// The rule that matched.
    pub rule: String,
    /// The action's name in the configuration.
    pub action: String,
    /// What caused it: `triggered`, `acknowledged`, `resolved`, or a session event (`session_started`,
    /// `pull_request_opened`, `postmortem_ready`).
    pub transition: String,
    /// For a session event: what the session did, and the session.
    pub session_event: Option<SessionEventContext>,
    /// The incident, as it is now.
    pub incident: Incident,
    /// Its events, oldest first.
    pub timeline: Vec<TimelineEntry>,
    /// Its service's change events shortly before it opened, oldest first.
    pub changes: Vec<StoredChange>,
    /// Link to the incident in Firehouse, when `server.public_url` is configured.
    pub incident_url: Option<String>,
}

/// What a dispatch caused by a session event is about.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionEventContext {
    /// The event (its session id or pull request URL).
    pub event: SessionEvent,
    /// The session, as last polled: the one with the event's session id, or the one that opened its pull request
    /// (`None` when no followed session matches any longer).
    pub session: Option<AgentSessionRecord>,
    /// When the event was recorded (the dispatch's creation: the same on every retry).
    pub occurred_at: Millis,
    /// The incident's postmortem as Markdown, for `postmortem_ready`: under `server.public_url` when it is set,
    /// else the API path (`/api/v1/incidents/{id}/postmortem.md`).
    pub postmortem_url: Option<String>,
}

impl SessionEventContext {
    /// The pull request of a `pull_request_opened` event, with its state as last polled when known.
    pub fn pull_request(&self) -> Option<PullRequest> {
        let SessionEvent::PullRequestOpened { pr_url } = &self.event else { return None };
        let polled = self.session.as_ref().and_then(|s| s.pull_requests.iter().find(|p| &p.pr_url == pr_url));
        Some(polled.cloned().unwrap_or_else(|| PullRequest { pr_url: pr_url.clone(), pr_state: None }))
    }
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

/// An agent session as its API reports it (see [`Responder::session`]).
#[derive(Debug, Clone, PartialEq)]
pub struct SessionState {
    /// Who runs it (`devin`): the author of the timeline notes about it.
    pub agent: String,
    /// `new`, `claimed`, `running`, `exit`, `error`, `suspended` or `resuming`.
    pub status: String,
    /// The pull requests it opened.
    pub pull_requests: Vec<PullRequest>,
    /// Its structured output, once it has produced one.
    pub structured_output: Option<serde_json::Value>,
    /// Whether its structured output is the incident's postmortem (stored on the incident).
    pub postmortem: bool,
}

/// Delivers one kind of action.
#[async_trait]
pub trait Responder: Send + Sync {
    /// Attempts one delivery.
    async fn deliver(&self, ctx: &DispatchContext) -> Delivery;

    /// Reads an agent session this responder started (a delivery's result carrying its `session_id` and `url`),
    /// for the [`sessions`] tracker. `None`: this responder starts no sessions; an error text (never holding a
    /// secret) when the session could not be read this time.
    async fn session(&self, _session_id: &str) -> Option<Result<SessionState, String>> {
        None
    }
}

/// Responders by action name.
pub type Responders = HashMap<String, Arc<dyn Responder>>;
