//! The session tracker: follows the agent sessions dispatches started until they end, and notes each change on
//! the incident's timeline.
//!
//! The worker starts following a session when a delivery's result carries its `session_id` and `url`. The tracker
//! claims due sessions under a lease (their next poll moves past it), asks the action's responder for the session's
//! state ([`Responder::session`](super::Responder::session)), and submits what changed as one
//! [`Command::AgentSession`] through the group-commit writer: the session's new state, a note per change (status,
//! each new pull request or new pull request state, structured output), the postmortem it delivered, the events rules
//! may fire on (each new pull request, the postmortem), and its next poll. A report applies only if nobody recorded
//! one for the session since it was claimed, so several instances never note a change (or dispatch an event) twice.
//!
//! Polls back off while nothing changes: the wait is the time since the last change, between `first_poll` and
//! `max_interval` (15 s, 30 s, 1 min, … 10 min). A session is no longer followed once it ends (`exit`, `error`) or
//! after `max_age` (7 days).

use super::{Responders, SessionState};
use crate::domain::{Millis, SessionEvent};
use crate::ingest::Ingestor;
use crate::store::{AgentSessionRecord, Command, PolledSession, SessionNote, SessionReport, Store, StoreError};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Statuses after which a session does nothing more.
pub const ENDED: [&str; 2] = ["exit", "error"];

/// How the tracker behaves.
#[derive(Debug, Clone)]
pub struct TrackerSettings {
    /// The wait before a session's first poll, and after a change.
    pub first_poll: Duration,
    /// The longest wait between two polls.
    pub max_interval: Duration,
    /// How long a session that has not ended is followed.
    pub max_age: Duration,
    /// How long a claim lasts; longer than any responder's timeout.
    pub lease: Duration,
    /// Sessions claimed (and polled concurrently) at a time.
    pub batch: u32,
}

impl Default for TrackerSettings {
    fn default() -> Self {
        TrackerSettings {
            first_poll: Duration::from_secs(15),
            max_interval: Duration::from_secs(10 * 60),
            max_age: Duration::from_secs(7 * 24 * 3600),
            lease: Duration::from_secs(120),
            batch: 16,
        }
    }
}

/// What asking a responder about a session gave.
#[derive(Debug, Clone, PartialEq)]
pub enum Polled {
    /// The session's state.
    State(SessionState),
    /// It could not be read this time (retried with backoff).
    Failed(String),
    /// It cannot be read at all (the action is gone or reports no sessions): stop following it.
    Unsupported(String),
}

/// Polls the sessions being followed.
#[derive(Clone)]
pub struct SessionTracker {
    store: Arc<dyn Store>,
    ingestor: Ingestor,
    responders: Arc<Responders>,
    settings: TrackerSettings,
}

impl SessionTracker {
    /// A tracker over `store`, asking `responders` and recording through `ingestor`.
    pub fn new(
        store: Arc<dyn Store>,
        ingestor: Ingestor,
        responders: Arc<Responders>,
        settings: TrackerSettings,
    ) -> Self {
        SessionTracker { store, ingestor, responders, settings }
    }

