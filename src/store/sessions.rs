//! Agent sessions Firehouse follows, what a poll of one found, and the postmortems they deliver.

use crate::domain::Millis;
use serde::{Deserialize, Serialize};

/// A pull request an agent session opened, as its API reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PullRequest {
    /// Its URL.
    pub pr_url: String,
    /// Its state (`open`, `merged`, `closed`, …), when the API gives one.
    #[serde(default)]
    pub pr_state: Option<String>,
}

/// A session to start following: a dispatch was delivered with a `session_id` and a `url`.
#[derive(Debug, Clone)]
pub struct NewAgentSession {
    /// The incident it works on.
    pub incident_number: i64,
    /// The dispatch that started it.
    pub dispatch_id: i64,
    /// The action that started it (its responder answers the polls).
    pub action: String,
    /// The agent's id for it (`devin-…`).
    pub session_id: String,
    /// Where people watch it.
    pub url: String,
    /// Its status when it was started (`new`).
    pub status: String,
    /// Its first poll.
    pub next_poll_at: Millis,
    /// Now.
    pub at: Millis,
}

/// A followed session, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AgentSessionRecord {
    /// Its row id.
    pub id: i64,
    /// The incident it works on.
    pub incident_number: i64,
    /// The dispatch that started it.
    pub dispatch_id: i64,
    /// The action that started it.
    pub action: String,
    /// The agent's id for it.
    pub session_id: String,
    /// Where people watch it.
    pub url: String,
    /// Its status as last polled (`new`, `claimed`, `running`, `exit`, `error`, `suspended`, `resuming`).
    pub status: String,
    /// Its pull requests as last polled.
    pub pull_requests: Vec<PullRequest>,
    /// Its structured output as last polled.
    pub structured_output: Option<serde_json::Value>,
    /// Successful polls recorded.
    pub polls: i64,
    /// When it is polled next (while not done).
    pub next_poll_at: Millis,
    /// Whether Firehouse stopped following it (it ended, or the cap was reached).
    pub done: bool,
    /// When Firehouse started following it.
    pub created_at: Millis,
    /// When a change of it was last recorded.
    pub updated_at: Millis,
}

#[cfg(test)]
impl AgentSessionRecord {
    /// A running session of incident 7 with one open pull request, for responders' tests.
    pub(crate) fn example() -> Self {
        AgentSessionRecord {
            id: 1,
            incident_number: 7,
            dispatch_id: 3,
            action: "devin-triage".into(),
            session_id: "devin-1".into(),
            url: "https://app.devin.ai/sessions/1".into(),
            status: "running".into(),
            pull_requests: vec![PullRequest {
                pr_url: "https://github.com/o/r/pull/1".into(),
                pr_state: Some("open".into()),
            }],
            structured_output: None,
            polls: 1,
            next_poll_at: Millis(0),
            done: false,
            created_at: Millis(0),
            updated_at: Millis(0),
        }
    }
}

/// One entry a poll adds to the incident's timeline (a note: `{"author", "note", "session"}`).
#[derive(Debug, Clone, PartialEq)]
pub struct SessionNote {
    /// Who it is from: the agent (`devin`) for what the agent did, `firehouse` for what Firehouse decided.
    pub author: String,
    /// What happened, in a sentence.
    pub text: String,
    /// The details (kept in the entry's raw body under `session`).
    pub details: serde_json::Value,
}

/// The session's state as a successful poll read it.
#[derive(Debug, Clone, PartialEq)]
pub struct PolledSession {
    /// Status.
    pub status: String,
    /// Pull requests.
    pub pull_requests: Vec<PullRequest>,
    /// Structured output.
    pub structured_output: Option<serde_json::Value>,
}

/// What one poll of a session found, recorded in one transaction ([`super::Command::AgentSession`]): its new
/// state, a timeline note per change, its next poll, and the postmortem it delivered.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionReport {
    /// Which session.
    pub session_id: String,
    /// Its `polls` when it was claimed. The report applies only if no other was recorded since (another instance
    /// took the session over after the lease, say) and the session is still followed; a successful poll's report
    /// counts one more poll.
    pub polls: i64,
    /// The state read, when the poll succeeded (`None`: only the schedule changes).
    pub polled: Option<PolledSession>,
    /// Notes for the timeline, in order.
    pub notes: Vec<SessionNote>,
    /// A postmortem to store on the incident (replacing an earlier one).
    pub postmortem: Option<serde_json::Value>,
    /// What rules may fire on, in order: each pull request not seen before, the postmortem it delivered.
    pub events: Vec<crate::domain::SessionEvent>,
    /// When to poll next.
    pub next_poll_at: Millis,
    /// Stop following it.
    pub done: bool,
}

/// A postmortem an agent delivered for an incident.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PostmortemRecord {
    /// The incident.
    pub incident_number: i64,
    /// The session that wrote it.
    pub session_id: String,
    /// Where that session is watched.
    pub url: String,
    /// The structured output, as delivered (`summary`, `timeline`, `root_cause`, `action_items`).
    pub body: serde_json::Value,
    /// When it first arrived.
    pub created_at: Millis,
    /// When it last changed.
    pub updated_at: Millis,
}
