//! What makes a rule fire: an incident's transition, or something an agent session working on it did.
//!
//! A rule's `on` list holds [`Trigger`]s. Transitions (`triggered`, `acknowledged`, `resolved`) happen to the
//! incident; session events (`session_started`, `pull_request_opened`, `postmortem_ready`) happen to an agent session
//! a dispatch started for it, and are matched against the same incident facts.
//!
//! Every dispatch is keyed `<incident id>:<rule>:<action>:<trigger>`, and a session event adds what makes it one of a
//! kind (`:<session id>`, `:<pull request URL>`), so each event is delivered once whatever repeats it.

use super::IncidentStatus;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// When a rule fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// An incident opened (or reopened).
    Triggered,
    /// An incident was acknowledged.
    Acknowledged,
    /// An incident resolved.
    Resolved,
    /// Firehouse started following an agent session a dispatch started for the incident.
    SessionStarted,
    /// A poll of an agent session found a pull request not seen before.
    PullRequestOpened,
    /// An agent session delivered the incident's postmortem.
    PostmortemReady,
}

impl Trigger {
    /// Every trigger: the transitions, then the session events.
    pub const ALL: [Trigger; 6] = [
        Trigger::Triggered,
        Trigger::Acknowledged,
        Trigger::Resolved,
        Trigger::SessionStarted,
        Trigger::PullRequestOpened,
        Trigger::PostmortemReady,
    ];

    /// The configuration and storage spelling (a dispatch's `transition`).
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Triggered => "triggered",
            Trigger::Acknowledged => "acknowledged",
            Trigger::Resolved => "resolved",
            Trigger::SessionStarted => "session_started",
            Trigger::PullRequestOpened => "pull_request_opened",
            Trigger::PostmortemReady => "postmortem_ready",
        }
    }

    /// The incident transition this is, when it is one.
    pub fn transition(self) -> Option<IncidentStatus> {
        match self {
            Trigger::Triggered => Some(IncidentStatus::Triggered),
            Trigger::Acknowledged => Some(IncidentStatus::Acknowledged),
            Trigger::Resolved => Some(IncidentStatus::Resolved),
            Trigger::SessionStarted | Trigger::PullRequestOpened | Trigger::PostmortemReady => None,
        }
    }

    /// Whether this is something an agent session did rather than an incident transition.
    pub fn is_session_event(self) -> bool {
        self.transition().is_none()
    }
}

impl From<IncidentStatus> for Trigger {
    fn from(status: IncidentStatus) -> Self {
        match status {
            IncidentStatus::Triggered => Trigger::Triggered,
            IncidentStatus::Acknowledged => Trigger::Acknowledged,
            IncidentStatus::Resolved => Trigger::Resolved,
        }
    }
}

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Trigger {
    type Err = super::severity::UnknownValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Trigger::ALL.into_iter().find(|t| t.as_str() == s).ok_or_else(|| super::severity::UnknownValue(s.to_owned()))
    }
}

/// Something an agent session did that rules may fire on, with what makes it one of a kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEvent {
    /// Firehouse started following the session.
    Started {
        /// The agent's id for the session.
        session_id: String,
    },
    /// A poll found a pull request not seen before: one event per pull request URL.
    PullRequestOpened {
        /// The pull request's URL.
        pr_url: String,
    },
    /// The session delivered the incident's postmortem: one event per session (later revisions replace the stored
    /// postmortem, which its link always shows, without another event).
    PostmortemReady {
        /// The agent's id for the session.
        session_id: String,
    },
}

impl SessionEvent {
    /// The trigger rules watch for it.
    pub fn trigger(&self) -> Trigger {
        match self {
            SessionEvent::Started { .. } => Trigger::SessionStarted,
            SessionEvent::PullRequestOpened { .. } => Trigger::PullRequestOpened,
            SessionEvent::PostmortemReady { .. } => Trigger::PostmortemReady,
        }
    }

    /// What makes it one of a kind: the last part of its dispatch keys.
    pub fn subject(&self) -> &str {
        match self {
            SessionEvent::Started { session_id } | SessionEvent::PostmortemReady { session_id } => session_id,
            SessionEvent::PullRequestOpened { pr_url } => pr_url,
        }
    }

    /// The event a trigger and a subject name (the inverse of [`Self::trigger`] and [`Self::subject`]); `None` for
    /// a transition or an empty subject.
    pub fn from_parts(trigger: Trigger, subject: &str) -> Option<Self> {
        if subject.is_empty() {
            return None;
        }
        let subject = subject.to_owned();
        match trigger {
            Trigger::SessionStarted => Some(SessionEvent::Started { session_id: subject }),
            Trigger::PullRequestOpened => Some(SessionEvent::PullRequestOpened { pr_url: subject }),
            Trigger::PostmortemReady => Some(SessionEvent::PostmortemReady { session_id: subject }),
            Trigger::Triggered | Trigger::Acknowledged | Trigger::Resolved => None,
        }
    }