    /// Runs until `stop` turns true, waking when the next session is due (at least every `first_poll`, so sessions
    /// other instances start are seen).
    pub fn spawn(self, mut stop: watch::Receiver<bool>) -> JoinHandle<()> {
        tokio::spawn(async move {
            loop {
                if *stop.borrow() {
                    return;
                }
                match self.run_once().await {
                    // A full batch: there may be more due right away.
                    Ok(n) if n >= self.settings.batch as usize => continue,
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "sessions: could not claim sessions to poll"),
                }
                let wait = match self.store.next_session_poll().await {
                    Ok(Some(at)) => Duration::from_millis((at.0 - Millis::now().0).max(0) as u64),
                    Ok(None) | Err(_) => self.settings.first_poll,
                };
                // Never spin (a due session another instance is claiming), never sleep past a new session's poll.
                let wait =
                    wait.clamp(Duration::from_millis(100), self.settings.first_poll.max(Duration::from_millis(100)));
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = stop.changed() => {}
                }
            }
        })
    }

    /// Claims the sessions due now and polls them; returns how many it claimed.
    pub async fn run_once(&self) -> Result<usize, StoreError> {
        let now = Millis::now();
        let lease_until = Millis(now.0 + self.settings.lease.as_millis() as i64);
        let claimed = self.store.claim_sessions(now, lease_until, self.settings.batch).await?;
        let n = claimed.len();
        let polls = claimed.into_iter().map(|s| {
            let this = self.clone();
            tokio::spawn(async move { this.poll(s).await })
        });
        for handle in polls.collect::<Vec<_>>() {
            if let Err(e) = handle.await {
                tracing::error!(error = %e, "sessions: a poll task failed");
            }
        }
        Ok(n)
    }

    async fn poll(&self, record: AgentSessionRecord) {
        let polled = match self.responders.get(&record.action) {
            None => Polled::Unsupported(format!("action {:?} is no longer configured", record.action)),
            Some(responder) => {
                // Never outlive the lease: past it another instance may take the session.
                let budget = self.settings.lease.mul_f64(0.8);
                match tokio::time::timeout(budget, responder.session(&record.session_id)).await {
                    Ok(Some(Ok(state))) => Polled::State(state),
                    Ok(Some(Err(error))) => Polled::Failed(error),
                    Ok(None) => Polled::Unsupported(format!("action {:?} does not report sessions", record.action)),
                    Err(_) => Polled::Failed("reading the session took longer than its lease".into()),
                }
            }
        };
        if let Polled::Failed(error) = &polled {
            tracing::warn!(session = %record.session_id, action = %record.action, %error, "sessions: poll failed");
        }
        let now = Millis::now();
        let report = report(&record, polled, now, &self.settings);
        if report.done {
            tracing::info!(session = %record.session_id, incident = record.incident_number,
                "sessions: no longer following the session");
        }
        let command = Command::AgentSession { report, received_at: now };
        match self.ingestor.submit(command).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(session = %record.session_id, error = %e, "sessions: report refused"),
            // The lease expires and the session is polled again.
            Err(e) => tracing::warn!(session = %record.session_id, error = %e, "sessions: could not record a poll"),
        }
    }
}

/// What a poll of `record` at `now` makes of it: the changes to note, its new state, its next poll.
pub fn report(record: &AgentSessionRecord, polled: Polled, now: Millis, settings: &TrackerSettings) -> SessionReport {
    let mut notes = Vec::new();
    let mut postmortem = None;
    let mut events = Vec::new();
    let mut done = false;
    let mut state = None;
    match polled {
        Polled::State(s) => {
            notes = changes(record, &s);
            for pr in &s.pull_requests {
                let event = SessionEvent::PullRequestOpened { pr_url: pr.pr_url.clone() };
                if !record.pull_requests.iter().any(|p| p.pr_url == pr.pr_url) && !events.contains(&event) {
                    events.push(event);
                }
            }
            if s.postmortem && s.structured_output.is_some() && s.structured_output != record.structured_output {
                postmortem = s.structured_output.clone();
                events.push(SessionEvent::PostmortemReady { session_id: record.session_id.clone() });
            }
            done = ENDED.contains(&s.status.as_str());
            state = Some(PolledSession {
                status: s.status,
                pull_requests: s.pull_requests,
                structured_output: s.structured_output,
            });
        }
        Polled::Failed(_) => {}
        Polled::Unsupported(reason) => {
            done = true;
            notes.push(firehouse_note(record, format!("Firehouse stopped following the agent session: {reason}")));
        }
    }
    let age = Duration::from_millis((now.0 - record.created_at.0).max(0) as u64);
    if !done && age >= settings.max_age {
        done = true;
        let status = state.as_ref().map_or(record.status.as_str(), |s| s.status.as_str());
        let text = format!(
            "Firehouse stopped following the agent session after {} (status {status})",
            humanize(settings.max_age)
        );
        notes.push(firehouse_note(record, text));
    }
    let last_change = if notes.is_empty() { record.updated_at } else { now };
    let since_change = Duration::from_millis((now.0 - last_change.0).max(0) as u64);
    let wait = since_change.clamp(settings.first_poll, settings.max_interval.max(settings.first_poll));
    SessionReport {
        session_id: record.session_id.clone(),
        polls: record.polls,
        polled: state,
        notes,
        postmortem,
        events,
        next_poll_at: Millis(now.0 + wait.as_millis() as i64),
        done,
    }
}

/// The notes for what changed between `record` and `now`: a status that is not an end first, then new pull
/// requests and pull request states, the structured output, and an ending status last.
fn changes(record: &AgentSessionRecord, now: &SessionState) -> Vec<SessionNote> {
    let agent = display_name(&now.agent);
    let note = |text: String, details: serde_json::Value| {
        let mut d = json!({ "session_id": record.session_id, "url": record.url, "action": record.action });
        if let (Some(d), Some(extra)) = (d.as_object_mut(), details.as_object()) {
            d.extend(extra.clone());
        }
        SessionNote { author: now.agent.clone(), text, details: d }
    };
    let mut notes = Vec::new();
    let status_note = (!now.status.is_empty() && now.status != record.status).then(|| {
        let what = match now.status.as_str() {
            "running" => "is running".to_owned(),
            "exit" => "finished".to_owned(),
            "error" => "failed".to_owned(),
            "suspended" => "is suspended".to_owned(),
            "resuming" => "is resuming".to_owned(),
            other => format!("is {other}"),
        };
        let text = format!("{agent} session {what} ({} → {})", record.status, now.status);
        note(text, json!({ "change": "status", "from": record.status, "to": now.status }))
    });
    let ends = ENDED.contains(&now.status.as_str()) || now.status == "suspended";
    if !ends {
        notes.extend(status_note.clone());
    }
    for pr in &now.pull_requests {
        let state = pr.pr_state.as_deref().unwrap_or("unknown state");
        match record.pull_requests.iter().find(|p| p.pr_url == pr.pr_url) {
            None => notes.push(note(
                format!("{agent} opened a pull request: {} ({state})", pr.pr_url),
                json!({ "change": "pull_request", "pr_url": pr.pr_url, "pr_state": pr.pr_state }),
            )),
            Some(old) if old.pr_state != pr.pr_state => {
                let was = old.pr_state.as_deref().unwrap_or("unknown state");
                notes.push(note(
                    format!("Pull request {} is now {state} (was {was})", pr.pr_url),
                    json!({ "change": "pull_request_state", "pr_url": pr.pr_url, "pr_state": pr.pr_state,
                            "previous_state": old.pr_state }),
                ))
            }
            Some(_) => {}
        }
    }
    if let Some(output) = now.structured_output.as_ref().filter(|o| Some(*o) != record.structured_output.as_ref()) {
        let what = if now.postmortem { "the postmortem" } else { "its structured output" };
        let verb = if record.structured_output.is_none() { "delivered" } else { "updated" };
        let mut details = json!({ "change": "structured_output", "structured_output": output });
        if now.postmortem {
            details["postmortem"] = json!(format!("/api/v1/incidents/{}/postmortem.md", record.incident_number));
        }
        notes.push(note(format!("{agent} {verb} {what}"), details));
    }
    if ends {
        notes.extend(status_note);
    }
    notes
}

fn firehouse_note(record: &AgentSessionRecord, text: String) -> SessionNote {
    SessionNote {
        author: "firehouse".to_owned(),
        text,
        details: json!({ "session_id": record.session_id, "url": record.url, "action": record.action,
                         "change": "stopped_following", "status": record.status }),
    }
}

/// `devin` → `Devin`.
fn display_name(agent: &str) -> String {
    let mut chars = agent.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => "Agent".to_owned(),
    }
}