    /// The event a dispatch stands for, read back from its key (`None` when the key is not a session event's of this
    /// incident, rule and action). The known prefix is stripped rather than the key split, so names holding `:` and
    /// URLs read back whole.
    pub fn from_dispatch_key(key: &str, incident_id: &str, rule: &str, action: &str, trigger: Trigger) -> Option<Self> {
        let prefix = dispatch_key(incident_id, rule, action, trigger, None);
        let subject = key.strip_prefix(&prefix)?.strip_prefix(':')?;
        Self::from_parts(trigger, subject)
    }
}

/// The outbox key of one (rule, action) for one trigger of an incident: `<incident id>:<rule>:<action>:<trigger>`,
/// then `:<subject>` for a session event ([`SessionEvent::subject`]). Inserting a key that exists writes nothing, so
/// retries, restarts and other instances repeating the same change never deliver twice.
pub fn dispatch_key(incident_id: &str, rule: &str, action: &str, trigger: Trigger, subject: Option<&str>) -> String {
    match subject {
        Some(subject) => format!("{incident_id}:{rule}:{action}:{}:{subject}", trigger.as_str()),
        None => format!("{incident_id}:{rule}:{action}:{}", trigger.as_str()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Rule {
        on: Vec<Trigger>,
    }

    #[test]
    fn every_word_parses_and_unknown_words_are_refused() {
        let r: Rule = toml::from_str(
            r#"on = ["triggered", "acknowledged", "resolved", "session_started", "pull_request_opened", "postmortem_ready"]"#,
        )
        .unwrap();
        assert_eq!(r.on, Trigger::ALL);
        for t in Trigger::ALL {
            assert_eq!(t.as_str().parse::<Trigger>().unwrap(), t);
            assert_eq!(t.to_string(), t.as_str());
        }
        for bad in ["pull_request", "Triggered", "session-started", ""] {
            assert!(bad.parse::<Trigger>().is_err(), "{bad:?}");
        }
        let err = toml::from_str::<Rule>("on = [\"triggered\", \"pr_opened\"]").unwrap_err();
        assert!(err.message().contains("unknown variant `pr_opened`"), "{err}");
        assert!(err.message().contains("postmortem_ready"), "names the accepted words: {err}");
    }

    #[test]
    fn transitions_and_session_events_are_told_apart() {
        for status in IncidentStatus::ALL {
            let t = Trigger::from(status);
            assert_eq!((t.transition(), t.is_session_event(), t.as_str()), (Some(status), false, status.as_str()));
        }
        for t in [Trigger::SessionStarted, Trigger::PullRequestOpened, Trigger::PostmortemReady] {
            assert!(t.is_session_event() && t.transition().is_none(), "{t}");
        }
    }

    #[test]
    fn keys_name_the_event_and_read_back_whole() {
        let id = "0b5e7c1e-2f0a-4c1b-9d7e-5a1f3c2b4d6e";
        assert_eq!(dispatch_key(id, "triage", "hook", Trigger::Triggered, None), format!("{id}:triage:hook:triggered"));
        let events = [
            SessionEvent::Started { session_id: "devin-1".into() },
            SessionEvent::PullRequestOpened { pr_url: "https://github.com/o/r/pull/1".into() },
            SessionEvent::PostmortemReady { session_id: "devin-1".into() },
        ];
        for e in &events {
            // Names with colons: the prefix is known, so nothing is split on them.
            let key = dispatch_key(id, "rule:a", "act:b", e.trigger(), Some(e.subject()));
            assert_eq!(SessionEvent::from_dispatch_key(&key, id, "rule:a", "act:b", e.trigger()).as_ref(), Some(e));
            assert_eq!(
                SessionEvent::from_dispatch_key(&key, id, "rule:b", "act:b", e.trigger()),
                None,
                "another rule's"
            );
            assert_eq!(SessionEvent::from_dispatch_key(&key, "other", "rule:a", "act:b", e.trigger()), None);
        }
        let pr = dispatch_key(id, "r", "a", Trigger::PullRequestOpened, Some("https://github.com/o/r/pull/1"));
        assert_eq!(pr, format!("{id}:r:a:pull_request_opened:https://github.com/o/r/pull/1"));
        let plain = dispatch_key(id, "r", "a", Trigger::Resolved, None);
        assert_eq!(SessionEvent::from_dispatch_key(&plain, id, "r", "a", Trigger::Resolved), None);
        assert_eq!(SessionEvent::from_parts(Trigger::SessionStarted, ""), None);
        assert_eq!(SessionEvent::from_parts(Trigger::Resolved, "devin-1"), None);
    }
}