/// `7 days`, `36 hours`, `90 seconds`.
fn humanize(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        s if s >= 86_400 && s % 86_400 == 0 => format!("{} days", s / 86_400),
        s if s >= 3_600 && s % 3_600 == 0 => format!("{} hours", s / 3_600),
        s if s >= 60 && s % 60 == 0 => format!("{} minutes", s / 60),
        s => format!("{s} seconds"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::PullRequest;

    fn record(status: &str) -> AgentSessionRecord {
        AgentSessionRecord {
            id: 1,
            incident_number: 7,
            dispatch_id: 3,
            action: "devin-postmortem".into(),
            session_id: "devin-1".into(),
            url: "https://app.devin.ai/sessions/1".into(),
            status: status.into(),
            pull_requests: Vec::new(),
            structured_output: None,
            polls: 2,
            next_poll_at: Millis(0),
            done: false,
            created_at: Millis(0),
            updated_at: Millis(0),
        }
    }

    fn state(status: &str) -> SessionState {
        SessionState {
            agent: "devin".into(),
            status: status.into(),
            pull_requests: Vec::new(),
            structured_output: None,
            postmortem: true,
        }
    }

    fn settings() -> TrackerSettings {
        TrackerSettings::default()
    }

    fn texts(r: &SessionReport) -> Vec<&str> {
        r.notes.iter().map(|n| n.text.as_str()).collect()
    }

    #[test]
    fn nothing_changed_backs_off_from_the_last_change() {
        let r = report(&record("running"), Polled::State(state("running")), Millis(20_000), &settings());
        assert!(r.notes.is_empty() && !r.done && r.postmortem.is_none());
        assert_eq!(r.next_poll_at, Millis(40_000), "20 s since the last change: wait 20 s");
        let r = report(&record("running"), Polled::State(state("running")), Millis(1_000), &settings());
        assert_eq!(r.next_poll_at, Millis(16_000), "never less than the first poll's wait");
        let r = report(&record("running"), Polled::State(state("running")), Millis(3_600_000), &settings());
        assert_eq!(r.next_poll_at, Millis(3_600_000 + 600_000), "never more than 10 minutes");
        let failed = report(&record("running"), Polled::Failed("HTTP 502".into()), Millis(60_000), &settings());
        assert!(failed.polled.is_none() && failed.notes.is_empty() && !failed.done);
        assert_eq!((failed.polls, failed.next_poll_at), (2, Millis(120_000)));
    }

    #[test]
    fn each_change_is_a_note_and_an_end_comes_last() {
        let r = report(&record("new"), Polled::State(state("running")), Millis(20_000), &settings());
        assert_eq!(texts(&r), ["Devin session is running (new → running)"]);
        assert_eq!(r.notes[0].author, "devin");
        assert_eq!(r.notes[0].details["from"], "new");
        assert_eq!(r.next_poll_at, Millis(35_000), "a change polls again soon");

        let mut running = record("running");
        running.pull_requests = vec![PullRequest { pr_url: "https://github.com/o/r/pull/1".into(), pr_state: None }];
        let mut s = state("exit");
        s.pull_requests = vec![
            PullRequest { pr_url: "https://github.com/o/r/pull/1".into(), pr_state: Some("merged".into()) },
            PullRequest { pr_url: "https://github.com/o/r/pull/2".into(), pr_state: Some("open".into()) },
        ];
        s.structured_output = Some(json!({"summary": "pool exhausted"}));
        let r = report(&running, Polled::State(s), Millis(20_000), &settings());
        assert_eq!(
            texts(&r),
            [
                "Pull request https://github.com/o/r/pull/1 is now merged (was unknown state)",
                "Devin opened a pull request: https://github.com/o/r/pull/2 (open)",
                "Devin delivered the postmortem",
                "Devin session finished (running → exit)",
            ]
        );
        assert!(r.done);
        assert_eq!(r.postmortem, Some(json!({"summary": "pool exhausted"})));
        assert_eq!(r.notes[2].details["postmortem"], "/api/v1/incidents/7/postmortem.md");
        assert_eq!(r.polled.unwrap().status, "exit");
    }

    #[test]
    fn new_pull_requests_and_the_postmortem_are_events_once() {
        let pr = |n: u32, state: &str| PullRequest {
            pr_url: format!("https://github.com/o/r/pull/{n}"),
            pr_state: Some(state.into()),
        };
        let opened = |n: u32| SessionEvent::PullRequestOpened { pr_url: format!("https://github.com/o/r/pull/{n}") };
        let mut s = state("running");
        s.pull_requests = vec![pr(1, "open"), pr(1, "open"), pr(2, "open")];
        s.structured_output = Some(json!({"summary": "draft"}));
        let r = report(&record("running"), Polled::State(s.clone()), Millis(20_000), &settings());
        assert_eq!(
            r.events,
            [opened(1), opened(2), SessionEvent::PostmortemReady { session_id: "devin-1".into() }],
            "one event per new URL, the postmortem after the pull requests"
        );

        // The next poll sees the same pull requests (one now merged) and the same output: no event.
        let mut seen = record("running");
        seen.pull_requests = vec![pr(1, "open"), pr(2, "open")];
        seen.structured_output = s.structured_output.clone();
        let mut again = s.clone();
        again.pull_requests = vec![pr(1, "merged"), pr(2, "open")];
        let r = report(&seen, Polled::State(again.clone()), Millis(40_000), &settings());
        assert!(r.events.is_empty(), "{:?}", r.events);
        assert_eq!(texts(&r), ["Pull request https://github.com/o/r/pull/1 is now merged (was open)"]);

        // A third pull request is one event; a revised postmortem is stored and announced (its key makes the
        // announcement once per session).
        again.pull_requests.push(pr(3, "open"));
        again.structured_output = Some(json!({"summary": "final"}));
        let r = report(&seen, Polled::State(again), Millis(60_000), &settings());
        assert_eq!(r.events, [opened(3), SessionEvent::PostmortemReady { session_id: "devin-1".into() }]);
        assert_eq!(r.postmortem, Some(json!({"summary": "final"})));

        // Output that is no postmortem, and failed polls, are no events.
        let mut triage = state("running");
        triage.postmortem = false;
        triage.structured_output = Some(json!({"findings": "x"}));
        assert!(report(&record("running"), Polled::State(triage), Millis(20_000), &settings()).events.is_empty());
        let failed = report(&record("running"), Polled::Failed("HTTP 502".into()), Millis(20_000), &settings());
        assert!(failed.events.is_empty());
    }

    #[test]
    fn structured_output_is_a_postmortem_only_for_the_postmortem_flow() {
        let mut s = state("running");
        s.postmortem = false;
        s.structured_output = Some(json!({"findings": "x"}));
        let r = report(&record("running"), Polled::State(s.clone()), Millis(20_000), &settings());
        assert_eq!(texts(&r), ["Devin delivered its structured output"]);
        assert!(r.postmortem.is_none());
        let mut seen = record("running");
        seen.structured_output = s.structured_output.clone();
        let r = report(&seen, Polled::State(s), Millis(20_000), &settings());
        assert!(r.notes.is_empty(), "the same output again is no change");
    }

    #[test]
    fn errors_and_suspensions_end_or_pause() {
        let r = report(&record("running"), Polled::State(state("error")), Millis(20_000), &settings());
        assert_eq!((texts(&r), r.done), (vec!["Devin session failed (running → error)"], true));
        let r = report(&record("running"), Polled::State(state("suspended")), Millis(20_000), &settings());
        assert_eq!((texts(&r), r.done), (vec!["Devin session is suspended (running → suspended)"], false));
    }

    #[test]
    fn sessions_are_followed_for_a_week_at_most() {
        let week = 7 * 24 * 3_600_000;
        let r = report(&record("running"), Polled::State(state("running")), Millis(week), &settings());
        assert!(r.done);
        assert_eq!(texts(&r), ["Firehouse stopped following the agent session after 7 days (status running)"]);
        assert_eq!(r.notes[0].author, "firehouse");
        let r = report(&record("running"), Polled::Failed("timeout".into()), Millis(week + 1), &settings());
        assert!(r.done && r.polled.is_none());
        let gone = Polled::Unsupported("action \"x\" is no longer configured".into());
        let r = report(&record("running"), gone, Millis(10), &settings());
        assert!(r.done);
        assert_eq!(texts(&r), ["Firehouse stopped following the agent session: action \"x\" is no longer configured"]);
    }

    #[test]
    fn names_and_durations_read_well() {
        assert_eq!(display_name("devin"), "Devin");
        assert_eq!(display_name(""), "Agent");
        assert_eq!(humanize(Duration::from_secs(7 * 86_400)), "7 days");
        assert_eq!(humanize(Duration::from_secs(7_200)), "2 hours");
        assert_eq!(humanize(Duration::from_secs(90)), "90 seconds");
    }
}
